//! The SQS API: one typed handler per action over the JSON 1.0 request shape. The Query
//! protocol reaches the same handlers through `query::form_to_json` and leaves through
//! `xml::json_to_xml_response`.

mod input;
mod messages;
pub mod query;
mod query_model;
mod queues;
pub mod xml;

use std::borrow::Cow;
use std::time::Duration;

use serde_json::{Map, Value};
use shoal_engine::SqsError;
use shoal_raft::GroupId;

use crate::broker::Broker;
use crate::cluster::Cluster;
use crate::error::ApiError;

pub use input::Input;
pub use messages::encode_outbox_entries;

/// Where a request came in, to build queue URLs the client can reach.
pub struct RequestContext {
    /// `http://host:port` as the client addressed us.
    pub base_url: String,
}

pub const ACTIONS: [&str; 23] = [
    "CreateQueue",
    "DeleteQueue",
    "GetQueueUrl",
    "ListQueues",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "PurgeQueue",
    "AddPermission",
    "RemovePermission",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
];

/// Actions that only read: on the leader they first confirm, through a quorum, that its state
/// is current (a read index), so a deposed leader cannot answer from stale state.
const READ_ACTIONS: [&str; 4] = ["GetQueueUrl", "GetQueueAttributes", "ListQueueTags", "ListMessageMoveTasks"];

/// Runs one request in the cluster: on the leader of the queue's group (here or one hop
/// away), or across every group for ListQueues.
pub async fn dispatch(
    cluster: &Cluster,
    context: &RequestContext,
    action: &str,
    members: &Map<String, Value>,
) -> Result<Value, ApiError> {
    if !ACTIONS.contains(&action) {
        return Err(ApiError::invalid_action(action));
    }
    // Members a node adds for another node are never taken from a client. Copied only when
    // something must be removed or added, not for every request.
    let mut members = Cow::Borrowed(members);
    if members.keys().any(|name| name.starts_with(INTERNAL_MEMBER_PREFIX)) {
        members.to_mut().retain(|name, _| !name.starts_with(INTERNAL_MEMBER_PREFIX));
    }
    let input = Input::new(&members);
    match action {
        "ListQueues" => return queues::list_queues(cluster, context, &input).await,
        "ListDeadLetterSourceQueues" => return queues::list_dead_letter_source_queues(cluster, context, &input).await,
        _ => {}
    }
    let group = route(cluster, action, &input)?;
    match action {
        "CreateQueue" | "SetQueueAttributes" => check_remote_dead_letter_target(cluster, group, &input).await?,
        "StartMessageMoveTask" if check_move_task_elsewhere(cluster, group, &input).await? => {
            members.to_mut().insert(SOURCES_ELSEWHERE.to_string(), Value::Bool(true));
        }
        _ => {}
    }
    cluster.run(group, context, action, &members).await
}

/// Request members and actions only nodes use among themselves start with this.
const INTERNAL_MEMBER_PREFIX: &str = "Shoal";
/// Set on a StartMessageMoveTask when queues of other groups use its source as dead-letter queue.
pub const SOURCES_ELSEWHERE: &str = "ShoalSourcesElsewhere";
/// The node-to-node action that hands a batch of another group's outbox to its target group.
pub const IMPORT_ACTION: &str = "Shoal.ImportMessages";

/// The data group a request belongs to, from the queue it names.
fn route(cluster: &Cluster, action: &str, input: &Input<'_>) -> Result<GroupId, ApiError> {
    let queue = match action {
        "CreateQueue" | "GetQueueUrl" => input.required_string("QueueName")?,
        "StartMessageMoveTask" | "ListMessageMoveTasks" => {
            queue_name_from_arn(&input.required_string("SourceArn")?).unwrap_or_default()
        }
        "CancelMessageMoveTask" => {
            let handle = input.required_string("TaskHandle")?;
            handle.split_once(':').and_then(|(_, arn)| queue_name_from_arn(arn)).unwrap_or_default()
        }
        _ => queue_name_from_url(&input.required_string("QueueUrl")?, &cluster.account_id)?,
    };
    Ok(cluster.group_of(&queue))
}

/// A redrive policy naming a dead-letter queue in another group is checked against that
/// group's current state (the engine of this group cannot see it): the queue exists, is of
/// the same kind, and its redrive allow policy lets this queue in.
async fn check_remote_dead_letter_target(cluster: &Cluster, group: GroupId, input: &Input<'_>) -> Result<(), ApiError> {
    let attributes = input.string_map("Attributes")?;
    let Some(policy) = attributes.get("RedrivePolicy") else {
        return Ok(());
    };
    let Some(target) = serde_json::from_str::<Value>(policy)
        .ok()
        .and_then(|policy| policy.get("deadLetterTargetArn").and_then(Value::as_str).and_then(queue_name_from_arn))
    else {
        return Ok(()); // the engine explains what is wrong with the policy
    };
    let target_group = cluster.group_of(&target);
    if target_group == group {
        return Ok(());
    }
    let source = match input.string("QueueName")? {
        Some(name) => name,
        None => queue_name_from_url(&input.required_string("QueueUrl")?, &cluster.account_id)?,
    };
    cluster.read_index(target_group).await?;
    let source_arn = cluster.broker(group).read(|engine, _| engine.queue_arn(&source));
    // A FIFO queue's name ends in .fifo, so the kind is known before the queue exists.
    let source_fifo = source.ends_with(".fifo");
    cluster
        .broker(target_group)
        .read(|engine, _| engine.check_dead_letter_target(&target, &source_arn, source_fifo))?;
    Ok(())
}

/// For StartMessageMoveTask: checks a destination in another group against that group, and
/// tells whether queues of other groups use the source as their dead-letter queue.
async fn check_move_task_elsewhere(cluster: &Cluster, group: GroupId, input: &Input<'_>) -> Result<bool, ApiError> {
    let source_arn = input.required_string("SourceArn")?;
    let source_fifo = source_arn.ends_with(".fifo");
    if let Some(destination) = input.string("DestinationArn")?.as_deref().and_then(queue_name_from_arn) {
        let destination_group = cluster.group_of(&destination);
        if destination_group != group {
            cluster.read_index(destination_group).await?;
            let fifo =
                cluster.broker(destination_group).read(|engine, _| engine.queue(&destination).map(|q| q.is_fifo()));
            match fifo {
                Err(_) => {
                    return Err(ApiError::from(SqsError::ResourceNotFound(
                        "the destination queue does not exist".to_string(),
                    )))
                }
                Ok(fifo) if fifo != source_fifo => {
                    return Err(ApiError::invalid_parameter(
                        "the destination queue must be of the same type (fifo or standard) as the source queue",
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    for other in cluster.shards.data_group_ids().filter(|g| *g != group) {
        cluster.read_index(other).await?;
        let (sources, _) =
            cluster.broker(other).read(|engine, _| engine.dead_letter_sources_of(&source_arn, None, Some(1)));
        if !sources.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The queue name at the end of `arn:aws:sqs:REGION:ACCOUNT:NAME`.
fn queue_name_from_arn(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 6 && parts[0] == "arn" && !parts[5].is_empty()).then(|| parts[5].to_string())
}

/// How long a ReceiveMessage may wait, for the deadline of a forwarded request.
pub fn wait_time(members: &Map<String, Value>) -> Duration {
    // Without WaitTimeSeconds the queue's ReceiveMessageWaitTimeSeconds applies, up to the maximum.
    let max = u64::from(shoal_engine::limits::WAIT_TIME_SECONDS_MAX);
    let seconds = members.get("WaitTimeSeconds").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    Duration::from_secs(seconds.unwrap_or(max).min(max))
}

/// Runs a request on this node, which leads the group of `broker`.
pub async fn dispatch_local(
    broker: &Broker,
    context: &RequestContext,
    action: &str,
    members: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let input = Input::new(members);
    if READ_ACTIONS.contains(&action) {
        broker.linearize().await?;
    } else {
        // A new leader first applies everything its predecessors committed, so the checks
        // made against its state before proposing are not stale.
        broker.linearize_once_per_term().await?;
    }
    match action {
        "CreateQueue" => queues::create_queue(broker, context, &input).await,
        "DeleteQueue" => queues::delete_queue(broker, &input).await,
        "GetQueueUrl" => queues::get_queue_url(broker, context, &input),
        "GetQueueAttributes" => queues::get_queue_attributes(broker, &input),
        "SetQueueAttributes" => queues::set_queue_attributes(broker, &input).await,
        "TagQueue" => queues::tag_queue(broker, &input).await,
        "UntagQueue" => queues::untag_queue(broker, &input).await,
        "ListQueueTags" => queues::list_queue_tags(broker, &input),
        "PurgeQueue" => queues::purge_queue(broker, &input).await,
        "AddPermission" => queues::add_permission(broker, &input).await,
        "RemovePermission" => queues::remove_permission(broker, &input).await,
        "SendMessage" => messages::send_message(broker, &input).await,
        "SendMessageBatch" => messages::send_message_batch(broker, &input).await,
        "ReceiveMessage" => messages::receive_message(broker, &input).await,
        "DeleteMessage" => messages::delete_message(broker, &input).await,
        "DeleteMessageBatch" => messages::delete_message_batch(broker, &input).await,
        "ChangeMessageVisibility" => messages::change_message_visibility(broker, &input).await,
        "ChangeMessageVisibilityBatch" => messages::change_message_visibility_batch(broker, &input).await,
        "StartMessageMoveTask" => messages::start_message_move_task(broker, &input).await,
        "CancelMessageMoveTask" => messages::cancel_message_move_task(broker, &input).await,
        "ListMessageMoveTasks" => messages::list_message_move_tasks(broker, &input),
        IMPORT_ACTION => messages::import_messages(broker, &input).await,
        _ => Err(ApiError::invalid_action(action)),
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
            "value {url} for parameter QueueUrl is invalid: not a queue url"
        )));
    };
    if account != account_id || name.is_empty() {
        return Err(ApiError::from(SqsError::QueueDoesNotExist));
    }
    Ok(name.to_string())
}

/// The queue a request is about, from its `QueueUrl` member. It must exist: a request for a
/// missing queue is refused here, before anything is written to the log.
pub fn queue_of(broker: &Broker, input: &Input) -> Result<String, ApiError> {
    let url = input.required_string("QueueUrl")?;
    let name = queue_name_from_url(&url, &broker.account_id)?;
    broker.read(|engine, _| engine.queue(&name).map(|_| ()))?;
    Ok(name)
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
