//! Where message contents go: the engine keeps the index of every message (state, timers,
//! receive counts) and names each message's contents (body, attributes) by a [`BodyKey`]; it
//! reports what to store and what to release as [`BodyEffect`]s, which the state machine
//! outside the engine carries out on disk. So the engine stays IO-free, and the contents of a
//! large backlog need not sit in memory.
//!
//! A key is a pure function of the applied log (the queue's incarnation, unique in its group,
//! and the message's position in that queue, never reused; or the position of an outbox entry),
//! so the same key names the same contents on every replica and at every replay.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::message::{MessageAttributes, MessageId};

/// Names the stored contents of one message of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BodyKey {
    pub incarnation: u64,
    pub seq: u64,
}

impl BodyKey {
    /// Big endian, so keys sort as they compare.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.incarnation.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        bytes
    }

    pub fn from_bytes(bytes: [u8; 16]) -> BodyKey {
        let (incarnation, seq) = bytes.split_at(8);
        BodyKey {
            incarnation: u64::from_be_bytes(incarnation.try_into().expect("8 bytes")),
            seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
        }
    }
}

/// The contents of a message, as stored under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyRecord {
    pub body: Arc<str>,
    pub attributes: MessageAttributes,
    /// The system attributes the sender set (`AWSTraceHeader`).
    pub system_attributes: MessageAttributes,
    /// What never changes about the message, where the record has it: stored after the rest
    /// (a record written before it existed has none), so it is not part of this encoding.
    #[serde(skip)]
    pub header: Option<MessageHeader>,
}

/// What never changes about a message after its send, kept with its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    pub message_id: MessageId,
    pub md5_of_body: [u8; 16],
    pub sender_id: Arc<str>,
    pub sent_ms: u64,
}

/// What applying an entry asks of the store, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEffect {
    /// A message entered a queue: keep its contents under its key.
    Store(BodyKey, Arc<BodyRecord>),
    /// A message left its queue (deleted, expired, purged, moved, its queue deleted): its key
    /// is never named again.
    Release(BodyKey),
    /// A message moved (to another queue of the group, into the outbox, or back out of it): its
    /// contents are kept under `to` as well, and `from` is released by its own effect.
    Move { from: BodyKey, to: BodyKey },
}

/// Where a message entering a queue or the outbox has its contents.
#[derive(Debug)]
pub enum Arriving {
    /// Already stored, under this key: they move.
    StoredAt(BodyKey),
    /// With the message: they are stored.
    Carried(BodyRecord),
}

impl Arriving {
    /// What the store does for contents arriving under key `to`.
    pub fn effect(self, to: BodyKey) -> BodyEffect {
        match self {
            Arriving::StoredAt(from) => BodyEffect::Move { from, to },
            Arriving::Carried(record) => BodyEffect::Store(to, Arc::new(record)),
        }
    }
}

/// The body of a message whose contents are elsewhere: one shared allocation for all.
pub fn empty_body() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

/// Incarnation 0 is no queue's (they start at 1): keys with it name the contents of the outbox
/// entry at position `seq`.
pub fn outbox_key(position: u64) -> BodyKey {
    BodyKey { incarnation: 0, seq: position }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_round_trip_and_sort_as_bytes() {
        let keys = [
            BodyKey { incarnation: 1, seq: 2 },
            BodyKey { incarnation: 1, seq: 256 },
            BodyKey { incarnation: 2, seq: 0 },
            BodyKey { incarnation: u64::MAX, seq: u64::MAX },
        ];
        for key in keys {
            assert_eq!(BodyKey::from_bytes(key.to_bytes()), key);
        }
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1] && pair[0].to_bytes() < pair[1].to_bytes());
        }
    }
}
