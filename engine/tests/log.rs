//! The log interface of the engine: format versions, time that never goes backwards, state that
//! survives a snapshot, and the timer reads (`needs_tick`, `has_receivable`).

mod common;

use common::{bodies, entry, Harness, START_MS};
use shoal_engine::command::{SendEntry, FORMAT_VERSION};
use shoal_engine::{Command, Engine, EngineConfig, EngineError, LogEntry, Reply};

#[test]
fn test_log_entry_of_an_unknown_format_is_refused_as_such_and_changes_nothing() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    let before = h.engine.clone();
    for version in [0, FORMAT_VERSION + 1, u16::MAX] {
        let entry = LogEntry {
            format_version: version,
            time_ms: START_MS + 10_000,
            command: Command::PurgeQueue { queue: "q".to_string() },
        };
        let refused = EngineError::UnknownLogFormat { found: version, supported: FORMAT_VERSION };
        assert_eq!(h.engine.apply(&entry), Err(refused), "{version}");
    }
    assert_eq!(h.engine, before, "not even the clock moved");
    assert_eq!(h.engine.now_ms(), START_MS);
}

#[test]
fn test_log_entry_stamped_earlier_is_applied_at_the_last_time() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h.advance_seconds(100);
    h.send("q", "a").unwrap();
    h.receive_for("q", 1, 10);

    // A new leader with a slow clock stamps entries 50 s in the past.
    h.now_ms -= 50_000;
    let sent = h.send("q", "b").unwrap();
    assert_eq!(h.engine.now_ms(), START_MS + 100_000);
    let received = h.receive_for("q", 10, 60);
    assert_eq!(bodies(&received), ["b"], "a is still in flight at the last time");
    assert_eq!(received[0].message_id, sent.message_id);
    assert_eq!(received[0].system_attributes["SentTimestamp"], (START_MS + 100_000).to_string());

    // Ten seconds after the last time, by the slow clock: a is visible again.
    h.now_ms = START_MS + 110_000;
    assert_eq!(bodies(&h.receive("q", 10)), ["a"]);
    assert_eq!(h.engine.now_ms(), START_MS + 110_000);
}

#[test]
fn test_reads_never_look_before_the_last_applied_time() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h.send_entry("q", SendEntry { delay_seconds: Some(10), ..entry("a") }).unwrap();
    h.advance_seconds(10);
    h.tick();
    assert!(h.engine.has_receivable("q", START_MS));
    let counts = h.engine.queue_attributes("q", &["ApproximateNumberOfMessages".to_string()], START_MS).unwrap();
    assert_eq!(counts["ApproximateNumberOfMessages"], "1");
}

#[test]
fn test_needs_tick_reports_due_timers() {
    let mut h = Harness::new();
    assert!(!h.engine.needs_tick(h.now_ms));
    h.create("q", &[]).unwrap();
    h.send_entry("q", SendEntry { delay_seconds: Some(10), ..entry("a") }).unwrap();
    assert!(!h.engine.needs_tick(h.now_ms + 9_999));
    assert!(h.engine.needs_tick(h.now_ms + 10_000));
    assert!(!h.engine.has_receivable("q", h.now_ms + 9_999));
    assert!(h.engine.has_receivable("q", h.now_ms + 10_000));
    assert!(!h.engine.has_receivable("missing", h.now_ms));
}

#[test]
fn test_tick_fires_timers_of_every_queue() {
    let mut h = Harness::new();
    for name in ["a", "b"] {
        h.create(name, &[("MessageRetentionPeriod", "60")]).unwrap();
        h.send(name, "m").unwrap();
    }
    h.advance_seconds(60);
    assert!(h.engine.needs_tick(h.now_ms));
    h.tick();
    assert_eq!(h.engine.message_count(), 0);
    assert!(!h.engine.needs_tick(h.now_ms + 1_000_000));
}

#[test]
fn test_engine_state_survives_a_serialized_snapshot() {
    let mut h = Harness::new();
    h.create("q", &[("RedrivePolicy", "")]).unwrap();
    h.create_fifo("f.fifo", &[("ContentBasedDeduplication", "true")]).unwrap();
    h.send("q", "a").unwrap();
    h.send_entry("q", SendEntry { delay_seconds: Some(5), ..entry("b") }).unwrap();
    h.receive("q", 1);
    for (group, body) in [("g", "1"), ("g", "2"), ("h", "3")] {
        h.send_entry("f.fifo", common::fifo_entry(group, None, body)).unwrap();
    }
    h.receive_attempt("f.fifo", 1, "attempt");
    h.delete_queue("q").unwrap();

    let json = serde_json::to_string(&h.engine).unwrap();
    let restored: Engine = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, h.engine);

    // The restored engine answers the next entries as the original does.
    let mut copy = Harness::with_engine(restored);
    assert_eq!(copy.now_ms, h.now_ms);
    // The contents are in the store, not in the engine's state: the copy's node has them too.
    copy.stored = h.stored.clone();
    for harness in [&mut h, &mut copy] {
        harness.advance_seconds(30);
    }
    let next = LogEntry::new(h.now_ms, Command::Tick);
    assert_eq!(h.engine.apply(&next), Ok(Reply::Done));
    assert_eq!(copy.engine.apply(&next), Ok(Reply::Done));
    assert_eq!(h.receive_attempt("f.fifo", 10, "attempt"), copy.receive_attempt("f.fifo", 10, "attempt"));
    assert_eq!(h.engine, copy.engine);
}

#[test]
fn test_commands_name_their_queue() {
    let send = Command::SendMessage { queue: "q".to_string(), entry: entry("x") };
    assert_eq!(send.queue(), Some("q"));
    assert_eq!(Command::Tick.queue(), None);
    let create =
        Command::CreateQueue { name: "n".to_string(), attributes: Default::default(), tags: Default::default() };
    assert_eq!(create.queue(), Some("n"));
}

#[test]
fn test_time_near_the_end_of_u64_is_clamped_not_overflowed() {
    let mut engine = Engine::new(EngineConfig::new("000000000000", "us-east-1"));
    let create = Command::CreateQueue {
        name: "q".into(),
        attributes: [("DelaySeconds".to_string(), "900".to_string())].into(),
        tags: Default::default(),
    };
    assert!(engine.apply(&LogEntry::new(u64::MAX, create)).is_ok());
    assert_eq!(engine.now_ms(), shoal_engine::limits::TIME_MS_MAX);
    let send = SendEntry {
        id: String::new(),
        message_id: "m1".into(),
        body: "late".into(),
        delay_seconds: None,
        attributes: Default::default(),
        system_attributes: Default::default(),
        deduplication_id: None,
        group_id: None,
        sender_id: "000000000000".into(),
    };
    let outcome = engine.apply(&LogEntry::new(u64::MAX, Command::SendMessage { queue: "q".into(), entry: send }));
    assert!(matches!(outcome, Ok(Reply::Sent(_))));
    let counts = engine.queue_attributes("q", &["ApproximateNumberOfMessagesDelayed".to_string()], u64::MAX).unwrap();
    assert_eq!(counts["ApproximateNumberOfMessagesDelayed"], "1");
}
