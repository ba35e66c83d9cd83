//! The SQS API: requests parsed once into their types (`request`, with `input`), routed by
//! the node the client called to the leader of the queue's group or to every group (`route`,
//! which asks other groups through `peer`), run there by one handler per action (`queues`,
//! `messages`, reached through `dispatch_local`), replies as types (`reply`) rendered as JSON
//! 1.0 or, through `xml`, as Query XML. The Query protocol reaches the same parser through
//! `query::form_to_json` with SQS's model (`query_model`). The modules use each other
//! directly, never through this file.

mod input;
mod messages;
pub mod peer;
pub mod query_model;
mod queues;
pub mod reply;
pub mod request;
mod route;

use shoal_cluster::Broker;

use crate::error::ApiError;

pub use input::Input;
pub use reply::{RequestContext, SqsReply};
pub use request::{ActionKind, SqsAction, SqsRequest};
pub use route::dispatch;

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
