//! Message actions: send, receive, delete, change visibility, and DLQ move tasks.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use shoal_engine::command::{
    BatchReply, DeleteEntry, ReceiveRequest, ReceivedMessage, SendEntry, SendResult, VisibilityEntry,
};
use shoal_engine::message::{md5_of_attributes, MessageAttributes};
use shoal_engine::outbox::OutboxEntry;
use shoal_engine::queue::ReceiptHandle;
use shoal_engine::{limits, Command, Reply};

use super::{queue_of, Input};
use crate::broker::Broker;
use crate::error::ApiError;

fn unexpected(action: &str) -> ApiError {
    ApiError::internal(format!("unexpected reply to {action}"))
}

fn send_entry(broker: &Broker, input: &Input<'_>, id: String) -> Result<SendEntry, ApiError> {
    let delay_seconds = match input.integer("DelaySeconds")? {
        None => None,
        Some(delay) if (0..=i64::from(u32::MAX)).contains(&delay) => Some(delay as u32),
        Some(delay) => {
            return Err(ApiError::invalid_parameter(format!(
                "value {delay} for parameter DelaySeconds is invalid: must be >= 0 and <= {}",
                limits::DELAY_SECONDS_MAX
            )))
        }
    };
    Ok(SendEntry {
        id,
        message_id: uuid::Uuid::new_v4().to_string(),
        body: input.string("MessageBody")?.unwrap_or_default(),
        delay_seconds,
        attributes: input.message_attributes("MessageAttributes")?,
        system_attributes: input.message_attributes("MessageSystemAttributes")?,
        deduplication_id: input.string("MessageDeduplicationId")?,
        group_id: input.string("MessageGroupId")?,
        sender_id: broker.account_id.clone(),
    })
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

fn id_only(id: &str) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("Id".into(), json!(id));
    entry
}

pub async fn send_message(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    if input.string("MessageBody")?.is_none() {
        return Err(ApiError::missing_parameter("MessageBody"));
    }
    let entry = send_entry(broker, input, String::new())?;
    broker.read(|engine, _| engine.check_send(&queue, &entry))?;
    #[cfg(feature = "failpoints")]
    if crate::failpoints::enabled(crate::failpoints::ACK_BEFORE_COMMIT) {
        return Ok(acknowledge_before_commit(broker, queue, entry));
    }
    let Reply::Sent(result) = broker.propose(Command::SendMessage { queue, entry }).await? else {
        return Err(unexpected("SendMessage"));
    };
    Ok(Value::Object(send_result_json(&result)))
}

/// The `ack-before-commit` failpoint: answers as if the send were committed and proposes it in
/// the background, where it may fail unseen.
#[cfg(feature = "failpoints")]
fn acknowledge_before_commit(broker: &Broker, queue: String, entry: SendEntry) -> Value {
    let result = SendResult {
        message_id: entry.message_id.clone(),
        md5_of_body: shoal_engine::message::md5_hex(entry.body.as_bytes()),
        md5_of_attributes: md5_of_attributes(&entry.attributes),
        md5_of_system_attributes: md5_of_attributes(&entry.system_attributes),
        sequence_number: None,
    };
    let broker = broker.clone();
    tokio::spawn(async move {
        if let Err(error) = broker.propose(Command::SendMessage { queue, entry }).await {
            tracing::warn!(message = %error.message, "failpoint ack-before-commit: an acknowledged send was not committed");
        }
    });
    Value::Object(send_result_json(&result))
}

pub async fn send_message_batch(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let mut entries = Vec::new();
    for entry in input.objects("Entries")? {
        let id = entry.string("Id")?.unwrap_or_default();
        entries.push(send_entry(broker, &entry, id)?);
    }
    broker.read(|engine, _| engine.check_send_batch(&queue, &entries))?;
    let Reply::SentBatch(reply) = broker.propose(Command::SendMessageBatch { queue, entries }).await? else {
        return Err(unexpected("SendMessageBatch"));
    };
    Ok(batch_json(&reply, |id, result| {
        let mut entry = send_result_json(result);
        entry.insert("Id".into(), json!(id));
        entry
    }))
}

/// Which attributes a ReceiveMessage asked to see.
struct Selection {
    system: Vec<String>,
    message: Vec<String>,
}

impl Selection {
    fn wants_system(&self, name: &str) -> bool {
        self.system.iter().any(|wanted| wanted == "All" || wanted == name)
    }

    fn wants_message(&self, name: &str) -> bool {
        self.message.iter().any(|wanted| {
            if wanted == "All" || wanted == ".*" {
                return true;
            }
            match wanted.strip_suffix(".*") {
                Some(prefix) => name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
                None => wanted == name,
            }
        })
    }
}

fn received_json(message: &ReceivedMessage, selection: &Selection) -> Value {
    let mut reply = Map::new();
    reply.insert("MessageId".into(), json!(message.message_id));
    reply.insert("ReceiptHandle".into(), json!(message.receipt_handle));
    reply.insert("MD5OfBody".into(), json!(message.md5_of_body));
    reply.insert("Body".into(), json!(message.body));
    let system: Map<String, Value> = message
        .system_attributes
        .iter()
        .filter(|(name, _)| selection.wants_system(name))
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    if !system.is_empty() {
        reply.insert("Attributes".into(), Value::Object(system));
    }
    let chosen: MessageAttributes = message
        .attributes
        .iter()
        .filter(|(name, _)| selection.wants_message(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Some(md5) = md5_of_attributes(&chosen) {
        reply.insert("MD5OfMessageAttributes".into(), json!(md5));
        let attributes: Map<String, Value> = chosen
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
        reply.insert("MessageAttributes".into(), Value::Object(attributes));
    }
    Value::Object(reply)
}

pub async fn receive_message(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let max_messages = input.bounded("MaxNumberOfMessages", 1, i64::from(limits::RECEIVE_MESSAGES_MAX))?.unwrap_or(1);
    let visibility_timeout_seconds =
        input.bounded("VisibilityTimeout", 0, i64::from(limits::VISIBILITY_TIMEOUT_SECONDS_MAX))?;
    let wait = input.bounded("WaitTimeSeconds", 0, i64::from(limits::WAIT_TIME_SECONDS_MAX))?;
    let mut system = input.string_list("AttributeNames")?;
    system.extend(input.string_list("MessageSystemAttributeNames")?);
    let selection = Selection { system, message: input.string_list("MessageAttributeNames")? };
    let receive_request_attempt_id = input.string("ReceiveRequestAttemptId")?;
    let queue_wait = broker.read(|engine, _| engine.queue(&queue).map(|q| q.config.wait_time_seconds))?;
    let request = ReceiveRequest { max_messages, visibility_timeout_seconds, receive_request_attempt_id };
    let messages = broker.receive(&queue, request, wait.unwrap_or(queue_wait)).await?;
    let messages: Vec<Value> = messages.iter().map(|m| received_json(m, &selection)).collect();
    if messages.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Messages": messages }))
}

pub async fn delete_message(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let receipt_handle = input.required_string("ReceiptHandle")?;
    ReceiptHandle::decode(&receipt_handle)?;
    broker.propose(Command::DeleteMessage { queue, receipt_handle }).await?;
    Ok(json!({}))
}

pub async fn delete_message_batch(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let mut entries = Vec::new();
    for entry in input.objects("Entries")? {
        let id = entry.string("Id")?.unwrap_or_default();
        entries.push(DeleteEntry { id, receipt_handle: entry.required_string("ReceiptHandle")? });
    }
    let Reply::DeletedBatch(reply) = broker.propose(Command::DeleteMessageBatch { queue, entries }).await? else {
        return Err(unexpected("DeleteMessageBatch"));
    };
    Ok(batch_json(&reply, |id, _| id_only(id)))
}

fn visibility_timeout(input: &Input<'_>) -> Result<u32, ApiError> {
    input
        .bounded("VisibilityTimeout", 0, i64::from(limits::VISIBILITY_TIMEOUT_SECONDS_MAX))?
        .ok_or_else(|| ApiError::missing_parameter("VisibilityTimeout"))
}

pub async fn change_message_visibility(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let receipt_handle = input.required_string("ReceiptHandle")?;
    ReceiptHandle::decode(&receipt_handle)?;
    let visibility_timeout_seconds = visibility_timeout(input)?;
    let command = Command::ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds };
    broker.propose(command).await?;
    Ok(json!({}))
}

pub async fn change_message_visibility_batch(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let mut entries = Vec::new();
    for entry in input.objects("Entries")? {
        let id = entry.string("Id")?.unwrap_or_default();
        let receipt_handle = entry.required_string("ReceiptHandle")?;
        // Only the type is checked here; the range is checked per entry by the engine.
        let visibility_timeout_seconds = entry
            .bounded("VisibilityTimeout", 0, i64::from(u32::MAX))?
            .ok_or_else(|| ApiError::missing_parameter("VisibilityTimeout"))?;
        entries.push(VisibilityEntry { id, receipt_handle, visibility_timeout_seconds });
    }
    let command = Command::ChangeMessageVisibilityBatch { queue, entries };
    let Reply::ChangedBatch(reply) = broker.propose(command).await? else {
        return Err(unexpected("ChangeMessageVisibilityBatch"));
    };
    Ok(batch_json(&reply, |id, _| id_only(id)))
}

pub async fn start_message_move_task(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let source_arn = input.required_string("SourceArn")?;
    let destination_arn = input.string("DestinationArn")?;
    let rate_per_second = input.bounded("MaxNumberOfMessagesPerSecond", 1, i64::from(limits::MOVE_TASK_RATE_MAX))?;
    let sources_elsewhere = input.members().get(super::SOURCES_ELSEWHERE).and_then(Value::as_bool).unwrap_or(false);
    let command = Command::StartMessageMoveTask { source_arn, destination_arn, rate_per_second, sources_elsewhere };
    let Reply::MoveTaskStarted { task_handle } = broker.propose(command).await? else {
        return Err(unexpected("StartMessageMoveTask"));
    };
    Ok(json!({ "TaskHandle": task_handle }))
}

pub async fn cancel_message_move_task(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let task_handle = input.required_string("TaskHandle")?;
    let Reply::MoveTaskCancelled { approximate_number_of_messages_moved } =
        broker.propose(Command::CancelMessageMoveTask { task_handle }).await?
    else {
        return Err(unexpected("CancelMessageMoveTask"));
    };
    Ok(json!({ "ApproximateNumberOfMessagesMoved": approximate_number_of_messages_moved }))
}

pub fn list_message_move_tasks(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let source_arn = input.required_string("SourceArn")?;
    let max = input.bounded("MaxResults", 1, i64::from(limits::MOVE_TASKS_LISTED_MAX))?;
    let tasks = broker.read(|engine, _| engine.list_message_move_tasks(&source_arn, max))?;
    let results: Vec<Value> = tasks
        .iter()
        .map(|task| {
            let mut entry = Map::new();
            if task.status == shoal_engine::dlq::MoveTaskStatus::Running {
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
        })
        .collect();
    Ok(json!({ "Results": results }))
}

/// Outbox entries as they travel between nodes: bincode (JSON numbers cannot carry the
/// engine's 128-bit ids), in base64 inside the JSON request.
pub fn encode_outbox_entries(entries: &[OutboxEntry]) -> Result<String, ApiError> {
    let bytes = bincode::serde::encode_to_vec(entries, bincode::config::standard())
        .map_err(|e| ApiError::internal(format!("encoding outbox entries: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn decode_outbox_entries(text: &str) -> Result<Vec<OutboxEntry>, ApiError> {
    let invalid = |e: String| ApiError::invalid_parameter(format!("value for parameter Entries is invalid: {e}"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| invalid(e.to_string()))?;
    let (entries, _) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).map_err(|e| invalid(e.to_string()))?;
    Ok(entries)
}

/// Takes a batch of another group's outbox into this group (node to node only).
pub async fn import_messages(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let source_group = input
        .bounded("SourceGroup", 1, i64::from(u32::MAX))?
        .ok_or_else(|| ApiError::missing_parameter("SourceGroup"))?;
    let entries = decode_outbox_entries(&input.required_string("Entries")?)?;
    let Reply::Imported { refused } = broker.propose(Command::ImportMessages { source_group, entries }).await? else {
        return Err(unexpected("ImportMessages"));
    };
    Ok(json!({ "Refused": refused }))
}
