//! The store of message contents: RocksDB and in memory, and a group's state machine carrying
//! out the engine's effects batch by batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use shoal_engine::bodies::{BodyEffect, BodyKey, BodyRecord, MessageHeader};
use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::message::{AttributeValue, MessageId};
use shoal_engine::{Command, EngineConfig, LogEntry, Reply};
use shoal_raft::bodies::{
    decode_record, encode_record, install_section, migrate, read_section, write_section, BatchBodies, BodyStore,
    MemoryBodies,
};
use shoal_raft::clock::ClusterClock;
use shoal_raft::state::{GroupState, Shared};
use shoal_raft::store::Db;
use shoal_raft::{Proposal, Response};

fn record(body: &str) -> Arc<BodyRecord> {
    let attributes = BTreeMap::from([(
        "n".to_string(),
        AttributeValue { data_type: "String".into(), string_value: Some(body.len().to_string()), binary_value: None },
    )]);
    Arc::new(BodyRecord { body: Arc::from(body), attributes, system_attributes: BTreeMap::new(), header: None })
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
fn test_a_record_keeps_its_header_after_what_earlier_builds_read() {
    let header = MessageHeader {
        message_id: MessageId::new("0f8b6f1e-9c1a-4d2b-8e3f-123456789abc"),
        md5_of_body: [7; 16],
        sender_id: Arc::from("AIDASENDER"),
        sent_ms: 1_700_000_000_123,
    };
    let with_header = BodyRecord { header: Some(header), ..(*record("x")).clone() };
    let bytes = encode_record(&with_header).unwrap();
    assert_eq!(decode_record(&bytes).unwrap(), with_header);
    assert_eq!(decode_record(&encode_record(&record("x")).unwrap()).unwrap().header, None, "a record from before");
    // A build from before the header decodes the record as it did (postcard reads what the
    // type needs and ignores what follows): the compatibility the header rests on.
    let earlier: BodyRecord = postcard::from_bytes(&bytes[1..]).unwrap();
    assert_eq!(earlier, *record("x"));
    // A cut header is refused, not read as none.
    assert!(decode_record(&bytes[..bytes.len() - 3]).is_err());
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
fn test_migrating_a_state_puts_what_it_carried_and_removes_what_it_does_not_name() {
    let store = MemoryBodies::new();
    store
        .write(1, &[(key(1, 1), record("stale")), (key(1, 2), record("kept")), (key(5, 1), record("named"))], &[])
        .unwrap();
    store.write(2, &[(key(1, 1), record("another group"))], &[]).unwrap();
    let carried: Vec<(BodyKey, BodyRecord)> =
        (2..2100).map(|seq| (key(1, seq), (*record(&format!("m{seq}"))).clone())).collect();
    let live: Vec<BodyKey> = carried.iter().map(|(key, _)| *key).chain([key(5, 1)]).collect();
    assert_eq!(migrate(&*store, 1, carried, live.into_iter()).unwrap(), 2098);
    let keys = store.keys(1).unwrap();
    assert_eq!(keys.len(), 2099);
    assert_eq!(keys.first(), Some(&key(1, 2)));
    assert_eq!(store.read(1, &[key(1, 2)]).unwrap()[0].as_ref().map(|r| r.body.to_string()), Some("m2".into()));
    assert_eq!(store.read(1, &[key(5, 1)]).unwrap()[0].as_ref().map(|r| r.body.to_string()), Some("named".into()));
    assert_eq!(store.keys(2).unwrap(), vec![key(1, 1)], "other groups are left alone");
}

#[test]
fn test_a_body_section_carries_a_group_in_order_and_refuses_damage() {
    let leader = MemoryBodies::new();
    let records: Vec<(BodyKey, Arc<BodyRecord>)> =
        (1..1500).map(|seq| (key(seq % 3 + 1, seq), record(&format!("m{seq}")))).collect();
    leader.write(1, &records, &[]).unwrap();
    leader.write(2, &[(key(1, 1), record("another group"))], &[]).unwrap();
    let mut section = Vec::new();
    assert_eq!(write_section(&*leader, 1, &mut section).unwrap(), 1499);
    let mut read = Vec::new();
    let count = read_section(&mut section.as_slice(), |key, value| {
        read.push((key, decode_record(value)?));
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 1499);
    let mut expected: Vec<(BodyKey, BodyRecord)> = records.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    expected.sort_by_key(|(key, _)| *key);
    assert_eq!(read, expected);

    // Cut anywhere, the section is refused: the end carries the count.
    for cut in [0, 8, 9, section.len() / 2, section.len() - 9, section.len() - 1] {
        assert!(read_section(&mut &section[..cut], |_, _| Ok(())).is_err(), "cut at {cut}");
    }
    // A wrong count, a bad magic, an unknown tag.
    let mut wrong_count = section.clone();
    let end = wrong_count.len() - 8;
    wrong_count[end..].copy_from_slice(&7u64.to_le_bytes());
    assert!(read_section(&mut wrong_count.as_slice(), |_, _| Ok(())).is_err());
    let mut bad_magic = section.clone();
    bad_magic[0] ^= 1;
    assert!(read_section(&mut bad_magic.as_slice(), |_, _| Ok(())).is_err());
    let mut bad_tag = section.clone();
    bad_tag[8] = 7;
    assert!(read_section(&mut bad_tag.as_slice(), |_, _| Ok(())).is_err());
}

#[test]
fn test_installing_a_section_adds_before_it_removes() {
    let leader = MemoryBodies::new();
    leader.write(1, &[(key(1, 2), record("b")), (key(1, 4), record("d")), (key(2, 1), record("e"))], &[]).unwrap();
    let mut section = Vec::new();
    write_section(&*leader, 1, &mut section).unwrap();

    let follower = MemoryBodies::new();
    let own = [key(1, 1), key(1, 2), key(1, 3), key(3, 1), key(3, 2)];
    follower.write(1, &own.map(|k| (k, record("old"))), &[]).unwrap();
    follower.write(2, &[(key(1, 1), record("another group"))], &[]).unwrap();
    let stale = install_section(&*follower, 1, &mut section.as_slice()).unwrap();
    assert_eq!(stale, vec![key(1, 1), key(1, 3), key(3, 1), key(3, 2)]);
    // Nothing removed yet, the section's records in place and durable.
    assert_eq!(follower.keys(1).unwrap().len(), 7);
    follower.power_loss();
    assert_eq!(follower.read(1, &[key(1, 2)]).unwrap()[0].as_ref().map(|r| r.body.to_string()), Some("b".into()));
    assert_eq!(follower.keys(2).unwrap(), vec![key(1, 1)], "other groups are left alone");
    // A section cut short puts what it read but reports the failure.
    let cut = &section[..section.len() - 3];
    assert!(install_section(&*MemoryBodies::new(), 1, &mut &cut[..]).is_err());
}

fn send(body: &str) -> Command {
    send_to("q", body)
}

fn send_to(queue: &str, body: &str) -> Command {
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
    Command::SendMessage { queue: queue.into(), entry }
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

fn queue_with_redrive(name: &str, dead_letters: &str) -> Command {
    let policy =
        format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:{dead_letters}","maxReceiveCount":1}}"#);
    Command::CreateQueue {
        name: name.into(),
        attributes: BTreeMap::from([("RedrivePolicy".to_string(), policy)]),
        tags: BTreeMap::new(),
    }
}

fn receive_from(queue: &str, visibility_timeout_seconds: u32) -> Command {
    let request = ReceiveRequest {
        max_messages: 10,
        visibility_timeout_seconds: Some(visibility_timeout_seconds),
        receive_request_attempt_id: None,
    };
    Command::ReceiveMessage { queue: queue.into(), request }
}

#[test]
fn test_a_follower_installs_a_snapshot_and_a_later_section_even_when_messages_moved_after_it() {
    let time_ms = 1_700_000_000_000;
    let leader_store = MemoryBodies::new();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let leader = Shared::new(1, state, ClusterClock::system(), leader_store.clone()).unwrap();
    let create_dlq = Command::CreateQueue { name: "dlq".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    let before = [create_dlq, queue_with_redrive("q", "dlq"), send_to("q", "moved"), send_to("q", "deleted")];
    for command in before {
        leader.apply(&proposal(time_ms, command));
    }
    leader.settle([]).unwrap();
    // The snapshot: the state holds no contents.
    let snapshot = leader.snapshot_copy(3).unwrap();
    assert!(snapshot.clone().engine.take_contents().is_empty());
    // After it: both received once; "moved" goes to the dead-letter queue on its next receive,
    // "deleted" is deleted.
    let mut after = vec![proposal(time_ms, receive_from("q", 0))];
    let mut reply = leader.apply(&after[0]);
    leader.settle([&mut reply]).unwrap();
    let Response::Engine(Ok(Reply::Received(messages))) = &reply else { panic!("{reply:?}") };
    let deleted = messages.iter().find(|m| &*m.body == "deleted").unwrap().receipt_handle.clone();
    after.push(proposal(time_ms, Command::DeleteMessage { queue: "q".into(), receipt_handle: deleted }));
    after.push(proposal(time_ms + 1, receive_from("q", 30)));
    for entry in &after[1..] {
        leader.apply(entry);
    }
    leader.settle([]).unwrap();
    // The section is read now: the dead-letter queue's copy, not the released ones.
    let mut section = Vec::new();
    assert_eq!(write_section(&*leader_store, 1, &mut section).unwrap(), 1);

    // A follower that had other contents installs the snapshot and the section, then applies
    // the entries after the snapshot: the move finds nothing to copy, and need not.
    let follower_store = MemoryBodies::new();
    follower_store.write(1, &[(key(40, 1), record("stale"))], &[]).unwrap();
    let empty = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let follower = Shared::new(1, empty, ClusterClock::system(), follower_store.clone()).unwrap();
    let stale = install_section(&*follower_store, 1, &mut section.as_slice()).unwrap();
    follower.install(snapshot, Some(stale)).unwrap();
    for entry in &after {
        follower.apply(entry);
    }
    follower.settle([]).unwrap();
    assert_eq!(follower_store.keys(1).unwrap(), leader_store.keys(1).unwrap());
    let mut reply = follower.apply(&proposal(time_ms + 2, receive_from("dlq", 30)));
    follower.settle([&mut reply]).unwrap();
    assert_eq!(received_bodies(&reply), vec!["moved"]);
}

#[test]
fn test_a_state_of_format_2_moves_its_contents_to_the_store_at_start_and_at_install() {
    let time_ms = 1_700_000_000_000;
    let source = MemoryBodies::new();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(1, state, ClusterClock::system(), source).unwrap();
    let create = Command::CreateQueue { name: "q".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    shared.apply(&proposal(time_ms, create));
    shared.apply(&proposal(time_ms, send("kept")));
    shared.settle([]).unwrap();
    // As a node below write level 2 writes it: contents read back from the store.
    let format_2 = shared.snapshot_copy(2).unwrap();
    assert_eq!(format_2.clone().engine.take_contents().len(), 1);

    // A node whose store lost everything (or never had it) and holds a stale key.
    let store = MemoryBodies::new();
    store.write(1, &[(key(99, 1), record("stale"))], &[]).unwrap();
    let restarted = Shared::new(1, format_2.clone(), ClusterClock::system(), store.clone()).unwrap();
    assert_eq!(store.keys(1).unwrap().len(), 1);
    assert!(restarted.read().engine.clone().take_contents().is_empty(), "the contents left the state");
    let mut reply = restarted.apply(&proposal(time_ms, receive()));
    restarted.settle([&mut reply]).unwrap();
    assert_eq!(received_bodies(&reply), vec!["kept"]);

    let installing = MemoryBodies::new();
    let empty = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let follower = Shared::new(1, empty, ClusterClock::system(), installing.clone()).unwrap();
    installing.write(1, &[(key(98, 1), record("stale"))], &[]).unwrap();
    follower.install(format_2, None).unwrap();
    assert_eq!(installing.keys(1).unwrap(), store.keys(1).unwrap());
}

#[test]
fn test_a_receive_whose_contents_are_missing_is_refused_not_answered_empty() {
    let store = MemoryBodies::new();
    let state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let shared = Shared::new(1, state, ClusterClock::system(), store.clone()).unwrap();
    let create = Command::CreateQueue { name: "q".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    shared.apply(&proposal(1_700_000_000_000, create));
    shared.apply(&proposal(1_700_000_000_000, send("lost")));
    shared.settle([]).unwrap();
    let keys = store.keys(1).unwrap();
    store.write(1, &[], &keys).unwrap();
    let mut reply = shared.apply(&proposal(1_700_000_000_000, receive()));
    shared.settle([&mut reply]).unwrap();
    assert!(matches!(reply, Response::Engine(Err(shoal_engine::EngineError::StorageFailure(_)))), "{reply:?}");
}
