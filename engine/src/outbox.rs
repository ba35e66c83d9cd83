//! Messages bound for a queue in another data group: a dead-letter queue there, or the
//! destination of a move task out of a dead-letter queue here.
//!
//! Each group's engine only sees its own queues, so such a message leaves its queue into this
//! group's outbox, in the same log entry that took it out. The node leading this group then
//! hands a batch to the target group (`ImportMessages`), which enqueues each message once: it
//! remembers, per source group, the highest outbox position it has taken. Then this group drops
//! the batch (`AckOutbox`). A message the target could not take (its queue is gone or of the
//! other kind) comes back to the queue it left. Nothing is lost if either leader dies midway:
//! the outbox is replicated state, and a repeated import is recognised.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shoal_sharding::GroupId;

use crate::command::Reply;
use crate::engine::Engine;
use crate::error::{SqsError, SqsResult};
pub use crate::placement::Placement;
use crate::sqs::arrival::Arrival;
use crate::sqs::dlq::MoveTaskStatus;
use crate::sqs::queue::Message;
use crate::sqs::MessageHandler;

/// Why a message is on its way to another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    /// Received too often: bound for the dead-letter queue of its queue.
    DeadLetter,
    /// Carried out of a dead-letter queue by the move task `task_handle`.
    Move { task_handle: String },
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Position in this group's outbox; never reused.
    pub position: u64,
    pub target_group: GroupId,
    /// The queue it is bound for, in `target_group`.
    pub target: String,
    /// The queue it left here, where it returns if the target cannot take it.
    pub origin: String,
    /// Whether the queue it left is FIFO; the target must be of the same kind.
    pub fifo: bool,
    pub transfer: Transfer,
    pub message: Message,
}

/// What a group has taken from another group's outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMark {
    /// The highest position taken; lower positions are never taken again.
    pub upto: u64,
    /// Refused positions the source may not have heard of yet, so a repeated import (after
    /// the source's leader changed) is answered alike. Pruned below each new batch.
    pub refused: BTreeSet<u64>,
}

/// The cross-group state of one group's engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    pub(crate) entries: BTreeMap<u64, OutboxEntry>,
    /// The last position given out.
    pub(crate) last_position: u64,
    /// Per source group, what has been imported from its outbox.
    pub(crate) imported: BTreeMap<GroupId, ImportMark>,
    /// Source queues whose remote dead-letter queue refused a message: redrive stays off for
    /// them until their redrive policy is set again (which names the target), so messages are
    /// not bounced back and forth on every receive.
    pub(crate) redrive_paused: BTreeSet<String>,
}

impl Engine {
    /// Puts a message that left queue `origin` into the outbox, bound for `target` elsewhere.
    pub(crate) fn push_outbox(&mut self, origin: &str, target: &str, transfer: Transfer, message: Message) {
        let fifo = self.sqs.queues.get(origin).is_some_and(|q| q.is_fifo());
        // Positions start at 1: an import mark of 0 means nothing taken yet.
        self.outbox.last_position += 1;
        let position = self.outbox.last_position;
        let entry = OutboxEntry {
            position,
            target_group: self.group_of(target),
            target: target.to_string(),
            origin: origin.to_string(),
            fifo,
            transfer,
            message,
        };
        self.outbox.entries.insert(position, entry);
    }

    /// Messages waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox.entries.len()
    }

    /// The next batch to hand over: the oldest entries bound for the group of the oldest
    /// entry whose group is not in `skip` (groups that cannot be reached now), in position order, up to `max_entries` and `max_bytes` of message bodies and
    /// attributes (at least one). Read-only: the leader proposes nothing until the target has the batch.
    pub fn outbox_batch(
        &self,
        max_entries: usize,
        max_bytes: usize,
        skip: &BTreeSet<GroupId>,
    ) -> Option<(GroupId, Vec<OutboxEntry>)> {
        let target_group = self.outbox.entries.values().find(|e| !skip.contains(&e.target_group))?.target_group;
        let mut batch = Vec::new();
        let mut bytes = 0;
        for entry in self.outbox.entries.values().filter(|e| e.target_group == target_group) {
            let size = crate::message::message_size_bytes(&entry.message.body, &entry.message.attributes);
            if !batch.is_empty() && (batch.len() >= max_entries || bytes + size > max_bytes) {
                break;
            }
            bytes += size;
            batch.push(entry.clone());
        }
        Some((target_group, batch))
    }

    /// Takes a batch from the outbox of `source_group`. Entries it already took are skipped,
    /// so a batch handed over twice (the source's leader died before its acknowledgement)
    /// enqueues each message once. Replies with the positions refused.
    pub(crate) fn import_messages(
        &mut self,
        source_group: GroupId,
        entries: &[OutboxEntry],
        now_ms: u64,
    ) -> SqsResult<Reply> {
        if source_group == self.config.placement.group {
            return Err(SqsError::invalid_parameter("a group cannot import from its own outbox"));
        }
        let mut mark = self.outbox.imported.get(&source_group).cloned().unwrap_or_default();
        let taken_before = mark.upto;
        for entry in entries.iter().filter(|e| e.position > taken_before) {
            mark.upto = mark.upto.max(entry.position);
            if !self.take_imported(entry, now_ms) {
                mark.refused.insert(entry.position);
            }
        }
        // The source hands over its oldest entries for this group first and drops a batch
        // only after this answer, so refusals below this batch were already acknowledged.
        if let Some(lowest) = entries.iter().map(|e| e.position).min() {
            mark.refused.retain(|position| *position >= lowest);
        }
        let refused = entries.iter().map(|e| e.position).filter(|p| mark.refused.contains(p)).collect();
        self.outbox.imported.insert(source_group, mark);
        Ok(Reply::Imported { refused })
    }

    /// Enqueues one imported message; false if its target cannot take it.
    fn take_imported(&mut self, entry: &OutboxEntry, now_ms: u64) -> bool {
        if self.is_remote(&entry.target) {
            return false;
        }
        let Some(queue) = self.sqs.queues.get_mut(&entry.target) else {
            return false;
        };
        if queue.is_fifo() != entry.fifo {
            return false;
        }
        let arrival = match &entry.transfer {
            Transfer::DeadLetter => Arrival::DeadLetter,
            Transfer::Move { .. } => Arrival::Moved,
        };
        MessageHandler { queue, now_ms }.enqueue_arriving(entry.message.clone(), arrival);
        true
    }

    /// Drops the entries at `positions`, which the target group has; those it `refused` go
    /// back to the queue they left (and a move task that sent them fails).
    pub(crate) fn ack_outbox(&mut self, positions: &[u64], refused: &[u64], now_ms: u64) -> SqsResult<Reply> {
        let refused: BTreeSet<u64> = refused.iter().copied().collect();
        for position in positions {
            let Some(entry) = self.outbox.entries.remove(position) else {
                continue;
            };
            if refused.contains(position) {
                self.return_to_origin(entry, now_ms);
            } else {
                self.count_arrival(&entry);
            }
        }
        Ok(Reply::Done)
    }

    fn return_to_origin(&mut self, entry: OutboxEntry, now_ms: u64) {
        let reason = format!("the queue {} cannot take messages from this queue", entry.target);
        let mut message = entry.message;
        match &entry.transfer {
            Transfer::DeadLetter => {
                self.outbox.redrive_paused.insert(entry.origin.clone());
                // It never reached a dead-letter queue.
                message.dead_letter_source_arn = None;
            }
            Transfer::Move { task_handle } => {
                if let Some(task) = self.sqs.move_tasks.get_mut(task_handle) {
                    task.in_transit = task.in_transit.saturating_sub(1);
                    if task.status == MoveTaskStatus::Running {
                        task.status = MoveTaskStatus::Failed;
                        task.failure_reason = Some(reason);
                    }
                }
            }
        }
        // If the queue it left is gone, so is the message, as with the rest of that queue.
        if let Some(queue) = self.sqs.queues.get_mut(&entry.origin) {
            if queue.is_fifo() == entry.fifo {
                MessageHandler { queue, now_ms }.enqueue_arriving(message, Arrival::Returned);
            }
        }
    }

    /// A moved message arrived in its destination: the task that sent it counts it.
    fn count_arrival(&mut self, entry: &OutboxEntry) {
        if let Transfer::Move { task_handle } = &entry.transfer {
            if let Some(task) = self.sqs.move_tasks.get_mut(task_handle) {
                task.in_transit = task.in_transit.saturating_sub(1);
                task.moved += 1;
            }
        }
    }
}
