//! The engine: its parts' state, and `apply`, the one way state changes. Reads take `&self`.
//!
//! Each service meets the engine in a file of its own here: `sqs.rs` hands SQS's actions to
//! SQS's handlers (`crate::sqs`), lending them the parts of the engine they use, and answers
//! the reads other crates make of queues. `sns.rs` does the same for SNS.

mod sns;
mod sqs;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use shoal_sharding::GroupId;

use crate::bodies::{outbox_key, BodyEffect, BodyKey, BodyRecord, MessageHeader};
use crate::command::{Command, Generation, LogEntry, Outcome, Reply, FORMAT_VERSION};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::outbox::{Outbox, OutboxEntry, QueueDelivery};
use crate::placement::Ring;
use crate::sns::SnsState;
use crate::sqs::SqsState;

/// Architecture invariant: a snapshot is this struct in bincode: its fields in order, nested
/// structs' fields in their place, no names. So the order of fields is part of the format;
/// `tests/snapshot.rs` holds the bytes of a few engines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    config: EngineConfig,
    /// The time of the latest applied entry; never goes backwards.
    now_ms: u64,
    /// Queues and move tasks.
    sqs: SqsState,
    /// Messages bound for queues in other groups, and what was taken from theirs.
    #[serde(default)]
    outbox: Outbox<QueueDelivery>,
    /// SQS: source queues whose dead-letter queue in another group refused a message. Redrive
    /// stays off for them until their redrive policy is set again (which names the target),
    /// so messages are not bounced back and forth on every receive. After the outbox because
    /// snapshots have always held it there, as the outbox's last field.
    #[serde(default)]
    redrive_paused: BTreeSet<String>,
    #[serde(skip)]
    ring: Ring,
    /// Topics. Not in this struct's bincode: snapshot format 5 writes it after the rest (see
    /// `shoal_raft::format`), so every older snapshot reads as an engine without topics.
    #[serde(skip)]
    sns: SnsState,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            now_ms: 0,
            sqs: SqsState::new(),
            outbox: Outbox::default(),
            redrive_paused: BTreeSet::new(),
            ring: Ring::default(),
            sns: SnsState::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The time of the latest applied entry.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Applies one log entry. Deterministic: the same entries in the same order give the same
    /// state and the same outcomes.
    pub fn apply(&mut self, entry: &LogEntry) -> Outcome {
        if entry.format_version != FORMAT_VERSION {
            return Err(EngineError::UnknownLogFormat { found: entry.format_version, supported: FORMAT_VERSION });
        }
        let now_ms = entry.time_ms.max(self.now_ms).min(crate::limits::TIME_MS_MAX);
        self.now_ms = now_ms;
        self.advance_sqs(&entry.command, now_ms);
        let reply = match &entry.command {
            Command::ImportMessages { source_group, entries } => self.import_messages(*source_group, entries, now_ms),
            Command::AckOutbox { positions, refused } => self.ack_outbox(positions, refused, now_ms),
            Command::Tick => {
                self.tick_sqs(now_ms);
                Ok(Reply::Done)
            }
            command if command.is_sns() => {
                let reply = self.apply_sns(command, now_ms);
                self.refile_sqs();
                return reply.map_err(EngineError::Sns);
            }
            // Every other command is an SQS action.
            command => self.apply_sqs(command, now_ms),
        };
        self.refile_sqs();
        // SQS's refusals become the engine's here, at its boundary.
        reply.map_err(EngineError::Sqs)
    }

    /// What the store must do for the entries applied since the last call: contents to keep
    /// and to release, in the order they arose for each queue. The state machine takes them
    /// after every entry; until taken they accumulate.
    pub fn take_body_effects(&mut self) -> Vec<BodyEffect> {
        self.sqs.queues.take_body_effects()
    }

    /// The key of every message held, in queues and in the outbox: what a store must hold for
    /// this state.
    pub fn body_keys(&self) -> impl Iterator<Item = BodyKey> + '_ {
        let queued = self.sqs.queues.values().flat_map(|queue| queue.messages().map(|(seq, _)| queue.body_key(seq)));
        queued.chain(self.outbox.entries().map(|entry| outbox_key(entry.position)))
    }

    /// Calls `each` with every message held, in queues and in the outbox, and its key.
    fn each_message_mut(&mut self, mut each: impl FnMut(BodyKey, &mut crate::sqs::queue::Message)) {
        for queue in self.sqs.queues.values_mut() {
            let incarnation = queue.incarnation;
            for (seq, message) in queue.messages_mut() {
                each(BodyKey { incarnation, seq }, message);
            }
        }
        for entry in self.outbox.entries_mut() {
            each(outbox_key(entry.position), &mut entry.delivery.message);
        }
    }

    /// Takes out the contents its messages still carry (a state decoded from a snapshot of
    /// format 2, which kept them in memory), for the store.
    pub fn take_contents(&mut self) -> Vec<(BodyKey, BodyRecord)> {
        let mut taken = Vec::new();
        self.each_message_mut(|key, message| {
            if message.carries_contents() {
                taken.push((key, message.take_contents()));
            }
        });
        taken
    }

    /// Takes out the headers its messages carry alone (a state decoded from a snapshot of
    /// format 3 or before, which kept them in memory), for the store to keep with contents.
    pub fn take_headers(&mut self) -> Vec<(BodyKey, MessageHeader)> {
        let mut taken = Vec::new();
        self.each_message_mut(|key, message| taken.extend(message.take_header().map(|header| (key, header))));
        taken
    }

    /// Gives every message the contents `read` finds under its key (to write a snapshot of
    /// format 2, which keeps them); returns the keys it found nothing, or no header, under.
    pub fn restore_contents(&mut self, mut read: impl FnMut(BodyKey) -> Option<BodyRecord>) -> Vec<BodyKey> {
        let mut missing = Vec::new();
        self.each_message_mut(|key, message| match read(key) {
            Some(record) => {
                message.restore_contents(record);
                if message.header().is_none() {
                    missing.push(key);
                }
            }
            None => missing.push(key),
        });
        missing
    }

    /// Gives every message without a header the one `read` finds under its key (to write a
    /// snapshot of format 3, which keeps them in line); returns the keys it found none under.
    pub fn restore_headers(&mut self, mut read: impl FnMut(BodyKey) -> Option<MessageHeader>) -> Vec<BodyKey> {
        let mut missing = Vec::new();
        self.each_message_mut(|key, message| {
            if message.header().is_none() {
                match read(key) {
                    Some(header) => message.restore_header(header),
                    None => missing.push(key),
                }
            }
        });
        missing
    }

    /// Which step of the formats introduced what this state holds: subscriptions, FIFO topics'
    /// state or messages published to a topic on their way to another group; topics; or
    /// neither.
    pub fn generation(&self) -> Generation {
        let from_topic = self.outbox.entries().any(|entry| entry.delivery.is_from_topic());
        if self.sns.has_subscriptions() || !self.sns.fifo_topics().is_empty() || from_topic {
            Generation::Subscriptions
        } else if !self.sns.is_empty() {
            Generation::Topics
        } else {
            Generation::Sqs
        }
    }

    /// Does some timer or task need a `Tick` at `now_ms`? Read-only.
    pub fn needs_tick(&self, now_ms: u64) -> bool {
        self.sqs_needs_tick(now_ms)
    }

    /// The data group of queue `name`.
    pub fn group_of(&self, name: &str) -> GroupId {
        self.ring.group_of(&self.config.placement, name)
    }

    /// Is `name` a queue of another data group?
    pub fn is_remote(&self, name: &str) -> bool {
        self.group_of(name) != self.config.placement.group
    }

    /// Messages waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The next batch to hand over: the oldest entries bound for the group of the oldest entry
    /// whose group is not in `skip` (groups that cannot be reached now), in position order, up
    /// to `max_entries` and `max_bytes` of message bodies and attributes (at least one).
    /// Read-only: the leader proposes nothing until the target has the batch.
    pub fn outbox_batch(
        &self,
        max_entries: usize,
        max_bytes: usize,
        skip: &BTreeSet<GroupId>,
    ) -> Option<(GroupId, Vec<OutboxEntry>)> {
        self.outbox.batch(max_entries, max_bytes, skip)
    }
}
