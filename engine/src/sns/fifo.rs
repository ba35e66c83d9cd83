//! FIFO topics: what a publish to one must carry (a message group, and a deduplication id unless
//! the topic deduplicates by content), the five-minute deduplication window (topic-wide, or per
//! message group with `FifoThroughputScope=MessageGroup`, and kept after delivery), and the
//! topic's sequence numbers. Kept beside the topics rather than in them: snapshot format 7 writes
//! it after format 6's SNS state (`shoal_raft::format`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command::PublishEntry;
use crate::error::{SnsError, SnsResult};
use crate::limits;

/// The deduplication and sequence state of every FIFO topic published to, by topic name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FifoTopics {
    topics: BTreeMap<String, FifoTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct FifoTopic {
    /// The last sequence number given out.
    sequence: u128,
    /// Deduplication key -> what was published under it, until it expires.
    published: BTreeMap<String, Published>,
    /// (expiry, key), to forget expired keys in order.
    expiry: BTreeSet<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Published {
    message_id: String,
    sequence: u128,
    expires_ms: u64,
}

/// What a publish to a FIFO topic is: new, with its sequence number, or a repeat of one
/// published within the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    New { sequence: u128, group_id: String, deduplication_id: String },
    Repeat { message_id: String, sequence: u128 },
}

/// Checks what a message to a FIFO topic must carry; the deduplication id it has (given, or the
/// SHA-256 of the message when the topic deduplicates by content).
pub fn check_entry(entry: &PublishEntry, content_based: bool) -> SnsResult<(String, String)> {
    let Some(group_id) = &entry.group_id else {
        return Err(SnsError::invalid_parameter("The MessageGroupId parameter is required for FIFO topics"));
    };
    check_id("MessageGroupId", group_id)?;
    let deduplication_id = match &entry.deduplication_id {
        Some(id) => {
            check_id("MessageDeduplicationId", id)?;
            id.clone()
        }
        None if content_based => hex::encode(Sha256::digest(entry.message.as_bytes())),
        None => {
            return Err(SnsError::invalid_parameter(
                "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ))
        }
    };
    Ok((group_id.clone(), deduplication_id))
}

/// FIFO ids: 1 to 128 of alphanumerics and punctuation, as SQS's.
fn check_id(parameter: &str, id: &str) -> SnsResult<()> {
    if crate::message::is_valid_fifo_id(id) {
        Ok(())
    } else {
        Err(SnsError::invalid_parameter(format!(
            "{parameter} Reason: must be 1 to {} alphanumeric or punctuation characters",
            limits::FIFO_ID_LENGTH_MAX
        )))
    }
}

impl FifoTopics {
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Admits a checked message to FIFO topic `topic`: a repeat of a deduplication key seen
    /// within the window answers as the original, else the message gets the next sequence
    /// number and its key is remembered. `per_group`: the key is the group's and the id's.
    pub fn admit(
        &mut self,
        topic: &str,
        message_id: &str,
        (group_id, deduplication_id): (String, String),
        per_group: bool,
        now_ms: u64,
    ) -> Admission {
        let state = self.topics.entry(topic.to_string()).or_default();
        while let Some((expires_ms, key)) = state.expiry.first().cloned() {
            if expires_ms > now_ms {
                break;
            }
            state.expiry.pop_first();
            state.published.remove(&key);
        }
        let key = if per_group { format!("{group_id}\u{0}{deduplication_id}") } else { deduplication_id.clone() };
        if let Some(published) = state.published.get(&key) {
            return Admission::Repeat { message_id: published.message_id.clone(), sequence: published.sequence };
        }
        state.sequence += 1;
        let expires_ms = now_ms.saturating_add(limits::DEDUPLICATION_WINDOW_MS);
        let published = Published { message_id: message_id.to_string(), sequence: state.sequence, expires_ms };
        state.expiry.insert((expires_ms, key.clone()));
        state.published.insert(key, published);
        Admission::New { sequence: state.sequence, group_id, deduplication_id }
    }

    /// Forgets a deleted topic (a topic created again under its name starts afresh).
    pub fn forget(&mut self, topic: &str) {
        self.topics.remove(topic);
    }
}
