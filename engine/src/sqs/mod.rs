//! SQS: queues and their messages. `apply_sqs` takes every SQS action from `Engine::apply`.
//!
//! Code map: queue administration (`admin`); send, receive, delete and visibility changes
//! (`send`, `receive`, `delete`), each a method of `MessageHandler`, which borrows one queue;
//! messages entering a queue from elsewhere (`arrival`); dead-letter queues (`dlq`) and move
//! tasks (`move_task`); messages bound for queues of other groups (`transfer`, SQS's side of
//! the outbox); one queue's state and indexes (`queue/`, which uses nothing else here).

pub mod admin;
mod arrival;
mod delete;
pub mod dlq;
mod move_task;
pub mod queue;
mod receive;
pub mod send;
pub(crate) mod transfer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Reply};
use crate::engine::Engine;
use crate::error::{SqsError, SqsResult};
use crate::limits;
use move_task::MoveTask;
use queue::Queue;

/// The SQS part of an engine's state. Its fields follow `Engine::now_ms` in a snapshot, in
/// this order, as they did when they were fields of `Engine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SqsState {
    pub(crate) next_incarnation: u64,
    pub(crate) queues: BTreeMap<String, Queue>,
    /// Deleted queue names and when, so the name stays blocked for a while.
    pub(crate) recently_deleted: BTreeMap<String, u64>,
    pub(crate) move_tasks: BTreeMap<String, MoveTask>,
    pub(crate) next_move_task: u64,
}

/// The ARN of queue `name` of `account_id` in `region`.
pub fn queue_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{account_id}:{name}")
}

impl SqsState {
    pub(crate) fn new() -> SqsState {
        SqsState {
            next_incarnation: 1,
            queues: BTreeMap::new(),
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

/// What the message actions do to one queue at one time: send, receive, delete, visibility
/// changes, and messages arriving from elsewhere. Borrows that queue and nothing else.
pub(crate) struct MessageHandler<'a> {
    pub(crate) queue: &'a mut Queue,
    pub(crate) now_ms: u64,
}

impl Engine {
    /// Fires the timers a command may see, before it is applied: those of the queue it is
    /// about, and every running move task.
    pub(crate) fn advance_sqs(&mut self, command: &Command, now_ms: u64) {
        if let Some(name) = command.queue() {
            if let Some(queue) = self.sqs.queues.get_mut(name) {
                queue.advance(now_ms);
            }
        }
        self.advance_move_tasks(now_ms);
    }

    /// Applies one SQS action.
    pub(crate) fn apply_sqs(&mut self, command: &Command, now_ms: u64) -> SqsResult<Reply> {
        match command {
            Command::CreateQueue { name, attributes, tags } => {
                self.create_queue(name, attributes, tags, now_ms).map(|name| Reply::QueueCreated { name })
            }
            Command::DeleteQueue { queue } => self.delete_queue(queue, now_ms).map(|()| Reply::Done),
            Command::SetQueueAttributes { queue, attributes } => {
                self.set_queue_attributes(queue, attributes, now_ms).map(|()| Reply::Done)
            }
            Command::TagQueue { queue, tags } => self.tag_queue(queue, tags).map(|()| Reply::Done),
            Command::UntagQueue { queue, keys } => self.untag_queue(queue, keys).map(|()| Reply::Done),
            Command::PurgeQueue { queue } => self.purge_queue(queue, now_ms).map(|()| Reply::Done),
            Command::AddPermission { queue, label, account_ids, actions } => {
                self.add_permission(queue, label, account_ids, actions).map(|()| Reply::Done)
            }
            Command::RemovePermission { queue, label } => self.remove_permission(queue, label).map(|()| Reply::Done),
            Command::SendMessage { queue, entry } => self.send_message(queue, entry, now_ms).map(Reply::Sent),
            Command::SendMessageBatch { queue, entries } => {
                self.send_message_batch(queue, entries, now_ms).map(Reply::SentBatch)
            }
            Command::ReceiveMessage { queue, request } => {
                self.receive_message(queue, request, now_ms).map(Reply::Received)
            }
            Command::DeleteMessage { queue, receipt_handle } => {
                self.delete_message(queue, receipt_handle, now_ms).map(|()| Reply::Done)
            }
            Command::DeleteMessageBatch { queue, entries } => {
                self.delete_message_batch(queue, entries, now_ms).map(Reply::DeletedBatch)
            }
            Command::ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds } => self
                .change_message_visibility(queue, receipt_handle, *visibility_timeout_seconds, now_ms)
                .map(|()| Reply::Done),
            Command::ChangeMessageVisibilityBatch { queue, entries } => {
                self.change_message_visibility_batch(queue, entries, now_ms).map(Reply::ChangedBatch)
            }
            Command::StartMessageMoveTask { source_arn, destination_arn, rate_per_second, sources_elsewhere } => self
                .start_message_move_task(
                    source_arn,
                    destination_arn.as_deref(),
                    *rate_per_second,
                    *sources_elsewhere,
                    now_ms,
                )
                .map(|task_handle| Reply::MoveTaskStarted { task_handle }),
            Command::CancelMessageMoveTask { task_handle } => self
                .cancel_message_move_task(task_handle)
                .map(|moved| Reply::MoveTaskCancelled { approximate_number_of_messages_moved: moved }),
            Command::ImportMessages { .. } | Command::AckOutbox { .. } | Command::Tick => {
                debug_assert!(false, "not an SQS action: {command:?}");
                Err(SqsError::UnsupportedOperation("The command is not an SQS action.".to_string()))
            }
        }
    }

    /// SQS's part of `Tick`: every queue's timers, and names blocked long enough freed.
    pub(crate) fn tick_sqs(&mut self, now_ms: u64) {
        for queue in self.sqs.queues.values_mut() {
            queue.advance(now_ms);
        }
        self.sqs
            .recently_deleted
            .retain(|_, deleted_ms| deleted_ms.saturating_add(limits::QUEUE_RECREATE_DELAY_MS) > now_ms);
    }

    pub(crate) fn sqs_needs_tick(&self, now_ms: u64) -> bool {
        let queue_due = self.sqs.queues.values().any(|q| q.next_deadline_ms().is_some_and(|at| at <= now_ms));
        let name_due = self
            .sqs
            .recently_deleted
            .values()
            .any(|deleted_ms| deleted_ms.saturating_add(limits::QUEUE_RECREATE_DELAY_MS) <= now_ms);
        queue_due || self.has_running_move_task() || name_due
    }

    pub fn queue(&self, name: &str) -> SqsResult<&Queue> {
        self.sqs.queue(name)
    }

    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.sqs.queues.values()
    }

    pub fn queue_arn(&self, name: &str) -> String {
        queue_arn(&self.config.region, &self.config.account_id, name)
    }

    /// The name of the queue an ARN of this account and region names, if it is one.
    pub fn queue_name_from_arn<'a>(&self, arn: &'a str) -> Option<&'a str> {
        let prefix = format!("arn:aws:sqs:{}:{}:", self.config.region, self.config.account_id);
        // A queue name never holds a ':', so `...:a:b` names no queue.
        arn.strip_prefix(prefix.as_str()).filter(|name| !name.is_empty() && !name.contains(':'))
    }

    /// Would a receive on `queue` find a message at `now_ms`? For long polling.
    pub fn has_receivable(&self, queue: &str, now_ms: u64) -> bool {
        self.receivable_estimate(queue, now_ms, 1) > 0
    }

    /// About how many receives on `queue` could each get something at `now_ms`, up to `cap`.
    pub fn receivable_estimate(&self, queue: &str, now_ms: u64, cap: usize) -> usize {
        let now_ms = now_ms.max(self.now_ms).min(limits::TIME_MS_MAX);
        self.sqs.queues.get(queue).map_or(0, |q| q.receivable_estimate(now_ms, cap))
    }

    /// Total number of messages across all queues.
    pub fn message_count(&self) -> usize {
        self.sqs.queues.values().map(Queue::len).sum()
    }
}
