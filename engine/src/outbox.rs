//! The outbox: deliveries this group owes to others, kept in replicated state until they are
//! answered. Generic over what is delivered (`Delivery`); what this engine's outbox carries is
//! `QueueDelivery`, a message bound for a queue in another data group, defined at the end. What
//! SQS does with them, sending and settling, is `sqs::transfer`.
//!
//! A delivery enters the outbox in the same log entry that produced it, at a position never
//! reused. The node leading this group hands the oldest entries for one destination over as a
//! batch and proposes the answer back (`acknowledge`): each entry was taken or refused, and
//! the part that owns the delivery settles it. Between groups the receiving side remembers,
//! per source group, the highest position it has taken and which it refused (`ImportMark`),
//! so a batch handed over again after a leader change is taken once and answered alike.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shoal_sharding::GroupId;

use crate::message;
use crate::sqs::queue::Message;

// A path other crates use, from when the outbox held only SQS messages.
pub use crate::placement::Placement;

/// What an outbox can carry.
pub trait Delivery {
    /// Where a delivery goes; a batch holds deliveries for one destination only.
    type Destination: Copy + Ord;

    fn destination(&self) -> Self::Destination;

    /// What the delivery counts towards a batch's bound in bytes.
    fn size_bytes(&self) -> usize;
}

/// One delivery in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<D> {
    /// Position in the outbox of the group that owes it; never reused.
    pub position: u64,
    pub delivery: D,
}

/// The answer to one handed-over delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Taken,
    Refused,
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

/// Deliveries owed to others, and what was taken from other groups' outboxes of this kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox<D> {
    entries: BTreeMap<u64, Entry<D>>,
    /// The last position given out.
    last_position: u64,
    /// Per source group, what has been imported from its outbox.
    imported: BTreeMap<GroupId, ImportMark>,
}

impl<D> Default for Outbox<D> {
    fn default() -> Self {
        Outbox { entries: BTreeMap::new(), last_position: 0, imported: BTreeMap::new() }
    }
}

impl<D: Delivery + Clone> Outbox<D> {
    /// Adds a delivery at the next position, which it returns.
    pub(crate) fn push(&mut self, delivery: D) -> u64 {
        // Positions start at 1: an import mark of 0 means nothing taken yet.
        self.last_position += 1;
        let position = self.last_position;
        self.entries.insert(position, Entry { position, delivery });
        position
    }

    /// The deliveries waiting, in position order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry<D>> {
        self.entries.values()
    }

    /// The deliveries waiting, to take or give back their contents.
    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry<D>> {
        self.entries.values_mut()
    }

    /// Deliveries waiting for an answer.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The next batch to hand over: the oldest entries bound for the destination of the oldest
    /// entry whose destination is not in `skip` (those that cannot be reached now), in position
    /// order, up to `max_entries` and `max_bytes` (at least one entry). Read-only.
    pub(crate) fn batch(
        &self,
        max_entries: usize,
        max_bytes: usize,
        skip: &BTreeSet<D::Destination>,
    ) -> Option<(D::Destination, Vec<Entry<D>>)> {
        let destination =
            self.entries.values().map(|e| e.delivery.destination()).find(|destination| !skip.contains(destination))?;
        let mut batch = Vec::new();
        let mut bytes = 0;
        for entry in self.entries.values().filter(|e| e.delivery.destination() == destination) {
            let size = entry.delivery.size_bytes();
            if !batch.is_empty() && (batch.len() >= max_entries || bytes + size > max_bytes) {
                break;
            }
            bytes += size;
            batch.push(entry.clone());
        }
        Some((destination, batch))
    }

    /// Takes a batch from the outbox of `source_group`: `take` is called once for each entry
    /// not taken before, and says whether it could take it. Returns the positions of the batch
    /// that were refused, now or when it was handed over before.
    pub(crate) fn import(
        &mut self,
        source_group: GroupId,
        entries: &[Entry<D>],
        mut take: impl FnMut(&D) -> bool,
    ) -> Vec<u64> {
        let mut mark = self.imported.get(&source_group).cloned().unwrap_or_default();
        let taken_before = mark.upto;
        for entry in entries.iter().filter(|e| e.position > taken_before) {
            mark.upto = mark.upto.max(entry.position);
            if !take(&entry.delivery) {
                mark.refused.insert(entry.position);
            }
        }
        // The source hands over its oldest entries for this group first and drops a batch
        // only after this answer, so refusals below this batch were already acknowledged.
        if let Some(lowest) = entries.iter().map(|e| e.position).min() {
            mark.refused.retain(|position| *position >= lowest);
        }
        let refused = entries.iter().map(|e| e.position).filter(|p| mark.refused.contains(p)).collect();
        self.imported.insert(source_group, mark);
        refused
    }

    /// Drops the entries at `positions`, which their destination has answered, and hands each
    /// back with its answer (`refused` or else taken), in the order of `positions`.
    pub(crate) fn acknowledge(&mut self, positions: &[u64], refused: &[u64]) -> Vec<(Entry<D>, DeliveryOutcome)> {
        let refused: BTreeSet<u64> = refused.iter().copied().collect();
        let mut answered = Vec::new();
        for position in positions {
            let Some(entry) = self.entries.remove(position) else {
                continue;
            };
            let outcome = if refused.contains(position) { DeliveryOutcome::Refused } else { DeliveryOutcome::Taken };
            answered.push((entry, outcome));
        }
        answered
    }
}

/// Why a message is on its way to another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    /// Received too often: bound for the dead-letter queue of its queue.
    DeadLetter,
    /// Carried out of a dead-letter queue by the move task `task_handle`.
    Move { task_handle: String },
    /// Published to a topic of this group (`origin`) and bound for the queue its subscription
    /// `subscription_id` names; if that queue cannot take it, for the subscription's
    /// `dead_letter_queue`, and if there is none it is dropped. Outbox entries of this kind
    /// exist from write level 5 (`Command::generation`).
    Published { subscription_id: String, dead_letter_queue: Option<String> },
}

/// A message bound for a queue in another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDelivery {
    pub target_group: GroupId,
    /// The queue it is bound for, in `target_group`.
    pub target: String,
    /// The queue it left here, where it returns if the target cannot take it (for a message
    /// published to a topic, the topic).
    pub origin: String,
    /// Whether the queue it left is FIFO; the target must be of the same kind.
    pub fifo: bool,
    pub transfer: Transfer,
    pub message: Message,
}

/// One message in the outbox, as groups hand it to each other.
pub type OutboxEntry = Entry<QueueDelivery>;

impl QueueDelivery {
    /// Was it published to a topic (rather than moved out of a queue)?
    pub fn is_from_topic(&self) -> bool {
        matches!(self.transfer, Transfer::Published { .. })
    }
}

impl Delivery for QueueDelivery {
    type Destination = GroupId;

    fn destination(&self) -> GroupId {
        self.target_group
    }

    /// The message's body and attributes, as far as it carries them (not in the outbox: the
    /// hand-over measures what it reads from the store).
    fn size_bytes(&self) -> usize {
        self.message.contents().map_or(0, |c| message::message_size_bytes(&c.body, &c.attributes))
    }
}
