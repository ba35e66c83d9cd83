//! Queue administration actions, on the node that leads the queue's group (ListQueues and
//! ListDeadLetterSourceQueues gather every group: see `route`).

use shoal_engine::{Command, SqsError};

use super::reply::SqsReply;
use super::request::{
    AddPermission, AttributeNames, CreateQueue, GetQueueUrl, QueueMap, QueueName, RemovePermission, UntagQueue,
};
use crate::error::ApiError;
use shoal_cluster::Broker;

/// The queue a request is about. It must exist: a request for a missing queue is refused here,
/// before anything is written to the log.
pub fn queue_of(broker: &Broker, queue: QueueName) -> Result<String, ApiError> {
    broker.read(|engine, _| engine.queue(&queue.0).map(|_| ()))?;
    Ok(queue.0)
}

pub async fn create_queue(broker: &Broker, request: CreateQueue) -> Result<SqsReply, ApiError> {
    let CreateQueue { name, attributes, tags } = request;
    broker.read(|engine, _| engine.check_create_queue(&name, &attributes))?;
    broker.propose(Command::CreateQueue { name: name.clone(), attributes, tags }).await?;
    Ok(SqsReply::QueueUrl(name))
}

pub async fn delete_queue(broker: &Broker, queue: QueueName) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, queue)?;
    broker.propose(Command::DeleteQueue { queue }).await?;
    Ok(SqsReply::Empty)
}

pub fn get_queue_url(broker: &Broker, request: GetQueueUrl) -> Result<SqsReply, ApiError> {
    if request.owner_account_id.is_some_and(|owner| owner != broker.account_id) {
        return Err(ApiError::from(SqsError::QueueDoesNotExist));
    }
    broker.read(|engine, _| engine.queue(&request.name).map(|_| ()))?;
    Ok(SqsReply::QueueUrl(request.name))
}

pub fn get_queue_attributes(broker: &Broker, request: AttributeNames) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    let attributes = broker.read(|engine, now| engine.queue_attributes(&queue, &request.names, now))?;
    Ok(SqsReply::Attributes(attributes))
}

pub async fn set_queue_attributes(broker: &Broker, request: QueueMap) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    if request.map.is_empty() {
        return Err(ApiError::missing_parameter("Attributes"));
    }
    broker.propose(Command::SetQueueAttributes { queue, attributes: request.map }).await?;
    Ok(SqsReply::Empty)
}

pub async fn tag_queue(broker: &Broker, request: QueueMap) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    if request.map.is_empty() {
        return Err(ApiError::missing_parameter("Tags"));
    }
    broker.propose(Command::TagQueue { queue, tags: request.map }).await?;
    Ok(SqsReply::Empty)
}

pub async fn untag_queue(broker: &Broker, request: UntagQueue) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    if request.keys.is_empty() {
        return Err(ApiError::missing_parameter("TagKeys"));
    }
    broker.propose(Command::UntagQueue { queue, keys: request.keys }).await?;
    Ok(SqsReply::Empty)
}

pub fn list_queue_tags(broker: &Broker, queue: QueueName) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, queue)?;
    let tags = broker.read(|engine, _| engine.queue(&queue).map(|q| q.tags.clone()))?;
    Ok(SqsReply::Tags(tags))
}

pub async fn purge_queue(broker: &Broker, queue: QueueName) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, queue)?;
    broker.propose(Command::PurgeQueue { queue }).await?;
    Ok(SqsReply::Empty)
}

pub async fn add_permission(broker: &Broker, request: AddPermission) -> Result<SqsReply, ApiError> {
    let AddPermission { queue, label, account_ids, actions } = request;
    let queue = queue_of(broker, queue)?;
    broker.propose(Command::AddPermission { queue, label, account_ids, actions }).await?;
    Ok(SqsReply::Empty)
}

pub async fn remove_permission(broker: &Broker, request: RemovePermission) -> Result<SqsReply, ApiError> {
    let queue = queue_of(broker, request.queue)?;
    broker.propose(Command::RemovePermission { queue, label: request.label }).await?;
    Ok(SqsReply::Empty)
}
