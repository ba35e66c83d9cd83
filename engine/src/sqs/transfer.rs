//! SQS's deliveries through the outbox: messages bound for a queue in another data group, a
//! dead-letter queue there or the destination of a move task out of a dead-letter queue here.
//!
//! Each group's engine only sees its own queues, so such a message leaves its queue into this
//! group's outbox, in the same log entry that took it out. The target group enqueues it once
//! (`ImportMessages`); a message it could not take (its queue is gone or of the other kind)
//! comes back to the queue it left when this group hears the answer (`AckOutbox`). Nothing is
//! lost if either leader dies midway: the outbox is replicated state. What travels is
//! `outbox::QueueDelivery`, which says why (`Transfer`).

use shoal_sharding::GroupId;

use std::sync::Arc;

use crate::bodies::{outbox_key, BodyEffect, BodyKey, BodyRecord};
use crate::error::{SqsError, SqsResult};
use crate::message::{self, MessageAttributes, MessageId};
use crate::outbox::{DeliveryOutcome, OutboxEntry, QueueDelivery, Transfer};
use crate::sns::publish::SNS_SENDER_ID;
use crate::sns::QueueNotice;

use super::arrival::Arrival;
use super::queue::{DeduplicationEntry, Message, MessageExtra};
use super::state::{MessageHandler, MoveTaskStatus, SqsHandler, SqsState};

impl SqsHandler<'_> {
    /// Puts a message that left queue `origin` into the outbox, bound for `target` elsewhere.
    pub(crate) fn push_outbox(&mut self, origin: &str, target: &str, transfer: Transfer, mut message: Message) {
        let fifo = self.sqs.queues.get(origin).is_some_and(|q| q.is_fifo());
        let arriving = message.arriving();
        let delivery = QueueDelivery {
            target_group: self.group_of(target),
            target: target.to_string(),
            origin: origin.to_string(),
            fifo,
            transfer,
            message,
        };
        let to = outbox_key(self.outbox.push(delivery));
        self.sqs.queues.note_body_effect(arriving.effect(to));
    }

    /// Delivers what a publish to `topic` owes one queue subscription: into the queue if it is
    /// in this group, else into the outbox; a queue that cannot take it (gone, or FIFO) passes
    /// it to the subscription's dead-letter queue, and without one it is dropped, as SNS drops
    /// a message it cannot deliver.
    pub(crate) fn deliver_published(&mut self, topic: &str, notice: QueueNotice, now_ms: u64) {
        let contents = BodyRecord {
            body: notice.body,
            attributes: notice.attributes,
            system_attributes: MessageAttributes::new(),
            header: None,
        };
        let mut message =
            Message::new(MessageId::new(&notice.message_id), notice.body_md5, Arc::from(SNS_SENDER_ID), now_ms)
                .with_contents(contents);
        if let Some((group_id, deduplication_id)) = notice.fifo {
            // Taken by FIFO queues only: a standard queue drops them as it enqueues.
            let extra = MessageExtra {
                group_id: Some(group_id),
                deduplication_id: Some(deduplication_id),
                ..MessageExtra::default()
            };
            message = message.with_extra(extra);
        }
        let (target, fallback) = match (notice.undeliverable, notice.dead_letter_queue) {
            (false, fallback) => (notice.queue, fallback),
            (true, Some(dead_letter_queue)) => (dead_letter_queue, None),
            (true, None) => return,
        };
        self.deliver_published_message(topic, &notice.subscription_id, target, fallback, message, now_ms);
    }

    fn deliver_published_message(
        &mut self,
        topic: &str,
        subscription_id: &str,
        target: String,
        fallback: Option<String>,
        mut message: Message,
        now_ms: u64,
    ) {
        let target_group = self.group_of(&target);
        if target_group != self.config.placement.group {
            let arriving = message.arriving();
            let transfer =
                Transfer::Published { subscription_id: subscription_id.to_string(), dead_letter_queue: fallback };
            // The kind of queue it may enter: a FIFO queue's name ends in `.fifo`, any other's
            // not, and a FIFO queue takes only a message with FIFO ids (from a FIFO topic).
            let fifo = target.ends_with(".fifo") && message.group_id().is_some();
            let delivery = QueueDelivery { target_group, target, origin: topic.to_string(), fifo, transfer, message };
            let to = outbox_key(self.outbox.push(delivery));
            self.sqs.queues.note_body_effect(arriving.effect(to));
            return;
        }
        let refused = match self.sqs.queues.get_mut(&target) {
            Some(queue) => {
                queue.advance(now_ms);
                MessageHandler { queue, now_ms }.enqueue_published(message).err()
            }
            None => Some(message),
        };
        if let (Some(message), Some(dead_letter_queue)) = (refused, fallback) {
            self.deliver_published_message(topic, subscription_id, dead_letter_queue, None, message, now_ms);
        }
    }

    /// Takes a batch from the outbox of `source_group`. Entries it already took are skipped,
    /// so a batch handed over twice (the source's leader died before its acknowledgement)
    /// enqueues each message once. Returns the positions refused.
    pub(crate) fn import_messages(
        &mut self,
        source_group: GroupId,
        entries: &[OutboxEntry],
        now_ms: u64,
    ) -> SqsResult<Vec<u64>> {
        if source_group == self.config.placement.group {
            return Err(SqsError::invalid_value(
                source_group,
                "SourceGroup",
                "A group cannot import from its own outbox.",
            ));
        }
        let SqsHandler { config, ring, sqs, outbox, .. } = self;
        let refused = outbox.import(source_group, entries, |delivery| {
            let remote = ring.group_of(&config.placement, &delivery.target) != config.placement.group;
            !remote && sqs.take_delivery(delivery, now_ms)
        });
        Ok(refused)
    }

    /// Drops the entries at `positions`, which the target group has; those it `refused` go
    /// back to the queue they left (and a move task that sent them fails).
    pub(crate) fn ack_outbox(&mut self, positions: &[u64], refused: &[u64], now_ms: u64) {
        for (entry, outcome) in self.outbox.acknowledge(positions, refused) {
            let key = outbox_key(entry.position);
            self.sqs.queues.note_body_effect(BodyEffect::Release(key));
            match outcome {
                DeliveryOutcome::Taken => self.count_arrival(&entry.delivery),
                DeliveryOutcome::Refused => self.return_to_origin(entry.delivery, key, now_ms),
            }
        }
    }

    /// Puts a refused delivery back in the queue it left, its contents moved from the outbox
    /// entry at `stored_at`.
    fn return_to_origin(&mut self, delivery: QueueDelivery, stored_at: BodyKey, now_ms: u64) {
        let reason = format!("the queue {} cannot take messages from this queue", delivery.target);
        let mut message = delivery.message;
        message.set_stored_at(stored_at);
        match &delivery.transfer {
            Transfer::DeadLetter => {
                self.redrive_paused.insert(delivery.origin.clone());
                // It never reached a dead-letter queue.
                message.set_dead_letter_source_arn(None);
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
            // Not a queue's message: on to the subscription's dead-letter queue, or dropped.
            Transfer::Published { subscription_id, dead_letter_queue } => {
                if let Some(dead_letter_queue) = dead_letter_queue.clone() {
                    let (topic, subscription_id) = (delivery.origin, subscription_id.clone());
                    self.deliver_published_message(&topic, &subscription_id, dead_letter_queue, None, message, now_ms);
                }
                return;
            }
        }
        // If the queue it left is gone, so is the message, as with the rest of that queue.
        if let Some(queue) = self.sqs.queues.get_mut(&delivery.origin) {
            if queue.is_fifo() == delivery.fifo {
                MessageHandler { queue, now_ms }.enqueue_arriving(message, Arrival::Returned);
            }
        }
    }

    /// A moved message arrived in its destination: the task that sent it counts it.
    fn count_arrival(&mut self, delivery: &QueueDelivery) {
        if let Transfer::Move { task_handle } = &delivery.transfer {
            if let Some(task) = self.sqs.move_tasks.get_mut(task_handle) {
                task.in_transit = task.in_transit.saturating_sub(1);
                task.moved += 1;
            }
        }
    }
}

impl MessageHandler<'_> {
    /// Enqueues a message a topic published, if the queue can take it (else hands it back): one
    /// within the queue's maximum message size; a standard queue any (without FIFO ids), a FIFO
    /// queue one with a message group and deduplication id, once per deduplication window (a
    /// repeat counts as taken).
    fn enqueue_published(&mut self, mut message: Message) -> Result<(), Message> {
        let too_long = message.contents().is_some_and(|contents| {
            message::message_size_bytes(&contents.body, &contents.attributes)
                > self.queue.config.maximum_message_size_bytes as usize
        });
        if too_long {
            return Err(message);
        }
        if !self.queue.is_fifo() {
            message = message.with_extra(MessageExtra::default());
            self.enqueue_arriving(message, Arrival::Published);
            return Ok(());
        }
        let (Some(group_id), Some(deduplication_id)) = (message.group_id(), message.deduplication_id()) else {
            return Err(message);
        };
        let key = self.queue.deduplication_key(group_id, deduplication_id);
        if self.queue.find_duplicate(&key, self.now_ms).is_some() {
            return Ok(());
        }
        let message_id = message.header().map(|header| header.message_id.to_string()).unwrap_or_default();
        let seq = self.enqueue_arriving(message, Arrival::Published);
        let remembered = DeduplicationEntry {
            message_id,
            sequence_number: self.queue.message(seq).and_then(Message::sequence_number),
            expires_ms: self.now_ms + crate::limits::DEDUPLICATION_WINDOW_MS,
        };
        self.queue.remember_deduplication(key, remembered);
        Ok(())
    }
}

impl SqsState {
    /// Enqueues one message from another group's outbox; false if its target cannot take it.
    fn take_delivery(&mut self, delivery: &QueueDelivery, now_ms: u64) -> bool {
        let Some(queue) = self.queues.get_mut(&delivery.target) else {
            return false;
        };
        if queue.is_fifo() != delivery.fifo {
            return false;
        }
        let arrival = match &delivery.transfer {
            Transfer::DeadLetter => Arrival::DeadLetter,
            Transfer::Move { .. } => Arrival::Moved,
            Transfer::Published { .. } => {
                return MessageHandler { queue, now_ms }.enqueue_published(delivery.message.clone()).is_ok()
            }
        };
        MessageHandler { queue, now_ms }.enqueue_arriving(delivery.message.clone(), arrival);
        true
    }
}
