//! FIFO queues: message groups (one group's messages go out in order, and a group with a
//! message in flight gives out nothing more), the deduplication window, and receive attempts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{MessageState, Queue, Seq};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Every message of the group still in the queue, in send order.
    pub messages: BTreeSet<Seq>,
    pub in_flight: u32,
    /// The key under which the group sits in `available_groups`, if it does.
    available_key: Option<Seq>,
}

/// A remembered send: a repeat of its deduplication id inside the window gets its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeduplicationEntry {
    pub message_id: String,
    pub sequence_number: Option<u128>,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ReceiveAttempt {
    /// (message, receive count) pairs handed out by the attempt.
    receipts: Vec<(Seq, u32)>,
    expires_ms: u64,
}

impl Queue {
    /// Recomputes whether a group can hand out its head message.
    pub(super) fn refresh_group(&mut self, group_id: &str) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if let Some(key) = group.available_key.take() {
            self.available_groups.remove(&(key, group_id.to_string()));
        }
        let Some(&head) = group.messages.first() else {
            debug_assert_eq!(group.in_flight, 0);
            self.groups.remove(group_id);
            return;
        };
        let head_visible = self.messages.get(head).is_some_and(|m| m.state == MessageState::Visible);
        if group.in_flight == 0 && head_visible {
            group.available_key = Some(head);
            self.available_groups.insert((head, group_id.to_string()));
        }
    }

    pub(super) fn group_in_flight_started(&mut self, group_id: &str) {
        if let Some(group) = self.groups.get_mut(group_id) {
            group.in_flight += 1;
        }
        self.refresh_group(group_id);
    }

    /// A message of a group stopped being in flight (visible again, or changed to visible).
    pub(super) fn group_in_flight_ended(&mut self, seq: Seq) {
        let Some(group_id) = self.messages.get(seq).and_then(|m| m.group_id().map(str::to_string)) else {
            return;
        };
        if let Some(group) = self.groups.get_mut(&group_id) {
            debug_assert!(group.in_flight > 0);
            group.in_flight = group.in_flight.saturating_sub(1);
        }
        self.refresh_group(&group_id);
    }

    pub(super) fn remove_from_group(&mut self, group_id: &str, seq: Seq, was_in_flight: bool) {
        if let Some(group) = self.groups.get_mut(group_id) {
            group.messages.remove(&seq);
            if was_in_flight {
                debug_assert!(group.in_flight > 0);
                group.in_flight = group.in_flight.saturating_sub(1);
            }
        }
        self.refresh_group(group_id);
    }

    /// Oldest available group first; from each group its leading visible messages, in order.
    pub(super) fn fifo_candidates(&self, max: usize) -> Vec<Seq> {
        let mut chosen = Vec::new();
        for (_, group_id) in &self.available_groups {
            let Some(group) = self.groups.get(group_id) else {
                continue;
            };
            for seq in &group.messages {
                if chosen.len() == max {
                    return chosen;
                }
                let visible = self.messages.get(*seq).is_some_and(|m| m.state == MessageState::Visible);
                if !visible {
                    break;
                }
                chosen.push(*seq);
            }
            if chosen.len() == max {
                break;
            }
        }
        chosen
    }

    /// The key a deduplication id is remembered under, by the queue's deduplication scope.
    pub fn deduplication_key(&self, group_id: &str, deduplication_id: &str) -> String {
        match self.config.deduplication_scope {
            super::DeduplicationScope::Queue => deduplication_id.to_string(),
            super::DeduplicationScope::MessageGroup => format!("{group_id}\u{0}{deduplication_id}"),
        }
    }

    pub fn find_duplicate(&self, key: &str, now_ms: u64) -> Option<&DeduplicationEntry> {
        self.deduplication.get(key).filter(|entry| entry.expires_ms > now_ms)
    }

    pub fn remember_deduplication(&mut self, key: String, entry: DeduplicationEntry) {
        if let Some(old) = self.deduplication.get(&key) {
            self.deduplication_expiry.remove(&(old.expires_ms, key.clone()));
        }
        self.deduplication_expiry.insert((entry.expires_ms, key.clone()));
        self.deduplication.insert(key, entry);
    }

    /// A retried receive with a known attempt id gets the same messages and receipt handles
    /// again, with their visibility timeout restarted, as long as all are still in flight
    /// from that receive. Otherwise the attempt is forgotten and `None` returned.
    pub fn replay_receive_attempt(
        &mut self,
        attempt_id: &str,
        visibility_timeout_seconds: u32,
        now_ms: u64,
    ) -> Option<Vec<Seq>> {
        let attempt = self.receive_attempts.get(attempt_id)?;
        let still_held = attempt.expires_ms > now_ms
            && attempt.receipts.iter().all(|(seq, count)| {
                self.messages.get(*seq).is_some_and(|m| {
                    m.receive_count == *count
                        && matches!(m.state, MessageState::InFlight { visible_at_ms } if visible_at_ms > now_ms)
                })
            });
        if !still_held {
            let expires_ms = attempt.expires_ms;
            self.receive_attempts.remove(attempt_id);
            self.receive_attempt_expiry.remove(&(expires_ms, attempt_id.to_string()));
            return None;
        }
        let seqs: Vec<Seq> = attempt.receipts.iter().map(|(seq, _)| *seq).collect();
        let new_visible_at_ms = now_ms + u64::from(visibility_timeout_seconds) * 1000;
        for seq in &seqs {
            let Some(MessageState::InFlight { visible_at_ms }) = self.messages.get(*seq).map(|m| m.state) else {
                continue;
            };
            self.in_flight.remove(&(visible_at_ms, *seq));
            self.messages
                .update(*seq, |message| message.state = MessageState::InFlight { visible_at_ms: new_visible_at_ms });
            self.in_flight.insert((new_visible_at_ms, *seq));
        }
        Some(seqs)
    }

    pub fn remember_receive_attempt(&mut self, attempt_id: String, seqs: &[Seq], now_ms: u64) {
        let receipts = seqs.iter().filter_map(|seq| self.messages.get(*seq).map(|m| (*seq, m.receive_count))).collect();
        let expires_ms = now_ms + crate::limits::DEDUPLICATION_WINDOW_MS;
        if let Some(old) = self.receive_attempts.get(&attempt_id) {
            self.receive_attempt_expiry.remove(&(old.expires_ms, attempt_id.clone()));
        }
        self.receive_attempt_expiry.insert((expires_ms, attempt_id.clone()));
        self.receive_attempts.insert(attempt_id, ReceiveAttempt { receipts, expires_ms });
    }

    pub(super) fn expire_fifo_windows(&mut self, now_ms: u64) {
        // Peek before popping: this runs on every entry, and cloning the key would allocate.
        while self.deduplication_expiry.first().is_some_and(|(at, _)| *at <= now_ms) {
            if let Some((_, key)) = self.deduplication_expiry.pop_first() {
                self.deduplication.remove(&key);
            }
        }
        while self.receive_attempt_expiry.first().is_some_and(|(at, _)| *at <= now_ms) {
            if let Some((_, key)) = self.receive_attempt_expiry.pop_first() {
                self.receive_attempts.remove(&key);
            }
        }
    }
}
