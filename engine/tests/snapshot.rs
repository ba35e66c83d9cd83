//! The snapshot layout: engines built through `apply` encode (bincode, as snapshots are
//! written) to exactly the bytes they did when the golden files were recorded, so a change
//! inside the engine cannot silently change what replicas store and exchange. The files named
//! `-format-2` were recorded when messages kept their contents in the engine (snapshot format
//! 2): they still decode, and taking the contents out gives today's engine and store.

mod common;

use std::collections::BTreeSet;

use common::*;
use shoal_engine::command::ReceiveRequest;
use shoal_engine::{Command, Engine, Reply};

/// The engine's snapshot bytes as lowercase hex.
fn snapshot_hex(engine: &Engine) -> String {
    let bytes = bincode::serde::encode_to_vec(engine, bincode::config::standard()).unwrap();
    hex::encode(bytes)
}

/// Asserts that `engine` encodes to the hex in `golden` (whitespace there is ignored), and
/// that those bytes decode to `engine` again.
fn check(engine: &Engine, golden: &str) {
    let expected: String = golden.split_whitespace().collect();
    if let Some(path) = std::env::var_os("SHOAL_GOLDEN_OUT") {
        // Recording new files: `SHOAL_GOLDEN_OUT=/tmp/x cargo nextest run ... -E 'test(=NAME)'`
        // appends each checked engine's hex as a line, and checks nothing.
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(out, "{}", snapshot_hex(engine)).unwrap();
        return;
    }
    let bytes = hex::decode(&expected).unwrap();
    let (decoded, read): (Engine, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(read, bytes.len(), "the golden bytes hold one engine and nothing more");
    assert!(decoded == *engine, "the golden bytes decode to another engine");
    let actual = snapshot_hex(engine);
    if actual != expected {
        let first_difference = actual.bytes().zip(expected.bytes()).position(|(a, b)| a != b);
        panic!(
            "snapshot bytes changed: first difference at hex digit {first_difference:?}, lengths {} and {} \
             (actual then expected)\nactual: {actual}",
            actual.len(),
            expected.len()
        );
    }
}

fn redrive_policy(target: &str, max_receive_count: u32) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receive_count}}}"#, arn(target))
}

/// Checks snapshot format 3 against `golden`: `harness`'s engine given back its headers from
/// the store (as a node at write level 2 does before it writes a snapshot) encodes to exactly
/// those bytes, and decoding them then folding the headers into the store gives `harness`'s
/// engine and the headers its store holds.
fn check_format_3(harness: &Harness, golden: &str) {
    let mut restored = harness.engine.clone();
    let missing = restored.restore_headers(|key| harness.stored.get(&key).and_then(|record| record.header.clone()));
    assert!(missing.is_empty(), "every stored message has its header: {missing:?}");
    check(&restored, golden);
    let bytes = hex::decode(golden.split_whitespace().collect::<String>()).unwrap();
    let (mut decoded, _): (Engine, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let mut headers: Vec<_> = decoded.take_headers();
    headers.sort_by_key(|(key, _)| *key);
    assert!(decoded == harness.engine, "the format 3 state without its headers is not today's state");
    let stored: Vec<_> =
        harness.stored.iter().map(|(key, record)| (*key, record.header.clone().expect("a header"))).collect();
    assert_eq!(headers, stored, "the format 3 state's headers are not what the store holds");
}

/// Decodes `golden`, an engine of snapshot format 2, and checks that taking its messages'
/// contents out gives `harness`'s engine, and exactly the contents its store holds.
fn check_migration(harness: &Harness, golden: &str) {
    let bytes = hex::decode(golden.split_whitespace().collect::<String>()).unwrap();
    let (mut decoded, _): (Engine, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let contents: Stored =
        decoded.take_contents().into_iter().map(|(key, record)| (key, std::sync::Arc::new(record))).collect();
    assert!(decoded == harness.engine, "the format 2 state without its contents is not today's state");
    assert_eq!(contents, harness.stored, "the format 2 state's contents are not what the store holds");
}

/// A standard queue with a dead-letter queue, a FIFO queue, messages in every state, a message
/// redriven, a running move task and a recently deleted name.
fn queues_engine() -> Harness {
    let mut h = Harness::new();
    h.create_with_tags("orders-dlq", &[], &[("team", "shop")]).unwrap();
    h.create("orders", &[("RedrivePolicy", &redrive_policy("orders-dlq", 1)), ("VisibilityTimeout", "45")]).unwrap();
    h.create_fifo("jobs.fifo", &[("ContentBasedDeduplication", "true")]).unwrap();

    let mut traced = entry("with attributes");
    traced.attributes = attributes(&[("colour", string_attribute("blue")), ("size", number_attribute("3"))]);
    traced.system_attributes =
        std::collections::BTreeMap::from([("AWSTraceHeader".to_string(), string_attribute("Root=1-abc"))]);
    h.send_entry("orders", traced).unwrap();
    h.send("orders", "plain").unwrap();
    h.send("orders", "third").unwrap();
    h.send_entry("orders", shoal_engine::command::SendEntry { delay_seconds: Some(30), ..entry("delayed") }).unwrap();
    h.send_fifo("jobs.fifo", "a", "a-1", "first of a").unwrap();
    h.send_entry("jobs.fifo", fifo_entry("a", None, "second of a")).unwrap();
    h.send_fifo("jobs.fifo", "b", "b-1", "first of b").unwrap();

    h.advance_seconds(1);
    assert_eq!(h.receive_for("orders", 2, 0).len(), 2);
    h.advance_seconds(1);
    // Received once already: both go to the dead-letter queue; the third stays in flight.
    assert_eq!(bodies(&h.receive("orders", 3)), ["third"]);
    let request = ReceiveRequest {
        max_messages: 1,
        visibility_timeout_seconds: Some(60),
        receive_request_attempt_id: Some("attempt-1".to_string()),
    };
    assert_eq!(bodies(&h.receive_request("jobs.fifo", request).unwrap()), ["first of a"]);

    h.create("temporary", &[]).unwrap();
    h.delete_queue("temporary").unwrap();
    h.advance_seconds(1);
    h.start_move_task("orders-dlq", None, Some(1)).unwrap();
    h.advance_ms(10);
    h.tick();
    h
}

/// Two groups mid-way through handing messages over: entries waiting in both outboxes (dead
/// letters one way, a move task's messages the other), an import mark with a refusal, a
/// refused message back at home and its queue's redrive paused.
fn outbox_engines() -> (Harness, Harness) {
    let (mut one, mut two) = (group(1), group(2));
    let kept_source = name_in(&one, 1, "source");
    let kept_dlq = name_in(&two, 2, "dlq");
    let gone_source = name_in(&one, 1, "other-source");
    let gone_dlq = name_in(&two, 2, "gone-dlq");
    two.create(&kept_dlq, &[]).unwrap();
    two.create(&gone_dlq, &[]).unwrap();
    one.create(&kept_source, &[("RedrivePolicy", &redrive_policy(&kept_dlq, 1))]).unwrap();
    one.create(&gone_source, &[("RedrivePolicy", &redrive_policy(&gone_dlq, 1))]).unwrap();
    two.delete_queue(&gone_dlq).unwrap();
    for source in [&kept_source, &gone_source] {
        one.send(source, &format!("to leave {source}")).unwrap();
        one.send(source, &format!("also to leave {source}")).unwrap();
        assert_eq!(one.receive_for(source, 10, 0).len(), 2);
    }
    one.advance_ms(1);
    for source in [&kept_source, &gone_source] {
        assert!(one.receive_for(source, 10, 0).is_empty());
    }
    let (target, entries) = one.outbox_batch(10, &BTreeSet::new()).unwrap();
    assert_eq!((target, entries.len()), (2, 4));
    let Ok(Reply::Imported { refused }) = two.apply(Command::ImportMessages { source_group: 1, entries }) else {
        panic!("import failed");
    };
    assert_eq!(refused, [3, 4]);
    // Only part of the batch is acknowledged: position 4 is still waiting.
    assert_eq!(one.apply(Command::AckOutbox { positions: vec![1, 2, 3], refused: vec![3] }), Ok(Reply::Done));

    let start = Command::StartMessageMoveTask {
        source_arn: arn(&kept_dlq),
        destination_arn: None,
        rate_per_second: None,
        sources_elsewhere: true,
    };
    assert!(matches!(two.apply(start), Ok(Reply::MoveTaskStarted { .. })));
    two.advance_seconds(1);
    two.tick();
    assert_eq!(two.engine.outbox_len(), 2);
    (one, two)
}

#[test]
fn test_snapshot_of_queues_keeps_its_bytes() {
    check(&queues_engine().engine, include_str!("golden/queues.hex"));
}

#[test]
fn test_format_3_queues_write_their_headers_in_line_and_fold_them_into_the_store() {
    check_format_3(&queues_engine(), include_str!("golden/queues-format-3.hex"));
}

#[test]
fn test_snapshot_of_outboxes_keeps_its_bytes() {
    let (one, two) = outbox_engines();
    check(&one.engine, include_str!("golden/outbox-group-1.hex"));
    check(&two.engine, include_str!("golden/outbox-group-2.hex"));
}

#[test]
fn test_format_3_outboxes_write_their_headers_in_line_and_fold_them_into_the_store() {
    let (one, two) = outbox_engines();
    check_format_3(&one, include_str!("golden/outbox-group-1-format-3.hex"));
    check_format_3(&two, include_str!("golden/outbox-group-2-format-3.hex"));
}

#[test]
fn test_format_2_queues_move_their_contents_to_the_store() {
    check_migration(&queues_engine(), include_str!("golden/queues-format-2.hex"));
}

#[test]
fn test_format_2_outboxes_move_their_contents_to_the_store() {
    let (one, two) = outbox_engines();
    check_migration(&one, include_str!("golden/outbox-group-1-format-2.hex"));
    check_migration(&two, include_str!("golden/outbox-group-2-format-2.hex"));
}
