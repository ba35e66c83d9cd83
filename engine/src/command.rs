//! Commands (what a log entry asks the engine to do) and their replies: plain, versioned data,
//! so that a command can be written to the log and applied again on another replica.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bodies::BodyKey;
use crate::error::{EngineError, SqsError, SqsResult};
use crate::message::{AttributeValue, MessageAttributes};
use crate::outbox::OutboxEntry;

/// Version of the encoding of `LogEntry`; bumped on any change to these types. It is the format
/// number of the envelope each entry travels and is stored in (`shoal_raft::format`), which
/// decodes older formats and migrates them to this one; the engine refuses any other number.
pub const FORMAT_VERSION: u16 = 3;

/// One entry of the command log: a command and the time its proposer stamped on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub format_version: u16,
    pub time_ms: u64,
    pub command: Command,
}

impl LogEntry {
    pub fn new(time_ms: u64, command: Command) -> LogEntry {
        LogEntry { format_version: FORMAT_VERSION, time_ms, command }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    CreateQueue {
        name: String,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    },
    DeleteQueue {
        queue: String,
    },
    SetQueueAttributes {
        queue: String,
        attributes: BTreeMap<String, String>,
    },
    TagQueue {
        queue: String,
        tags: BTreeMap<String, String>,
    },
    UntagQueue {
        queue: String,
        keys: Vec<String>,
    },
    PurgeQueue {
        queue: String,
    },
    AddPermission {
        queue: String,
        label: String,
        account_ids: Vec<String>,
        actions: Vec<String>,
    },
    RemovePermission {
        queue: String,
        label: String,
    },
    SendMessage {
        queue: String,
        entry: SendEntry,
    },
    SendMessageBatch {
        queue: String,
        entries: Vec<SendEntry>,
    },
    ReceiveMessage {
        queue: String,
        request: ReceiveRequest,
    },
    DeleteMessage {
        queue: String,
        receipt_handle: String,
    },
    DeleteMessageBatch {
        queue: String,
        entries: Vec<DeleteEntry>,
    },
    ChangeMessageVisibility {
        queue: String,
        receipt_handle: String,
        visibility_timeout_seconds: u32,
    },
    ChangeMessageVisibilityBatch {
        queue: String,
        entries: Vec<VisibilityEntry>,
    },
    StartMessageMoveTask {
        source_arn: String,
        destination_arn: Option<String>,
        rate_per_second: Option<u32>,
        /// The node found queues in other groups whose dead-letter queue this is.
        #[serde(default)]
        sources_elsewhere: bool,
    },
    CancelMessageMoveTask {
        task_handle: String,
    },
    /// Fires timers of every queue and advances move tasks.
    Tick,
    /// Takes a batch from the outbox of another group (see `outbox`).
    ImportMessages {
        source_group: u32,
        entries: Vec<OutboxEntry>,
    },
    /// Drops outbox entries the target group has taken; returns those it refused.
    AckOutbox {
        positions: Vec<u64>,
        refused: Vec<u64>,
    },
    // SNS topics. Written in proposal format 4 or later (`shoal_raft::format`), so a node of a
    // build without SNS refuses such an entry by its format number rather than misreading it.
    CreateTopic {
        name: String,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    },
    DeleteTopic {
        topic: String,
    },
    SetTopicAttributes {
        topic: String,
        attribute: String,
        value: String,
    },
    TagTopic {
        topic: String,
        tags: BTreeMap<String, String>,
    },
    UntagTopic {
        topic: String,
        keys: Vec<String>,
    },
    /// AddPermission on a topic: a statement `label` in its policy.
    AddTopicPermission {
        topic: String,
        label: String,
        account_ids: Vec<String>,
        actions: Vec<String>,
    },
    RemoveTopicPermission {
        topic: String,
        label: String,
    },
    // SNS subscriptions and publishing: proposal format 5 (write level 5), like every entry
    // whose outbox deliveries are a topic's (`Command::generation`).
    /// Subscribe. `subscription_id` and `token` are chosen by the node that took the request,
    /// so that applying it is deterministic; they are used only if the subscription is new.
    Subscribe {
        topic: String,
        subscription_id: String,
        protocol: String,
        endpoint: String,
        attributes: BTreeMap<String, String>,
        token: String,
    },
    ConfirmSubscription {
        topic: String,
        token: String,
    },
    Unsubscribe {
        topic: String,
        subscription_id: String,
    },
    SetSubscriptionAttributes {
        topic: String,
        subscription_id: String,
        attribute: String,
        value: String,
    },
    /// Publish (one entry, `batch` false) or PublishBatch.
    Publish {
        topic: String,
        batch: bool,
        entries: Vec<PublishEntry>,
        /// When the node took the request (the notifications' `Timestamp`).
        published_ms: u64,
        /// The node's address as the client reached it (`http://host:port/`), which the
        /// notifications' `UnsubscribeURL` and `SigningCertURL` name.
        base_url: String,
    },
}

/// Which step of Shoal's formats introduced what a command holds; the log writes each entry in
/// the oldest format that has it (`shoal_raft::format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Generation {
    /// SQS, the outbox, the cluster's own entries.
    Sqs,
    /// SNS topics.
    Topics,
    /// SNS subscriptions and publishing (FIFO topics included), and outbox deliveries from a
    /// topic.
    Subscriptions,
}

/// One message to publish. `id` is the batch entry id (empty for Publish); `message_id` is
/// chosen by the node that took the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishEntry {
    pub id: String,
    pub message_id: String,
    pub message: String,
    pub subject: Option<String>,
    pub attributes: MessageAttributes,
    /// `MessageStructure=json`: `message` is a JSON object of a message per protocol.
    pub json_structure: bool,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// The notification's signature per protocol's message (`sqs`, `http`, `https`,
    /// `default`), made by the node that took the request; empty while the cluster has no
    /// signing key (docs/compatibility-sns.md).
    pub signatures: BTreeMap<String, String>,
}

/// What Subscribe and ConfirmSubscription answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    pub subscription_id: String,
    pub pending: bool,
}

/// What Publish answers for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResult {
    pub message_id: String,
    pub sequence_number: Option<String>,
}

impl Command {
    /// The queue a command is about, if it is about one.
    pub fn queue(&self) -> Option<&str> {
        match self {
            Command::CreateQueue { name, .. } => Some(name),
            Command::DeleteQueue { queue }
            | Command::SetQueueAttributes { queue, .. }
            | Command::TagQueue { queue, .. }
            | Command::UntagQueue { queue, .. }
            | Command::PurgeQueue { queue }
            | Command::AddPermission { queue, .. }
            | Command::RemovePermission { queue, .. }
            | Command::SendMessage { queue, .. }
            | Command::SendMessageBatch { queue, .. }
            | Command::ReceiveMessage { queue, .. }
            | Command::DeleteMessage { queue, .. }
            | Command::DeleteMessageBatch { queue, .. }
            | Command::ChangeMessageVisibility { queue, .. }
            | Command::ChangeMessageVisibilityBatch { queue, .. } => Some(queue),
            Command::StartMessageMoveTask { .. }
            | Command::CancelMessageMoveTask { .. }
            | Command::ImportMessages { .. }
            | Command::AckOutbox { .. }
            | Command::Tick
            | Command::CreateTopic { .. }
            | Command::DeleteTopic { .. }
            | Command::SetTopicAttributes { .. }
            | Command::TagTopic { .. }
            | Command::UntagTopic { .. }
            | Command::AddTopicPermission { .. }
            | Command::RemoveTopicPermission { .. }
            | Command::Subscribe { .. }
            | Command::ConfirmSubscription { .. }
            | Command::Unsubscribe { .. }
            | Command::SetSubscriptionAttributes { .. }
            | Command::Publish { .. } => None,
        }
    }

    /// Which step of the formats introduced what this command holds.
    pub fn generation(&self) -> Generation {
        match self {
            Command::Subscribe { .. }
            | Command::ConfirmSubscription { .. }
            | Command::Unsubscribe { .. }
            | Command::SetSubscriptionAttributes { .. }
            | Command::Publish { .. } => Generation::Subscriptions,
            Command::ImportMessages { entries, .. } if entries.iter().any(|e| e.delivery.is_from_topic()) => {
                Generation::Subscriptions
            }
            command if command.is_sns() => Generation::Topics,
            _ => Generation::Sqs,
        }
    }

    /// Is this an SNS action (written in proposal format 4 or later)?
    pub fn is_sns(&self) -> bool {
        matches!(
            self,
            Command::CreateTopic { .. }
                | Command::DeleteTopic { .. }
                | Command::SetTopicAttributes { .. }
                | Command::TagTopic { .. }
                | Command::UntagTopic { .. }
                | Command::AddTopicPermission { .. }
                | Command::RemoveTopicPermission { .. }
                | Command::Subscribe { .. }
                | Command::ConfirmSubscription { .. }
                | Command::Unsubscribe { .. }
                | Command::SetSubscriptionAttributes { .. }
                | Command::Publish { .. }
        )
    }

    /// Whose long polls this command, once applied, may have given something to receive. A
    /// poller not woken still finds its messages at its next periodic check, so this errs only
    /// towards waking: a receive counts for its own queue, though moving a message to a
    /// dead-letter queue of the same group also feeds that one (found at the check).
    pub fn wakes(&self) -> Wakes<'_> {
        match self {
            // Nothing to receive comes of these.
            Command::CreateQueue { .. }
            | Command::TagQueue { .. }
            | Command::UntagQueue { .. }
            | Command::AddPermission { .. }
            | Command::RemovePermission { .. } => Wakes::Nobody,
            // A publish may feed any queue of the group its topic subscribes.
            Command::Publish { .. } => Wakes::Everyone,
            command if command.is_sns() => Wakes::Nobody,
            // Any other command about a queue feeds that queue (deleting it ends its polls with
            // an error; a delete unblocks a FIFO group); one about no queue may feed any.
            command => command.queue().map_or(Wakes::Everyone, Wakes::Queue),
        }
    }
}

/// What [`Command::wakes`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakes<'a> {
    Nobody,
    Queue(&'a str),
    Everyone,
}

/// One message to send. `id` is the batch entry id (empty for SendMessage); `message_id` is
/// chosen by the proposer so that the engine stays free of randomness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEntry {
    pub id: String,
    pub message_id: String,
    pub body: String,
    pub delay_seconds: Option<u32>,
    pub attributes: MessageAttributes,
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub deduplication_id: Option<String>,
    pub group_id: Option<String>,
    pub sender_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveRequest {
    pub max_messages: u32,
    pub visibility_timeout_seconds: Option<u32>,
    pub receive_request_attempt_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteEntry {
    pub id: String,
    pub receipt_handle: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibilityEntry {
    pub id: String,
    pub receipt_handle: String,
    pub visibility_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResult {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    pub sequence_number: Option<String>,
}

/// A received message with everything a reply may show; the wire layer picks attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: Arc<str>,
    pub md5_of_body: String,
    pub attributes: MessageAttributes,
    pub system_attributes: BTreeMap<String, String>,
    /// Where the body and attributes are stored, for the state machine to read them from
    /// there on the leader before it answers. Never leaves the node (not serialized).
    #[serde(skip)]
    pub body_key: Option<BodyKey>,
}

impl ReceivedMessage {
    /// Fills in what the store keeps of the message: body, attributes, the trace header and,
    /// where the engine left them out, id, MD5, sender and sent time. `false` when `record`
    /// lacks a header the reply needs.
    pub fn fill(&mut self, record: &crate::bodies::BodyRecord) -> bool {
        self.body = record.body.clone();
        self.attributes = record.attributes.clone();
        if let Some(trace) = record.system_attributes.get("AWSTraceHeader").and_then(|value| value.string_value.clone())
        {
            self.system_attributes.insert("AWSTraceHeader".to_string(), trace);
        }
        match &record.header {
            Some(header) => {
                self.message_id = header.message_id.to_string();
                self.md5_of_body = hex::encode(header.md5_of_body);
                self.system_attributes.insert("SenderId".to_string(), header.sender_id.to_string());
                self.system_attributes.insert("SentTimestamp".to_string(), header.sent_ms.to_string());
                true
            }
            None => !self.message_id.is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFailure {
    pub id: String,
    pub error: SqsError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReply<T> {
    pub successful: Vec<(String, T)>,
    pub failed: Vec<BatchFailure>,
}

impl<T> Default for BatchReply<T> {
    fn default() -> Self {
        BatchReply { successful: Vec::new(), failed: Vec::new() }
    }
}

impl<T> BatchReply<T> {
    pub fn push(&mut self, id: String, result: SqsResult<T>) {
        match result {
            Ok(value) => self.successful.push((id, value)),
            Err(error) => self.failed.push(BatchFailure { id, error }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    QueueCreated {
        name: String,
    },
    Sent(SendResult),
    SentBatch(BatchReply<SendResult>),
    Received(Vec<ReceivedMessage>),
    DeletedBatch(BatchReply<()>),
    ChangedBatch(BatchReply<()>),
    MoveTaskStarted {
        task_handle: String,
    },
    MoveTaskCancelled {
        approximate_number_of_messages_moved: u64,
    },
    /// Outbox positions the importing group refused.
    Imported {
        refused: Vec<u64>,
    },
    Subscribed(Subscribed),
    /// Per entry, by batch entry id, in the order given.
    Published(Vec<(String, crate::error::SnsResult<PublishResult>)>),
}

/// What applying a log entry gives: a reply, or why nothing was done.
pub type Outcome = Result<Reply, EngineError>;
