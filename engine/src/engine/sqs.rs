//! SQS at the engine's boundary: each SQS action handed to an `SqsHandler`, which borrows SQS's
//! state and what else of the engine SQS uses, and the reads other crates make of queues.

use std::collections::BTreeMap;

use shoal_sharding::GroupId;

use super::Engine;
use crate::command::{Command, Reply, SendEntry};
use crate::error::{SqsError, SqsResult};
use crate::limits;
use crate::outbox::OutboxEntry;
use crate::sqs::admin::check_create_queue;
use crate::sqs::dlq::MoveTask;
use crate::sqs::queue::Queue;
use crate::sqs::{queue_arn, queue_name_from_arn, SqsHandler};

impl Engine {
    /// SQS's part of the engine, lent for one action.
    pub(super) fn sqs_handler(&mut self) -> SqsHandler<'_> {
        SqsHandler {
            sqs: &mut self.sqs,
            outbox: &mut self.outbox,
            redrive_paused: &mut self.redrive_paused,
            config: &self.config,
            ring: &self.ring,
        }
    }

    /// Fires the timers a command may see, before it is applied: those of the queue it is
    /// about, and every running move task.
    pub(super) fn advance_sqs(&mut self, command: &Command, now_ms: u64) {
        if let Some(name) = command.queue() {
            if let Some(queue) = self.sqs.queues.get_mut(name) {
                queue.advance(now_ms);
            }
        }
        self.sqs_handler().advance_move_tasks(now_ms);
    }

    /// After an entry: the queues it changed file their next timers again.
    pub(super) fn refile_sqs(&mut self) {
        self.sqs.queues.refile();
    }

    /// Applies one SQS action.
    pub(super) fn apply_sqs(&mut self, command: &Command, now_ms: u64) -> SqsResult<Reply> {
        let mut sqs = self.sqs_handler();
        match command {
            Command::CreateQueue { name, attributes, tags } => {
                sqs.create_queue(name, attributes, tags, now_ms).map(|name| Reply::QueueCreated { name })
            }
            Command::DeleteQueue { queue } => sqs.delete_queue(queue, now_ms).map(|()| Reply::Done),
            Command::SetQueueAttributes { queue, attributes } => {
                sqs.set_queue_attributes(queue, attributes, now_ms).map(|()| Reply::Done)
            }
            Command::TagQueue { queue, tags } => sqs.tag_queue(queue, tags).map(|()| Reply::Done),
            Command::UntagQueue { queue, keys } => sqs.untag_queue(queue, keys).map(|()| Reply::Done),
            Command::PurgeQueue { queue } => sqs.purge_queue(queue, now_ms).map(|()| Reply::Done),
            Command::AddPermission { queue, label, account_ids, actions } => {
                sqs.add_permission(queue, label, account_ids, actions).map(|()| Reply::Done)
            }
            Command::RemovePermission { queue, label } => sqs.remove_permission(queue, label).map(|()| Reply::Done),
            Command::SendMessage { queue, entry } => sqs.send_message(queue, entry, now_ms).map(Reply::Sent),
            Command::SendMessageBatch { queue, entries } => {
                sqs.send_message_batch(queue, entries, now_ms).map(Reply::SentBatch)
            }
            Command::ReceiveMessage { queue, request } => {
                sqs.receive_message(queue, request, now_ms).map(Reply::Received)
            }
            Command::DeleteMessage { queue, receipt_handle } => {
                sqs.delete_message(queue, receipt_handle, now_ms).map(|()| Reply::Done)
            }
            Command::DeleteMessageBatch { queue, entries } => {
                sqs.delete_message_batch(queue, entries, now_ms).map(Reply::DeletedBatch)
            }
            Command::ChangeMessageVisibility { queue, receipt_handle, visibility_timeout_seconds } => sqs
                .change_message_visibility(queue, receipt_handle, *visibility_timeout_seconds, now_ms)
                .map(|()| Reply::Done),
            Command::ChangeMessageVisibilityBatch { queue, entries } => {
                sqs.change_message_visibility_batch(queue, entries, now_ms).map(Reply::ChangedBatch)
            }
            Command::StartMessageMoveTask { source_arn, destination_arn, rate_per_second, sources_elsewhere } => sqs
                .start_message_move_task(
                    source_arn,
                    destination_arn.as_deref(),
                    *rate_per_second,
                    *sources_elsewhere,
                    now_ms,
                )
                .map(|task_handle| Reply::MoveTaskStarted { task_handle }),
            Command::CancelMessageMoveTask { task_handle } => sqs
                .cancel_message_move_task(task_handle)
                .map(|moved| Reply::MoveTaskCancelled { approximate_number_of_messages_moved: moved }),
            // The outbox's commands, Tick and SNS's are applied elsewhere.
            _ => {
                debug_assert!(false, "not an SQS action: {command:?}");
                Err(SqsError::UnsupportedOperation("The command is not an SQS action.".to_string()))
            }
        }
    }

    /// Takes a batch from the outbox of `source_group` (see `sqs::transfer`).
    pub(super) fn import_messages(
        &mut self,
        source_group: GroupId,
        entries: &[OutboxEntry],
        now_ms: u64,
    ) -> SqsResult<Reply> {
        let refused = self.sqs_handler().import_messages(source_group, entries, now_ms)?;
        Ok(Reply::Imported { refused })
    }

    /// Settles the outbox entries the target group has answered (see `sqs::transfer`).
    pub(super) fn ack_outbox(&mut self, positions: &[u64], refused: &[u64], now_ms: u64) -> SqsResult<Reply> {
        self.sqs_handler().ack_outbox(positions, refused, now_ms);
        Ok(Reply::Done)
    }

    /// SQS's part of `Tick`: the timers of the queues that have one due, and names blocked
    /// long enough freed.
    pub(super) fn tick_sqs(&mut self, now_ms: u64) {
        self.sqs.queues.advance_due(now_ms);
        self.sqs
            .recently_deleted
            .retain(|_, deleted_ms| deleted_ms.saturating_add(limits::QUEUE_RECREATE_DELAY_MS) > now_ms);
    }

    pub(super) fn sqs_needs_tick(&self, now_ms: u64) -> bool {
        let queue_due = self.sqs.queues.next_deadline_ms().is_some_and(|at| at <= now_ms);
        let name_due = self
            .sqs
            .recently_deleted
            .values()
            .any(|deleted_ms| deleted_ms.saturating_add(limits::QUEUE_RECREATE_DELAY_MS) <= now_ms);
        queue_due || self.sqs.has_running_move_task() || name_due
    }

    /// When the first timer of any queue is due (a delay or visibility timeout ending, a
    /// message or deduplication window expiring), from the index a `Tick` uses.
    pub fn next_timer_ms(&self) -> Option<u64> {
        self.sqs.queues.next_deadline_ms()
    }

    /// A time a read is asked at, raised to the last applied time: reads never go back.
    fn read_time_ms(&self, now_ms: u64) -> u64 {
        now_ms.max(self.now_ms).min(limits::TIME_MS_MAX)
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
        queue_name_from_arn(&self.config, arn)
    }

    /// Would a receive on `queue` find a message at `now_ms`? For long polling.
    pub fn has_receivable(&self, queue: &str, now_ms: u64) -> bool {
        self.receivable_estimate(queue, now_ms, 1) > 0
    }

    /// About how many receives on `queue` could each get something at `now_ms`, up to `cap`.
    pub fn receivable_estimate(&self, queue: &str, now_ms: u64, cap: usize) -> usize {
        let now_ms = self.read_time_ms(now_ms);
        self.sqs.queues.get(queue).map_or(0, |q| q.receivable_estimate(now_ms, cap))
    }

    /// Total number of messages across all queues.
    pub fn message_count(&self) -> usize {
        self.sqs.queues.values().map(Queue::len).sum()
    }

    /// Read-only: would CreateQueue be refused for its name or attributes alone? Lets the node
    /// refuse bad input before it is written to the log.
    pub fn check_create_queue(&self, name: &str, attributes: &BTreeMap<String, String>) -> SqsResult<()> {
        check_create_queue(name, attributes)
    }

    /// Can queue `target` of this group be the dead-letter queue of `source_arn` (FIFO or
    /// not)? `redrive_policy` is the RedrivePolicy text of the request, which a refusal quotes.
    /// Read-only, so a node can ask the target's group before proposing.
    pub fn check_dead_letter_target(
        &self,
        target: &str,
        source_arn: &str,
        source_fifo: bool,
        redrive_policy: &str,
    ) -> SqsResult<()> {
        self.sqs.check_dead_letter_target(target, source_arn, source_fifo, redrive_policy)
    }

    /// Read-only: would SendMessage of `entry` be refused whatever the state? Lets the node
    /// refuse bad input before it is written to the log.
    pub fn check_send(&self, name: &str, entry: &SendEntry) -> SqsResult<()> {
        self.sqs.check_send(name, entry)
    }

    /// Read-only: the whole-request checks of SendMessageBatch (entry failures are per entry).
    pub fn check_send_batch(&self, name: &str, entries: &[SendEntry]) -> SqsResult<()> {
        self.sqs.check_send_batch(name, entries)
    }

    /// Queue names starting with `prefix`, in name order, after `start_after`, at most `max`.
    /// The second value is the last name returned when more remain.
    pub fn list_queues(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> (Vec<String>, Option<String>) {
        self.sqs.list_queues(prefix, start_after, max)
    }

    /// GetQueueAttributes: `All` or the named attributes, as the wire shows them at `now_ms`.
    pub fn queue_attributes(
        &self,
        name: &str,
        requested: &[String],
        now_ms: u64,
    ) -> SqsResult<BTreeMap<String, String>> {
        self.sqs.queue_attributes(name, requested, self.read_time_ms(now_ms))
    }

    /// Names of queues whose redrive policy targets `name`, in name order, after `start_after`.
    pub fn dead_letter_source_queues(
        &self,
        name: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> SqsResult<(Vec<String>, Option<String>)> {
        self.sqs.dead_letter_source_queues(name, start_after, max)
    }

    /// Names of this group's queues whose redrive policy targets `arn`, which may be a queue
    /// of another group, in name order, after `start_after`.
    pub fn dead_letter_sources_of(
        &self,
        arn: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> (Vec<String>, Option<String>) {
        self.sqs.dead_letter_sources_of(arn, start_after, max)
    }

    /// Up to 10 most recent move tasks of a source queue, newest first.
    pub fn list_message_move_tasks(&self, source_arn: &str, max: Option<u32>) -> SqsResult<Vec<MoveTask>> {
        self.sqs.list_message_move_tasks(&self.config, source_arn, max)
    }
}
