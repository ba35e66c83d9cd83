//! The node in its cluster: one Raft group per shard (the metadata group and the data groups),
//! all replicated on every node, and the routing of each SQS request to the leader of its
//! queue's group, in one hop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::errors::{InitializeError, RaftError};
use openraft::{Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shoal_engine::outbox::Placement;
use shoal_engine::{Command, EngineConfig, Reply};
use shoal_raft::clock::ClusterClock;
use shoal_raft::network::{LocalGroups, NetworkFactory, Peers};
use shoal_raft::proto::broker_client::BrokerClient;
use shoal_raft::proto::broker_server::BrokerServer;
use shoal_raft::proto::raft_server::RaftServer;
use shoal_raft::proto::{ForwardReply, ForwardRequest};
use shoal_raft::state::StateMachine;
use shoal_raft::store::Db;
use shoal_raft::{ClusterInfo, GroupId, NodeInfo, Proposal, Response, ShoalRaft};
use shoal_sharding::{Shards, METADATA_GROUP};

use crate::broker::Broker;
use crate::error::ApiError;
use crate::group_call::{self, CallError, ClusterError, GroupReply, GroupRequest, Leader};
use crate::limits;
use crate::sqs;

/// How this node runs in its cluster; from the command line.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: u64,
    /// Every node's gRPC address, this one's included.
    pub peers: BTreeMap<u64, String>,
    pub raft_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub data_groups: u32,
    pub engine: EngineConfig,
    /// A group snapshots after this many entries since its last snapshot.
    pub snapshot_entries: u64,
}

/// What a data directory was created with; a restart with different values is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    node_id: u64,
    data_groups: u32,
    account_id: String,
    region: String,
}

pub struct Cluster {
    pub node_id: u64,
    pub shards: Shards,
    /// One broker per group, indexed by group id (the metadata group's engine stays empty).
    brokers: Vec<Broker>,
    peers: BTreeMap<u64, String>,
    channels: Arc<Peers>,
    pub account_id: String,
    pub region: String,
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let (id, addr) = item.split_once('=').ok_or_else(|| format!("peer {item:?} is not ID=HOST:PORT"))?;
        let id: u64 = id.trim().parse().map_err(|_| format!("peer id {id:?} is not a number"))?;
        if id == 0 {
            return Err("peer ids start at 1".into());
        }
        let addr = addr.trim();
        if !addr.contains(':') {
            return Err(format!("peer {id} address {addr:?} is not HOST:PORT"));
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(format!("peer {id} is listed twice"));
        }
    }
    Ok(peers)
}

fn raft_config(snapshot_entries: u64) -> anyhow::Result<Arc<Config>> {
    let config = Config {
        cluster_name: "shoal".into(),
        heartbeat_interval: limits::RAFT_HEARTBEAT_MS,
        election_timeout_min: limits::RAFT_ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: limits::RAFT_ELECTION_TIMEOUT_MAX_MS,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_entries),
        max_in_snapshot_log_to_keep: snapshot_entries.min(limits::RAFT_LOG_KEPT_AFTER_SNAPSHOT),
        replication_lag_threshold: snapshot_entries.saturating_mul(2),
        purge_batch_size: snapshot_entries.min(limits::RAFT_PURGE_BATCH),
        install_snapshot_timeout: limits::RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS,
        snapshot_max_chunk_size: limits::RAFT_SNAPSHOT_CHUNK_BYTES,
        max_payload_entries: limits::RAFT_MAX_PAYLOAD_ENTRIES,
        api_channel_size: Some(limits::RAFT_API_CHANNEL),
        notification_channel_size: Some(limits::RAFT_API_CHANNEL),
        ..Default::default()
    };
    Ok(Arc::new(config.validate().context("raft configuration")?))
}

impl Cluster {
    /// Opens the node's store, starts every group and the gRPC service, and bootstraps the
    /// groups if this is the lowest-numbered node and they are new.
    pub async fn start(config: ClusterConfig, stopping: Arc<AtomicBool>) -> anyhow::Result<Arc<Cluster>> {
        let shards = Shards::new(config.data_groups).map_err(anyhow::Error::msg)?;
        if !config.peers.contains_key(&config.node_id) {
            anyhow::bail!("--peers does not list this node (--node-id {})", config.node_id);
        }
        let db = Db::open(&config.data_dir.join("raft")).context("opening the raft store")?;
        check_identity(&db, &config).await?;
        let raft_config = raft_config(config.snapshot_entries)?;
        let channels = Peers::new();
        let clock = ClusterClock::system();
        let mut brokers = Vec::new();
        let mut groups = Vec::new();
        for group in shards.all_groups() {
            let dir = config.data_dir.join("snapshots").join(format!("group-{group}"));
            let engine = EngineConfig {
                placement: Placement { group, data_groups: config.data_groups },
                ..config.engine.clone()
            };
            let state_machine = StateMachine::open(group, dir, engine, clock.clone())
                .with_context(|| format!("loading the snapshot of group {group}"))?;
            let shared = state_machine.shared();
            let network = NetworkFactory::new(group, channels.clone());
            let raft = ShoalRaft::new(config.node_id, raft_config.clone(), network, db.log_store(group), state_machine)
                .await
                .with_context(|| format!("starting raft group {group}"))?;
            groups.push((raft.clone(), shared.clone()));
            brokers.push(Broker::new(group, raft, shared, stopping.clone(), clock.clone()));
        }
        let cluster = Arc::new(Cluster {
            node_id: config.node_id,
            shards,
            brokers,
            peers: config.peers.clone(),
            channels,
            account_id: config.engine.account_id.clone(),
            region: config.engine.region.clone(),
        });
        let listener = tokio::net::TcpListener::bind(config.raft_addr)
            .await
            .with_context(|| format!("binding the cluster address {}", config.raft_addr))?;
        let local = LocalGroups { node_id: config.node_id, groups: Arc::new(groups) };
        let service = BrokerService { cluster: cluster.clone() };
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(shoal_raft::network::KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(shoal_raft::network::KEEPALIVE_TIMEOUT))
            .initial_stream_window_size(shoal_raft::network::STREAM_WINDOW_BYTES)
            .initial_connection_window_size(shoal_raft::network::CONNECTION_WINDOW_BYTES)
            .add_service(RaftServer::new(local).max_decoding_message_size(usize::MAX))
            .add_service(BrokerServer::new(service).max_decoding_message_size(limits::FORWARD_BYTES_MAX))
            .serve_with_incoming(incoming_without_delay(listener));
        tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the cluster service stopped");
            }
        });
        cluster.bootstrap().await?;
        tokio::spawn(cluster.clone().record_cluster_info(config.data_groups));
        for group in cluster.shards.data_group_ids() {
            tokio::spawn(cluster.clone().run_outbox(group));
        }
        Ok(cluster)
    }

    /// The lowest-numbered node initializes every group that has never been initialized; a
    /// group that has a vote or a log is left alone, so this is safe on every restart.
    async fn bootstrap(&self) -> anyhow::Result<()> {
        if self.peers.keys().next() != Some(&self.node_id) {
            return Ok(());
        }
        let members: BTreeMap<u64, NodeInfo> =
            self.peers.iter().map(|(id, addr)| (*id, NodeInfo { addr: addr.clone() })).collect();
        for broker in &self.brokers {
            if broker.raft().is_initialized().await? {
                continue;
            }
            match broker.raft().initialize(members.clone()).await {
                Ok(()) => tracing::info!(group = broker.group, nodes = members.len(), "initialized raft group"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(error) => return Err(anyhow::anyhow!("initializing group {}: {error}", broker.group)),
            }
        }
        Ok(())
    }

    /// Records the cluster's shape in the metadata group once, and checks this node agrees
    /// with what is recorded; a node configured differently stops rather than misroute.
    async fn record_cluster_info(self: Arc<Cluster>, data_groups: u32) {
        let mine = ClusterInfo { data_groups, account_id: self.account_id.clone(), region: self.region.clone() };
        let metadata = &self.brokers[METADATA_GROUP as usize];
        loop {
            let recorded = metadata.shared().read().cluster.clone();
            match recorded {
                Some(recorded) if recorded == mine => return,
                Some(recorded) => {
                    tracing::error!(?recorded, ?mine, "this node's configuration differs from the cluster's; stopping");
                    std::process::exit(2);
                }
                None if metadata.raft().is_leader() => {
                    if let Ok(written) = metadata.raft().client_write(Proposal::SetCluster(mine.clone())).await {
                        if let Response::Cluster(recorded) = written.data {
                            tracing::info!(?recorded, "cluster configuration recorded");
                        }
                    }
                }
                None => {}
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), metadata.shared().applied.notified()).await;
        }
    }

    /// While this node leads `group`, hands its outbox to the groups the messages are bound
    /// for, one batch at a time, and drops each batch once its target has it. Forever.
    async fn run_outbox(self: Arc<Cluster>, group: GroupId) {
        let broker = self.broker(group).clone();
        // Target groups that failed lately: their batches wait, the others' do not.
        let mut resting: BTreeMap<GroupId, tokio::time::Instant> = BTreeMap::new();
        loop {
            let applied = broker.shared().applied.notified();
            let now = tokio::time::Instant::now();
            resting.retain(|_, until| *until > now);
            let skip: BTreeSet<GroupId> = resting.keys().copied().collect();
            // A new leader first applies all its predecessors committed, so it never hands over
            // an older view of the outbox than the target has already answered.
            if broker.raft().is_leader() && broker.linearize_once_per_term().await.is_err() {
                let _ = tokio::time::timeout(Duration::from_millis(limits::OUTBOX_RETRY_MS), applied).await;
                continue;
            }
            let batch = broker
                .read(|engine, _| engine.outbox_batch(limits::OUTBOX_BATCH_ENTRIES, limits::OUTBOX_BATCH_BYTES, &skip));
            let pause = match batch {
                Some((target, entries)) if broker.raft().is_leader() => {
                    match self.hand_over(group, target, entries).await {
                        Ok(()) => continue,
                        Err(error) => {
                            tracing::warn!(group, target, message = %error.message, "handing the outbox over failed; retrying");
                            resting.insert(target, now + Duration::from_millis(limits::OUTBOX_RETRY_MS));
                            continue;
                        }
                    }
                }
                _ => Duration::from_millis(limits::OUTBOX_RETRY_MS),
            };
            let _ = tokio::time::timeout(pause, applied).await;
        }
    }

    /// One batch of `group`'s outbox into `target`, then out of the outbox.
    async fn hand_over(
        &self,
        group: GroupId,
        target: GroupId,
        entries: Vec<shoal_engine::outbox::OutboxEntry>,
    ) -> Result<(), ApiError> {
        let positions: Vec<u64> = entries.iter().map(|entry| entry.position).collect();
        let request = GroupRequest::Import { source_group: group, entries };
        let GroupReply::Imported { refused } = self.call(target, request).await? else {
            return Err(ApiError::internal(format!("unexpected reply to an import into group {target}")));
        };
        if !refused.is_empty() {
            tracing::warn!(group, target, refused = refused.len(), "the target group refused messages; they go back");
        }
        match self.broker(group).propose(Command::AckOutbox { positions, refused }).await? {
            Reply::Done => Ok(()),
            other => Err(ApiError::internal(format!("unexpected reply to AckOutbox: {other:?}"))),
        }
    }

    /// This node's view of every group: leader, term, log and applied indexes, snapshot.
    pub fn status(&self) -> Value {
        let groups: Vec<Value> = self
            .brokers
            .iter()
            .map(|broker| {
                let metrics = broker.raft().metrics().borrow_watched().clone();
                serde_json::json!({
                    "group": broker.group,
                    "state": format!("{:?}", metrics.state),
                    "leader": metrics.current_leader,
                    "term": metrics.current_term,
                    "last_log_index": metrics.last_log_index,
                    "last_applied": metrics.last_applied.as_ref().map(|id| id.index()),
                    "snapshot": metrics.snapshot.as_ref().map(|id| id.index()),
                    "purged": metrics.purged.as_ref().map(|id| id.index()),
                })
            })
            .collect();
        serde_json::json!({ "node": self.node_id, "data_groups": self.shards.data_groups(), "groups": groups })
    }

    pub fn brokers(&self) -> &[Broker] {
        &self.brokers
    }

    pub fn broker(&self, group: GroupId) -> &Broker {
        &self.brokers[group as usize]
    }

    /// The data group of queue `name`.
    pub fn group_of(&self, name: &str) -> GroupId {
        self.shards.group_of(name)
    }

    /// The leader of `group` as this node knows it, waiting a little during an election.
    async fn leader(&self, group: GroupId) -> Result<u64, ApiError> {
        let raft = self.broker(group).raft();
        if let Some(leader) = raft.metrics().borrow_watched().current_leader {
            return Ok(leader);
        }
        let wait = Duration::from_millis(limits::LEADER_WAIT_MS);
        match raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader").await {
            Ok(metrics) => metrics.current_leader.ok_or_else(|| no_leader(group)),
            Err(_) => Err(no_leader(group)),
        }
    }

    fn channel(&self, node: u64) -> Result<tonic::transport::Channel, ApiError> {
        let addr = self.peers.get(&node).ok_or_else(|| ApiError::unavailable(format!("node {node} is not a peer")))?;
        self.channels.channel(addr).map_err(ApiError::unavailable)
    }

    /// Runs a request on the leader of `group`: here, or forwarded there in one hop.
    pub async fn call(&self, group: GroupId, request: GroupRequest) -> Result<GroupReply, ApiError> {
        let leader = self.leader(group).await?;
        if leader == self.node_id {
            return execute_local(self.broker(group), request).await;
        }
        let wait = Duration::from_secs(u64::from(request.wait_seconds()));
        let forward =
            ForwardRequest { group, format: group_call::FORWARD_FORMAT, request: group_call::encode(&request)? };
        let mut forward = tonic::Request::new(forward);
        forward.set_timeout(Duration::from_millis(limits::FORWARD_TIMEOUT_MS) + wait);
        let mut client = BrokerClient::new(self.channel(leader)?).max_decoding_message_size(limits::FORWARD_BYTES_MAX);
        let reply = client.forward(forward).await.map_err(|status| {
            let error = match status.code() {
                tonic::Code::DeadlineExceeded => ClusterError::Timeout { group, node: leader },
                tonic::Code::Unavailable => {
                    ClusterError::Unreachable { group, node: leader, reason: status.message().to_string() }
                }
                _ => ClusterError::OutcomeUnknown { group, reason: format!("node {leader}: {}", status.message()) },
            };
            ApiError::from(error)
        })?;
        let reply = reply.into_inner();
        let result: Result<GroupReply, CallError> = group_call::decode(reply.format, &reply.result)
            .map_err(|reason| ApiError::from(ClusterError::OutcomeUnknown { group, reason }))?;
        result.map_err(ApiError::from)
    }
}

/// Accepted peer connections with TCP_NODELAY: tonic sets it only on listeners it binds
/// itself, and with Nagle's algorithm the small frames of a replication stream wait for the
/// peer's delayed acknowledgement.
fn incoming_without_delay(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

fn no_leader(group: GroupId) -> ApiError {
    ApiError::from(ClusterError::NoLeader { group })
}

/// Runs a group request on this node, which leads the group of `broker`.
async fn execute_local(broker: &Broker, request: GroupRequest) -> Result<GroupReply, ApiError> {
    match request {
        GroupRequest::Sqs(request) => sqs::dispatch_local(broker, request).await.map(GroupReply::Sqs),
        GroupRequest::SqsQuery(query) => sqs::peer::answer(broker, query).await.map(GroupReply::SqsAnswer),
        GroupRequest::Import { source_group, entries } => {
            // Like every write: the new leader first applies what its predecessors committed.
            broker.linearize_once_per_term().await?;
            match broker.propose(Command::ImportMessages { source_group, entries }).await? {
                Reply::Imported { refused } => Ok(GroupReply::Imported { refused }),
                other => Err(ApiError::internal(format!("unexpected reply to ImportMessages: {other:?}"))),
            }
        }
    }
}

async fn check_identity(db: &Db, config: &ClusterConfig) -> anyhow::Result<()> {
    let identity = Identity {
        node_id: config.node_id,
        data_groups: config.data_groups,
        account_id: config.engine.account_id.clone(),
        region: config.engine.region.clone(),
    };
    match db.node_setting::<Identity>("identity")? {
        Some(stored) if stored == identity => Ok(()),
        Some(stored) => anyhow::bail!(
            "the data directory belongs to node {} of a cluster with {} data groups, account {} in region {}; \
             start with those settings or use another --data-dir",
            stored.node_id,
            stored.data_groups,
            stored.account_id,
            stored.region
        ),
        None => Ok(db.set_node_setting("identity", &identity).await?),
    }
}

/// The node-to-node side of request routing.
struct BrokerService {
    cluster: Arc<Cluster>,
}

#[tonic::async_trait]
impl shoal_raft::proto::broker_server::Broker for BrokerService {
    async fn forward(
        &self,
        request: tonic::Request<ForwardRequest>,
    ) -> Result<tonic::Response<ForwardReply>, tonic::Status> {
        let request = request.into_inner();
        let group = request.group;
        if group > self.cluster.shards.data_groups() {
            return Err(tonic::Status::not_found(format!("no group {group}")));
        }
        let call: GroupRequest =
            group_call::decode(request.format, &request.request).map_err(tonic::Status::invalid_argument)?;
        let broker = self.cluster.broker(group);
        // One hop only: if leadership moved meanwhile, the client retries.
        let result: Result<GroupReply, CallError> = if broker.raft().is_leader() {
            execute_local(broker, call).await.map_err(CallError::Service)
        } else {
            let leader = broker.raft().metrics().borrow_watched().current_leader;
            let leader = leader.and_then(|node| {
                self.cluster.peers.get(&node).map(|address| Leader { node, address: address.clone() })
            });
            Err(CallError::Cluster(ClusterError::NotLeader { group, node: self.cluster.node_id, leader }))
        };
        let result = group_call::encode(&result).map_err(|error| tonic::Status::internal(error.message))?;
        Ok(tonic::Response::new(ForwardReply { format: group_call::FORWARD_FORMAT, result }))
    }
}
