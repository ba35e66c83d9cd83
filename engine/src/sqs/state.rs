//! SQS's state, and the handlers its actions run on. `SqsState` holds queues, the names deleted
//! lately and move tasks. `SqsHandler` borrows it for one action together with what else of
//! the engine SQS changes (the outbox, paused redrives) and reads (who and where the engine
//! is); `MessageHandler` borrows one queue. Nothing here knows the engine itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shoal_sharding::GroupId;

use crate::config::EngineConfig;
use crate::error::{SqsError, SqsResult};
use crate::outbox::{Outbox, QueueDelivery};
use crate::placement::Ring;

use super::queue::Queue;
use super::queues::Queues;

/// The SQS part of an engine's state. Its fields follow `Engine::now_ms` in a snapshot, in
/// this order, as they did when they were fields of `Engine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SqsState {
    pub(crate) next_incarnation: u64,
    pub(crate) queues: Queues,
    /// Deleted queue names and when, so the name stays blocked for a while.
    pub(crate) recently_deleted: BTreeMap<String, u64>,
    pub(crate) move_tasks: BTreeMap<String, MoveTask>,
    pub(crate) next_move_task: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveTaskStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl MoveTaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveTaskStatus::Running => "RUNNING",
            MoveTaskStatus::Completed => "COMPLETED",
            MoveTaskStatus::Cancelled => "CANCELLED",
            MoveTaskStatus::Failed => "FAILED",
        }
    }
}

/// A message move task (see `move_task`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveTask {
    pub task_handle: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub rate_per_second: Option<u32>,
    pub status: MoveTaskStatus,
    pub started_ms: u64,
    pub moved: u64,
    pub to_move: u64,
    pub failure_reason: Option<String>,
    /// Messages on their way to a queue of another group: counted in `moved` on arrival.
    #[serde(default)]
    pub in_transit: u64,
    /// Messages at or before this position in the source, when the task started, are moved.
    pub(super) last_seq: u64,
    /// Orders tasks by start for listing.
    pub(super) number: u64,
}

/// The ARN of queue `name` of `account_id` in `region`.
pub fn queue_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{account_id}:{name}")
}

/// The name of the queue an ARN of the engine's account and region names, if it is one.
pub(crate) fn queue_name_from_arn<'a>(config: &EngineConfig, arn: &'a str) -> Option<&'a str> {
    let prefix = format!("arn:aws:sqs:{}:{}:", config.region, config.account_id);
    // A queue name never holds a ':', so `...:a:b` names no queue.
    arn.strip_prefix(prefix.as_str()).filter(|name| !name.is_empty() && !name.contains(':'))
}

impl SqsState {
    pub(crate) fn new() -> SqsState {
        SqsState {
            next_incarnation: 1,
            queues: Queues::default(),
            recently_deleted: BTreeMap::new(),
            move_tasks: BTreeMap::new(),
            next_move_task: 1,
        }
    }

    pub(crate) fn queue(&self, name: &str) -> SqsResult<&Queue> {
        self.queues.get(name).ok_or(SqsError::QueueDoesNotExist)
    }

    pub(crate) fn queue_mut(&mut self, name: &str) -> SqsResult<&mut Queue> {
        self.queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)
    }

    pub(crate) fn message_handler(&mut self, name: &str, now_ms: u64) -> SqsResult<MessageHandler<'_>> {
        Ok(MessageHandler { queue: self.queue_mut(name)?, now_ms })
    }
}

/// What an SQS action may change and read, borrowed from the engine for that action.
pub(crate) struct SqsHandler<'a> {
    pub(crate) sqs: &'a mut SqsState,
    /// Messages bound for queues in other groups, and what was taken from theirs.
    pub(crate) outbox: &'a mut Outbox<QueueDelivery>,
    /// Source queues whose dead-letter queue in another group refused a message: redrive stays
    /// off for them until their redrive policy is set again.
    pub(crate) redrive_paused: &'a mut BTreeSet<String>,
    pub(crate) config: &'a EngineConfig,
    pub(crate) ring: &'a Ring,
}

impl SqsHandler<'_> {
    pub(crate) fn queue_arn(&self, name: &str) -> String {
        queue_arn(&self.config.region, &self.config.account_id, name)
    }

    pub(crate) fn queue_name_from_arn<'a>(&self, arn: &'a str) -> Option<&'a str> {
        queue_name_from_arn(self.config, arn)
    }

    /// The data group of queue `name`.
    pub(crate) fn group_of(&self, name: &str) -> GroupId {
        self.ring.group_of(&self.config.placement, name)
    }

    /// Is `name` a queue of another data group?
    pub(crate) fn is_remote(&self, name: &str) -> bool {
        self.group_of(name) != self.config.placement.group
    }
}

/// What the message actions do to one queue at one time: send, receive, delete, visibility
/// changes, and messages arriving from elsewhere. Borrows that queue and nothing else.
pub(crate) struct MessageHandler<'a> {
    pub(crate) queue: &'a mut Queue,
    pub(crate) now_ms: u64,
}
