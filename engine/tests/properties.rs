//! Property tests: random client behaviour against a standard and a FIFO queue, checked against a
//! small model of what SQS promises, and a replay property (the same log gives the same engine).
//!
//! The model keeps, per message, whether its delete was acknowledged, until when it is hidden,
//! how often it was received and which receipt handle is the current one. From that it predicts
//! the exact outcome of every delete and visibility change (as SQS: a standard queue takes the
//! handle of any receive, a FIFO queue only that of the receive in flight), how many messages a
//! receive must return, and (FIFO) which ones.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{arn, entry, fifo_entry, receive_count, receive_request, Harness};
use proptest::prelude::*;
use shoal_engine::command::{ReceivedMessage, SendEntry};
use shoal_engine::{Command, Engine, LogEntry, Outcome, Reply};

#[derive(Debug, Clone)]
enum Op {
    /// Standard: a message delayed `delay_seconds`. FIFO: a message of group `group`, with a
    /// fresh deduplication id or (`reuse`) the id of an earlier send.
    Send {
        delay_seconds: u32,
        group: u8,
        reuse: Option<usize>,
    },
    Receive {
        max: u32,
        visibility_seconds: u32,
    },
    /// `handle` indexes every receipt handle seen so far (modulo their number): some are of
    /// earlier receives.
    Delete {
        handle: usize,
    },
    ChangeVisibility {
        handle: usize,
        seconds: u32,
    },
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..=3, 0u8..3, proptest::option::weighted(0.2, any::<usize>()))
            .prop_map(|(delay_seconds, group, reuse)| Op::Send { delay_seconds, group, reuse }),
        4 => (1u32..=10, 0u32..=5).prop_map(|(max, visibility_seconds)| Op::Receive { max, visibility_seconds }),
        3 => any::<usize>().prop_map(|handle| Op::Delete { handle }),
        1 => (any::<usize>(), 0u32..=5).prop_map(|(handle, seconds)| Op::ChangeVisibility { handle, seconds }),
        3 => (0u64..=3_000).prop_map(|ms| Op::Advance { ms }),
        1 => (0u64..=400_000).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Debug)]
struct ModelMessage {
    message_id: String,
    body: String,
    group: String,
    visible_at_ms: u64,
    receive_count: u32,
    current_handle: Option<String>,
    deleted: bool,
}

/// What SQS promises, for one queue.
struct Model {
    fifo: bool,
    /// In send order.
    messages: Vec<ModelMessage>,
    by_id: BTreeMap<String, usize>,
    /// Every receipt handle handed out: (message index, handle).
    handles: Vec<(usize, String)>,
    /// FIFO deduplication ids ever used, and for each the message and end of its window.
    deduplication_ids: Vec<String>,
    deduplication: BTreeMap<String, (String, u64)>,
}

const Q_STANDARD: &str = "q";
const Q_FIFO: &str = "q.fifo";
const DEDUPLICATION_WINDOW_MS: u64 = 300_000;

impl Model {
    fn new(fifo: bool) -> Model {
        Model {
            fifo,
            messages: Vec::new(),
            by_id: BTreeMap::new(),
            handles: Vec::new(),
            deduplication_ids: Vec::new(),
            deduplication: BTreeMap::new(),
        }
    }

    fn queue(&self) -> &'static str {
        if self.fifo {
            Q_FIFO
        } else {
            Q_STANDARD
        }
    }

    fn undeleted(&self) -> impl Iterator<Item = (usize, &ModelMessage)> {
        self.messages.iter().enumerate().filter(|(_, m)| !m.deleted)
    }

    /// FIFO: groups with a message in flight at `now_ms`.
    fn blocked_groups(&self, now_ms: u64) -> BTreeSet<String> {
        self.undeleted().filter(|(_, m)| m.visible_at_ms > now_ms).map(|(_, m)| m.group.clone()).collect()
    }

    fn step(&mut self, h: &mut Harness, op: &Op) {
        let now_ms = h.now_ms;
        let queue = self.queue();
        match op {
            Op::Send { delay_seconds, group, reuse } => self.send(h, *delay_seconds, *group, *reuse),
            Op::Receive { max, visibility_seconds } => {
                let received = h.receive_for(queue, *max, *visibility_seconds);
                self.check_receive(&received, *max, now_ms);
                for message in &received {
                    let index = self.by_id[&message.message_id];
                    let model = &mut self.messages[index];
                    model.receive_count += 1;
                    assert_eq!(receive_count(message), model.receive_count, "receive count of {}", model.message_id);
                    assert_eq!(&*message.body, model.body.as_str());
                    model.visible_at_ms = now_ms + u64::from(*visibility_seconds) * 1000;
                    model.current_handle = Some(message.receipt_handle.clone());
                    self.handles.push((index, message.receipt_handle.clone()));
                }
            }
            Op::Delete { handle } => {
                let Some((index, handle)) = self.pick_handle(*handle) else {
                    return;
                };
                let model = &self.messages[index];
                let expected = if model.deleted || !self.fifo || self.holds(model, &handle, now_ms) {
                    Ok(())
                } else {
                    Err(expired(&handle))
                };
                let result = h.delete(queue, &handle);
                assert_eq!(result.clone().map_err(|e| e.to_string()), expected, "delete of {}", model.message_id);
                if result.is_ok() {
                    self.messages[index].deleted = true;
                }
            }
            Op::ChangeVisibility { handle, seconds } => {
                let Some((index, handle)) = self.pick_handle(*handle) else {
                    return;
                };
                let model = &self.messages[index];
                let in_flight = model.visible_at_ms > now_ms;
                let expected = if model.deleted {
                    Err(format!(
                        "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
                    ))
                } else if self.fifo && !self.holds(model, &handle, now_ms) {
                    Err(expired(&handle))
                } else {
                    Ok(())
                };
                let result = h.change_visibility(queue, &handle, *seconds);
                assert_eq!(
                    result.clone().map_err(|e| e.to_string()),
                    expected,
                    "visibility change of {}",
                    model.message_id
                );
                // Of a message not in flight (visible again), nothing changes.
                if result.is_ok() && in_flight {
                    self.messages[index].visible_at_ms = now_ms + u64::from(*seconds) * 1000;
                }
            }
            Op::Advance { ms } => h.advance_ms(*ms),
        }
    }

    /// Is `handle` the one `model` is in flight under at `now_ms`?
    fn holds(&self, model: &ModelMessage, handle: &str, now_ms: u64) -> bool {
        model.current_handle.as_deref() == Some(handle) && model.visible_at_ms > now_ms
    }

    fn pick_handle(&self, pick: usize) -> Option<(usize, String)> {
        if self.handles.is_empty() {
            return None;
        }
        Some(self.handles[pick % self.handles.len()].clone())
    }

    fn send(&mut self, h: &mut Harness, delay_seconds: u32, group: u8, reuse: Option<usize>) {
        let now_ms = h.now_ms;
        let body = format!("body-{}", self.messages.len() + self.deduplication_ids.len());
        let group = format!("g{group}");
        if !self.fifo {
            let sent =
                h.send_entry(Q_STANDARD, SendEntry { delay_seconds: Some(delay_seconds), ..entry(&body) }).unwrap();
            self.push(sent.message_id, body, group, now_ms + u64::from(delay_seconds) * 1000);
            return;
        }
        let deduplication_id = match reuse {
            Some(pick) if !self.deduplication_ids.is_empty() => {
                self.deduplication_ids[pick % self.deduplication_ids.len()].clone()
            }
            _ => format!("d{}", self.deduplication_ids.len()),
        };
        let sent = h.send_entry(Q_FIFO, fifo_entry(&group, Some(&deduplication_id), &body)).unwrap();
        match self.deduplication.get(&deduplication_id) {
            Some((message_id, expires_ms)) if *expires_ms > now_ms => {
                assert_eq!(&sent.message_id, message_id, "a duplicate inside the window returns the original");
            }
            _ => {
                self.deduplication
                    .insert(deduplication_id.clone(), (sent.message_id.clone(), now_ms + DEDUPLICATION_WINDOW_MS));
                self.deduplication_ids.push(deduplication_id);
                self.push(sent.message_id, body, group, now_ms);
            }
        }
    }

    fn push(&mut self, message_id: String, body: String, group: String, visible_at_ms: u64) {
        assert!(!self.by_id.contains_key(&message_id), "message id {message_id} reused");
        self.by_id.insert(message_id.clone(), self.messages.len());
        self.messages.push(ModelMessage {
            message_id,
            body,
            group,
            visible_at_ms,
            receive_count: 0,
            current_handle: None,
            deleted: false,
        });
    }

    fn check_receive(&self, received: &[ReceivedMessage], max: u32, now_ms: u64) {
        let mut seen = BTreeSet::new();
        for message in received {
            let index = *self.by_id.get(&message.message_id).expect("a message that was sent");
            let model = &self.messages[index];
            assert!(seen.insert(index), "{} twice in one receive", model.message_id);
            assert!(!model.deleted, "{} delivered after its delete was acknowledged", model.message_id);
            assert!(model.visible_at_ms <= now_ms, "{} delivered while hidden", model.message_id);
        }
        let max = max as usize;
        if !self.fifo {
            let visible = self.undeleted().filter(|(_, m)| m.visible_at_ms <= now_ms).count();
            assert_eq!(received.len(), visible.min(max), "a receive returns every visible message up to max");
            return;
        }
        let blocked = self.blocked_groups(now_ms);
        let available = self.undeleted().filter(|(_, m)| !blocked.contains(&m.group)).count();
        assert_eq!(received.len(), available.min(max), "a receive returns every available message up to max");
        let mut per_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for message in received {
            let index = self.by_id[&message.message_id];
            per_group.entry(self.messages[index].group.as_str()).or_default().push(index);
        }
        for (group, indexes) in per_group {
            assert!(!blocked.contains(group), "group {group} served while a message of it is in flight");
            let head: Vec<usize> =
                self.undeleted().filter(|(_, m)| m.group == group).map(|(i, _)| i).take(indexes.len()).collect();
            assert_eq!(indexes, head, "group {group} must hand out its oldest messages, in order");
        }
    }

    /// Lets every timeout pass, then receives and deletes until the queue is empty: exactly the
    /// undeleted messages come out, once each, and FIFO groups in send order.
    fn drain(&mut self, h: &mut Harness) {
        let queue = self.queue();
        h.advance_seconds(3600);
        let undeleted: Vec<usize> = self.undeleted().map(|(i, _)| i).collect();
        let counts = h.counts(queue);
        assert_eq!(counts, (undeleted.len() as u64, 0, 0), "counters after every timeout");
        let mut drained = Vec::new();
        loop {
            let received = h.receive_for(queue, 10, 3600);
            if received.is_empty() {
                break;
            }
            for message in received {
                assert_eq!(h.delete(queue, &message.receipt_handle), Ok(()));
                drained.push(self.by_id[&message.message_id]);
            }
        }
        let mut sorted = drained.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, undeleted, "every undeleted message comes out exactly once");
        if self.fifo {
            let mut per_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for index in &drained {
                per_group.entry(self.messages[*index].group.as_str()).or_default().push(*index);
            }
            for (group, indexes) in per_group {
                assert!(indexes.windows(2).all(|w| w[0] < w[1]), "group {group} drained out of order: {indexes:?}");
            }
        }
        assert_eq!(h.engine.message_count(), 0);
    }
}

/// What a FIFO queue answers to a handle that is not the one its message is in flight under.
fn expired(handle: &str) -> String {
    format!("Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")
}

fn run_model(fifo: bool, ops: &[Op]) {
    let mut h = Harness::new();
    let mut model = Model::new(fifo);
    if fifo {
        h.create_fifo(Q_FIFO, &[("VisibilityTimeout", "3")]).unwrap();
    } else {
        h.create(Q_STANDARD, &[("VisibilityTimeout", "3")]).unwrap();
    }
    for op in ops {
        model.step(&mut h, op);
    }
    model.drain(&mut h);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn test_property_standard_queue_loses_nothing_and_redelivers_only_after_timeout(ops in prop::collection::vec(op(), 1..120)) {
        run_model(false, &ops);
    }

    #[test]
    fn test_property_fifo_queue_keeps_group_order_and_one_receive_in_flight_per_group(ops in prop::collection::vec(op(), 1..120)) {
        run_model(true, &ops);
    }
}

/// One command of a random log over several queues; handles are picked from earlier replies.
#[derive(Debug, Clone)]
enum LogOp {
    Send {
        queue: u8,
        delay_seconds: u32,
        group: u8,
        body: u8,
    },
    Receive {
        queue: u8,
        max: u32,
        visibility_seconds: u32,
        attempt: Option<u8>,
    },
    Delete {
        handle: usize,
    },
    ChangeVisibility {
        handle: usize,
        seconds: u32,
    },
    Purge {
        queue: u8,
    },
    /// Deletes the queue, and creates it again as set up once SQS allows.
    DeleteQueue {
        queue: u8,
    },
    StartMoveTask {
        rate: u32,
    },
    Tick,
    /// Moves the stamping clock forward, or backward as after a failover to a slower leader.
    Clock {
        forward: bool,
        ms: u64,
    },
}

const LOG_QUEUES: [&str; 4] = ["src", "dlq", "f.fifo", "dlq.fifo"];

fn log_op() -> impl Strategy<Value = LogOp> {
    prop_oneof![
        5 => (0u8..4, 0u32..=2, 0u8..3, 0u8..4)
            .prop_map(|(queue, delay_seconds, group, body)| LogOp::Send { queue, delay_seconds, group, body }),
        5 => (0u8..4, 1u32..=10, 0u32..=3, proptest::option::of(0u8..3))
            .prop_map(|(queue, max, visibility_seconds, attempt)| LogOp::Receive { queue, max, visibility_seconds, attempt }),
        2 => any::<usize>().prop_map(|handle| LogOp::Delete { handle }),
        1 => (any::<usize>(), 0u32..=3).prop_map(|(handle, seconds)| LogOp::ChangeVisibility { handle, seconds }),
        1 => (0u8..4).prop_map(|queue| LogOp::Purge { queue }),
        1 => (0u8..4).prop_map(|queue| LogOp::DeleteQueue { queue }),
        1 => (1u32..=3).prop_map(|rate| LogOp::StartMoveTask { rate }),
        1 => Just(LogOp::Tick),
        4 => (proptest::bool::weighted(0.8), 0u64..=5_000).prop_map(|(forward, ms)| LogOp::Clock { forward, ms }),
    ]
}

/// The setup entries: a standard and a FIFO source, each with a dead-letter queue.
fn setup_log() -> Vec<Command> {
    let create = |name: &str, attributes: &[(&str, &str)]| Command::CreateQueue {
        name: name.to_string(),
        attributes: common::string_map(attributes),
        tags: BTreeMap::new(),
    };
    let redrive = |target: &str| format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, arn(target));
    vec![
        create("dlq", &[]),
        create("src", &[("RedrivePolicy", &redrive("dlq")), ("VisibilityTimeout", "2")]),
        create("dlq.fifo", &[("FifoQueue", "true")]),
        create(
            "f.fifo",
            &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true"), ("RedrivePolicy", &redrive("dlq.fifo"))],
        ),
    ]
}

/// Turns random ops into a concrete log by applying them to an engine (receipt handles come
/// from its replies). Returns the log and the outcomes.
fn build_log(ops: &[LogOp]) -> (Vec<LogEntry>, Vec<Outcome>, Engine) {
    let mut engine = Engine::new(common::engine_config());
    let mut clock_ms = common::START_MS;
    let mut log = Vec::new();
    let mut outcomes = Vec::new();
    let mut handles: Vec<(String, String)> = Vec::new();
    let mut message_number = 0u64;
    // What a store that carries out the engine's body effects holds.
    let mut stored = common::Stored::new();
    let mut apply = |engine: &mut Engine, log: &mut Vec<LogEntry>, time_ms: u64, command: Command| {
        let entry = LogEntry::new(time_ms, command);
        let outcome = engine.apply(&entry);
        // The timer index a Tick goes by is the earliest timer of any queue, after every entry.
        let earliest = engine.queues().filter_map(|q| q.next_deadline_ms()).min();
        assert_eq!(engine.next_timer_ms(), earliest, "timer index after {:?}", entry.command);
        // The store holds exactly the contents of the messages the engine holds, after every
        // entry.
        common::carry_out_body_effects(engine, &mut stored);
        // A received message names the key its contents are stored under (the engine keeps
        // none): the reply shows them from there, as on a node.
        if let Ok(Reply::Received(messages)) = &outcome {
            assert!(messages.iter().all(|message| message.body.is_empty()), "the engine answered with contents");
        }
        common::fill_received(&mut outcome.clone(), &stored);
        log.push(entry);
        outcomes.push(outcome.clone());
        outcome
    };
    for command in setup_log() {
        assert!(apply(&mut engine, &mut log, clock_ms, command).is_ok());
    }
    for op in ops {
        let command = match op {
            LogOp::Send { queue, delay_seconds, group, body } => {
                message_number += 1;
                let name = LOG_QUEUES[*queue as usize];
                let mut send = if name.ends_with(".fifo") {
                    fifo_entry(&format!("g{group}"), None, &format!("body-{body}"))
                } else {
                    SendEntry { delay_seconds: Some(*delay_seconds), ..entry(&format!("body-{body}")) }
                };
                send.message_id = format!("m{message_number}");
                Command::SendMessage { queue: name.to_string(), entry: send }
            }
            LogOp::Receive { queue, max, visibility_seconds, attempt } => {
                let name = LOG_QUEUES[*queue as usize];
                let mut request = receive_request(*max, Some(*visibility_seconds));
                request.receive_request_attempt_id = attempt.map(|a| format!("attempt-{a}"));
                Command::ReceiveMessage { queue: name.to_string(), request }
            }
            LogOp::Delete { handle } | LogOp::ChangeVisibility { handle, .. } => {
                if handles.is_empty() {
                    continue;
                }
                let (queue, receipt_handle) = handles[handle % handles.len()].clone();
                match op {
                    LogOp::ChangeVisibility { seconds, .. } => {
                        Command::ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds: *seconds }
                    }
                    _ => Command::DeleteMessage { queue, receipt_handle },
                }
            }
            LogOp::Purge { queue } => Command::PurgeQueue { queue: LOG_QUEUES[*queue as usize].to_string() },
            LogOp::DeleteQueue { queue } => {
                let name = LOG_QUEUES[*queue as usize].to_string();
                // Refused when the queue is gone already (its creation was refused: a missing target).
                let _ = apply(&mut engine, &mut log, clock_ms, Command::DeleteQueue { queue: name.clone() });
                clock_ms += shoal_engine::limits::QUEUE_RECREATE_DELAY_MS + 1;
                let created = |command: &Command| matches!(command, Command::CreateQueue { name: n, .. } if *n == name);
                setup_log().into_iter().find(created).expect("a queue of the setup")
            }
            LogOp::StartMoveTask { rate } => Command::StartMessageMoveTask {
                source_arn: arn("dlq"),
                destination_arn: None,
                rate_per_second: Some(*rate),
                sources_elsewhere: false,
            },
            LogOp::Tick => Command::Tick,
            LogOp::Clock { forward, ms } => {
                if *forward {
                    clock_ms += ms;
                } else {
                    clock_ms -= ms;
                }
                continue;
            }
        };
        let queue = command.queue().map(str::to_string);
        if let Ok(Reply::Received(messages)) = apply(&mut engine, &mut log, clock_ms, command) {
            for message in messages {
                handles.push((queue.clone().unwrap(), message.receipt_handle));
            }
        }
    }
    (log, outcomes, engine)
}

fn replay(log: &[LogEntry]) -> (Vec<Outcome>, Engine) {
    let mut engine = Engine::new(common::engine_config());
    let outcomes = log.iter().map(|entry| engine.apply(entry)).collect();
    (outcomes, engine)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn test_property_replaying_a_log_gives_equal_engines_and_outcomes(
        ops in prop::collection::vec(log_op(), 1..150),
        snapshot_at in any::<prop::sample::Index>(),
    ) {
        let (log, outcomes, engine) = build_log(&ops);
        let (replayed_outcomes, replayed) = replay(&log);
        prop_assert_eq!(&replayed_outcomes, &outcomes);
        prop_assert!(replayed == engine, "replayed engine differs");

        // A snapshot taken anywhere, restored, and the rest of the log applied: the same engine.
        let cut = snapshot_at.index(log.len() + 1);
        let (_, mut resumed) = replay(&log[..cut]);
        resumed = serde_json::from_str(&serde_json::to_string(&resumed).unwrap()).unwrap();
        let rest: Vec<Outcome> = log[cut..].iter().map(|entry| resumed.apply(entry)).collect();
        prop_assert_eq!(rest.as_slice(), &outcomes[cut..]);
        prop_assert!(resumed == engine, "engine restored from a snapshot differs");
        prop_assert_eq!(resumed.next_timer_ms(), engine.next_timer_ms());

        // Time never goes backwards, whatever the stamps.
        prop_assert_eq!(engine.now_ms(), log.iter().map(|e| e.time_ms).max().unwrap());
    }
}

fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => proptest::char::range(' ', '~'),
        1 => prop::sample::select(vec!['\u{0}', '\u{1}', '\t', '\n', '\r', '\u{1F}', '\u{7F}', '\u{D7FF}', '\u{E000}']),
        1 => prop::sample::select(vec!['\u{EFFF}', '\u{F000}', '\u{FFFD}', '\u{FFFE}', '\u{FFFF}', '\u{10000}', '\u{10FFFF}']),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// `validate_text` has a fast path over bytes; it must agree with the character rule.
    #[test]
    fn test_property_message_text_validation_agrees_with_the_allowed_character_set(
        chars in prop::collection::vec(text_char(), 0..24),
    ) {
        let text: String = chars.into_iter().collect();
        let allowed = text.chars().all(shoal_engine::message::is_allowed_char);
        prop_assert_eq!(shoal_engine::message::validate_text("body", &text).is_ok(), allowed, "{:?}", text);
    }
}

#[derive(Debug, Clone)]
enum RedriveOp {
    Send { group: u8 },
    Receive { max: u32, visibility_seconds: u32 },
    DeleteLatest,
    Advance { ms: u64 },
}

fn redrive_op() -> impl Strategy<Value = RedriveOp> {
    prop_oneof![
        3 => (0u8..3).prop_map(|group| RedriveOp::Send { group }),
        4 => (1u32..=10, 0u32..=2).prop_map(|(max, visibility_seconds)| RedriveOp::Receive { max, visibility_seconds }),
        1 => Just(RedriveOp::DeleteLatest),
        2 => (0u64..=3_000).prop_map(|ms| RedriveOp::Advance { ms }),
    ]
}

/// With a redrive policy, every message ends up in exactly one place (deleted, the source or the
/// dead-letter queue), the source never delivers a message more than maxReceiveCount times, and
/// only messages received that often reach the dead-letter queue, with their MessageId.
fn run_redrive(fifo: bool, ops: &[RedriveOp]) {
    const MAX_RECEIVE_COUNT: u32 = 2;
    let (source, dead_letter_queue) = if fifo { ("src.fifo", "dlq.fifo") } else { ("src", "dlq") };
    let mut h = Harness::new();
    let fifo_attribute: &[(&str, &str)] = if fifo { &[("FifoQueue", "true")] } else { &[] };
    h.create(dead_letter_queue, fifo_attribute).unwrap();
    let policy =
        format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{MAX_RECEIVE_COUNT}}}"#, arn(dead_letter_queue));
    let mut attributes = fifo_attribute.to_vec();
    attributes.push(("RedrivePolicy", &policy));
    h.create(source, &attributes).unwrap();

    let mut sent: BTreeSet<String> = BTreeSet::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut receives: BTreeMap<String, u32> = BTreeMap::new();
    let mut latest: Option<(String, String)> = None;
    for op in ops {
        match op {
            RedriveOp::Send { group } => {
                let body = format!("m{}", sent.len());
                let message = if fifo { fifo_entry(&format!("g{group}"), Some(&body), &body) } else { entry(&body) };
                sent.insert(h.send_entry(source, message).unwrap().message_id);
            }
            RedriveOp::Receive { max, visibility_seconds } => {
                for message in h.receive_for(source, *max, *visibility_seconds) {
                    let count = receives.entry(message.message_id.clone()).or_default();
                    *count += 1;
                    assert!(*count <= MAX_RECEIVE_COUNT, "{} delivered {count} times", message.message_id);
                    assert_eq!(receive_count(&message), *count);
                    latest = Some((message.message_id, message.receipt_handle));
                }
            }
            RedriveOp::DeleteLatest => {
                if let Some((message_id, handle)) = latest.take() {
                    if h.delete(source, &handle).is_ok() {
                        deleted.insert(message_id);
                    }
                }
            }
            RedriveOp::Advance { ms } => h.advance_ms(*ms),
        }
    }
    // Let every timeout pass and receive until the source is empty: each receive moves the
    // messages that were received often enough.
    h.advance_seconds(3600);
    loop {
        let received = h.receive_for(source, 10, 0);
        if received.is_empty() {
            break;
        }
        for message in received {
            let count = receives.entry(message.message_id.clone()).or_default();
            *count += 1;
            assert!(*count <= MAX_RECEIVE_COUNT);
        }
    }
    assert_eq!(h.engine.queue(source).unwrap().len(), 0);
    let mut dead: BTreeSet<String> = BTreeSet::new();
    for (seq, message) in h.engine.queue(dead_letter_queue).unwrap().messages() {
        let message_id = h.message_id(dead_letter_queue, seq);
        assert!(dead.insert(message_id.clone()), "{message_id} twice in the dead-letter queue");
        assert_eq!(receives.get(&message_id), Some(&MAX_RECEIVE_COUNT));
        assert_eq!(message.dead_letter_source_arn(), Some(arn(source).as_str()));
    }
    // A delete with the handle of a message that has since been moved succeeds without deleting
    // anything (the message is gone from the source, as for any already-deleted message), so a
    // message can be both "deleted" and dead-lettered, but only one received maxReceiveCount times.
    for message_id in dead.intersection(&deleted) {
        assert_eq!(receives.get(message_id), Some(&MAX_RECEIVE_COUNT));
    }
    let accounted: BTreeSet<String> = dead.union(&deleted).cloned().collect();
    assert_eq!(accounted, sent, "every message is deleted or dead-lettered, none lost or invented");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn test_property_redrive_moves_each_exhausted_message_once(
        fifo in any::<bool>(),
        ops in prop::collection::vec(redrive_op(), 1..80),
    ) {
        run_redrive(fifo, &ops);
    }
}
