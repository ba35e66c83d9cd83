//! The seeded deterministic simulation: a cluster of simulated nodes in one thread under
//! turmoil (simulated network and time), running the real cluster layer (`shoal-cluster`:
//! routing, forwarding, proposals, long polling, the outbox between data groups), engine and
//! openraft with in-memory storage, a queue workload whose consumers abandon some messages to
//! a dead-letter queue in another group, and faults (partitions, pauses, crashes, power
//! losses), judged by the same checkers as the Docker runs. The same seed gives the same history, so a failing
//! seed replays exactly (the build needs `--cfg tokio_unstable`, set in `.cargo/config.toml`,
//! for tokio's own choices to follow the seed).

pub mod network;
pub mod node;
pub mod storage;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use openraft::rt::deterministic_rng::DeterministicRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shoal_raft::bodies::MemoryBodies;
use shoal_raft::{GroupId, NodeInfo, Proposal, Response};

use self::network::{call, Answer, CallError, ClientAnswer, ClientOp, Request, SimQueue};
use self::storage::Disk;
use crate::checker::{check, Verdict, Workload};
use crate::history::{Delivery, Event, Function, Kind, Recorder};

pub type SimRuntime = DeterministicRng<openraft_rt_tokio::TokioRuntime>;

openraft::declare_raft_types!(
    /// Shoal's Raft types with a seeded random source for election timeouts.
    pub SimTypes:
        D = Proposal,
        R = Response,
        NodeId = u64,
        Node = NodeInfo,
        AsyncRuntime = SimRuntime,
);

pub type SimRaft = openraft::Raft<SimTypes, storage::StateMachine>;

/// The simulation's main queue; its dead-letter queue's name is chosen to land in the other
/// data group.
pub const QUEUE: &str = "chaos";
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
/// Data groups of the simulated cluster (no metadata group: nothing here needs it).
pub const DATA_GROUPS: u32 = 2;

/// Every bound of the simulation.
pub mod limits {
    use std::time::Duration;

    // Raft timing is the node's (cluster/src/limits.rs); snapshots far more often, to exercise them.
    pub const HEARTBEAT_MS: u64 = shoal_cluster::limits::RAFT_HEARTBEAT_MS;
    pub const ELECTION_TIMEOUT_MIN_MS: u64 = shoal_cluster::limits::RAFT_ELECTION_TIMEOUT_MIN_MS;
    pub const ELECTION_TIMEOUT_MAX_MS: u64 = shoal_cluster::limits::RAFT_ELECTION_TIMEOUT_MAX_MS;
    pub const SNAPSHOT_ENTRIES: u64 = 500;
    pub const LOG_KEPT_AFTER_SNAPSHOT: u64 = 100;
    pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 5;
    /// Receives are long polls of this many seconds.
    pub const RECEIVE_WAIT_SECONDS: u32 = 1;
    /// Receives of a message before the next one moves it to the dead-letter queue.
    pub const MAX_RECEIVE_COUNT: u32 = 2;
    /// A consumer abandons (does not delete) one received message in this many, so it comes
    /// back after its visibility timeout and, received too often, moves to the dead-letter queue.
    pub const ABANDON_ONE_IN: u32 = 4;
    /// A consumer also polls the dead-letter queue once in this many rounds.
    pub const DEAD_LETTER_POLL_ONE_IN: u32 = 3;
    /// A client gives up on an operation after this: unknown outcome.
    pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Pause after each send, and after an empty receive or a failed operation.
    pub const PRODUCER_PAUSE: Duration = Duration::from_millis(20);
    pub const IDLE_PAUSE: Duration = Duration::from_millis(50);
    /// After the last fault is healed, before the drain begins.
    pub const HEAL_SETTLE: Duration = Duration::from_secs(3);
    pub const DRAIN_BOUND: Duration = Duration::from_secs(60);
    pub const DRAIN_EMPTY_CONFIRMATIONS: u32 = 3;
    /// The `lying_disks` failpoint makes writes durable only this often.
    pub const LAZY_FLUSH: Duration = Duration::from_secs(1);
    pub const FAULT_GAP_MS: std::ops::Range<u64> = 1_000..4_000;
    pub const FAULT_HOLD_MS: std::ops::Range<u64> = 1_000..6_000;
    pub const MAX_MESSAGE_LATENCY: Duration = Duration::from_millis(5);
    /// The simulated wall clock starts here (2026-01-01).
    pub const EPOCH_MS: u64 = 1_767_225_600_000;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// Cut one node off from the other nodes.
    Partition,
    /// Hold every message to and from one node for a while (as a paused process).
    Pause,
    /// Crash one node's process (its disk keeps everything) and restart it.
    Kill,
    /// Every node loses power at once (what was not durable is gone) and restarts.
    PowerLoss,
}

impl SimFault {
    fn name(self) -> &'static str {
        match self {
            SimFault::Partition => "partition",
            SimFault::Pause => "pause",
            SimFault::Kill => "kill",
            SimFault::PowerLoss => "power-loss",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub nodes: usize,
    /// Simulated seconds of workload under faults.
    pub duration: Duration,
    pub faults: Vec<SimFault>,
    pub producers: usize,
    pub consumers: usize,
    /// Failpoint: the disks report writes durable before they are.
    pub lying_disks: bool,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            nodes: 3,
            duration: Duration::from_secs(20),
            faults: vec![SimFault::Partition, SimFault::Pause, SimFault::Kill, SimFault::PowerLoss],
            producers: 2,
            consumers: 2,
            lying_disks: false,
        }
    }
}

pub struct SimRun {
    pub events: Vec<Event>,
    pub verdict: Verdict,
}

/// A planned fault: when it starts and ends and which nodes (indices) it hits.
#[derive(Debug, Clone)]
struct Planned {
    start: Duration,
    end: Duration,
    fault: SimFault,
    nodes: Vec<usize>,
}

fn plan(seed: u64, options: &SimOptions) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_fa17);
    let mut planned = Vec::new();
    let mut at = Duration::from_millis(rng.gen_range(limits::FAULT_GAP_MS));
    let all: Vec<usize> = (0..options.nodes).collect();
    while let Some(&fault) = options.faults.choose(&mut rng) {
        let hold = Duration::from_millis(rng.gen_range(limits::FAULT_HOLD_MS));
        if at + hold >= options.duration {
            break;
        }
        let nodes = match fault {
            SimFault::PowerLoss => all.clone(),
            _ => vec![rng.gen_range(0..options.nodes)],
        };
        planned.push(Planned { start: at, end: at + hold, fault, nodes });
        at += hold + Duration::from_millis(rng.gen_range(limits::FAULT_GAP_MS));
    }
    planned
}

/// The host of node `id`.
pub fn host_of(id: u64) -> String {
    format!("n{id}")
}

/// What every simulated client shares.
#[derive(Clone)]
struct Context {
    recorder: Recorder,
    nodes: Vec<String>,
    duration: Duration,
    queue_ready: Arc<AtomicBool>,
    /// The time the drain may begin.
    drain_from: Duration,
}

fn elapsed() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// One operation through `node`: recorded as invoke, then ok / fail / info.
async fn operate(context: &Context, process: &str, node: &str, invoke: Event, op: ClientOp) -> Option<ClientAnswer> {
    context.recorder.record(invoke.clone().node(node));
    let f = invoke.f;
    let op_queue = match &op {
        ClientOp::Receive(queue) => Some(*queue),
        _ => None,
    };
    let done = |kind: Kind| {
        let mut event = Event::new(process, kind, f).node(node);
        event.value = invoke.value;
        event
    };
    match call(node, &Request::Client(op), limits::CLIENT_TIMEOUT).await {
        Ok(Answer::Client(answer)) => {
            let event = match &answer {
                ClientAnswer::Refused(why) => done(Kind::Fail).detail(why.clone()),
                ClientAnswer::Unknown(why) => done(Kind::Info).detail(why.clone()),
                ClientAnswer::Sent { message_id } => {
                    let mut event = done(Kind::Ok);
                    event.message_id = Some(message_id.clone());
                    event
                }
                ClientAnswer::Received(messages) => {
                    let mut event = done(Kind::Ok);
                    let queue = match op_queue {
                        Some(SimQueue::Dead) => "dlq",
                        _ => "main",
                    };
                    event.deliveries = messages
                        .iter()
                        .map(|(value, message_id, _)| Delivery {
                            value: *value,
                            message_id: message_id.clone(),
                            queue: queue.into(),
                            receive_count: None,
                        })
                        .collect();
                    event
                }
                ClientAnswer::Done | ClientAnswer::Remaining(_) => done(Kind::Ok),
            };
            let ok = event.kind == Kind::Ok;
            context.recorder.record(event);
            ok.then_some(answer)
        }
        Ok(other) => {
            context.recorder.record(done(Kind::Info).detail(format!("unexpected answer {other:?}")));
            None
        }
        // Nothing was sent: definitely not done.
        Err(CallError::Unreachable(why)) => {
            context.recorder.record(done(Kind::Fail).detail(why));
            None
        }
        Err(CallError::Lost(why)) => {
            context.recorder.record(done(Kind::Info).detail(why));
            None
        }
    }
}

async fn wait_for_queue(context: &Context) {
    while !context.queue_ready.load(Ordering::SeqCst) {
        tokio::time::sleep(limits::IDLE_PAUSE).await;
    }
}

/// Creates the dead-letter queue, then the main queue that names it.
async fn setup(context: Context) -> turmoil::Result {
    let mut turn = 0;
    for queue in [SimQueue::Dead, SimQueue::Main] {
        loop {
            let node = &context.nodes[turn % context.nodes.len()];
            turn += 1;
            let request = Request::Client(ClientOp::CreateQueue(queue));
            if let Ok(Answer::Client(ClientAnswer::Done)) = call(node, &request, limits::CLIENT_TIMEOUT).await {
                break;
            }
            tokio::time::sleep(limits::IDLE_PAUSE * 4).await;
        }
    }
    context.queue_ready.store(true, Ordering::SeqCst);
    Ok(())
}

async fn produce(context: Context, number: u64, seed: u64) -> turmoil::Result {
    let process = format!("p{number}");
    let mut rng = StdRng::seed_from_u64(seed ^ (number + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    wait_for_queue(&context).await;
    let mut sequence = 0;
    while elapsed() < context.duration {
        let value = number * 1_000_000_000 + sequence;
        sequence += 1;
        let node = context.nodes.choose(&mut rng).expect("nodes").clone();
        let invoke = Event::new(&process, Kind::Invoke, Function::Send).value(value);
        let op = ClientOp::Send { value, message_id: format!("m-{value}-{}", elapsed().as_millis()) };
        operate(&context, &process, &node, invoke, op).await;
        tokio::time::sleep(limits::PRODUCER_PAUSE).await;
    }
    Ok(())
}

/// One receive from `queue` through a random node, then a delete of each message through
/// random nodes, except those abandoned (one in `abandon_one_in`, never when 0). Returns how
/// many messages it received, or `None` when the receive did not succeed.
async fn receive_and_delete(
    context: &Context,
    process: &str,
    rng: &mut StdRng,
    queue: SimQueue,
    abandon_one_in: u32,
) -> Option<usize> {
    let node = context.nodes.choose(rng).expect("nodes").clone();
    let invoke = Event::new(process, Kind::Invoke, Function::Receive);
    let Some(ClientAnswer::Received(messages)) =
        operate(context, process, &node, invoke, ClientOp::Receive(queue)).await
    else {
        return None;
    };
    for (value, message_id, receipt_handle) in &messages {
        if abandon_one_in > 0 && rng.gen_ratio(1, abandon_one_in) {
            continue;
        }
        let node = context.nodes.choose(rng).expect("nodes").clone();
        let mut invoke = Event::new(process, Kind::Invoke, Function::Delete).value(*value);
        invoke.message_id = Some(message_id.clone());
        let op = ClientOp::Delete { queue, receipt_handle: receipt_handle.clone() };
        operate(context, process, &node, invoke, op).await;
    }
    Some(messages.len())
}

async fn consume(context: Context, number: u64, seed: u64) -> turmoil::Result {
    let process = format!("c{number}");
    let mut rng = StdRng::seed_from_u64(seed ^ (number + 101).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    wait_for_queue(&context).await;
    while elapsed() < context.duration {
        let queue = if rng.gen_ratio(1, limits::DEAD_LETTER_POLL_ONE_IN) { SimQueue::Dead } else { SimQueue::Main };
        let abandon = if queue == SimQueue::Main { limits::ABANDON_ONE_IN } else { 0 };
        if receive_and_delete(&context, &process, &mut rng, queue, abandon).await.unwrap_or(0) == 0 {
            tokio::time::sleep(limits::IDLE_PAUSE).await;
        }
    }
    Ok(())
}

/// After the faults: receive from both queues until both are empty (at their leaders' read
/// index) several times in a row, or the bound runs out.
async fn drain(context: Context, seed: u64) -> turmoil::Result {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xd4a1_d4a1);
    wait_for_queue(&context).await;
    while elapsed() < context.drain_from {
        tokio::time::sleep(limits::IDLE_PAUSE).await;
    }
    let deadline = context.drain_from + limits::DRAIN_BOUND;
    let mut empty_in_a_row = 0;
    let complete = loop {
        if elapsed() >= deadline {
            break false;
        }
        let mut received = 0;
        let mut failed = false;
        for queue in [SimQueue::Main, SimQueue::Dead] {
            match receive_and_delete(&context, "drain", &mut rng, queue, 0).await {
                Some(count) => received += count,
                None => failed = true,
            }
        }
        if received > 0 || failed {
            empty_in_a_row = 0;
            if failed {
                tokio::time::sleep(limits::IDLE_PAUSE).await;
            }
            continue;
        }
        let mut remaining = Vec::new();
        for queue in [SimQueue::Main, SimQueue::Dead] {
            let node = context.nodes.choose(&mut rng).expect("nodes").clone();
            remaining.push(call(&node, &Request::Client(ClientOp::Remaining(queue)), limits::CLIENT_TIMEOUT).await);
        }
        // Only a group's leader answers; a refusal or a lost answer says nothing either way.
        let counts: Vec<Option<u64>> = remaining
            .iter()
            .map(|answer| match answer {
                Ok(Answer::Client(ClientAnswer::Remaining(count))) => Some(*count),
                _ => None,
            })
            .collect();
        if counts.iter().all(|count| *count == Some(0)) {
            empty_in_a_row += 1;
        } else if counts.iter().any(|count| count.is_some_and(|count| count > 0)) {
            empty_in_a_row = 0;
        }
        if empty_in_a_row >= limits::DRAIN_EMPTY_CONFIRMATIONS {
            break true;
        }
        tokio::time::sleep(limits::IDLE_PAUSE).await;
    };
    let mut end = Event::new("drain", Kind::Info, Function::DrainEnd);
    end.complete = Some(complete);
    context.recorder.record(end);
    Ok(())
}

/// Runs one simulation of `options` from `seed` and judges its history.
pub fn simulate(seed: u64, options: &SimOptions) -> anyhow::Result<SimRun> {
    let faults_end = options.duration;
    let drain_from = faults_end + limits::HEAL_SETTLE;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_millis(limits::EPOCH_MS))
        .simulation_duration(drain_from + limits::DRAIN_BOUND + Duration::from_secs(30))
        .max_message_latency(limits::MAX_MESSAGE_LATENCY)
        .tcp_capacity(1 << 16)
        .build();

    // The recorder's clock is the simulation's, advanced between steps.
    let now_ns = Arc::new(AtomicU64::new(0));
    let clock = now_ns.clone();
    let recorder = Recorder::with_clock(move || clock.load(Ordering::SeqCst));

    let names: Vec<String> = (1..=options.nodes as u64).map(host_of).collect();
    let members: BTreeMap<u64, NodeInfo> =
        names.iter().enumerate().map(|(index, name)| (index as u64 + 1, NodeInfo { addr: name.clone() })).collect();
    // Each node's disk per group: what survives its crashes.
    let disks: Vec<BTreeMap<GroupId, Arc<Mutex<Disk>>>> = (0..options.nodes)
        .map(|_| (1..=DATA_GROUPS).map(|group| (group, Disk::new(options.lying_disks))).collect())
        .collect();
    // Each node's store of message contents, which survives its crashes likewise.
    let bodies: Vec<Arc<MemoryBodies>> = (0..options.nodes).map(|_| MemoryBodies::new()).collect();
    let lying_disks = options.lying_disks;
    for (index, name) in names.iter().enumerate() {
        let (members, disks, node_bodies) = (members.clone(), disks[index].clone(), bodies[index].clone());
        let id = index as u64 + 1;
        sim.host(name.as_str(), move || {
            let (members, disks, bodies) = (members.clone(), disks.clone(), node_bodies.clone());
            // Lying disks lose log tails; snapshots stay off so a lost tail is the only damage.
            let snapshots = !lying_disks;
            let node = node::run(id, members, disks, bodies, snapshots);
            SimRuntime::scope(seed ^ id.wrapping_mul(0x2545_f491_4f6c_dd1d), node)
        });
    }
    let context = Context {
        recorder: recorder.clone(),
        nodes: names.clone(),
        duration: options.duration,
        queue_ready: Arc::new(AtomicBool::new(false)),
        drain_from,
    };
    let mut clients = vec!["setup".to_string(), "drain".to_string()];
    sim.client("setup", setup(context.clone()));
    sim.client("drain", drain(context.clone(), seed));
    for number in 0..options.producers as u64 {
        clients.push(format!("p{number}"));
        sim.client(format!("p{number}").as_str(), produce(context.clone(), number, seed));
    }
    for number in 0..options.consumers as u64 {
        clients.push(format!("c{number}"));
        sim.client(format!("c{number}").as_str(), consume(context.clone(), number, seed));
    }
    let hosts = Hosts { nodes: names, clients, disks, bodies };

    let planned = plan(seed, options);
    let mut next = 0;
    let mut active: Vec<Planned> = Vec::new();
    let mut next_flush = limits::LAZY_FLUSH;
    loop {
        let finished = sim.step().map_err(|error| anyhow::anyhow!("simulation of seed {seed}: {error}"))?;
        let now = sim.elapsed();
        now_ns.store(now.as_nanos() as u64, Ordering::SeqCst);
        while next < planned.len() && planned[next].start <= now {
            let fault = planned[next].clone();
            next += 1;
            start_fault(&mut sim, &fault, &hosts, &recorder);
            active.push(fault);
        }
        let (ended, still): (Vec<Planned>, Vec<Planned>) = active.into_iter().partition(|fault| fault.end <= now);
        active = still;
        for fault in ended {
            end_fault(&mut sim, &fault, &hosts, &recorder);
        }
        if options.lying_disks && now >= next_flush {
            for disk in hosts.disks.iter().flat_map(BTreeMap::values) {
                disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).flush();
            }
            next_flush += limits::LAZY_FLUSH;
        }
        if finished {
            break;
        }
    }
    let events = recorder.events();
    let verdict = check(&events, Workload::DeadLetter);
    Ok(SimRun { events, verdict })
}

fn log_fault(recorder: &Recorder, f: Function, fault: &Planned, names: &[String]) {
    let mut event = Event::new("nemesis", Kind::Info, f);
    event.fault = Some(fault.fault.name().to_string());
    event.nodes = fault.nodes.iter().map(|index| names[*index].clone()).collect();
    recorder.record(event);
}

/// The hosts a fault on `name` cuts it off from: its peers, and for a pause the clients too.
fn cut_off_from<'a>(name: &str, names: &'a [String], clients: &'a [String], pause: bool) -> Vec<&'a str> {
    let peers = names.iter().filter(|other| other.as_str() != name);
    let clients = clients.iter().filter(|_| pause);
    peers.chain(clients).map(String::as_str).collect()
}

struct Hosts {
    nodes: Vec<String>,
    clients: Vec<String>,
    disks: Vec<BTreeMap<GroupId, Arc<Mutex<Disk>>>>,
    bodies: Vec<Arc<MemoryBodies>>,
}

fn start_fault(sim: &mut turmoil::Sim<'_>, fault: &Planned, hosts: &Hosts, recorder: &Recorder) {
    let names = &hosts.nodes;
    log_fault(recorder, Function::FaultStart, fault, names);
    for &index in &fault.nodes {
        let name = names[index].as_str();
        match fault.fault {
            SimFault::Partition => {
                for other in cut_off_from(name, names, &hosts.clients, false) {
                    sim.partition(name, other);
                }
            }
            SimFault::Pause => {
                for other in cut_off_from(name, names, &hosts.clients, true) {
                    sim.hold(name, other);
                }
            }
            SimFault::Kill => sim.crash(name),
            SimFault::PowerLoss => {
                for disk in hosts.disks[index].values() {
                    disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).power_loss();
                }
                hosts.bodies[index].power_loss();
                sim.crash(name);
            }
        }
    }
}

fn end_fault(sim: &mut turmoil::Sim<'_>, fault: &Planned, hosts: &Hosts, recorder: &Recorder) {
    let names = &hosts.nodes;
    for &index in &fault.nodes {
        let name = names[index].as_str();
        match fault.fault {
            SimFault::Partition => {
                for other in cut_off_from(name, names, &hosts.clients, false) {
                    sim.repair(name, other);
                }
            }
            SimFault::Pause => {
                for other in cut_off_from(name, names, &hosts.clients, true) {
                    sim.release(name, other);
                }
            }
            SimFault::Kill | SimFault::PowerLoss => sim.bounce(name),
        }
    }
    log_fault(recorder, Function::FaultEnd, fault, names);
}
