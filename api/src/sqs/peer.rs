//! What a node asks another group's leader about that group's queues, for requests that span
//! groups: listings, dead-letter targets and sources, a move task's destination; and how the
//! leader answers, after a read index, never from another group's local replica (a node need
//! not host a replica of every group). The asking side is `route`.

use serde::{Deserialize, Serialize};

use super::reply::NamePage;
use super::request::Page;
use crate::error::ApiError;
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
