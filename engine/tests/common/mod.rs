//! Test harness for the engine: one engine, a clock the test advances by hand, and one helper per
//! command, so that each test reads as input and expected output. Time is an input here: tests
//! never sleep, they move `now_ms`.

// Each integration-test file compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shoal_engine::bodies::{BodyEffect, BodyKey, BodyRecord};

use shoal_engine::command::{
    BatchReply, DeleteEntry, ReceiveRequest, ReceivedMessage, SendEntry, SendResult, VisibilityEntry,
};
use shoal_engine::dlq::MoveTask;
use shoal_engine::message::{AttributeValue, MessageAttributes};
use shoal_engine::{Command, Engine, EngineConfig, EngineError, LogEntry, Outcome, Reply, SqsResult};

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Where the clock of a new harness starts: a realistic epoch time, 2023-11-14.
pub const START_MS: u64 = 1_700_000_000_000;

pub fn engine_config() -> EngineConfig {
    EngineConfig::new(ACCOUNT_ID, REGION)
}

pub fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}")
}

pub struct Harness {
    pub engine: Engine,
    pub now_ms: u64,
    next_message: u64,
    /// What a store fed the engine's body effects holds.
    pub stored: Stored,
}

/// Up to how many stored messages every applied entry compares the whole store with the engine.
const FULL_CHECK_MESSAGES_MAX: usize = 2_000;

/// Message contents by key, as a store fed the engine's effects holds them.
pub type Stored = BTreeMap<BodyKey, Arc<BodyRecord>>;

/// Carries out the body effects of what `engine` applied since the last call on `stored`, as
/// the state machine does, and checks the store then holds exactly the engine's messages (and
/// the engine none of their contents): a key is stored once, moved only from stored contents,
/// released once, never reused.
pub fn carry_out_body_effects(engine: &mut Engine, stored: &mut Stored) {
    // Releases take effect at the end: a move gathered after a release may read it.
    let mut released = Vec::new();
    for effect in engine.take_body_effects() {
        match effect {
            BodyEffect::Store(key, record) => {
                assert!(stored.insert(key, record).is_none(), "{key:?} stored twice");
            }
            BodyEffect::Move { from, to } => {
                let record = stored.get(&from).unwrap_or_else(|| panic!("{from:?} moved but not stored")).clone();
                assert!(stored.insert(to, record).is_none(), "{to:?} stored twice");
            }
            BodyEffect::Release(key) => released.push(key),
        }
    }
    for key in released {
        assert!(stored.remove(&key).is_some(), "{key:?} released but not stored");
    }
    // The whole comparison costs every message held: done while there are few (each effect is
    // still checked above when a test holds many).
    if stored.len() <= FULL_CHECK_MESSAGES_MAX {
        let held: Vec<BodyKey> = engine.body_keys().collect::<BTreeSet<_>>().into_iter().collect();
        let keys: Vec<BodyKey> = stored.keys().copied().collect();
        assert_eq!(keys, held, "the store holds other keys than the engine's messages");
        assert!(engine.take_contents().is_empty(), "the engine kept contents the store holds");
    }
}

/// Gives the messages of a receive reply their contents from `stored`, as the state machine
/// does on the leader.
pub fn fill_received(outcome: &mut Outcome, stored: &Stored) {
    if let Ok(Reply::Received(messages)) = outcome {
        for message in messages {
            let key = message.body_key.expect("a received message names its contents");
            let record = stored.get(&key).unwrap_or_else(|| panic!("{key:?} received but not stored"));
            assert!(message.fill(record), "{key:?} is stored without the header its reply needs");
        }
    }
}

/// Gives outbox entries their contents from `stored`, as a leader does before it hands them
/// over.
pub fn fill_outbox(entries: &mut [shoal_engine::outbox::OutboxEntry], stored: &Stored) {
    for entry in entries {
        let key = shoal_engine::bodies::outbox_key(entry.position);
        let record = stored.get(&key).unwrap_or_else(|| panic!("outbox entry {key:?} not stored"));
        entry.delivery.message.restore_contents((**record).clone());
    }
}

/// A harness for data group `group` of two (placement `group` of 2), its clock at the start.
pub fn group(group: u32) -> Harness {
    let mut config = engine_config();
    config.placement = shoal_engine::outbox::Placement { group, data_groups: 2 };
    let mut harness = Harness::with_engine(Engine::new(config));
    harness.now_ms = START_MS;
    harness
}

/// A name starting with `stem` that the placement puts in `group`.
pub fn name_in(harness: &Harness, group: u32, stem: &str) -> String {
    (0..).map(|i| format!("{stem}{i}")).find(|name| harness.engine.group_of(name) == group).expect("a name")
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// The id of message `seq` of `queue`, from the store (the engine keeps ids there).
    pub fn message_id(&self, queue: &str, seq: u64) -> String {
        let key = self.engine.queue(queue).expect("a queue").body_key(seq);
        let record = self.stored.get(&key).unwrap_or_else(|| panic!("{key:?} not stored"));
        record.header.as_ref().expect("a stored message has a header").message_id.to_string()
    }

    pub fn new() -> Harness {
        Harness { engine: Engine::new(engine_config()), now_ms: START_MS, next_message: 1, stored: Stored::new() }
    }

    /// A harness around an existing engine, its clock at the engine's last applied time; the
    /// contents its messages carry (an engine decoded from a snapshot of format 2) go to the
    /// harness's store, as a state machine moves them.
    pub fn with_engine(mut engine: Engine) -> Harness {
        let now_ms = engine.now_ms();
        let stored = engine.take_contents().into_iter().map(|(key, record)| (key, Arc::new(record))).collect();
        Harness { engine, now_ms, next_message: 1_000_000, stored }
    }

    /// The next outbox batch, with its contents, as a leader hands it over.
    pub fn outbox_batch(
        &self,
        max_entries: usize,
        skip: &BTreeSet<u32>,
    ) -> Option<(u32, Vec<shoal_engine::outbox::OutboxEntry>)> {
        let (target, mut entries) = self.engine.outbox_batch(max_entries, usize::MAX, skip)?;
        fill_outbox(&mut entries, &self.stored);
        Some((target, entries))
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    pub fn advance_seconds(&mut self, seconds: u64) {
        self.advance_ms(seconds * 1000);
    }

    /// Applies a command stamped with the harness clock.
    pub fn apply(&mut self, command: Command) -> Outcome {
        let mut outcome = self.engine.apply(&LogEntry::new(self.now_ms, command));
        // No entry releases what it receives, so the store after it holds what a receive shows.
        carry_out_body_effects(&mut self.engine, &mut self.stored);
        fill_received(&mut outcome, &self.stored);
        outcome
    }

    /// Applies an SQS action: its reply, or SQS's refusal. The harness writes only entries of
    /// the current format, so any other refusal is a bug.
    pub fn apply_sqs(&mut self, command: Command) -> SqsResult<Reply> {
        match self.apply(command) {
            Ok(reply) => Ok(reply),
            Err(EngineError::Sqs(error)) => Err(error),
            Err(other) => panic!("not an SQS refusal: {other}"),
        }
    }

    pub fn tick(&mut self) {
        assert_eq!(self.apply(Command::Tick), Ok(Reply::Done));
    }

    pub fn create(&mut self, name: &str, attributes: &[(&str, &str)]) -> SqsResult<String> {
        self.create_with_tags(name, attributes, &[])
    }

    pub fn create_with_tags(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        tags: &[(&str, &str)],
    ) -> SqsResult<String> {
        let command =
            Command::CreateQueue { name: name.to_string(), attributes: string_map(attributes), tags: string_map(tags) };
        match self.apply_sqs(command)? {
            Reply::QueueCreated { name } => Ok(name),
            other => panic!("unexpected reply to CreateQueue: {other:?}"),
        }
    }

    /// Creates a FIFO queue named `name` (which should end in `.fifo`) with the given extra attributes.
    pub fn create_fifo(&mut self, name: &str, attributes: &[(&str, &str)]) -> SqsResult<String> {
        let mut all = vec![("FifoQueue", "true")];
        all.extend_from_slice(attributes);
        self.create(name, &all)
    }

    pub fn delete_queue(&mut self, name: &str) -> SqsResult<()> {
        self.apply_sqs(Command::DeleteQueue { queue: name.to_string() }).map(expect_done)
    }

    pub fn set_attributes(&mut self, name: &str, attributes: &[(&str, &str)]) -> SqsResult<()> {
        let command = Command::SetQueueAttributes { queue: name.to_string(), attributes: string_map(attributes) };
        self.apply_sqs(command).map(expect_done)
    }

    pub fn attributes(&self, name: &str, requested: &[&str]) -> SqsResult<BTreeMap<String, String>> {
        let requested: Vec<String> = requested.iter().map(|s| s.to_string()).collect();
        self.engine.queue_attributes(name, &requested, self.now_ms)
    }

    pub fn attribute(&self, name: &str, attribute: &str) -> Option<String> {
        self.attributes(name, &[attribute]).unwrap().remove(attribute)
    }

    /// (ApproximateNumberOfMessages, ...NotVisible, ...Delayed) at the harness clock.
    pub fn counts(&self, name: &str) -> (u64, u64, u64) {
        let attributes = self
            .attributes(
                name,
                &[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
            .unwrap();
        let number = |key: &str| attributes[key].parse::<u64>().unwrap();
        (
            number("ApproximateNumberOfMessages"),
            number("ApproximateNumberOfMessagesNotVisible"),
            number("ApproximateNumberOfMessagesDelayed"),
        )
    }

    fn fill_message_id(&mut self, entry: &mut SendEntry) {
        if entry.message_id.is_empty() {
            entry.message_id = format!("00000000-0000-4000-8000-{:012}", self.next_message);
            self.next_message += 1;
        }
    }

    /// Sends `entry`; an empty `message_id` is filled in, as the proposer would.
    pub fn send_entry(&mut self, queue: &str, mut entry: SendEntry) -> SqsResult<SendResult> {
        self.fill_message_id(&mut entry);
        match self.apply_sqs(Command::SendMessage { queue: queue.to_string(), entry })? {
            Reply::Sent(result) => Ok(result),
            other => panic!("unexpected reply to SendMessage: {other:?}"),
        }
    }

    pub fn send(&mut self, queue: &str, body: &str) -> SqsResult<SendResult> {
        self.send_entry(queue, entry(body))
    }

    pub fn send_fifo(&mut self, queue: &str, group: &str, deduplication_id: &str, body: &str) -> SqsResult<SendResult> {
        self.send_entry(queue, fifo_entry(group, Some(deduplication_id), body))
    }

    pub fn send_batch(&mut self, queue: &str, entries: Vec<SendEntry>) -> SqsResult<BatchReply<SendResult>> {
        let mut entries = entries;
        for entry in &mut entries {
            self.fill_message_id(entry);
        }
        match self.apply_sqs(Command::SendMessageBatch { queue: queue.to_string(), entries })? {
            Reply::SentBatch(reply) => Ok(reply),
            other => panic!("unexpected reply to SendMessageBatch: {other:?}"),
        }
    }

    pub fn receive_request(&mut self, queue: &str, request: ReceiveRequest) -> SqsResult<Vec<ReceivedMessage>> {
        match self.apply_sqs(Command::ReceiveMessage { queue: queue.to_string(), request })? {
            Reply::Received(messages) => Ok(messages),
            other => panic!("unexpected reply to ReceiveMessage: {other:?}"),
        }
    }

    /// Receives up to `max` messages with the queue's visibility timeout.
    pub fn receive(&mut self, queue: &str, max: u32) -> Vec<ReceivedMessage> {
        self.receive_request(queue, receive_request(max, None)).unwrap()
    }

    /// Receives up to `max` messages, hidden for `visibility_timeout_seconds`.
    pub fn receive_for(&mut self, queue: &str, max: u32, visibility_timeout_seconds: u32) -> Vec<ReceivedMessage> {
        self.receive_request(queue, receive_request(max, Some(visibility_timeout_seconds))).unwrap()
    }

    /// Receives with a ReceiveRequestAttemptId (FIFO).
    pub fn receive_attempt(&mut self, queue: &str, max: u32, attempt_id: &str) -> Vec<ReceivedMessage> {
        let request = ReceiveRequest {
            max_messages: max,
            visibility_timeout_seconds: None,
            receive_request_attempt_id: Some(attempt_id.to_string()),
        };
        self.receive_request(queue, request).unwrap()
    }

    pub fn delete(&mut self, queue: &str, receipt_handle: &str) -> SqsResult<()> {
        let command = Command::DeleteMessage { queue: queue.to_string(), receipt_handle: receipt_handle.to_string() };
        self.apply_sqs(command).map(expect_done)
    }

    pub fn delete_batch(&mut self, queue: &str, entries: &[(&str, &str)]) -> SqsResult<BatchReply<()>> {
        let entries = entries
            .iter()
            .map(|(id, handle)| DeleteEntry { id: id.to_string(), receipt_handle: handle.to_string() })
            .collect();
        match self.apply_sqs(Command::DeleteMessageBatch { queue: queue.to_string(), entries })? {
            Reply::DeletedBatch(reply) => Ok(reply),
            other => panic!("unexpected reply to DeleteMessageBatch: {other:?}"),
        }
    }

    pub fn change_visibility(&mut self, queue: &str, receipt_handle: &str, seconds: u32) -> SqsResult<()> {
        let command = Command::ChangeMessageVisibility {
            queue: queue.to_string(),
            receipt_handle: receipt_handle.to_string(),
            visibility_timeout_seconds: seconds,
        };
        self.apply_sqs(command).map(expect_done)
    }

    pub fn change_visibility_batch(&mut self, queue: &str, entries: &[(&str, &str, u32)]) -> SqsResult<BatchReply<()>> {
        let entries = entries
            .iter()
            .map(|(id, handle, seconds)| VisibilityEntry {
                id: id.to_string(),
                receipt_handle: handle.to_string(),
                visibility_timeout_seconds: *seconds,
            })
            .collect();
        match self.apply_sqs(Command::ChangeMessageVisibilityBatch { queue: queue.to_string(), entries })? {
            Reply::ChangedBatch(reply) => Ok(reply),
            other => panic!("unexpected reply to ChangeMessageVisibilityBatch: {other:?}"),
        }
    }

    pub fn purge(&mut self, queue: &str) -> SqsResult<()> {
        self.apply_sqs(Command::PurgeQueue { queue: queue.to_string() }).map(expect_done)
    }

    pub fn tag(&mut self, queue: &str, tags: &[(&str, &str)]) -> SqsResult<()> {
        self.apply_sqs(Command::TagQueue { queue: queue.to_string(), tags: string_map(tags) }).map(expect_done)
    }

    pub fn untag(&mut self, queue: &str, keys: &[&str]) -> SqsResult<()> {
        let keys = keys.iter().map(|k| k.to_string()).collect();
        self.apply_sqs(Command::UntagQueue { queue: queue.to_string(), keys }).map(expect_done)
    }

    pub fn tags(&self, queue: &str) -> BTreeMap<String, String> {
        self.engine.queue(queue).unwrap().tags.clone()
    }

    pub fn add_permission(&mut self, queue: &str, label: &str, accounts: &[&str], actions: &[&str]) -> SqsResult<()> {
        let command = Command::AddPermission {
            queue: queue.to_string(),
            label: label.to_string(),
            account_ids: accounts.iter().map(|s| s.to_string()).collect(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        };
        self.apply_sqs(command).map(expect_done)
    }

    pub fn remove_permission(&mut self, queue: &str, label: &str) -> SqsResult<()> {
        self.apply_sqs(Command::RemovePermission { queue: queue.to_string(), label: label.to_string() })
            .map(expect_done)
    }

    pub fn start_move_task(&mut self, source: &str, destination: Option<&str>, rate: Option<u32>) -> SqsResult<String> {
        let command = Command::StartMessageMoveTask {
            source_arn: arn(source),
            destination_arn: destination.map(arn),
            rate_per_second: rate,
            sources_elsewhere: false,
        };
        match self.apply_sqs(command)? {
            Reply::MoveTaskStarted { task_handle } => Ok(task_handle),
            other => panic!("unexpected reply to StartMessageMoveTask: {other:?}"),
        }
    }

    pub fn cancel_move_task(&mut self, task_handle: &str) -> SqsResult<u64> {
        match self.apply_sqs(Command::CancelMessageMoveTask { task_handle: task_handle.to_string() })? {
            Reply::MoveTaskCancelled { approximate_number_of_messages_moved } => {
                Ok(approximate_number_of_messages_moved)
            }
            other => panic!("unexpected reply to CancelMessageMoveTask: {other:?}"),
        }
    }

    pub fn move_tasks(&self, source: &str, max: Option<u32>) -> SqsResult<Vec<MoveTask>> {
        self.engine.list_message_move_tasks(&arn(source), max)
    }

    /// Receives everything visible (visibility 0 so nothing stays hidden) and returns the bodies.
    pub fn peek_bodies(&mut self, queue: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let batch = self.receive_for(queue, 10, 0);
            let fresh: Vec<&ReceivedMessage> = batch.iter().filter(|m| seen.insert(m.message_id.clone())).collect();
            if fresh.is_empty() {
                return bodies;
            }
            bodies.extend(fresh.iter().map(|m| m.body.to_string()));
        }
    }
}

fn expect_done(reply: Reply) {
    assert_eq!(reply, Reply::Done);
}

pub fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn receive_request(max: u32, visibility_timeout_seconds: Option<u32>) -> ReceiveRequest {
    ReceiveRequest { max_messages: max, visibility_timeout_seconds, receive_request_attempt_id: None }
}

/// A standard-queue message; the harness fills in its MessageId.
pub fn entry(body: &str) -> SendEntry {
    SendEntry {
        id: String::new(),
        message_id: String::new(),
        body: body.to_string(),
        delay_seconds: None,
        attributes: MessageAttributes::new(),
        system_attributes: BTreeMap::new(),
        deduplication_id: None,
        group_id: None,
        sender_id: ACCOUNT_ID.to_string(),
    }
}

/// A batch entry with id `id`.
pub fn batch_entry(id: &str, body: &str) -> SendEntry {
    SendEntry { id: id.to_string(), ..entry(body) }
}

pub fn fifo_entry(group: &str, deduplication_id: Option<&str>, body: &str) -> SendEntry {
    SendEntry {
        group_id: Some(group.to_string()),
        deduplication_id: deduplication_id.map(str::to_string),
        ..entry(body)
    }
}

pub fn string_attribute(value: &str) -> AttributeValue {
    AttributeValue { data_type: "String".to_string(), string_value: Some(value.to_string()), binary_value: None }
}

pub fn number_attribute(value: &str) -> AttributeValue {
    AttributeValue { data_type: "Number".to_string(), string_value: Some(value.to_string()), binary_value: None }
}

pub fn binary_attribute(value: &[u8]) -> AttributeValue {
    AttributeValue { data_type: "Binary".to_string(), string_value: None, binary_value: Some(value.to_vec()) }
}

pub fn attributes(pairs: &[(&str, AttributeValue)]) -> MessageAttributes {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

pub fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| &*m.body).collect()
}

pub fn receive_count(message: &ReceivedMessage) -> u32 {
    message.system_attributes["ApproximateReceiveCount"].parse().unwrap()
}
