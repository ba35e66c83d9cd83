//! One queue's state: its messages, which of them are visible, delayed or in flight, and for
//! FIFO queues the message groups and the deduplication window.
//!
//! Every set here is ordered, so the same commands give the same state and the same answers
//! on every replica.

mod arena;
pub mod config;
mod fifo;
mod message;
mod receipt;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

pub use config::{DeduplicationScope, QueueConfig, RedriveAllowPolicy, RedrivePolicy, ThroughputLimit};
pub use fifo::{DeduplicationEntry, Group};
pub use message::{Message, MessageExtra};
pub use receipt::ReceiptHandle;

use arena::{Derived, MessageArena, SeqOf};

use crate::bodies::{BodyEffect, BodyKey};
use crate::error::{SqsError, SqsResult};
use crate::limits;

/// Position of a message in its queue, in send order. Never reused within a queue.
pub type Seq = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    Delayed { visible_at_ms: u64 },
    Visible,
    InFlight { visible_at_ms: u64 },
}

/// What a receipt handle of a well-formed shape names in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleTarget {
    /// A handle of another queue, or of an earlier queue of this name.
    OtherQueue,
    /// A message of this queue that is no longer here: deleted, expired or moved away.
    Gone,
    /// A message of this queue. `latest_receive`: the handle is of its latest receive (not of
    /// an earlier one, the message having been received again since). `in_flight`: the message
    /// is in flight now, under its latest receive.
    Message { seq: Seq, latest_receive: bool, in_flight: bool },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub visible: usize,
    pub in_flight: usize,
    pub delayed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "QueueWire")]
pub struct Queue {
    pub name: String,
    pub arn: String,
    /// Distinguishes this queue from an earlier one of the same name, for receipt handles.
    pub incarnation: u64,
    pub config: QueueConfig,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
    pub last_modified_ms: u64,
    pub last_purge_ms: Option<u64>,
    next_seq: Seq,
    next_sequence_number: u128,
    /// The messages by position, with which are visible and their retention order.
    messages: MessageArena,
    delayed: BTreeSet<(u64, Seq)>,
    in_flight: BTreeSet<(u64, Seq)>,
    groups: BTreeMap<String, Group>,
    /// FIFO groups whose head is visible and which have nothing in flight, by head position.
    available_groups: BTreeSet<(Seq, String)>,
    deduplication: BTreeMap<String, DeduplicationEntry>,
    deduplication_expiry: BTreeSet<(u64, String)>,
    receive_attempts: BTreeMap<String, fifo::ReceiveAttempt>,
    receive_attempt_expiry: BTreeSet<(u64, String)>,
    last_sender_id: Option<Arc<str>>,
    /// What the store must do for this queue's messages since the engine last took it.
    body_effects: Vec<BodyEffect>,
}

/// The serialized form of a queue, as every snapshot has held it: the visible set and the
/// retention order in full, although the arena derives both from the messages.
#[derive(Deserialize)]
#[serde(rename = "Queue")]
struct QueueWire {
    name: String,
    arn: String,
    incarnation: u64,
    config: QueueConfig,
    tags: BTreeMap<String, String>,
    created_ms: u64,
    last_modified_ms: u64,
    last_purge_ms: Option<u64>,
    next_seq: Seq,
    next_sequence_number: u128,
    messages: MessageArena,
    #[allow(dead_code)]
    visible: Derived<Seq>,
    delayed: BTreeSet<(u64, Seq)>,
    in_flight: BTreeSet<(u64, Seq)>,
    #[allow(dead_code)]
    by_enqueued: Derived<(u64, Seq)>,
    groups: BTreeMap<String, Group>,
    available_groups: BTreeSet<(Seq, String)>,
    deduplication: BTreeMap<String, DeduplicationEntry>,
    deduplication_expiry: BTreeSet<(u64, String)>,
    receive_attempts: BTreeMap<String, fifo::ReceiveAttempt>,
    receive_attempt_expiry: BTreeSet<(u64, String)>,
    last_sender_id: Option<Arc<str>>,
}

/// [`QueueWire`] borrowed from a queue.
#[derive(Serialize)]
#[serde(rename = "Queue", bound(serialize = "SeqOf<V>: Serialize, SeqOf<E>: Serialize"))]
struct QueueWireRef<'a, V, E> {
    name: &'a String,
    arn: &'a String,
    incarnation: u64,
    config: &'a QueueConfig,
    tags: &'a BTreeMap<String, String>,
    created_ms: u64,
    last_modified_ms: u64,
    last_purge_ms: Option<u64>,
    next_seq: Seq,
    next_sequence_number: u128,
    messages: &'a MessageArena,
    visible: SeqOf<V>,
    delayed: &'a BTreeSet<(u64, Seq)>,
    in_flight: &'a BTreeSet<(u64, Seq)>,
    by_enqueued: SeqOf<E>,
    groups: &'a BTreeMap<String, Group>,
    available_groups: &'a BTreeSet<(Seq, String)>,
    deduplication: &'a BTreeMap<String, DeduplicationEntry>,
    deduplication_expiry: &'a BTreeSet<(u64, String)>,
    receive_attempts: &'a BTreeMap<String, fifo::ReceiveAttempt>,
    receive_attempt_expiry: &'a BTreeSet<(u64, String)>,
    last_sender_id: &'a Option<Arc<str>>,
}

impl Serialize for Queue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let messages = &self.messages;
        QueueWireRef {
            name: &self.name,
            arn: &self.arn,
            incarnation: self.incarnation,
            config: &self.config,
            tags: &self.tags,
            created_ms: self.created_ms,
            last_modified_ms: self.last_modified_ms,
            last_purge_ms: self.last_purge_ms,
            next_seq: self.next_seq,
            next_sequence_number: self.next_sequence_number,
            messages,
            visible: SeqOf(messages.visible_count(), || messages.visible_seqs()),
            delayed: &self.delayed,
            in_flight: &self.in_flight,
            by_enqueued: SeqOf(messages.len(), || messages.by_enqueued()),
            groups: &self.groups,
            available_groups: &self.available_groups,
            deduplication: &self.deduplication,
            deduplication_expiry: &self.deduplication_expiry,
            receive_attempts: &self.receive_attempts,
            receive_attempt_expiry: &self.receive_attempt_expiry,
            last_sender_id: &self.last_sender_id,
        }
        .serialize(serializer)
    }
}

impl From<QueueWire> for Queue {
    fn from(wire: QueueWire) -> Queue {
        Queue {
            name: wire.name,
            arn: wire.arn,
            incarnation: wire.incarnation,
            config: wire.config,
            tags: wire.tags,
            created_ms: wire.created_ms,
            last_modified_ms: wire.last_modified_ms,
            last_purge_ms: wire.last_purge_ms,
            next_seq: wire.next_seq,
            next_sequence_number: wire.next_sequence_number,
            messages: wire.messages,
            delayed: wire.delayed,
            in_flight: wire.in_flight,
            groups: wire.groups,
            available_groups: wire.available_groups,
            deduplication: wire.deduplication,
            deduplication_expiry: wire.deduplication_expiry,
            receive_attempts: wire.receive_attempts,
            receive_attempt_expiry: wire.receive_attempt_expiry,
            last_sender_id: wire.last_sender_id,
            body_effects: Vec::new(),
        }
    }
}

impl Queue {
    pub fn new(name: String, arn: String, incarnation: u64, config: QueueConfig, now_ms: u64) -> Queue {
        Queue {
            name,
            arn,
            incarnation,
            config,
            tags: BTreeMap::new(),
            created_ms: now_ms,
            last_modified_ms: now_ms,
            last_purge_ms: None,
            next_seq: 1,
            next_sequence_number: 1,
            messages: MessageArena::new(),
            delayed: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            groups: BTreeMap::new(),
            available_groups: BTreeSet::new(),
            deduplication: BTreeMap::new(),
            deduplication_expiry: BTreeSet::new(),
            receive_attempts: BTreeMap::new(),
            receive_attempt_expiry: BTreeSet::new(),
            last_sender_id: None,
            body_effects: Vec::new(),
        }
    }

    /// The key of this queue's message at `seq`.
    pub fn body_key(&self, seq: Seq) -> BodyKey {
        BodyKey { incarnation: self.incarnation, seq }
    }

    /// Hands over the store's work for this queue since the last call.
    pub(crate) fn take_body_effects(&mut self) -> Vec<BodyEffect> {
        std::mem::take(&mut self.body_effects)
    }

    /// Releases every message's contents and hands over the store's work: the queue is going
    /// away.
    pub(crate) fn release_all(&mut self) -> Vec<BodyEffect> {
        self.release_messages();
        self.take_body_effects()
    }

    /// Notes the release of every message's contents (the messages themselves stay).
    fn release_messages(&mut self) {
        let incarnation = self.incarnation;
        self.body_effects
            .extend(self.messages.iter().map(|(seq, _)| BodyEffect::Release(BodyKey { incarnation, seq })));
    }

    pub fn is_fifo(&self) -> bool {
        self.config.fifo
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn message(&self, seq: Seq) -> Option<&Message> {
        self.messages.get(seq)
    }

    /// Counts as they are at `now_ms`, without changing state.
    pub fn counts(&self, now_ms: u64) -> MessageCounts {
        let due_delayed = self.delayed.range(..(now_ms.saturating_add(1), 0)).count();
        let due_in_flight = self.in_flight.range(..(now_ms.saturating_add(1), 0)).count();
        let mut counts = MessageCounts {
            visible: self.messages.visible_count() + due_delayed + due_in_flight,
            in_flight: self.in_flight.len() - due_in_flight,
            delayed: self.delayed.len() - due_delayed,
        };
        // Messages past their retention are gone at `now_ms`, even before `advance` removes them.
        let retention_ms = u64::from(self.config.retention_seconds) * 1000;
        if let Some(expired_up_to_ms) = now_ms.checked_sub(retention_ms) {
            for (_, seq) in self.messages.by_enqueued().take_while(|(enqueued_ms, _)| *enqueued_ms <= expired_up_to_ms)
            {
                let Some(message) = self.messages.get(seq) else {
                    continue;
                };
                match message.state {
                    MessageState::Delayed { visible_at_ms } if visible_at_ms > now_ms => counts.delayed -= 1,
                    MessageState::InFlight { visible_at_ms } if visible_at_ms > now_ms => counts.in_flight -= 1,
                    _ => counts.visible -= 1,
                }
            }
        }
        counts
    }

    /// About how many receives at `now_ms` could each get something, counted up to `cap`:
    /// visible messages (FIFO: available groups) plus timers that are due. Read-only, so that
    /// many long pollers do not all propose a receive for one new message.
    pub fn receivable_estimate(&self, now_ms: u64, cap: usize) -> usize {
        let due = |set: &BTreeSet<(u64, Seq)>| set.iter().take_while(|(at, _)| *at <= now_ms).take(cap).count();
        if self.is_fifo() && self.in_flight.len() >= limits::IN_FLIGHT_FIFO_MAX {
            // At the in-flight limit a FIFO receive returns nothing until a timeout ends.
            return due(&self.in_flight).min(cap);
        }
        let ready = if self.is_fifo() { self.available_groups.len() } else { self.messages.visible_count() };
        ready.saturating_add(due(&self.delayed)).saturating_add(due(&self.in_flight)).min(cap)
    }

    /// The earliest time at which a timer of this queue fires, if any.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let retention_ms = u64::from(self.config.retention_seconds) * 1000;
        [
            self.delayed.first().map(|(at, _)| *at),
            self.in_flight.first().map(|(at, _)| *at),
            self.messages.first_by_enqueued().map(|(enqueued, _)| enqueued + retention_ms),
            self.deduplication_expiry.first().map(|(at, _)| *at),
            self.receive_attempt_expiry.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now_ms`: delays and visibility timeouts end, retention and
    /// deduplication windows expire.
    pub fn advance(&mut self, now_ms: u64) {
        while let Some(&(at, seq)) = self.delayed.first() {
            if at > now_ms {
                break;
            }
            self.delayed.pop_first();
            self.make_visible(seq);
        }
        while let Some(&(at, seq)) = self.in_flight.first() {
            if at > now_ms {
                break;
            }
            self.in_flight.pop_first();
            self.make_visible(seq);
            self.group_in_flight_ended(seq);
        }
        let retention_ms = u64::from(self.config.retention_seconds) * 1000;
        while let Some((enqueued_ms, seq)) = self.messages.first_by_enqueued() {
            if enqueued_ms.saturating_add(retention_ms) > now_ms {
                break;
            }
            self.remove(seq);
        }
        self.expire_fifo_windows(now_ms);
    }

    fn make_visible(&mut self, seq: Seq) {
        let group_id = self.messages.update(seq, |message| {
            message.state = MessageState::Visible;
            message.group_id().map(str::to_string)
        });
        match group_id {
            None => debug_assert!(false, "timer for a missing message"),
            Some(Some(group_id)) => self.refresh_group(&group_id),
            Some(None) => {}
        }
    }

    /// Adds a message that passed validation. Returns its position.
    pub fn enqueue(&mut self, mut message: Message, delay_seconds: u32, now_ms: u64) -> Seq {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.is_fifo() && message.sequence_number().is_none() {
            message.set_sequence_number(Some(self.next_sequence_number));
            self.next_sequence_number += 1;
        }
        message.state = if delay_seconds == 0 {
            MessageState::Visible
        } else {
            let visible_at_ms = now_ms + u64::from(delay_seconds) * 1000;
            self.delayed.insert((visible_at_ms, seq));
            MessageState::Delayed { visible_at_ms }
        };
        let group_id = if self.is_fifo() { message.group_id().map(str::to_string) } else { None };
        let arriving = message.arriving();
        self.body_effects.push(arriving.effect(self.body_key(seq)));
        self.messages.insert(seq, message);
        if let Some(group_id) = group_id {
            self.groups.entry(group_id.clone()).or_default().messages.insert(seq);
            self.refresh_group(&group_id);
        }
        seq
    }

    /// Removes a message from every index. Returns it, naming where its contents are: they are
    /// released unless the message is enqueued elsewhere (or put in the outbox) in the same entry.
    pub fn remove(&mut self, seq: Seq) -> Option<Message> {
        let mut message = self.messages.remove(seq)?;
        message.set_stored_at(self.body_key(seq));
        self.body_effects.push(BodyEffect::Release(self.body_key(seq)));
        match message.state {
            MessageState::Visible => {}
            MessageState::Delayed { visible_at_ms } => {
                self.delayed.remove(&(visible_at_ms, seq));
            }
            MessageState::InFlight { visible_at_ms } => {
                self.in_flight.remove(&(visible_at_ms, seq));
            }
        }
        if let Some(group_id) = message.group_id() {
            self.remove_from_group(group_id, seq, matches!(message.state, MessageState::InFlight { .. }));
        }
        Some(message)
    }

    /// Deletes every message; the deduplication window stays.
    pub fn purge(&mut self, now_ms: u64) {
        self.release_messages();
        self.messages.clear();
        self.delayed.clear();
        self.in_flight.clear();
        self.groups.clear();
        self.available_groups.clear();
        self.receive_attempts.clear();
        self.receive_attempt_expiry.clear();
        self.last_purge_ms = Some(now_ms);
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// The next visible messages in delivery order, at most `max`, without changing state.
    /// Standard queues: oldest first. FIFO queues: see `fifo::candidates`.
    pub fn candidates(&self, max: usize) -> Vec<Seq> {
        if self.is_fifo() {
            return self.fifo_candidates(max);
        }
        self.messages.visible_seqs().take(max).collect()
    }

    /// Marks a visible message received: in flight until `now_ms + visibility_timeout_seconds`.
    pub fn mark_received(&mut self, seq: Seq, visibility_timeout_seconds: u32, now_ms: u64) -> ReceiptHandle {
        let visible_at_ms = now_ms + u64::from(visibility_timeout_seconds) * 1000;
        let received = self.messages.update(seq, |message| {
            debug_assert_eq!(message.state, MessageState::Visible);
            message.state = MessageState::InFlight { visible_at_ms };
            message.receive_count += 1;
            message.received_ms = now_ms;
            message.note_receive(now_ms);
            (message.receive_count, message.group_id().map(str::to_string))
        });
        let Some((receive_count, group_id)) = received else {
            unreachable!("candidates are messages of this queue");
        };
        let receipt = self.receipt(seq, receive_count);
        self.in_flight.insert((visible_at_ms, seq));
        if let Some(group_id) = group_id {
            self.group_in_flight_started(&group_id);
        }
        receipt
    }

    /// What a receipt handle names in this queue at `now_ms`. A handle names one receive of
    /// one message: positions are never reused within a queue, and the incarnation tells this
    /// queue from an earlier one of the same name.
    /// The handle of receive `receive_count` of message `seq`.
    pub fn receipt(&self, seq: Seq, receive_count: u32) -> ReceiptHandle {
        ReceiptHandle {
            queue_tag: Some(receipt::queue_tag(&self.name)),
            incarnation: self.incarnation,
            seq,
            receive_count,
        }
    }

    pub fn lookup(&self, receipt: ReceiptHandle, now_ms: u64) -> HandleTarget {
        let other_name = receipt.queue_tag.is_some_and(|tag| tag != receipt::queue_tag(&self.name));
        if receipt.incarnation != self.incarnation || other_name {
            return HandleTarget::OtherQueue;
        }
        let Some(message) = self.messages.get(receipt.seq) else {
            return HandleTarget::Gone;
        };
        let in_flight = matches!(message.state, MessageState::InFlight { visible_at_ms } if visible_at_ms > now_ms);
        HandleTarget::Message {
            seq: receipt.seq,
            latest_receive: message.receive_count == receipt.receive_count,
            in_flight,
        }
    }

    /// Sets the visibility of an in-flight message to end `timeout_seconds` from `now_ms`. A
    /// message that is not in flight is left as it is: there is no visibility to change.
    pub fn change_visibility(&mut self, seq: Seq, timeout_seconds: u32, now_ms: u64) -> SqsResult<()> {
        let Some(message) = self.messages.get(seq) else {
            return Ok(());
        };
        let MessageState::InFlight { visible_at_ms } = message.state else {
            return Ok(());
        };
        if visible_at_ms <= now_ms {
            return Ok(());
        }
        let new_visible_at_ms = now_ms + u64::from(timeout_seconds) * 1000;
        let limit_ms = message.received_ms + u64::from(limits::VISIBILITY_TIMEOUT_SECONDS_MAX) * 1000;
        if new_visible_at_ms > limit_ms {
            return Err(SqsError::invalid_value(
                timeout_seconds,
                "VisibilityTimeout",
                &format!(
                    "Total VisibilityTimeout for the message is beyond the limit [{} seconds].",
                    limits::VISIBILITY_TIMEOUT_SECONDS_MAX
                ),
            ));
        }
        self.in_flight.remove(&(visible_at_ms, seq));
        if timeout_seconds == 0 {
            self.make_visible(seq);
            self.group_in_flight_ended(seq);
        } else {
            self.messages
                .update(seq, |message| message.state = MessageState::InFlight { visible_at_ms: new_visible_at_ms });
            self.in_flight.insert((new_visible_at_ms, seq));
        }
        Ok(())
    }

    /// Every message, in queue order (for move tasks and tests).
    pub fn messages(&self) -> impl Iterator<Item = (Seq, &Message)> {
        self.messages.iter()
    }

    /// Every message, to take or give back contents (nothing else may change through it).
    pub(crate) fn messages_mut(&mut self) -> impl Iterator<Item = (Seq, &mut Message)> {
        self.messages.iter_mut()
    }

    /// Visible messages at or before `max_seq`, oldest first (for move tasks).
    pub fn visible_up_to(&self, max_seq: Seq, max: usize) -> Vec<Seq> {
        self.messages.visible_seqs().take_while(|&seq| seq <= max_seq).take(max).collect()
    }

    /// The sender id as a shared string: consecutive messages of one sender share one copy.
    pub fn sender_id(&mut self, sender_id: &str) -> Arc<str> {
        match &self.last_sender_id {
            Some(last) if &**last == sender_id => last.clone(),
            _ => {
                let shared: Arc<str> = Arc::from(sender_id);
                self.last_sender_id = Some(shared.clone());
                shared
            }
        }
    }

    pub fn last_seq(&self) -> Seq {
        self.next_seq - 1
    }
}
