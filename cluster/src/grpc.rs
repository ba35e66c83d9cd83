//! The node's wiring of its cluster: the RocksDB store and snapshot directories of every
//! group, the gRPC service peers reach (Raft messages and forwarded calls), and calls sent over
//! gRPC. The simulation wires the same [`Cluster`] to its own storage and network instead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use openraft::{Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use shoal_engine::outbox::Placement;
use shoal_engine::EngineConfig;
use shoal_proto::cluster::groups_client::GroupsClient;
use shoal_proto::cluster::groups_server::GroupsServer;
use shoal_proto::cluster::{CallReply, CallRequest, HelloReply, HelloRequest};
use shoal_proto::raft::raft_server::RaftServer;
use shoal_raft::clock::{ClusterClock, TimeSource};
use shoal_raft::format::WriteLevelSource;
use shoal_raft::network::{LocalGroups, NetworkFactory, Peers};
use shoal_raft::state::StateMachine;
use shoal_raft::store::Db;
use shoal_raft::{ClusterInfo, GroupId, Proposal, Response, ShoalRaft};
use shoal_sharding::{Shards, METADATA_GROUP};

use crate::broker::Broker;
use crate::call::{EncodedCall, GroupService, Transport};
use crate::cluster::{Cluster, ClusterParts};
use crate::error::ClusterError;
use crate::flow::FlowControl;
use crate::level::{Hello, WriteLevel, WRITE_LEVEL_MAX, WRITE_LEVEL_OLDEST};
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
    /// Whether leaders hold sends to queues whose consumers fall behind.
    pub flow_control: FlowControl,
    /// The highest write level this node takes part in (`level::WRITE_LEVEL_MAX` unless held
    /// lower, so a cluster keeps writing what an older build reads).
    pub write_level_max: u32,
}

/// What a data directory was created with; a restart with different values is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    node_id: u64,
    data_groups: u32,
    account_id: String,
    region: String,
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
    /// Opens the node's store, starts every group and the gRPC service, bootstraps the groups
    /// if this is the lowest-numbered node and they are new, and starts the background work.
    pub async fn start(
        config: ClusterConfig,
        stopping: Arc<AtomicBool>,
        service: Arc<S>,
    ) -> anyhow::Result<(Arc<Cluster<S>>, Vec<tokio::task::JoinHandle<()>>)> {
        let shards = Shards::new(config.data_groups).map_err(anyhow::Error::msg)?;
        if !config.peers.contains_key(&config.node_id) {
            anyhow::bail!("--peers does not list this node (--node-id {})", config.node_id);
        }
        let db = Db::open(&config.data_dir.join("raft")).context("opening the raft store")?;
        check_identity(&db, &config).await?;
        let write_level = Arc::new(open_write_level(&db, config.write_level_max)?);
        let level: Arc<dyn WriteLevelSource> = write_level.clone();
        let raft_config = raft_config(config.snapshot_entries)?;
        let channels = Peers::new();
        let clock = Arc::new(ClusterClock::new(config.time.clone()));
        let cluster = Cluster::new(ClusterParts {
            node_id: config.node_id,
            shards,
            peers: config.peers.clone(),
            transport: Arc::new(GrpcTransport { node_id: config.node_id, channels: channels.clone() }),
            account_id: config.engine.account_id.clone(),
            region: config.engine.region.clone(),
            service,
            write_level,
        });
        let mut groups = BTreeMap::new();
        for group in cluster.shards.all_groups() {
            let dir = config.data_dir.join("snapshots").join(format!("group-{group}"));
            let engine = EngineConfig {
                placement: Placement { group, data_groups: config.data_groups },
                ..config.engine.clone()
            };
            let state_machine = StateMachine::open(group, dir, engine, clock.clone(), db.clone(), level.clone())
                .with_context(|| format!("loading the snapshot of group {group}"))?;
            let shared = state_machine.shared();
            let snapshots = state_machine.snapshots();
            let network = NetworkFactory::new(group, channels.clone(), db.clone());
            let raft = ShoalRaft::new(config.node_id, raft_config.clone(), network, db.log_store(group), state_machine)
                .await
                .with_context(|| format!("starting raft group {group}"))?;
            groups.insert(group, (raft.clone(), snapshots));
            let broker = Broker::new(config.node_id, group, Arc::new(raft), shared, stopping.clone(), clock.clone())
                .with_flow_control(config.flow_control);
            cluster.host(Arc::new(broker));
        }
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
        let mut workers: Vec<_> = cluster.workers().into_iter().map(tokio::spawn).collect();
        workers.push(tokio::spawn(record_cluster_info(cluster.clone(), config.data_groups)));
        Ok((cluster, workers))
    }
}

/// Records the cluster's shape in the metadata group once, and checks this node agrees with
/// what is recorded; a node configured differently stops rather than misroute.
async fn record_cluster_info<S: GroupService>(cluster: Arc<Cluster<S>>, data_groups: u32) {
    let mine = ClusterInfo { data_groups, account_id: cluster.account_id.clone(), region: cluster.region.clone() };
    let Ok(metadata) = cluster.broker(METADATA_GROUP) else {
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
                if let Ok(Response::Cluster(recorded)) = metadata.raft().write(Proposal::SetCluster(mine.clone())).await
                {
                    tracing::info!(?recorded, "cluster configuration recorded");
                }
            }
            None => {}
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), metadata.shared().applied.notified()).await;
    }
}

/// Key of the write level in the node's settings.
const WRITE_LEVEL_SETTING: &str = "write_level";

/// The write level recorded in the store (the oldest if none is), recorded there again whenever
/// it rises.
fn open_write_level(db: &Arc<Db>, max: u32) -> anyhow::Result<WriteLevel> {
    if !(WRITE_LEVEL_OLDEST..=WRITE_LEVEL_MAX).contains(&max) {
        anyhow::bail!(
            "--write-level-max {max}: this build takes part in levels {WRITE_LEVEL_OLDEST} to {WRITE_LEVEL_MAX}"
        );
    }
    let recorded = db.node_setting::<u32>(WRITE_LEVEL_SETTING)?.unwrap_or(WRITE_LEVEL_OLDEST);
    let db = db.clone();
    let persist = Box::new(move |level: u32| {
        let db = db.clone();
        Box::pin(async move { db.set_node_setting(WRITE_LEVEL_SETTING, &level).await }) as BoxFuture<'static, _>
    });
    WriteLevel::with_max(max, recorded, persist).map_err(anyhow::Error::msg)
}

/// Calls to other nodes over their gRPC `Groups` service, on the channels Raft uses too.
pub struct GrpcTransport {
    /// This node, named in its `Hello`s.
    pub node_id: u64,
    pub channels: Arc<Peers>,
}

impl Transport for GrpcTransport {
    fn send(
        &self,
        node: u64,
        address: &str,
        group: GroupId,
        call: EncodedCall,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<EncodedCall, ClusterError>> {
        let channel = self.channels.channel(address);
        Box::pin(async move {
            let channel = channel.map_err(|reason| ClusterError::Unreachable { group, node, reason })?;
            let mut request = tonic::Request::new(CallRequest { group, format: call.format, request: call.bytes });
            request.set_timeout(timeout);
            let mut client = GroupsClient::new(channel).max_decoding_message_size(limits::CALL_BYTES_MAX);
            let reply = client.call(request).await.map_err(|status| match status.code() {
                tonic::Code::DeadlineExceeded => ClusterError::Timeout { group, node },
                tonic::Code::Unavailable => {
                    ClusterError::Unreachable { group, node, reason: status.message().to_string() }
                }
                _ => ClusterError::OutcomeUnknown { group, reason: format!("node {node}: {}", status.message()) },
            })?;
            let reply = reply.into_inner();
            Ok(EncodedCall { format: reply.format, bytes: reply.result })
        })
    }

    fn hello(&self, node: u64, address: &str, timeout: Duration) -> BoxFuture<'static, Result<Hello, String>> {
        let channel = self.channels.channel(address);
        let from = self.node_id;
        Box::pin(async move {
            let mut request = tonic::Request::new(HelloRequest { node: from });
            request.set_timeout(timeout);
            match GroupsClient::new(channel?).hello(request).await {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    Ok(Hello { node: reply.node, write_level_max: reply.write_level_max })
                }
                // A build from before `Hello`: the oldest level, and its node cannot say who it is.
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    Ok(Hello { node, write_level_max: WRITE_LEVEL_OLDEST })
                }
                Err(status) => Err(status.message().to_string()),
            }
        })
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

/// The node-to-node side of `call`, over gRPC.
struct CallService<S: GroupService> {
    cluster: Arc<Cluster<S>>,
}

#[tonic::async_trait]
impl<S: GroupService> shoal_proto::cluster::groups_server::Groups for CallService<S> {
    async fn call(&self, request: tonic::Request<CallRequest>) -> Result<tonic::Response<CallReply>, tonic::Status> {
        let request = request.into_inner();
        let call = EncodedCall { format: request.format, bytes: request.request };
        let reply = self.cluster.answer(request.group, call).await.map_err(tonic::Status::invalid_argument)?;
        Ok(tonic::Response::new(CallReply { format: reply.format, result: reply.bytes }))
    }

    async fn hello(&self, request: tonic::Request<HelloRequest>) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        tracing::debug!(from = request.get_ref().node, "hello");
        let hello = self.cluster.hello();
        Ok(tonic::Response::new(HelloReply { node: hello.node, write_level_max: hello.write_level_max }))
    }
}
