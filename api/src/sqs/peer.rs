//! What a node asks another group's leader about that group's queues, for requests that span
//! groups: listings, dead-letter targets and sources, a move task's destination. Answered by the
//! group's leader after a read index, never read from another group's local replica (a node
//! need not host a replica of every group).

use serde::{Deserialize, Serialize};
use shoal_engine::limits;
use shoal_raft::GroupId;

use super::reply::NamePage;
use super::request::Page;
use crate::error::ApiError;
use crate::service::ApiCluster as Cluster;
use crate::service::{self as service, ApiReply, ApiRequest};
use shoal_cluster::Broker;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqsQuery {
    /// A page of the group's queue names starting with `prefix`.
    QueueNames { prefix: String, page: Page },
    /// A page of the group's queues whose dead-letter queue is `arn`.
    DeadLetterSources { arn: String, page: Page },
    /// The ARN of queue `name`, which must exist.
    QueueArn { name: String },
    /// Can queue `target` be the dead-letter queue of `source_arn`, by `redrive_policy`?
    DeadLetterTarget { target: String, source_arn: String, source_fifo: bool, redrive_policy: String },
    /// Is queue `name` a FIFO queue? (It must exist.)
    IsFifo { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqsAnswer {
    Names(NamePage),
    Arn(String),
    Fine,
    Fifo(bool),
}

/// Answers a query on the leader of `broker`'s group, after a read index.
pub async fn answer(broker: &Broker, query: SqsQuery) -> Result<SqsAnswer, ApiError> {
    broker.linearize().await?;
    let answer = broker.read(|engine, _| match query {
        SqsQuery::QueueNames { prefix, page } => {
            let (names, next) = engine.list_queues(&prefix, page.start_after.as_deref(), page.max_results);
            Ok(SqsAnswer::Names(NamePage { names, next }))
        }
        SqsQuery::DeadLetterSources { arn, page } => {
            let (names, next) = engine.dead_letter_sources_of(&arn, page.start_after.as_deref(), page.max_results);
            Ok(SqsAnswer::Names(NamePage { names, next }))
        }
        SqsQuery::QueueArn { name } => engine.queue(&name).map(|queue| SqsAnswer::Arn(queue.arn.clone())),
        SqsQuery::DeadLetterTarget { target, source_arn, source_fifo, redrive_policy } => engine
            .check_dead_letter_target(&target, &source_arn, source_fifo, &redrive_policy)
            .map(|()| SqsAnswer::Fine),
        SqsQuery::IsFifo { name } => engine.queue(&name).map(|queue| SqsAnswer::Fifo(queue.is_fifo())),
    })?;
    Ok(answer)
}

/// Asks the leader of `group` (here or one hop away).
pub async fn ask(cluster: &Cluster, group: GroupId, query: SqsQuery) -> Result<SqsAnswer, ApiError> {
    match service::call(cluster, group, ApiRequest::SqsQuery(query)).await? {
        ApiReply::SqsAnswer(answer) => Ok(answer),
        other => Err(ApiError::internal(format!("unexpected answer from group {group}: {other:?}"))),
    }
}

/// A page of names from every data group, merged in name order into one page of at most
/// `max_results` names (the default maximum without).
pub async fn gather_pages(
    cluster: &Cluster,
    page: &Page,
    query_of: impl Fn(Page) -> SqsQuery,
) -> Result<NamePage, ApiError> {
    let mut names = Vec::new();
    let mut more = false;
    for group in cluster.shards.data_group_ids() {
        let SqsAnswer::Names(group_page) = ask(cluster, group, query_of(page.clone())).await? else {
            return Err(ApiError::internal(format!("group {group} answered a listing with something else")));
        };
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
pub fn queue_arn(cluster: &Cluster, name: &str) -> String {
    shoal_engine::sqs::queue_arn(&cluster.region, &cluster.account_id, name)
}

/// The answer of a query that must be `Fine`, or the error it carried.
pub fn expect_fine(answer: SqsAnswer) -> Result<(), ApiError> {
    match answer {
        SqsAnswer::Fine => Ok(()),
        other => Err(ApiError::internal(format!("unexpected answer {other:?}"))),
    }
}
