//! Commands proposed while earlier entries are being written share an entry from write level 4,
//! each answered with its own outcome only after the entry's write returns; below level 4 every
//! command is an entry of its own; a failed write answers every command of its entry.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use shoal_cluster::level::BATCH_LEVEL;
use shoal_cluster::replica::{RaftStatus, WriteError};
use shoal_cluster::{Broker, ClusterError, GroupError, GroupRaft};
use shoal_engine::{Command, EngineConfig, EngineError, Outcome};
use shoal_raft::clock::ClusterClock;
use shoal_raft::format::FixedLevel;
use shoal_raft::state::{GroupState, Shared};
use shoal_raft::{NodeInfo, Proposal, Response};

/// A Raft whose writes wait until the test opens them, then answer each command with an error
/// naming its queue, so a caller can tell its own outcome from another's.
struct HeldWrites {
    /// The commands of each entry written so far, in order.
    entries: Mutex<Vec<Vec<String>>>,
    open: tokio::sync::Semaphore,
    fail: AtomicBool,
}

fn outcome_for(command: &Command) -> Outcome {
    Err(EngineError::StorageFailure(command.queue().unwrap_or_default().to_string()))
}

impl GroupRaft for HeldWrites {
    fn write(&self, proposal: Proposal) -> BoxFuture<'_, Result<Response, WriteError>> {
        Box::pin(async move {
            let entries = match &proposal {
                Proposal::Engine(entry) => vec![entry.clone()],
                Proposal::Engines(entries) => entries.clone(),
                Proposal::SetCluster(_) => Vec::new(),
            };
            let names = entries.iter().map(|entry| entry.command.queue().unwrap_or_default().to_string()).collect();
            self.entries.lock().unwrap().push(names);
            self.open.acquire().await.expect("open").forget();
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(WriteError::Unknown("the leader went away".into()));
            }
            Ok(match proposal {
                Proposal::Engine(entry) => Response::Engine(outcome_for(&entry.command)),
                Proposal::Engines(entries) => {
                    Response::Engines(entries.iter().map(|entry| outcome_for(&entry.command)).collect())
                }
                Proposal::SetCluster(_) => Response::Nothing,
            })
        })
    }

    fn linearize(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn is_leader(&self) -> bool {
        true
    }

    fn status(&self) -> RaftStatus {
        RaftStatus {
            state: "test".into(),
            leader: Some(1),
            term: 1,
            last_log_index: None,
            last_applied: None,
            snapshot: None,
            purged: None,
        }
    }

    fn leader(&self, _: Duration) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async { Some(1) })
    }

    fn leader_change(&self, _: u64, _: Option<u64>) -> BoxFuture<'_, u64> {
        Box::pin(futures::future::pending())
    }

    fn initialize(&self, _: BTreeMap<u64, NodeInfo>) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async { Ok(false) })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }
}

fn broker(level: u32) -> (Arc<Broker>, Arc<HeldWrites>) {
    let clock = ClusterClock::system();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(1, state, clock.clone(), shoal_raft::bodies::MemoryBodies::new()).unwrap();
    let raft = Arc::new(HeldWrites {
        entries: Mutex::new(Vec::new()),
        open: tokio::sync::Semaphore::new(0),
        fail: AtomicBool::new(false),
    });
    let broker = Broker::new(1, 1, raft.clone(), shared, Arc::new(AtomicBool::new(false)), clock)
        .with_write_level(Arc::new(FixedLevel(level)));
    (Arc::new(broker), raft)
}

fn purge(queue: &str) -> Command {
    Command::PurgeQueue { queue: queue.to_string() }
}

/// Proposes a purge of each of `queues` at once; returns their pending answers.
fn propose_all(
    broker: &Arc<Broker>,
    queues: &[&str],
) -> Vec<tokio::task::JoinHandle<Result<shoal_engine::Reply, GroupError>>> {
    queues
        .iter()
        .map(|queue| {
            let (broker, command) = (broker.clone(), purge(queue));
            tokio::spawn(async move { broker.propose(command).await })
        })
        .collect()
}

/// Waits until `raft` has been asked to write `entries` entries.
async fn written(raft: &HeldWrites, entries: usize) {
    for _ in 0..2_000 {
        if raft.entries.lock().unwrap().len() >= entries {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{entries} entries were never written: {:?}", raft.entries.lock().unwrap());
}

fn own_queue(answer: Result<shoal_engine::Reply, GroupError>) -> String {
    match answer {
        Err(GroupError::Engine(EngineError::StorageFailure(queue))) => queue,
        other => panic!("not the outcome the raft gave: {other:?}"),
    }
}

#[tokio::test]
async fn test_commands_proposed_during_a_write_share_the_next_entries() {
    let (broker, raft) = broker(BATCH_LEVEL);
    // Two entries take the first two commands (two in flight at most)...
    let first = propose_all(&broker, &["a"]);
    written(&raft, 1).await;
    let second = propose_all(&broker, &["b"]);
    written(&raft, 2).await;
    // ...and the five proposed while they are written wait for the next one, together.
    let rest = propose_all(&broker, &["c", "d", "e", "f", "g"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(raft.entries.lock().unwrap().len(), 2, "nothing more is written while two entries are in flight");
    for handle in first.iter().chain(&second).chain(&rest) {
        assert!(!handle.is_finished(), "no command is answered before its entry's write returns");
    }
    raft.open.add_permits(1);
    written(&raft, 3).await;
    raft.open.add_permits(2);
    let mut answers = Vec::new();
    for handle in first.into_iter().chain(second).chain(rest) {
        answers.push(own_queue(handle.await.unwrap()));
    }
    assert_eq!(answers, ["a", "b", "c", "d", "e", "f", "g"], "each command gets its own outcome");
    let entries = raft.entries.lock().unwrap().clone();
    assert_eq!(entries, [vec!["a"], vec!["b"], vec!["c", "d", "e", "f", "g"]]);
}

#[tokio::test]
async fn test_below_the_batch_level_every_command_is_an_entry_of_its_own() {
    let (broker, raft) = broker(BATCH_LEVEL - 1);
    let handles = propose_all(&broker, &["a", "b", "c", "d"]);
    written(&raft, 4).await;
    raft.open.add_permits(4);
    for handle in handles {
        own_queue(handle.await.unwrap());
    }
    let entries = raft.entries.lock().unwrap().clone();
    assert!(entries.iter().all(|commands| commands.len() == 1), "{entries:?}");
}

#[tokio::test]
async fn test_a_failed_write_answers_every_command_of_its_entry_as_unknown() {
    let (broker, raft) = broker(BATCH_LEVEL);
    raft.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let first = propose_all(&broker, &["a", "b"]);
    written(&raft, 2).await;
    let batched = propose_all(&broker, &["c", "d", "e"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    raft.open.add_permits(3);
    for handle in first.into_iter().chain(batched) {
        match handle.await.unwrap() {
            Err(GroupError::Cluster(ClusterError::OutcomeUnknown { group: 1, .. })) => {}
            other => panic!("a failed write must leave the outcome unknown: {other:?}"),
        }
    }
    assert_eq!(raft.entries.lock().unwrap().last().unwrap().len(), 3);
}

#[tokio::test]
async fn test_a_caller_that_goes_away_takes_nothing_from_the_others() {
    let (broker, raft) = broker(BATCH_LEVEL);
    let held = propose_all(&broker, &["a", "b"]);
    written(&raft, 2).await;
    let batched = propose_all(&broker, &["c", "d", "e"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The caller of "d" disconnects while its entry waits.
    batched[1].abort();
    raft.open.add_permits(3);
    let mut answers = Vec::new();
    for (index, handle) in held.into_iter().chain(batched).enumerate() {
        if index == 3 {
            assert!(handle.await.unwrap_err().is_cancelled());
            continue;
        }
        answers.push(own_queue(handle.await.unwrap()));
    }
    assert_eq!(answers, ["a", "b", "c", "e"]);
    assert_eq!(raft.entries.lock().unwrap().last().unwrap(), &["c", "d", "e"], "its command is still written");
}
