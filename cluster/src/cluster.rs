//! The node in its cluster: the Raft groups it hosts (today the metadata group and every data
//! group; a map that can gain and lose groups), and running a typed request on the leader of
//! its group, here or one hop away.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::errors::{InitializeError, RaftError};
use openraft::{Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shoal_engine::outbox::Placement;
use shoal_engine::{Command, EngineConfig, Reply};
use shoal_proto::cluster::groups_client::GroupsClient;
use shoal_proto::cluster::groups_server::GroupsServer;
use shoal_proto::cluster::{CallReply, CallRequest};
use shoal_proto::raft::raft_server::RaftServer;
use shoal_raft::clock::{ClusterClock, TimeSource};
use shoal_raft::network::{LocalGroups, NetworkFactory, Peers};
use shoal_raft::state::StateMachine;
use shoal_raft::store::Db;
use shoal_raft::{ClusterInfo, GroupId, NodeInfo, Proposal, Response, ShoalRaft};
use shoal_sharding::{Shards, METADATA_GROUP};

use crate::broker::Broker;
use crate::call::{self, GroupReply, GroupRequest, GroupService};
use crate::error::{CallError, ClusterError, GroupError, Leader};
use crate::limits;

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
    /// Where the cluster clock reads time (the operating system's clocks, or a test's).
    pub time: Arc<dyn TimeSource>,
}

/// What a data directory was created with; a restart with different values is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    node_id: u64,
    data_groups: u32,
    account_id: String,
    region: String,
}

pub struct Cluster<S: GroupService> {
    pub node_id: u64,
    pub shards: Shards,
    /// The groups this node hosts, by id (the metadata group's engine stays empty).
    hosted: RwLock<BTreeMap<GroupId, Arc<Broker>>>,
    peers: BTreeMap<u64, String>,
    channels: Arc<Peers>,
    pub account_id: String,
    pub region: String,
    /// Runs the front door's requests on this node when it leads their group.
    service: Arc<S>,
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

impl<S: GroupService> Cluster<S> {
    /// Opens the node's store, starts every group and the gRPC service, and bootstraps the
    /// groups if this is the lowest-numbered node and they are new.
    pub async fn start(
        config: ClusterConfig,
        stopping: Arc<AtomicBool>,
        service: Arc<S>,
    ) -> anyhow::Result<Arc<Cluster<S>>> {
        let shards = Shards::new(config.data_groups).map_err(anyhow::Error::msg)?;
        if !config.peers.contains_key(&config.node_id) {
            anyhow::bail!("--peers does not list this node (--node-id {})", config.node_id);
        }
        let db = Db::open(&config.data_dir.join("raft")).context("opening the raft store")?;
        check_identity(&db, &config).await?;
        let raft_config = raft_config(config.snapshot_entries)?;
        let channels = Peers::new();
        let clock = Arc::new(ClusterClock::new(config.time.clone()));
        let mut hosted = BTreeMap::new();
        let mut groups = BTreeMap::new();
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
            groups.insert(group, (raft.clone(), shared.clone()));
            let broker = Broker::new(config.node_id, group, raft, shared, stopping.clone(), clock.clone());
            hosted.insert(group, Arc::new(broker));
        }
        let cluster = Arc::new(Cluster {
            node_id: config.node_id,
            shards,
            hosted: RwLock::new(hosted),
            peers: config.peers.clone(),
            channels,
            account_id: config.engine.account_id.clone(),
            region: config.engine.region.clone(),
            service,
        });
        let listener = tokio::net::TcpListener::bind(config.raft_addr)
            .await
            .with_context(|| format!("binding the cluster address {}", config.raft_addr))?;
        let local = LocalGroups { node_id: config.node_id, groups: Arc::new(RwLock::new(groups)) };
        let calls = CallService { cluster: cluster.clone() };
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(shoal_raft::network::KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(shoal_raft::network::KEEPALIVE_TIMEOUT))
            .initial_stream_window_size(shoal_raft::network::STREAM_WINDOW_BYTES)
            .initial_connection_window_size(shoal_raft::network::CONNECTION_WINDOW_BYTES)
            .add_service(RaftServer::new(local).max_decoding_message_size(shoal_raft::limits::RAFT_MESSAGE_BYTES_MAX))
            .add_service(GroupsServer::new(calls).max_decoding_message_size(limits::CALL_BYTES_MAX))
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
        for broker in self.brokers() {
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
    async fn record_cluster_info(self: Arc<Self>, data_groups: u32) {
        let mine = ClusterInfo { data_groups, account_id: self.account_id.clone(), region: self.region.clone() };
        let Ok(metadata) = self.broker(METADATA_GROUP) else {
            return;
        };
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
    async fn run_outbox(self: Arc<Self>, group: GroupId) {
        let Ok(broker) = self.broker(group) else {
            return;
        };
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
                            tracing::warn!(group, target, %error, "handing the outbox over failed; retrying");
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
    ) -> Result<(), String> {
        let positions: Vec<u64> = entries.iter().map(|entry| entry.position).collect();
        let request = GroupRequest::Import { source_group: group, entries };
        let reply = self.call(target, request).await.map_err(|error| format!("{error:?}"))?;
        let GroupReply::Imported { refused } = reply else {
            return Err(format!("unexpected reply to an import into group {target}"));
        };
        if !refused.is_empty() {
            tracing::warn!(group, target, refused = refused.len(), "the target group refused messages; they go back");
        }
        let broker = self.broker(group).map_err(|error| error.to_string())?;
        match broker.propose(Command::AckOutbox { positions, refused }).await.map_err(|error| error.to_string())? {
            Reply::Done => Ok(()),
            other => Err(format!("unexpected reply to AckOutbox: {other:?}")),
        }
    }

    /// This node's view of every group: leader, term, log and applied indexes, snapshot.
    pub fn status(&self) -> Value {
        let groups: Vec<Value> = self
            .brokers()
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

    /// The groups this node hosts now.
    pub fn brokers(&self) -> Vec<Arc<Broker>> {
        self.hosted.read().unwrap_or_else(|poisoned| poisoned.into_inner()).values().cloned().collect()
    }

    /// The broker of `group`, if this node hosts it.
    pub fn broker(&self, group: GroupId) -> Result<Arc<Broker>, ClusterError> {
        let hosted = self.hosted.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        hosted.get(&group).cloned().ok_or(ClusterError::NotHosted { group })
    }

    /// The data group of queue `name`.
    pub fn group_of(&self, name: &str) -> GroupId {
        self.shards.group_of(name)
    }

    /// The leader of `group` as this node knows it, waiting a little during an election.
    async fn leader(&self, group: GroupId) -> Result<u64, ClusterError> {
        let broker = self.broker(group)?;
        let raft = broker.raft();
        if let Some(leader) = raft.metrics().borrow_watched().current_leader {
            return Ok(leader);
        }
        let wait = Duration::from_millis(limits::LEADER_WAIT_MS);
        match raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader").await {
            Ok(metrics) => metrics.current_leader.ok_or(ClusterError::NoLeader { group }),
            Err(_) => Err(ClusterError::NoLeader { group }),
        }
    }

    fn channel(&self, group: GroupId, node: u64) -> Result<tonic::transport::Channel, ClusterError> {
        let unreachable = |reason: String| ClusterError::Unreachable { group, node, reason };
        let addr = self.peers.get(&node).ok_or_else(|| unreachable("not a peer".to_string()))?;
        self.channels.channel(addr).map_err(unreachable)
    }

    /// Runs a request on the leader of `group`: here, or forwarded there in one hop.
    pub async fn call(
        &self,
        group: GroupId,
        request: GroupRequest<S::Request>,
    ) -> Result<GroupReply<S::Reply>, CallError<S::Error>> {
        let leader = self.leader(group).await.map_err(CallError::Cluster)?;
        if leader == self.node_id {
            let broker = self.broker(group).map_err(CallError::Cluster)?;
            return self.execute_local(&broker, request).await.map_err(CallError::Service);
        }
        let wait_seconds = match &request {
            GroupRequest::Service(request) => self.service.wait_seconds(request),
            GroupRequest::Import { .. } => 0,
        };
        let encoded = call::encode(&request)
            .map_err(|reason| CallError::Cluster(ClusterError::OutcomeUnknown { group, reason }))?;
        let mut forward = tonic::Request::new(CallRequest { group, format: call::CALL_FORMAT, request: encoded });
        forward
            .set_timeout(Duration::from_millis(limits::CALL_TIMEOUT_MS) + Duration::from_secs(u64::from(wait_seconds)));
        let channel = self.channel(group, leader).map_err(CallError::Cluster)?;
        let mut client = GroupsClient::new(channel).max_decoding_message_size(limits::CALL_BYTES_MAX);
        let reply = client.call(forward).await.map_err(|status| {
            CallError::Cluster(match status.code() {
                tonic::Code::DeadlineExceeded => ClusterError::Timeout { group, node: leader },
                tonic::Code::Unavailable => {
                    ClusterError::Unreachable { group, node: leader, reason: status.message().to_string() }
                }
                _ => ClusterError::OutcomeUnknown { group, reason: format!("node {leader}: {}", status.message()) },
            })
        })?;
        let reply = reply.into_inner();
        let result: Result<GroupReply<S::Reply>, CallError<S::Error>> = call::decode(reply.format, &reply.result)
            .map_err(|reason| CallError::Cluster(ClusterError::OutcomeUnknown { group, reason }))?;
        result
    }

    /// Runs a group request on this node, which leads the group of `broker`.
    async fn execute_local(
        &self,
        broker: &Broker,
        request: GroupRequest<S::Request>,
    ) -> Result<GroupReply<S::Reply>, S::Error> {
        match request {
            GroupRequest::Service(request) => self.service.execute(broker, request).await.map(GroupReply::Service),
            GroupRequest::Import { source_group, entries } => {
                // Like every write: the new leader first applies what its predecessors committed.
                broker.linearize_once_per_term().await.map_err(GroupError::from)?;
                match broker.propose(Command::ImportMessages { source_group, entries }).await? {
                    Reply::Imported { refused } => Ok(GroupReply::Imported { refused }),
                    other => Err(S::Error::from(GroupError::Internal(format!(
                        "unexpected reply to ImportMessages: {other:?}"
                    )))),
                }
            }
        }
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

/// The node-to-node side of `call`: runs a request this node leads the group of.
struct CallService<S: GroupService> {
    cluster: Arc<Cluster<S>>,
}

#[tonic::async_trait]
impl<S: GroupService> shoal_proto::cluster::groups_server::Groups for CallService<S> {
    async fn call(&self, request: tonic::Request<CallRequest>) -> Result<tonic::Response<CallReply>, tonic::Status> {
        let request = request.into_inner();
        let group = request.group;
        let call: GroupRequest<S::Request> =
            call::decode(request.format, &request.request).map_err(tonic::Status::invalid_argument)?;
        let cluster = &self.cluster;
        // One hop only: if leadership moved meanwhile, the caller retries.
        let result: Result<GroupReply<S::Reply>, CallError<S::Error>> = match cluster.broker(group) {
            Err(error) => Err(CallError::Cluster(error)),
            Ok(broker) if broker.raft().is_leader() => {
                cluster.execute_local(&broker, call).await.map_err(CallError::Service)
            }
            Ok(broker) => {
                let leader = broker.raft().metrics().borrow_watched().current_leader;
                let leader = leader
                    .and_then(|node| cluster.peers.get(&node).map(|address| Leader { node, address: address.clone() }));
                Err(CallError::Cluster(ClusterError::NotLeader { group, node: cluster.node_id, leader }))
            }
        };
        let result = call::encode(&result).map_err(tonic::Status::internal)?;
        Ok(tonic::Response::new(CallReply { format: call::CALL_FORMAT, result }))
    }
}
