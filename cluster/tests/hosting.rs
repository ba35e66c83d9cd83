//! The cluster layer without gRPC or storage: groups are hosted and unhosted while the node
//! runs, a call for a group led here runs here, one led elsewhere crosses the transport once,
//! encoded, and a not-leader answer carries the leader's address; a forward follows the
//! leader when another is elected.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shoal_cluster::level::Hello;
use shoal_cluster::replica::{RaftStatus, WriteError};
use shoal_cluster::{Broker, CallError, Cluster, ClusterError, ClusterParts, EncodedCall, GroupError};
use shoal_cluster::{GroupRaft, GroupReply, GroupRequest, GroupService, Transport, WriteLevel};
use shoal_engine::EngineConfig;
use shoal_raft::clock::ClusterClock;
use shoal_raft::state::{GroupState, Shared};
use shoal_raft::{GroupId, NodeInfo, Proposal, Response};
use shoal_sharding::Shards;

/// A group's Raft that knows who leads and in which term (as the test sets it) and proposes
/// nothing.
struct SetLeader {
    /// (leader, term)
    leader: tokio::sync::watch::Sender<(u64, u64)>,
    me: u64,
}

impl SetLeader {
    /// This replica learns that `leader` leads, in a term later than the last it knew.
    fn elect(&self, leader: u64) {
        self.leader.send_modify(|(current, term)| (*current, *term) = (leader, *term + 1));
    }

    fn current(&self) -> u64 {
        self.leader.borrow().0
    }
}

impl GroupRaft for SetLeader {
    fn write(&self, _: Proposal) -> BoxFuture<'_, Result<Response, WriteError>> {
        Box::pin(async { Err(WriteError::Unknown("not used".into())) })
    }

    fn linearize(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn is_leader(&self) -> bool {
        self.current() == self.me
    }

    fn status(&self) -> RaftStatus {
        RaftStatus {
            state: "test".into(),
            leader: Some(self.current()),
            term: self.leader.borrow().1,
            last_log_index: None,
            last_applied: None,
            snapshot: None,
            purged: None,
        }
    }

    fn leader(&self, _: Duration) -> BoxFuture<'_, Option<u64>> {
        let leader = self.current();
        Box::pin(async move { Some(leader) })
    }

    fn leader_change(&self, from: u64, after_term: Option<u64>) -> BoxFuture<'_, u64> {
        let mut leader = self.leader.subscribe();
        Box::pin(async move {
            let later = |term: u64| after_term.is_some_and(|after| term > after);
            let changed = leader.wait_for(|&(leader, term)| leader != from || later(term)).await;
            changed.expect("the sender lives as long as the replica").0
        })
    }

    fn initialize(&self, _: BTreeMap<u64, NodeInfo>) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async { Ok(false) })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn raft_stats(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Err("not used".into()) })
    }
}

/// Answers with the node and group that ran the request.
#[derive(Debug)]
struct Echo;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ran {
    node: u64,
    group: GroupId,
    request: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct EchoError(String);

impl From<GroupError> for EchoError {
    fn from(error: GroupError) -> EchoError {
        EchoError(error.to_string())
    }
}

impl GroupService for Echo {
    type Request = String;
    type Reply = Ran;
    type Error = EchoError;

    async fn execute(&self, broker: &Broker, request: String) -> Result<Ran, EchoError> {
        Ok(Ran { node: broker.node_id(), group: broker.group, request })
    }

    fn wait_seconds(&self, _: &String) -> u32 {
        0
    }
}

/// Delivers calls straight to the other nodes' clusters, recording each; while `silent`, a
/// call is never answered (a node killed with its connection open).
#[derive(Default)]
struct Loopback {
    nodes: Mutex<BTreeMap<String, Arc<Cluster<Echo>>>>,
    sent: Mutex<Vec<(u64, GroupId)>>,
    silent: AtomicBool,
}

/// One node's end of the loopback.
struct Link(Arc<Loopback>);

impl Transport for Link {
    fn send(
        &self,
        node: u64,
        address: &str,
        group: GroupId,
        call: EncodedCall,
        _: Duration,
    ) -> BoxFuture<'static, Result<EncodedCall, ClusterError>> {
        self.0.sent.lock().unwrap().push((node, group));
        let target = self.0.nodes.lock().unwrap().get(address).cloned();
        let silent = self.0.silent.load(Ordering::Relaxed);
        Box::pin(async move {
            if silent {
                return futures::future::pending().await;
            }
            let target = target.ok_or(ClusterError::Unreachable { group, node, reason: "no such node".to_string() })?;
            target.answer(group, call).await.map_err(|reason| ClusterError::OutcomeUnknown { group, reason })
        })
    }

    fn hello(&self, _: u64, address: &str, _: Duration) -> BoxFuture<'static, Result<Hello, String>> {
        let target = self.0.nodes.lock().unwrap().get(address).cloned();
        Box::pin(async move { target.map(|cluster| cluster.hello()).ok_or_else(|| "no such node".to_string()) })
    }
}

fn node(id: u64, transport: &Arc<Loopback>) -> Arc<Cluster<Echo>> {
    node_reading(id, transport, shoal_cluster::level::WRITE_LEVEL_MAX)
}

/// Node `id`, of a build that reads up to write level `level_max`.
fn node_reading(id: u64, transport: &Arc<Loopback>, level_max: u32) -> Arc<Cluster<Echo>> {
    let peers = BTreeMap::from([(1, "one".to_string()), (2, "two".to_string()), (3, "three".to_string())]);
    let cluster = Cluster::new(ClusterParts {
        node_id: id,
        shards: Shards::new(2).unwrap(),
        peers: peers.clone(),
        transport: Arc::new(Link(transport.clone())),
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
        service: Arc::new(Echo),
        write_level: Arc::new(WriteLevel::with_max(level_max, 1, Box::new(|_| Box::pin(async { Ok(()) }))).unwrap()),
    });
    transport.nodes.lock().unwrap().insert(peers[&id].clone(), cluster.clone());
    cluster
}

/// Hosts `group` on `cluster`, led by node `leader` until the test elects another.
fn host(cluster: &Cluster<Echo>, group: GroupId, leader: u64) -> Arc<SetLeader> {
    let clock = ClusterClock::system();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(group, state, clock.clone(), shoal_raft::bodies::MemoryBodies::new()).unwrap();
    let raft = Arc::new(SetLeader { leader: tokio::sync::watch::Sender::new((leader, 1)), me: cluster.node_id });
    let stopping = Arc::new(AtomicBool::new(false));
    cluster.host(Arc::new(Broker::new(cluster.node_id, group, raft.clone(), shared, stopping, clock)));
    raft
}

async fn call(cluster: &Cluster<Echo>, group: GroupId, request: &str) -> Result<Ran, CallError<EchoError>> {
    match cluster.call(group, GroupRequest::Service(request.to_string())).await? {
        GroupReply::Service(ran) => Ok(ran),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[tokio::test]
async fn test_hosted_groups_come_and_go_while_the_node_runs() {
    let transport = Arc::new(Loopback::default());
    let one = node(1, &transport);
    assert!(matches!(one.broker(1), Err(ClusterError::NotHosted { group: 1 })));
    host(&one, 1, 1);
    assert_eq!(one.broker(1).unwrap().group, 1);
    assert_eq!(call(&one, 1, "a").await.unwrap(), Ran { node: 1, group: 1, request: "a".into() });

    let removed = one.unhost(1).expect("group 1 was hosted");
    assert_eq!(removed.group, 1);
    assert!(matches!(one.broker(1), Err(ClusterError::NotHosted { group: 1 })));
    assert!(matches!(call(&one, 1, "b").await, Err(CallError::Cluster(ClusterError::NotHosted { group: 1 }))));
    assert!(transport.sent.lock().unwrap().is_empty(), "nothing crossed the transport");
}

#[tokio::test]
async fn test_a_call_for_a_group_led_elsewhere_crosses_the_transport_once() {
    let transport = Arc::new(Loopback::default());
    let (one, two) = (node(1, &transport), node(2, &transport));
    host(&one, 2, 2);
    host(&two, 2, 2);
    let ran = call(&one, 2, "forwarded").await.unwrap();
    assert_eq!(ran, Ran { node: 2, group: 2, request: "forwarded".into() });
    assert_eq!(*transport.sent.lock().unwrap(), vec![(2, 2)]);

    // Node 2 believes node 1 leads: it answers not-leader with node 1's address instead of
    // forwarding again.
    host(&two, 2, 1);
    match call(&one, 2, "again").await {
        Err(CallError::Cluster(ClusterError::NotLeader { group: 2, node: 2, leader: Some(leader) })) => {
            assert_eq!((leader.node, leader.address.as_str()), (1, "one"));
        }
        other => panic!("expected not-leader, got {other:?}"),
    }
    assert_eq!(transport.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn test_a_call_refused_as_not_leader_goes_once_more_to_the_leader_elected_since() {
    let transport = Arc::new(Loopback::default());
    let (one, two) = (node(1, &transport), node(2, &transport));
    let one_view = host(&one, 2, 2);
    host(&two, 2, 1);
    // Node 1 forwards to node 2, which says it does not lead; node 1 then learns it leads
    // itself and runs the call there.
    let call = tokio::spawn(async move { call(&one, 2, "moved").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    one_view.elect(1);
    let ran = call.await.unwrap().unwrap();
    assert_eq!(ran, Ran { node: 1, group: 2, request: "moved".into() });
    assert_eq!(*transport.sent.lock().unwrap(), vec![(2, 2)], "the refused forward crossed once");
}

#[tokio::test]
async fn test_a_call_refused_by_a_leader_elected_again_in_a_later_term_goes_to_it_again() {
    let transport = Arc::new(Loopback::default());
    let (one, two) = (node(1, &transport), node(2, &transport));
    let one_view = host(&one, 2, 2);
    let two_view = host(&two, 2, 1);
    // Node 2 refuses (naming node 1, the caller itself); then node 2 is elected again, in a
    // later term: the same node id, which node 1 must not take for "no change".
    let started = std::time::Instant::now();
    let call = tokio::spawn(async move { call(&one, 2, "again").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    two_view.elect(2);
    one_view.elect(2);
    let ran = tokio::time::timeout(Duration::from_secs(5), call).await.expect("not stuck").unwrap().unwrap();
    assert_eq!(ran, Ran { node: 2, group: 2, request: "again".into() });
    assert_eq!(*transport.sent.lock().unwrap(), vec![(2, 2), (2, 2)]);
    // Without the term it waited out the leader wait (3 s) and failed.
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn test_an_unanswered_forward_ends_when_another_leader_is_elected() {
    let transport = Arc::new(Loopback::default());
    let (one, _two) = (node(1, &transport), node(2, &transport));
    let one_view = host(&one, 2, 2);
    transport.silent.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let call = tokio::spawn(async move { call(&one, 2, "lost").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!call.is_finished(), "the forward waits for the leader it went to");
    one_view.elect(1);
    let result = tokio::time::timeout(Duration::from_secs(5), call).await.expect("ended by the election").unwrap();
    // Node 2 may have run it: the outcome is unknown, and the caller hears so at once rather
    // than after the call's timeout.
    assert!(matches!(result, Err(CallError::Cluster(ClusterError::OutcomeUnknown { group: 2, .. }))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn test_a_call_refused_as_not_leader_goes_to_the_leader_the_refusing_node_named() {
    let transport = Arc::new(Loopback::default());
    let (one, two, three) = (node(1, &transport), node(2, &transport), node(3, &transport));
    host(&one, 2, 2);
    host(&two, 2, 3);
    host(&three, 2, 3);
    // Node 1 still believes node 2 leads; node 2 knows node 3 does.
    let ran = call(&one, 2, "named").await.unwrap();
    assert_eq!(ran, Ran { node: 3, group: 2, request: "named".into() });
    assert_eq!(*transport.sent.lock().unwrap(), vec![(2, 2), (3, 2)]);
}

#[tokio::test]
async fn test_the_write_level_rises_only_when_every_node_reads_it() {
    let transport = Arc::new(Loopback::default());
    let one = node_reading(1, &transport, 2);
    node_reading(2, &transport, 2);
    node_reading(3, &transport, 1);
    assert_eq!(one.agree_write_level().await.unwrap(), 1, "node 3 reads only level 1");
    assert_eq!(one.status()["write_level"], 1);
    transport.nodes.lock().unwrap().remove("three");
    assert_eq!(one.agree_write_level().await.unwrap(), 1, "a node that does not answer counts as the oldest");
    // Node 3's address answering as node 2 (a wrong peer list) does not count as node 3.
    let two = transport.nodes.lock().unwrap()["two"].clone();
    transport.nodes.lock().unwrap().insert("three".into(), two);
    assert_eq!(one.agree_write_level().await.unwrap(), 1);
    node_reading(3, &transport, 3);
    assert_eq!(one.agree_write_level().await.unwrap(), 2, "every node reads 2 now, and node 1 reads no more");
    assert_eq!(one.write_level(), 2);
    assert_eq!(one.status()["write_level"], 2);
    node_reading(3, &transport, 1);
    assert_eq!(one.agree_write_level().await.unwrap(), 2, "a downgraded node does not lower an agreed level");
}
