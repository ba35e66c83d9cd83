//! The front door's side of an SQS request: where it runs, on the leader of its queue's group
//! (here or one hop away) or across every data group for ListQueues and
//! ListDeadLetterSourceQueues, and the checks that ask another group before a request is
//! proposed (a dead-letter queue or a move task's destination there).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use shoal_engine::{limits, SqsError};
use shoal_raft::GroupId;

use super::peer::{SqsAnswer, SqsQuery};
use super::reply::{NamePage, RequestContext, SqsReply};
use super::request::{
    queue_name_from_arn, ListDeadLetterSourceQueues, ListQueues, Page, Routing, SqsAction, SqsRequest,
};
use crate::error::ApiError;
use crate::service::{self, ApiCluster as Cluster, ApiReply, ApiRequest};

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
            SqsRequest::ListQueues(list) => list_queues(cluster, list).await?,
            SqsRequest::ListDeadLetterSourceQueues(list) => list_dead_letter_source_queues(cluster, list).await?,
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
    attributes: &BTreeMap<String, String>,
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
    let source_arn = queue_arn(cluster, source);
    // A FIFO queue's name ends in .fifo, so the kind is known before the queue exists.
    let source_fifo = source.ends_with(".fifo");
    let query = SqsQuery::DeadLetterTarget { target, source_arn, source_fifo, redrive_policy: policy.clone() };
    expect_fine(ask(cluster, target_group, query).await?)
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
            match ask(cluster, destination_group, query).await {
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
        if let SqsAnswer::Names(sources) = ask(cluster, other, query).await? {
            if !sources.names.is_empty() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// ListQueues gathers every data group: each group's leader answers at its read index (so a
/// queue created before the call is listed), and the pages are merged in name order.
async fn list_queues(cluster: &Cluster, request: &ListQueues) -> Result<SqsReply, ApiError> {
    let prefix = &request.prefix;
    let page =
        gather_pages(cluster, &request.page, |page| SqsQuery::QueueNames { prefix: prefix.clone(), page }).await?;
    Ok(SqsReply::QueueUrls(page))
}

/// ListDeadLetterSourceQueues gathers every data group, like ListQueues: the sources of a
/// dead-letter queue may be in any group.
async fn list_dead_letter_source_queues(
    cluster: &Cluster,
    request: &ListDeadLetterSourceQueues,
) -> Result<SqsReply, ApiError> {
    let queue = &request.queue.0;
    let home = cluster.group_of(queue);
    let SqsAnswer::Arn(arn) = ask(cluster, home, SqsQuery::QueueArn { name: queue.clone() }).await? else {
        return Err(ApiError::internal("a queue's ARN was answered with something else"));
    };
    let page =
        gather_pages(cluster, &request.page, |page| SqsQuery::DeadLetterSources { arn: arn.clone(), page }).await?;
    Ok(SqsReply::DeadLetterSourceQueues(page))
}

/// Asks the leader of `group` (here or one hop away).
async fn ask(cluster: &Cluster, group: GroupId, query: SqsQuery) -> Result<SqsAnswer, ApiError> {
    match service::call(cluster, group, ApiRequest::SqsQuery(query)).await? {
        ApiReply::SqsAnswer(answer) => Ok(answer),
        other => Err(ApiError::internal(format!("unexpected answer from group {group}: {other:?}"))),
    }
}

/// A page of names from every data group (asked all at once), merged in name order into one
/// page of at most `max_results` names (the default maximum without).
async fn gather_pages(
    cluster: &Cluster,
    page: &Page,
    query_of: impl Fn(Page) -> SqsQuery,
) -> Result<NamePage, ApiError> {
    let asks = cluster.shards.data_group_ids().map(|group| {
        let query = query_of(page.clone());
        async move {
            match ask(cluster, group, query).await? {
                SqsAnswer::Names(group_page) => Ok(group_page),
                _ => Err(ApiError::internal(format!("group {group} answered a listing with something else"))),
            }
        }
    });
    let mut names = Vec::new();
    let mut more = false;
    for group_page in futures::future::try_join_all(asks).await? {
        more |= group_page.next.is_some();
        names.extend(group_page.names);
    }
    names.sort();
    let limit = page.max_results.unwrap_or(limits::LIST_QUEUES_RESULTS_MAX) as usize;
    more |= names.len() > limit;
    names.truncate(limit);
    let next = if more && page.max_results.is_some() { names.last().cloned() } else { None };
    Ok(NamePage { names, next })
}

/// The ARN of a queue of this account, whichever group holds it.
fn queue_arn(cluster: &Cluster, name: &str) -> String {
    shoal_engine::sqs::queue_arn(&cluster.region, &cluster.account_id, name)
}

/// The answer of a query that must be `Fine`, or the error it carried.
fn expect_fine(answer: SqsAnswer) -> Result<(), ApiError> {
    match answer {
        SqsAnswer::Fine => Ok(()),
        other => Err(ApiError::internal(format!("unexpected answer {other:?}"))),
    }
}
