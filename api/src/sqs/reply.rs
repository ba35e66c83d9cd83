//! Typed SQS replies: what running a request returns, on whichever node ran it, and its rendering
//! as the JSON 1.0 response object (which `xml.rs` renders for the Query protocol). Queue URLs are
//! built here, at the node the client called, from the names the reply carries.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shoal_engine::command::{BatchReply, ReceivedMessage, SendResult};
use shoal_engine::dlq::{MoveTask, MoveTaskStatus};
use shoal_engine::message::{md5_of_attributes, MessageAttributes};

use crate::error::ApiError;

/// Where a request came in, to build queue URLs the client can reach.
pub struct RequestContext {
    /// `http://host:port` as the client addressed us.
    pub base_url: String,
}

pub fn queue_url(context: &RequestContext, account_id: &str, name: &str) -> String {
    format!("{}/{account_id}/{name}", context.base_url)
}

/// A page of queue names and, when more remain, the last name (the next token's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamePage {
    pub names: Vec<String>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqsReply {
    /// `{}`: the action succeeded and has nothing to say.
    Empty,
    QueueUrl(String),
    QueueUrls(NamePage),
    DeadLetterSourceQueues(NamePage),
    Attributes(BTreeMap<String, String>),
    Tags(BTreeMap<String, String>),
    Sent(SendResult),
    SentBatch(BatchReply<SendResult>),
    /// Received messages, holding only the system and message attributes the request chose.
    Received(Vec<ReceivedMessage>),
    /// DeleteMessageBatch and ChangeMessageVisibilityBatch.
    Batch(BatchReply<()>),
    MoveTaskStarted(String),
    MoveTaskCancelled(u64),
    MoveTasks(Vec<MoveTask>),
}

impl SqsReply {
    /// The JSON 1.0 response object.
    pub fn to_json(&self, context: &RequestContext, account_id: &str) -> Value {
        match self {
            SqsReply::Empty => json!({}),
            SqsReply::QueueUrl(name) => json!({ "QueueUrl": queue_url(context, account_id, name) }),
            SqsReply::QueueUrls(page) => url_page(context, account_id, "QueueUrls", page),
            SqsReply::DeadLetterSourceQueues(page) => url_page(context, account_id, "queueUrls", page),
            SqsReply::Attributes(map) | SqsReply::Tags(map) if map.is_empty() => json!({}),
            SqsReply::Attributes(map) => json!({ "Attributes": map }),
            SqsReply::Tags(map) => json!({ "Tags": map }),
            SqsReply::Sent(result) => Value::Object(send_result_json(result)),
            SqsReply::SentBatch(reply) => batch_json(reply, |id, result| {
                let mut entry = send_result_json(result);
                entry.insert("Id".into(), json!(id));
                entry
            }),
            SqsReply::Received(messages) if messages.is_empty() => json!({}),
            SqsReply::Received(messages) => {
                json!({ "Messages": messages.iter().map(received_json).collect::<Vec<Value>>() })
            }
            SqsReply::Batch(reply) => batch_json(reply, |id, ()| {
                let mut entry = Map::new();
                entry.insert("Id".into(), json!(id));
                entry
            }),
            SqsReply::MoveTaskStarted(handle) => json!({ "TaskHandle": handle }),
            SqsReply::MoveTaskCancelled(moved) => json!({ "ApproximateNumberOfMessagesMoved": moved }),
            SqsReply::MoveTasks(tasks) => json!({ "Results": tasks.iter().map(move_task_json).collect::<Vec<_>>() }),
        }
    }
}

/// A page of queue URLs under `member`, with a NextToken when more remain.
fn url_page(context: &RequestContext, account_id: &str, member: &str, page: &NamePage) -> Value {
    let urls: Vec<String> = page.names.iter().map(|name| queue_url(context, account_id, name)).collect();
    let mut reply = Map::new();
    reply.insert(member.to_string(), json!(urls));
    if let Some(last) = &page.next {
        reply.insert("NextToken".to_string(), json!(hex::encode(last)));
    }
    Value::Object(reply)
}

fn send_result_json(result: &SendResult) -> Map<String, Value> {
    let mut reply = Map::new();
    reply.insert("MessageId".into(), json!(result.message_id));
    reply.insert("MD5OfMessageBody".into(), json!(result.md5_of_body));
    if let Some(md5) = &result.md5_of_attributes {
        reply.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    if let Some(md5) = &result.md5_of_system_attributes {
        reply.insert("MD5OfMessageSystemAttributes".into(), json!(md5));
    }
    if let Some(number) = &result.sequence_number {
        reply.insert("SequenceNumber".into(), json!(number));
    }
    reply
}

fn batch_json<T>(reply: &BatchReply<T>, mut success: impl FnMut(&str, &T) -> Map<String, Value>) -> Value {
    let successful: Vec<Value> = reply.successful.iter().map(|(id, value)| Value::Object(success(id, value))).collect();
    let failed: Vec<Value> = reply
        .failed
        .iter()
        .map(|failure| {
            let error = ApiError::from(failure.error.clone());
            json!({ "Id": failure.id, "SenderFault": error.sender_fault, "Code": error.code, "Message": error.message })
        })
        .collect();
    json!({ "Successful": successful, "Failed": failed })
}

fn received_json(message: &ReceivedMessage) -> Value {
    let mut reply = Map::new();
    reply.insert("MessageId".into(), json!(message.message_id));
    reply.insert("ReceiptHandle".into(), json!(message.receipt_handle));
    reply.insert("MD5OfBody".into(), json!(message.md5_of_body));
    reply.insert("Body".into(), json!(message.body));
    if !message.system_attributes.is_empty() {
        reply.insert("Attributes".into(), json!(message.system_attributes));
    }
    if let Some(md5) = md5_of_attributes(&message.attributes) {
        reply.insert("MD5OfMessageAttributes".into(), json!(md5));
        reply.insert("MessageAttributes".into(), message_attributes_json(&message.attributes));
    }
    Value::Object(reply)
}

fn message_attributes_json(attributes: &MessageAttributes) -> Value {
    let attributes: Map<String, Value> = attributes
        .iter()
        .map(|(name, value)| {
            let mut fields = Map::new();
            fields.insert("DataType".into(), json!(value.data_type));
            if let Some(text) = &value.string_value {
                fields.insert("StringValue".into(), json!(text));
            }
            if let Some(bytes) = &value.binary_value {
                fields.insert("BinaryValue".into(), json!(base64::engine::general_purpose::STANDARD.encode(bytes)));
            }
            (name.clone(), Value::Object(fields))
        })
        .collect();
    Value::Object(attributes)
}

fn move_task_json(task: &MoveTask) -> Value {
    let mut entry = Map::new();
    if task.status == MoveTaskStatus::Running {
        entry.insert("TaskHandle".into(), json!(task.task_handle));
    }
    entry.insert("Status".into(), json!(task.status.as_str()));
    entry.insert("SourceArn".into(), json!(task.source_arn));
    if let Some(destination) = &task.destination_arn {
        entry.insert("DestinationArn".into(), json!(destination));
    }
    if let Some(rate) = task.rate_per_second {
        entry.insert("MaxNumberOfMessagesPerSecond".into(), json!(rate));
    }
    entry.insert("ApproximateNumberOfMessagesMoved".into(), json!(task.moved));
    entry.insert("ApproximateNumberOfMessagesToMove".into(), json!(task.to_move));
    if let Some(reason) = &task.failure_reason {
        entry.insert("FailureReason".into(), json!(reason));
    }
    entry.insert("StartedTimestamp".into(), json!(task.started_ms));
    Value::Object(entry)
}
