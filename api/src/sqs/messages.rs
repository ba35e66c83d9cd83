//! Message actions, on the node that leads the queue's group: send, receive, delete, change
//! visibility, and dead-letter move tasks.

use shoal_engine::command::{DeleteEntry, ReceiveRequest, ReceivedMessage, SendEntry, VisibilityEntry};
use shoal_engine::message::MessageAttributes;
use shoal_engine::queue::ReceiptHandle;
use shoal_engine::{Command, Reply};

use super::queues::queue_of;
use super::reply::SqsReply;
use super::request::{
    ChangeMessageVisibility, DeleteMessage, HandleBatch, ListMessageMoveTasks, ReceiveMessage, SendMessage,
    SendMessageBatch, SendRequestEntry, SqsAction, StartMessageMoveTask,
};
use crate::error::ApiError;
use shoal_cluster::Broker;

fn unexpected(action: SqsAction) -> ApiError {
    ApiError::internal(format!("unexpected reply to {}", action.name()))
}

/// The engine's form of a message to send: the message id is chosen here, outside the engine.
fn send_entry(broker: &Broker, entry: SendRequestEntry) -> SendEntry {
    SendEntry {
        id: entry.id,
        message_id: uuid::Uuid::new_v4().to_string(),
        body: entry.body.unwrap_or_default(),
        delay_seconds: entry.delay_seconds,
        attributes: entry.attributes,
        system_attributes: entry.system_attributes,
        deduplication_id: entry.deduplication_id,
        group_id: entry.group_id,
        sender_id: broker.account_id.clone(),
    }
}

pub async fn send_message(broker: &Broker, request: SendMessage) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    if request.entry.body.is_none() {
        return Err(ApiError::missing_parameter("MessageBody"));
    }
    let entry = send_entry(broker, request.entry);
    broker.read(|engine, _| engine.check_send(&queue, &entry))?;
    broker.admit_send(&queue).await?;
    #[cfg(feature = "failpoints")]
    if crate::failpoints::enabled(crate::failpoints::ACK_BEFORE_COMMIT) {
        return Ok(acknowledge_before_commit(broker, queue, entry));
    }
    let Reply::Sent(result) = broker.propose(Command::SendMessage { queue, entry }).await? else {
        return Err(unexpected(SqsAction::SendMessage));
    };
    Ok(SqsReply::Sent(result))
}

/// The `ack-before-commit` failpoint: answers as if the send were committed and proposes it in
/// the background, where it may fail unseen.
#[cfg(feature = "failpoints")]
fn acknowledge_before_commit(broker: &Broker, queue: String, entry: SendEntry) -> SqsReply {
    use shoal_engine::message::md5_of_attributes;
    let result = shoal_engine::command::SendResult {
        message_id: entry.message_id.clone(),
        md5_of_body: shoal_engine::message::md5_hex(entry.body.as_bytes()),
        md5_of_attributes: md5_of_attributes(&entry.attributes),
        md5_of_system_attributes: md5_of_attributes(&entry.system_attributes),
        sequence_number: None,
    };
    let broker = broker.clone();
    tokio::spawn(async move {
        if let Err(error) = broker.propose(Command::SendMessage { queue, entry }).await {
            tracing::warn!(%error, "failpoint ack-before-commit: an acknowledged send was not committed");
        }
    });
    SqsReply::Sent(result)
}

pub async fn send_message_batch(broker: &Broker, request: SendMessageBatch) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    let entries: Vec<SendEntry> = request.entries.into_iter().map(|entry| send_entry(broker, entry)).collect();
    broker.read(|engine, _| engine.check_send_batch(&queue, &entries))?;
    broker.admit_send(&queue).await?;
    let Reply::SentBatch(reply) = broker.propose(Command::SendMessageBatch { queue, entries }).await? else {
        return Err(unexpected(SqsAction::SendMessageBatch));
    };
    Ok(SqsReply::SentBatch(reply))
}

/// Which attributes a ReceiveMessage asked to see.
struct Selection<'a> {
    system: &'a [String],
    message: &'a [String],
}

impl Selection<'_> {
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

    /// The message with only the attributes asked for.
    fn choose(&self, mut message: ReceivedMessage) -> ReceivedMessage {
        message.system_attributes.retain(|name, _| self.wants_system(name));
        let chosen: MessageAttributes =
            message.attributes.into_iter().filter(|(name, _)| self.wants_message(name)).collect();
        message.attributes = chosen;
        message
    }
}

pub async fn receive_message(broker: &Broker, request: ReceiveMessage) -> Result<SqsReply, ApiError> {
    let ReceiveMessage {
        queue,
        max_messages,
        visibility_timeout_seconds,
        wait_time_seconds,
        system_attribute_names,
        message_attribute_names,
        receive_request_attempt_id,
    } = request;
    let queue = queue_of(broker, queue)?;
    let queue_wait = broker.read(|engine, _| engine.queue(&queue).map(|q| q.config.wait_time_seconds))?;
    let request = ReceiveRequest { max_messages, visibility_timeout_seconds, receive_request_attempt_id };
    let messages = broker.receive(&queue, request, wait_time_seconds.unwrap_or(queue_wait)).await?;
    let selection = Selection { system: &system_attribute_names, message: &message_attribute_names };
    Ok(SqsReply::Received(messages.into_iter().map(|message| selection.choose(message)).collect()))
}

pub async fn delete_message(broker: &Broker, request: DeleteMessage) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    ReceiptHandle::decode(&request.receipt_handle)?;
    broker.propose(Command::DeleteMessage { queue, receipt_handle: request.receipt_handle }).await?;
    Ok(SqsReply::Empty)
}

pub async fn delete_message_batch(broker: &Broker, request: HandleBatch) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    let entries = request
        .entries
        .into_iter()
        .map(|entry| DeleteEntry { id: entry.id, receipt_handle: entry.receipt_handle })
        .collect();
    let Reply::DeletedBatch(reply) = broker.propose(Command::DeleteMessageBatch { queue, entries }).await? else {
        return Err(unexpected(SqsAction::DeleteMessageBatch));
    };
    Ok(SqsReply::Batch(reply))
}

pub async fn change_message_visibility(
    broker: &Broker,
    request: ChangeMessageVisibility,
) -> Result<SqsReply, ApiError> {
    let ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds } = request;
    let queue = queue_of(broker, queue)?;
    ReceiptHandle::decode(&receipt_handle)?;
    let command = Command::ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds };
    broker.propose(command).await?;
    Ok(SqsReply::Empty)
}

pub async fn change_message_visibility_batch(broker: &Broker, request: HandleBatch) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    let entries = request
        .entries
        .into_iter()
        .map(|entry| VisibilityEntry {
            id: entry.id,
            receipt_handle: entry.receipt_handle,
            visibility_timeout_seconds: entry.visibility_timeout_seconds,
        })
        .collect();
    let command = Command::ChangeMessageVisibilityBatch { queue, entries };
    let Reply::ChangedBatch(reply) = broker.propose(command).await? else {
        return Err(unexpected(SqsAction::ChangeMessageVisibilityBatch));
    };
    Ok(SqsReply::Batch(reply))
}

pub async fn start_message_move_task(broker: &Broker, request: StartMessageMoveTask) -> Result<SqsReply, ApiError> {
    let StartMessageMoveTask { source_arn, destination_arn, rate_per_second, sources_elsewhere } = request;
    let command = Command::StartMessageMoveTask { source_arn, destination_arn, rate_per_second, sources_elsewhere };
    let Reply::MoveTaskStarted { task_handle } = broker.propose(command).await? else {
        return Err(unexpected(SqsAction::StartMessageMoveTask));
    };
    Ok(SqsReply::MoveTaskStarted(task_handle))
}

pub async fn cancel_message_move_task(broker: &Broker, task_handle: String) -> Result<SqsReply, ApiError> {
    let Reply::MoveTaskCancelled { approximate_number_of_messages_moved } =
        broker.propose(Command::CancelMessageMoveTask { task_handle }).await?
    else {
        return Err(unexpected(SqsAction::CancelMessageMoveTask));
    };
    Ok(SqsReply::MoveTaskCancelled(approximate_number_of_messages_moved))
}

pub fn list_message_move_tasks(broker: &Broker, request: ListMessageMoveTasks) -> Result<SqsReply, ApiError> {
    let tasks = broker.read(|engine, _| engine.list_message_move_tasks(&request.source_arn, request.max_results))?;
    Ok(SqsReply::MoveTasks(tasks))
}
