//! The store of message contents: RocksDB and in memory, and a group's state machine carrying
//! out the engine's effects batch by batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use shoal_engine::bodies::{BodyEffect, BodyKey, BodyRecord};
use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::message::AttributeValue;
use shoal_engine::{Command, EngineConfig, LogEntry, Reply};
use shoal_raft::bodies::{decode_record, encode_record, fill, BatchBodies, BodyStore, MemoryBodies};
use shoal_raft::clock::ClusterClock;
use shoal_raft::state::{GroupState, Shared};
use shoal_raft::store::Db;
use shoal_raft::{Proposal, Response};

fn record(body: &str) -> Arc<BodyRecord> {
    let attributes = BTreeMap::from([(
        "n".to_string(),
        AttributeValue { data_type: "String".into(), string_value: Some(body.len().to_string()), binary_value: None },
    )]);
    Arc::new(BodyRecord { body: Arc::from(body), attributes, system_attributes: BTreeMap::new() })
}

fn key(incarnation: u64, seq: u64) -> BodyKey {
    BodyKey { incarnation, seq }
}

/// Writes, reads, lists and removes through `store`, keeping groups apart.
fn exercise(store: &dyn BodyStore) {
    store.write(1, &[(key(1, 1), record("a")), (key(1, 2), record("b")), (key(2, 1), record("c"))], &[]).unwrap();
    store.write(2, &[(key(1, 1), record("other group"))], &[]).unwrap();
    let read = store.read(1, &[key(1, 2), key(9, 9), key(1, 1)]).unwrap();
    assert_eq!(read, vec![Some((*record("b")).clone()), None, Some((*record("a")).clone())]);
    assert_eq!(store.keys(1).unwrap(), vec![key(1, 1), key(1, 2), key(2, 1)]);
    store.write(1, &[(key(3, 1), record("d"))], &[key(1, 2)]).unwrap();
    assert_eq!(store.keys(1).unwrap(), vec![key(1, 1), key(2, 1), key(3, 1)]);
    assert_eq!(store.read(2, &[key(1, 1)]).unwrap(), vec![Some((*record("other group")).clone())]);
    store.flush().unwrap();
}

#[test]
fn test_the_rocksdb_store_keeps_groups_apart_and_survives_a_reopen_after_a_flush() {
    let directory = tempfile::tempdir().unwrap();
    {
        let db = Db::open(directory.path()).unwrap();
        exercise(&*db);
    }
    let db = Db::open(directory.path()).unwrap();
    assert_eq!(db.keys(1).unwrap(), vec![key(1, 1), key(2, 1), key(3, 1)]);
    assert_eq!(db.read(1, &[key(3, 1)]).unwrap(), vec![Some((*record("d")).clone())]);
    assert_eq!(db.keys(7).unwrap(), Vec::<BodyKey>::new());
}

#[test]
fn test_the_memory_store_behaves_as_the_rocksdb_store() {
    exercise(&*MemoryBodies::new());
}

#[test]
fn test_a_record_of_an_unknown_format_is_refused() {
    let mut bytes = encode_record(&record("x")).unwrap();
    assert_eq!(decode_record(&bytes).unwrap(), *record("x"));
    bytes[0] = 9;
    let error = decode_record(&bytes).unwrap_err();
    assert!(error.to_string().contains("format 9"), "{error}");
    assert!(decode_record(&[]).is_err());
}

#[test]
fn test_a_batch_reads_its_own_stores_and_what_it_releases_before_the_store_sees_it() {
    let store = MemoryBodies::new();
    store.write(1, &[(key(1, 1), record("old"))], &[]).unwrap();
    let mut batch = BatchBodies::default();
    batch.add(vec![
        BodyEffect::Store(key(1, 2), record("new")),
        BodyEffect::Store(key(1, 3), record("brief")),
        BodyEffect::Release(key(1, 3)),
        BodyEffect::Release(key(1, 1)),
    ]);
    let read = batch.read(&*store, 1, &[key(1, 1), key(1, 2), key(1, 3)]).unwrap();
    assert_eq!(read.get(&key(1, 1)).map(|r| &*r.body), Some("old"), "released later in the batch: still readable");
    assert_eq!(read.get(&key(1, 2)).map(|r| &*r.body), Some("new"));
    assert_eq!(read.get(&key(1, 3)), None, "stored and released within the batch: never stored");
    batch.write(&*store, 1).unwrap();
    assert_eq!(store.keys(1).unwrap(), vec![key(1, 2)]);
}

#[test]
fn test_moves_find_their_contents_whether_released_before_or_after_and_in_which_batch() {
    let store = MemoryBodies::new();
    store.write(1, &[(key(1, 1), record("earlier"))], &[]).unwrap();
    let mut batch = BatchBodies::default();
    batch.add(vec![
        // Stored before the batch, released before its move.
        BodyEffect::Release(key(1, 1)),
        BodyEffect::Move { from: key(1, 1), to: key(2, 1) },
        // Stored in the batch, moved twice, released at each step.
        BodyEffect::Store(key(1, 2), record("now")),
        BodyEffect::Move { from: key(1, 2), to: key(0, 5) },
        BodyEffect::Release(key(1, 2)),
        BodyEffect::Release(key(0, 5)),
        BodyEffect::Move { from: key(0, 5), to: key(2, 2) },
        // A copy moved on again within the batch.
        BodyEffect::Release(key(2, 1)),
        BodyEffect::Move { from: key(2, 1), to: key(3, 1) },
    ]);
    let read = batch.read(&*store, 1, &[key(3, 1), key(2, 2)]).unwrap();
    assert_eq!(read.get(&key(3, 1)).map(|r| &*r.body), Some("earlier"));
    assert_eq!(read.get(&key(2, 2)).map(|r| &*r.body), Some("now"));
    batch.write(&*store, 1).unwrap();
    assert_eq!(store.keys(1).unwrap(), vec![key(2, 2), key(3, 1)]);
    let bodies: Vec<String> =
        store.read(1, &[key(2, 2), key(3, 1)]).unwrap().into_iter().map(|r| r.unwrap().body.to_string()).collect();
    assert_eq!(bodies, vec!["now", "earlier"]);
}

#[test]
fn test_filling_a_store_puts_every_record_and_removes_the_rest() {
    let store = MemoryBodies::new();
    store.write(1, &[(key(1, 1), record("stale")), (key(1, 2), record("kept"))], &[]).unwrap();
    store.write(2, &[(key(1, 1), record("another group"))], &[]).unwrap();
    let records = (2..2100).map(|seq| (key(1, seq), (*record(&format!("m{seq}"))).clone()));
    assert_eq!(fill(&*store, 1, records).unwrap(), 2098);
    let keys = store.keys(1).unwrap();
    assert_eq!(keys.len(), 2098);
    assert_eq!(keys.first(), Some(&key(1, 2)));
    assert_eq!(store.read(1, &[key(1, 2)]).unwrap()[0].as_ref().map(|r| r.body.to_string()), Some("m2".into()));
    assert_eq!(store.keys(2).unwrap(), vec![key(1, 1)], "other groups are left alone");
}

fn send(body: &str) -> Command {
    let entry = SendEntry {
        id: String::new(),
        message_id: format!("id-{body}"),
        body: body.to_string(),
        delay_seconds: None,
        attributes: BTreeMap::new(),
        system_attributes: BTreeMap::new(),
        deduplication_id: None,
        group_id: None,
        sender_id: "000000000000".to_string(),
    };
    Command::SendMessage { queue: "q".into(), entry }
}

fn receive() -> Command {
    let request =
        ReceiveRequest { max_messages: 10, visibility_timeout_seconds: Some(30), receive_request_attempt_id: None };
    Command::ReceiveMessage { queue: "q".into(), request }
}

fn proposal(time_ms: u64, command: Command) -> Proposal {
    Proposal::Engine(Arc::new(LogEntry::new(time_ms, command)))
}

fn received_bodies(response: &Response) -> Vec<String> {
    match response {
        Response::Engine(Ok(Reply::Received(messages))) => messages.iter().map(|m| m.body.to_string()).collect(),
        other => panic!("not a receive: {other:?}"),
    }
}

#[test]
fn test_a_group_stores_what_it_is_sent_answers_receives_from_the_store_and_releases_deletes() {
    let store = MemoryBodies::new();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(1, state, ClusterClock::system(), store.clone()).unwrap();
    let create = Command::CreateQueue { name: "q".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    let mut time_ms = 1_700_000_000_000;
    shared.apply(&proposal(time_ms, create));
    // One batch: a send, and a receive that finds it (before the store has it).
    shared.apply(&proposal(time_ms, send("first")));
    let mut reply = shared.apply(&proposal(time_ms, receive()));
    shared.settle([&mut reply]).unwrap();
    assert_eq!(received_bodies(&reply), vec!["first"]);
    assert_eq!(store.keys(1).unwrap().len(), 1);
    // The next batch reads it from the store.
    time_ms += 31_000;
    let mut reply = shared.apply(&proposal(time_ms, receive()));
    shared.settle([&mut reply]).unwrap();
    assert_eq!(received_bodies(&reply), vec!["first"]);
    let handle = match &reply {
        Response::Engine(Ok(Reply::Received(messages))) => messages[0].receipt_handle.clone(),
        _ => unreachable!(),
    };
    shared.apply(&proposal(time_ms, Command::DeleteMessage { queue: "q".into(), receipt_handle: handle }));
    shared.settle([]).unwrap();
    assert!(store.keys(1).unwrap().is_empty(), "a deleted message's contents are released");
    // A queue deleted releases what it held.
    shared.apply(&proposal(time_ms, send("second")));
    shared.apply(&proposal(time_ms, send("third")));
    shared.settle([]).unwrap();
    assert_eq!(store.keys(1).unwrap().len(), 2);
    shared.apply(&proposal(time_ms, Command::DeleteQueue { queue: "q".into() }));
    shared.settle([]).unwrap();
    assert!(store.keys(1).unwrap().is_empty());
}

#[test]
fn test_a_group_started_or_installed_from_a_state_fills_the_store_with_its_contents() {
    let source = MemoryBodies::new();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(1, state, ClusterClock::system(), source).unwrap();
    let create = Command::CreateQueue { name: "q".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    shared.apply(&proposal(1_700_000_000_000, create));
    shared.apply(&proposal(1_700_000_000_000, send("kept")));
    shared.settle([]).unwrap();
    let snapshot = shared.read().clone();

    // A node whose store lost everything (or never had it) and holds a stale key.
    let store = MemoryBodies::new();
    store.write(1, &[(key(99, 1), record("stale"))], &[]).unwrap();
    let restarted = Shared::new(1, snapshot.clone(), ClusterClock::system(), store.clone()).unwrap();
    assert_eq!(store.keys(1).unwrap().len(), 1);
    let mut reply = restarted.apply(&proposal(1_700_000_000_000, receive()));
    restarted.settle([&mut reply]).unwrap();
    assert_eq!(received_bodies(&reply), vec!["kept"]);

    let installing = MemoryBodies::new();
    let empty = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let follower = Shared::new(1, empty, ClusterClock::system(), installing.clone()).unwrap();
    installing.write(1, &[(key(98, 1), record("stale"))], &[]).unwrap();
    follower.install(snapshot).unwrap();
    assert_eq!(installing.keys(1).unwrap(), store.keys(1).unwrap());
}
