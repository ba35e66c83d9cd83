//! The SQS API: requests parsed once into their types (`request`), run by one handler per
//! action on the leader of the queue's group (`queues`, `messages`), replies as types
//! (`reply`) rendered as JSON 1.0 or, through `xml`, as Query XML. The Query protocol reaches
//! the same parser through `query::form_to_json`.

mod input;
mod messages;
pub mod peer;
pub mod query_model;
mod queues;
pub mod reply;
pub mod request;

use serde_json::{Map, Value};
use shoal_engine::SqsError;
use shoal_raft::GroupId;

use crate::error::ApiError;
use crate::service::ApiCluster as Cluster;
use crate::service::{self as service, ApiReply, ApiRequest};
use shoal_cluster::Broker;

pub use input::Input;
pub use reply::SqsReply;
pub use request::{ActionKind, SqsAction, SqsRequest};

use peer::{SqsAnswer, SqsQuery};
use request::{queue_name_from_arn, Page, QueueName, Routing};

/// Where a request came in, to build queue URLs the client can reach.
pub struct RequestContext {
    /// `http://host:port` as the client addressed us.
    pub base_url: String,
}

/// Runs one request in the cluster: on the leader of the queue's group (here or one hop
/// away), or across every group for ListQueues and ListDeadLetterSourceQueues. Returns the
/// JSON 1.0 response object.
pub async fn dispatch(
    cluster: &Cluster,
    context: &RequestContext,
    action: SqsAction,
    members: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let mut request = SqsRequest::parse(action, members, &cluster.account_id)?;
    let reply = match request.routing() {
        Routing::EveryGroup => match &request {
            SqsRequest::ListQueues(list) => queues::list_queues(cluster, list).await?,
            SqsRequest::ListDeadLetterSourceQueues(list) => {
                queues::list_dead_letter_source_queues(cluster, list).await?
            }
            other => return Err(ApiError::internal(format!("{:?} is not routed to every group", other.action()))),
        },
        Routing::Queue(name) => {
            let group = cluster.group_of(name);
            match &mut request {
                SqsRequest::CreateQueue(create) => {
                    let attributes = &create.attributes;
                    check_remote_dead_letter_target(cluster, group, &create.name, attributes).await?;
                }
                SqsRequest::SetQueueAttributes(set) => {
                    check_remote_dead_letter_target(cluster, group, &set.queue.0, &set.map).await?;
                }
                SqsRequest::StartMessageMoveTask(start) => {
                    start.sources_elsewhere =
                        check_move_task_elsewhere(cluster, group, &start.source_arn, start.destination_arn.as_deref())
                            .await?;
                }
                _ => {}
            }
            match service::call(cluster, group, ApiRequest::Sqs(request)).await? {
                ApiReply::Sqs(reply) => reply,
                other => return Err(ApiError::internal(format!("unexpected reply from group {group}: {other:?}"))),
            }
        }
    };
    Ok(reply.to_json(context, &cluster.account_id))
}

/// A redrive policy naming a dead-letter queue in another group is checked against that
/// group's current state (the engine of this group cannot see it): the queue exists, is of
/// the same kind, and its redrive allow policy lets this queue in.
async fn check_remote_dead_letter_target(
    cluster: &Cluster,
    group: GroupId,
    source: &str,
    attributes: &std::collections::BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let Some(policy) = attributes.get("RedrivePolicy") else {
        return Ok(());
    };
    let Some(target) = serde_json::from_str::<Value>(policy).ok().and_then(|policy| {
        policy.get("deadLetterTargetArn").and_then(Value::as_str).and_then(queue_name_from_arn).map(str::to_string)
    }) else {
        return Ok(()); // the engine explains what is wrong with the policy
    };
    let target_group = cluster.group_of(&target);
    if target_group == group {
        return Ok(());
    }
    let source_arn = peer::queue_arn(cluster, source);
    // A FIFO queue's name ends in .fifo, so the kind is known before the queue exists.
    let source_fifo = source.ends_with(".fifo");
    let query = SqsQuery::DeadLetterTarget { target, source_arn, source_fifo, redrive_policy: policy.clone() };
    peer::expect_fine(peer::ask(cluster, target_group, query).await?)
}

/// For StartMessageMoveTask: checks a destination in another group against that group, and
/// tells whether queues of other groups use the source as their dead-letter queue.
async fn check_move_task_elsewhere(
    cluster: &Cluster,
    group: GroupId,
    source_arn: &str,
    destination_arn: Option<&str>,
) -> Result<bool, ApiError> {
    let source_fifo = source_arn.ends_with(".fifo");
    if let Some(destination) = destination_arn.and_then(queue_name_from_arn) {
        let destination_group = cluster.group_of(destination);
        if destination_group != group {
            let query = SqsQuery::IsFifo { name: destination.to_string() };
            match peer::ask(cluster, destination_group, query).await {
                Err(error) if error.code == "QueueDoesNotExist" => {
                    return Err(ApiError::from(SqsError::ResourceNotFound(
                        "The resource that you specified for the DestinationArn parameter doesn't exist.".to_string(),
                    )))
                }
                Err(error) => return Err(error),
                Ok(SqsAnswer::Fifo(fifo)) if fifo != source_fifo => {
                    return Err(ApiError::invalid_parameter(
                        "The source queue and destination queue must be of the same queue type.",
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    for other in cluster.shards.data_group_ids().filter(|g| *g != group) {
        let page = Page { max_results: Some(1), start_after: None };
        let query = SqsQuery::DeadLetterSources { arn: source_arn.to_string(), page };
        if let SqsAnswer::Names(sources) = peer::ask(cluster, other, query).await? {
            if !sources.names.is_empty() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Runs a request on this node, which leads the group of `broker`.
pub async fn dispatch_local(broker: &Broker, request: SqsRequest) -> Result<SqsReply, ApiError> {
    match request.action().kind() {
        ActionKind::Read => broker.linearize().await?,
        // A new leader first applies everything its predecessors committed, so the checks
        // made against its state before proposing are not stale.
        ActionKind::Write => broker.linearize_once_per_term().await?,
    }
    match request {
        SqsRequest::CreateQueue(request) => queues::create_queue(broker, request).await,
        SqsRequest::DeleteQueue(queue) => queues::delete_queue(broker, queue).await,
        SqsRequest::GetQueueUrl(request) => queues::get_queue_url(broker, request),
        SqsRequest::GetQueueAttributes(request) => queues::get_queue_attributes(broker, request),
        SqsRequest::SetQueueAttributes(request) => queues::set_queue_attributes(broker, request).await,
        SqsRequest::TagQueue(request) => queues::tag_queue(broker, request).await,
        SqsRequest::UntagQueue(request) => queues::untag_queue(broker, request).await,
        SqsRequest::ListQueueTags(queue) => queues::list_queue_tags(broker, queue),
        SqsRequest::PurgeQueue(queue) => queues::purge_queue(broker, queue).await,
        SqsRequest::AddPermission(request) => queues::add_permission(broker, request).await,
        SqsRequest::RemovePermission(request) => queues::remove_permission(broker, request).await,
        SqsRequest::SendMessage(request) => messages::send_message(broker, request).await,
        SqsRequest::SendMessageBatch(request) => messages::send_message_batch(broker, request).await,
        SqsRequest::ReceiveMessage(request) => messages::receive_message(broker, request).await,
        SqsRequest::DeleteMessage(request) => messages::delete_message(broker, request).await,
        SqsRequest::DeleteMessageBatch(request) => messages::delete_message_batch(broker, request).await,
        SqsRequest::ChangeMessageVisibility(request) => messages::change_message_visibility(broker, request).await,
        SqsRequest::ChangeMessageVisibilityBatch(request) => {
            messages::change_message_visibility_batch(broker, request).await
        }
        SqsRequest::StartMessageMoveTask(request) => messages::start_message_move_task(broker, request).await,
        SqsRequest::CancelMessageMoveTask(handle) => messages::cancel_message_move_task(broker, handle).await,
        SqsRequest::ListMessageMoveTasks(request) => messages::list_message_move_tasks(broker, request),
        SqsRequest::ListQueues(_) | SqsRequest::ListDeadLetterSourceQueues(_) => {
            Err(ApiError::internal("a listing of every group reached one group"))
        }
    }
}

pub fn queue_url(context: &RequestContext, account_id: &str, name: &str) -> String {
    format!("{}/{account_id}/{name}", context.base_url)
}

/// The queue name in a queue URL `scheme://host/ACCOUNT/NAME` (or just `/ACCOUNT/NAME`).
/// A URL of another account names no queue here.
pub fn queue_name_from_url(url: &str, account_id: &str) -> Result<String, ApiError> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, path)| path).unwrap_or(""),
        None => url.trim_start_matches('/'),
    };
    let mut segments = path.trim_end_matches('/').split('/');
    let (Some(account), Some(name), None) = (segments.next(), segments.next(), segments.next()) else {
        return Err(ApiError::invalid_parameter(format!(
            "Value {url} for parameter QueueUrl is invalid. Reason: Not a queue URL."
        )));
    };
    if account != account_id || name.is_empty() {
        return Err(ApiError::from(SqsError::QueueDoesNotExist));
    }
    Ok(name.to_string())
}

/// The queue a request is about. It must exist: a request for a missing queue is refused here,
/// before anything is written to the log.
pub fn queue_of(broker: &Broker, queue: QueueName) -> Result<String, ApiError> {
    broker.read(|engine, _| engine.queue(&queue.0).map(|_| ()))?;
    Ok(queue.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_queue_name_from_url_accepts_urls_and_paths() {
        let check = |url: &str| queue_name_from_url(url, "000000000000").map_err(|e| e.code.to_string());
        assert_eq!(check("http://localhost:9324/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo/"), Ok("q.fifo".to_string()));
        assert_eq!(check("/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("http://localhost:9324/111111111111/q1"), Err("QueueDoesNotExist".to_string()));
        assert_eq!(check("http://localhost:9324/"), Err("InvalidParameterValue".to_string()));
        assert_eq!(check("http://localhost:9324/a/b/c"), Err("InvalidParameterValue".to_string()));
    }
}
