//! The SQS API: one typed handler per action over the JSON 1.0 request shape. The Query
//! protocol reaches the same handlers through `query::form_to_json` and leaves through
//! `xml::json_to_xml_response`.

mod input;
mod messages;
pub mod query;
mod query_model;
mod queues;
pub mod xml;

use serde_json::{Map, Value};

use crate::broker::Broker;
use crate::error::ApiError;
use shoal_engine::SqsError;

pub use input::Input;

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

pub async fn dispatch(
    broker: &Broker,
    context: &RequestContext,
    action: &str,
    members: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let input = Input::new(members);
    match action {
        "CreateQueue" => queues::create_queue(broker, context, &input).await,
        "DeleteQueue" => queues::delete_queue(broker, &input).await,
        "GetQueueUrl" => queues::get_queue_url(broker, context, &input),
        "ListQueues" => queues::list_queues(broker, context, &input),
        "GetQueueAttributes" => queues::get_queue_attributes(broker, &input),
        "SetQueueAttributes" => queues::set_queue_attributes(broker, &input).await,
        "TagQueue" => queues::tag_queue(broker, &input).await,
        "UntagQueue" => queues::untag_queue(broker, &input).await,
        "ListQueueTags" => queues::list_queue_tags(broker, &input),
        "PurgeQueue" => queues::purge_queue(broker, &input).await,
        "AddPermission" => queues::add_permission(broker, &input).await,
        "RemovePermission" => queues::remove_permission(broker, &input).await,
        "ListDeadLetterSourceQueues" => queues::list_dead_letter_source_queues(broker, context, &input),
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
        let check = |url: &str| queue_name_from_url(url, "000000000000").map_err(|e| e.code);
        assert_eq!(check("http://localhost:9324/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo/"), Ok("q.fifo".to_string()));
        assert_eq!(check("/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("http://localhost:9324/111111111111/q1"), Err("QueueDoesNotExist"));
        assert_eq!(check("http://localhost:9324/"), Err("InvalidParameterValue"));
        assert_eq!(check("http://localhost:9324/a/b/c"), Err("InvalidParameterValue"));
    }
}
