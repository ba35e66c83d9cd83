//! One simulated node: the real cluster layer (`shoal_cluster::Cluster`: routing to leaders,
//! forwarding, proposals stamped with the cluster clock, long polling, the outbox workers that
//! move dead letters between groups, the ticker) over the simulation's Raft (the real openraft
//! and `GroupState` apply, in-memory storage, the simulated network), and the server that
//! answers Raft messages, forwarded calls and clients' SQS operations.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use openraft::{AsyncRuntime, Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use shoal_cluster::{Broker, CallError, Cluster, ClusterError, ClusterParts, EncodedCall, GroupError};
use shoal_cluster::{GroupReply, GroupRequest, GroupService, WriteLevel};
use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::outbox::Placement;
use shoal_engine::{Command, EngineConfig, Reply};
use shoal_raft::bodies::MemoryBodies;
use shoal_raft::clock::{ClusterClock, TimeSource};
use shoal_raft::state::GroupState;
use shoal_raft::{GroupId, NodeInfo};
use shoal_sharding::Shards;

use super::network::{
    read_frame, write_frame, Answer, ClientAnswer, ClientOp, Network, Request, SimQueue, SimTransport, PORT,
};
use super::storage::{Disk, LogStore, StateMachine};
use super::{limits, SimRaft, SimRuntime, ACCOUNT, DATA_GROUPS, REGION};

fn raft_config(snapshots: bool) -> Arc<Config> {
    let snapshot_policy =
        if snapshots { SnapshotPolicy::LogsSinceLast(limits::SNAPSHOT_ENTRIES) } else { SnapshotPolicy::Never };
    let config = Config {
        cluster_name: "shoal-sim".into(),
        heartbeat_interval: limits::HEARTBEAT_MS,
        election_timeout_min: limits::ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: limits::ELECTION_TIMEOUT_MAX_MS,
        snapshot_policy,
        max_in_snapshot_log_to_keep: limits::LOG_KEPT_AFTER_SNAPSHOT,
        purge_batch_size: limits::LOG_KEPT_AFTER_SNAPSHOT,
        ..Default::default()
    };
    Arc::new(config.validate().expect("a valid simulation raft configuration"))
}

/// The simulated clocks of a node: simulated time, the wall clock starting at the epoch.
#[derive(Debug)]
pub struct SimClocks;

impl TimeSource for SimClocks {
    fn wall_ms(&self) -> u64 {
        limits::EPOCH_MS + self.monotonic_ms()
    }

    fn monotonic_ms(&self) -> u64 {
        turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
    }
}

/// The names of the simulation's queues: the main queue, and a dead-letter queue whose name
/// hashes to another data group, so dead letters cross groups through the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueNames {
    pub main: String,
    pub dead: String,
}

impl QueueNames {
    pub fn new(shards: &Shards) -> QueueNames {
        let main = super::QUEUE.to_string();
        let dead = (0..)
            .map(|n| format!("{main}-dlq-{n}"))
            .find(|name| shards.group_of(name) != shards.group_of(&main))
            .expect("a name in another group");
        QueueNames { main, dead }
    }

    pub fn of(&self, queue: SimQueue) -> &str {
        match queue {
            SimQueue::Main => &self.main,
            SimQueue::Dead => &self.dead,
        }
    }
}

/// The simulated clients' operations as a front door of the cluster layer: run on the leader
/// of their queue's group.
#[derive(Debug)]
pub struct SimService {
    names: Arc<QueueNames>,
}

/// A refused operation (definitely not done), or one whose outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimError {
    Refused(String),
    Unknown(String),
}

impl From<ClusterError> for SimError {
    fn from(error: ClusterError) -> SimError {
        match error {
            ClusterError::Timeout { .. } | ClusterError::OutcomeUnknown { .. } => SimError::Unknown(error.to_string()),
            ClusterError::NotLeader { .. }
            | ClusterError::NoLeader { .. }
            | ClusterError::Unreachable { .. }
            | ClusterError::NotHosted { .. }
            | ClusterError::Unavailable { .. } => SimError::Refused(error.to_string()),
        }
    }
}

impl From<GroupError> for SimError {
    fn from(error: GroupError) -> SimError {
        match error {
            GroupError::Cluster(error) => SimError::from(error),
            GroupError::Engine(error) => SimError::Refused(error.to_string()),
            // Nothing was proposed.
            GroupError::Throttled => SimError::Refused(error.to_string()),
            GroupError::Internal(message) => SimError::Unknown(message),
        }
    }
}

impl SimService {
    fn arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
    }

    fn create(&self, queue: SimQueue) -> Command {
        let mut attributes =
            BTreeMap::from([("VisibilityTimeout".to_string(), limits::VISIBILITY_TIMEOUT_SECONDS.to_string())]);
        if queue == SimQueue::Main {
            let policy = serde_json::json!({
                "deadLetterTargetArn": self.arn(&self.names.dead),
                "maxReceiveCount": limits::MAX_RECEIVE_COUNT,
            });
            attributes.insert("RedrivePolicy".to_string(), policy.to_string());
        }
        Command::CreateQueue { name: self.names.of(queue).to_string(), attributes, tags: BTreeMap::new() }
    }
}

impl GroupService for SimService {
    type Request = ClientOp;
    type Reply = ClientAnswer;
    type Error = SimError;

    async fn execute(&self, broker: &Broker, op: ClientOp) -> Result<ClientAnswer, SimError> {
        let unexpected = |reply: Reply| SimError::Unknown(format!("unexpected reply {reply:?}"));
        match op {
            ClientOp::CreateQueue(queue) => {
                broker.propose(self.create(queue)).await?;
                Ok(ClientAnswer::Done)
            }
            ClientOp::Send { value, message_id } => {
                let entry = SendEntry {
                    id: String::new(),
                    message_id,
                    body: value.to_string(),
                    delay_seconds: None,
                    attributes: Default::default(),
                    system_attributes: Default::default(),
                    deduplication_id: None,
                    group_id: None,
                    sender_id: ACCOUNT.into(),
                };
                match broker.propose(Command::SendMessage { queue: self.names.main.clone(), entry }).await? {
                    Reply::Sent(sent) => Ok(ClientAnswer::Sent { message_id: sent.message_id }),
                    other => Err(unexpected(other)),
                }
            }
            ClientOp::Receive(queue) => {
                let request = ReceiveRequest {
                    max_messages: 10,
                    visibility_timeout_seconds: None,
                    receive_request_attempt_id: None,
                };
                let messages = broker.receive(self.names.of(queue), request, limits::RECEIVE_WAIT_SECONDS).await?;
                let messages = messages
                    .into_iter()
                    .map(|message| {
                        (message.body.parse().unwrap_or(u64::MAX), message.message_id, message.receipt_handle)
                    })
                    .collect();
                Ok(ClientAnswer::Received(messages))
            }
            ClientOp::Delete { queue, receipt_handle } => {
                let command = Command::DeleteMessage { queue: self.names.of(queue).to_string(), receipt_handle };
                broker.propose(command).await?;
                Ok(ClientAnswer::Done)
            }
            ClientOp::Remaining(queue) => {
                broker.linearize().await?;
                let counts = broker.read(|engine, now| engine.queue(self.names.of(queue)).map(|q| q.counts(now)));
                let counts = counts.map_err(|error| SimError::Refused(error.to_string()))?;
                Ok(ClientAnswer::Remaining((counts.visible + counts.in_flight + counts.delayed) as u64))
            }
        }
    }

    fn wait_seconds(&self, op: &ClientOp) -> u32 {
        match op {
            ClientOp::Receive(_) => limits::RECEIVE_WAIT_SECONDS,
            _ => 0,
        }
    }
}

type SimCluster = Cluster<SimService>;

/// Runs node `id` until the simulation crashes it: starts a replica of every data group from
/// its disk, initializes the groups on first start when `bootstrap`, starts the cluster's
/// workers, and serves.
pub async fn run(
    id: u64,
    members: BTreeMap<u64, NodeInfo>,
    disks: BTreeMap<GroupId, Arc<Mutex<Disk>>>,
    bodies: Arc<MemoryBodies>,
    snapshots: bool,
) -> turmoil::Result {
    let shards = Shards::new(DATA_GROUPS)?;
    let names = Arc::new(QueueNames::new(&shards));
    let clock = Arc::new(ClusterClock::new(Arc::new(SimClocks)));
    let cluster = Cluster::new(ClusterParts {
        node_id: id,
        shards,
        peers: members.iter().map(|(id, node)| (*id, node.addr.clone())).collect(),
        transport: Arc::new(SimTransport),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        service: Arc::new(SimService { names: names.clone() }),
        write_level: Arc::new(WriteLevel::in_memory()),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let mut rafts = BTreeMap::new();
    for (group, disk) in disks {
        let config = EngineConfig {
            placement: Placement { group, data_groups: DATA_GROUPS },
            ..EngineConfig::new(ACCOUNT, REGION)
        };
        let state_machine =
            StateMachine::open(group, disk.clone(), GroupState::new(config), clock.clone(), bodies.clone())?;
        let network = Network { group, bodies: bodies.clone() };
        let shared = state_machine.shared.clone();
        let raft = SimRaft::new(id, raft_config(snapshots), network, LogStore { disk }, state_machine).await?;
        rafts.insert(group, raft.clone());
        cluster.host(Arc::new(Broker::new(id, group, Arc::new(raft), shared, stopping.clone(), clock.clone())));
    }
    cluster.bootstrap().await?;
    for worker in cluster.workers() {
        SimRuntime::spawn(worker);
    }
    let rafts = Arc::new(rafts);
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let node = Node { cluster: cluster.clone(), rafts: rafts.clone(), names: names.clone() };
        SimRuntime::spawn(async move {
            let _ = node.serve_connection(stream).await;
        });
    }
}

/// What a node's server answers with.
struct Node {
    cluster: Arc<SimCluster>,
    rafts: Arc<BTreeMap<GroupId, SimRaft>>,
    names: Arc<QueueNames>,
}

impl Node {
    async fn serve_connection(&self, mut stream: turmoil::net::TcpStream) -> std::io::Result<()> {
        let request: Request = read_frame(&mut stream).await?;
        let raft =
            |group: GroupId| self.rafts.get(&group).ok_or_else(|| Answer::Failed(format!("no group {group} here")));
        let answer = match request {
            Request::Append(group, rpc) => match raft(group) {
                Ok(raft) => raft.append_entries(rpc).await.map_or_else(failed, Answer::Append),
                Err(answer) => answer,
            },
            Request::Vote(group, rpc) => match raft(group) {
                Ok(raft) => raft.vote(rpc).await.map_or_else(failed, Answer::Vote),
                Err(answer) => answer,
            },
            Request::Snapshot { group, vote, meta, data } => match raft(group) {
                Ok(raft) => {
                    let snapshot = openraft::type_config::alias::SnapshotOf::<super::SimTypes, Cursor<Vec<u8>>> {
                        meta,
                        snapshot: Cursor::new(data),
                    };
                    raft.install_full_snapshot(vote, snapshot).await.map_or_else(failed, Answer::Snapshot)
                }
                Err(answer) => answer,
            },
            Request::Call { group, format, bytes } => {
                match self.cluster.answer(group, EncodedCall { format, bytes }).await {
                    Ok(reply) => Answer::Call { format: reply.format, bytes: reply.bytes },
                    Err(reason) => Answer::Failed(reason),
                }
            }
            Request::Client(op) => Answer::Client(self.client_op(op).await),
        };
        write_frame(&mut stream, &answer).await
    }

    /// A client's operation through the cluster layer: run on its group's leader, here or one
    /// hop away.
    async fn client_op(&self, op: ClientOp) -> ClientAnswer {
        let queue = match &op {
            ClientOp::CreateQueue(queue) | ClientOp::Receive(queue) | ClientOp::Remaining(queue) => *queue,
            ClientOp::Send { .. } => SimQueue::Main,
            ClientOp::Delete { queue, .. } => *queue,
        };
        let group = self.cluster.group_of(self.names.of(queue));
        match self.cluster.call(group, GroupRequest::Service(op)).await {
            Ok(GroupReply::Service(answer)) => answer,
            Ok(other) => ClientAnswer::Unknown(format!("unexpected reply {other:?}")),
            Err(CallError::Cluster(error)) => answer_of(SimError::from(error)),
            Err(CallError::Service(error)) => answer_of(error),
        }
    }
}

fn failed(error: impl std::fmt::Display) -> Answer {
    Answer::Failed(error.to_string())
}

fn answer_of(error: SimError) -> ClientAnswer {
    match error {
        SimError::Refused(why) => ClientAnswer::Refused(why),
        SimError::Unknown(why) => ClientAnswer::Unknown(why),
    }
}
