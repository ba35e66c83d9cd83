//! A group's queues by name, and the index of their timers that lets a `Tick` and the
//! question "is a `Tick` due?" cost the due queues only, not every queue: with 100,000 queues,
//! of which a handful hold messages, an idle group does nothing per second.
//!
//! The index is derived state: not in snapshots (a snapshot holds the map alone, byte for byte
//! as before), rebuilt when one is read. It stays true because a queue can only be changed
//! through `get_mut`, `insert` or `remove`, which note its name; `refile` then files the
//! noted queues' next deadlines again, once per applied entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::queue::Queue;
use crate::bodies::BodyEffect;

#[derive(Debug, Clone, Default)]
pub(crate) struct Queues {
    by_name: BTreeMap<String, Queue>,
    /// Every queue with a timer, by its next deadline as last filed.
    deadlines: BTreeSet<(u64, String)>,
    /// The deadline each queue is filed under in `deadlines`.
    filed: HashMap<String, u64>,
    /// Queues lent for change since they were last filed.
    touched: BTreeSet<String>,
    /// The store's work for every queue, gathered at `refile` and on `remove`, in order.
    body_effects: Vec<BodyEffect>,
}

impl Queues {
    pub(crate) fn get(&self, name: &str) -> Option<&Queue> {
        self.by_name.get(name)
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Lends queue `name` for change; its timers are filed again at the next `refile`.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Queue> {
        let queue = self.by_name.get_mut(name)?;
        if !self.touched.contains(name) {
            self.touched.insert(name.to_string());
        }
        Some(queue)
    }

    pub(crate) fn insert(&mut self, name: String, queue: Queue) {
        self.touched.insert(name.clone());
        self.by_name.insert(name, queue);
    }

    /// Removes queue `name`; its messages' contents are released.
    pub(crate) fn remove(&mut self, name: &str) -> Option<Queue> {
        let mut queue = self.by_name.remove(name)?;
        self.body_effects.extend(queue.release_all());
        self.touched.insert(name.to_string());
        Some(queue)
    }

    /// Adds work for the store that no queue's own change carries (the outbox's).
    pub(crate) fn note_body_effect(&mut self, effect: BodyEffect) {
        self.body_effects.push(effect);
    }

    /// Hands over the store's work since the last call, in the order it arose per queue.
    pub(crate) fn take_body_effects(&mut self) -> Vec<BodyEffect> {
        self.refile();
        std::mem::take(&mut self.body_effects)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Queue> {
        self.by_name.values()
    }

    /// Every queue, to take or give back its messages' contents: no timer changes, so none is
    /// marked touched.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Queue> {
        self.by_name.values_mut()
    }

    /// Names with `prefix` after `start_after` (all of them without), in name order: a range
    /// of the map, so paging through many queues costs each page only its own names.
    pub(crate) fn names_from<'a>(
        &'a self,
        prefix: &'a str,
        start_after: Option<&str>,
    ) -> impl Iterator<Item = &'a String> + 'a {
        use std::ops::Bound::{Excluded, Included};
        let start = match start_after {
            Some(after) if after >= prefix => Excluded(after.to_string()),
            _ => Included(prefix.to_string()),
        };
        self.by_name
            .range::<String, _>((start, std::ops::Bound::Unbounded))
            .map(|(name, _)| name)
            .take_while(move |name| name.starts_with(prefix))
    }

    /// The earliest deadline of any queue's timers (as of the last `refile`).
    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Fires the timers of every queue due at `now_ms`, and only theirs.
    pub(crate) fn advance_due(&mut self, now_ms: u64) {
        self.refile();
        let due: Vec<String> =
            self.deadlines.iter().take_while(|(at, _)| *at <= now_ms).map(|(_, name)| name.clone()).collect();
        for name in due {
            if let Some(queue) = self.get_mut(&name) {
                queue.advance(now_ms);
            }
        }
        self.refile();
    }

    /// Files the next deadline of every queue changed since the last call.
    pub(crate) fn refile(&mut self) {
        for name in std::mem::take(&mut self.touched) {
            if let Some(queue) = self.by_name.get_mut(&name) {
                self.body_effects.extend(queue.take_body_effects());
            }
            self.file(name);
        }
    }

    fn file(&mut self, name: String) {
        let next = self.by_name.get(&name).and_then(Queue::next_deadline_ms);
        let filed = self.filed.get(&name).copied();
        if next == filed {
            return;
        }
        if let Some(at) = filed {
            self.deadlines.remove(&(at, name.clone()));
            self.filed.remove(&name);
        }
        if let Some(at) = next {
            self.deadlines.insert((at, name.clone()));
            self.filed.insert(name, at);
        }
    }

    fn from_map(by_name: BTreeMap<String, Queue>) -> Queues {
        let touched = by_name.keys().cloned().collect();
        let mut queues =
            Queues { by_name, deadlines: BTreeSet::new(), filed: HashMap::new(), touched, body_effects: Vec::new() };
        queues.refile();
        queues
    }
}

/// Equal queues; the index follows from them.
impl PartialEq for Queues {
    fn eq(&self, other: &Queues) -> bool {
        self.by_name == other.by_name
    }
}

impl Eq for Queues {}

/// Exactly the map: snapshots hold no index.
impl Serialize for Queues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_name.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Queues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Queues, D::Error> {
        BTreeMap::deserialize(deserializer).map(Queues::from_map)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bodies::BodyRecord;
    use crate::message::{MessageAttributes, MessageId};
    use crate::sqs::queue::{Message, QueueConfig};

    fn queue(name: &str) -> Queue {
        Queue::new(name.to_string(), format!("arn:{name}"), 1, QueueConfig::defaults(false), 0)
    }

    /// Sends one message to `queue` at `now_ms`.
    fn send(queue: &mut Queue, now_ms: u64) {
        let contents = BodyRecord {
            body: Arc::from("body"),
            attributes: MessageAttributes::new(),
            system_attributes: MessageAttributes::new(),
            header: None,
        };
        let message = Message::new(MessageId::new("m"), [0; 16], Arc::from("sender"), now_ms).with_contents(contents);
        queue.enqueue(message, 0, now_ms);
    }

    fn names(queues: &Queues, prefix: &str, start_after: Option<&str>) -> Vec<String> {
        queues.names_from(prefix, start_after).cloned().collect()
    }

    #[test]
    fn names_from_ranges_over_the_prefix_after_the_start() {
        let mut queues = Queues::default();
        for name in ["a", "b1", "b2", "b3", "c"] {
            queues.insert(name.to_string(), queue(name));
        }
        assert_eq!(names(&queues, "", None), ["a", "b1", "b2", "b3", "c"]);
        assert_eq!(names(&queues, "b", None), ["b1", "b2", "b3"]);
        assert_eq!(names(&queues, "b", Some("b1")), ["b2", "b3"]);
        // A start before the prefix starts at the prefix; one after everything gives nothing.
        assert_eq!(names(&queues, "b", Some("a")), ["b1", "b2", "b3"]);
        assert_eq!(names(&queues, "b", Some("b3")), Vec::<String>::new());
        assert_eq!(names(&queues, "", Some("b2")), ["b3", "c"]);
    }

    #[test]
    fn an_idle_queue_is_not_filed_and_a_changed_one_is_refiled() {
        let mut queues = Queues::default();
        queues.insert("idle".to_string(), queue("idle"));
        queues.insert("busy".to_string(), queue("busy"));
        queues.refile();
        assert_eq!(queues.next_deadline_ms(), None);

        // A message sent at 0 expires after the retention period: a deadline.
        let retention_ms = u64::from(QueueConfig::defaults(false).retention_seconds) * 1000;
        send(queues.get_mut("busy").expect("queue"), 0);
        assert_eq!(queues.next_deadline_ms(), None, "filed only at refile");
        queues.refile();
        assert_eq!(queues.next_deadline_ms(), Some(retention_ms));

        // Due: advanced and refiled; the expired message leaves no timer.
        queues.advance_due(retention_ms);
        assert_eq!(queues.next_deadline_ms(), None);
        assert_eq!(queues.get("busy").expect("queue").len(), 0);

        // Removing a filed queue unfiles it.
        send(queues.get_mut("busy").expect("queue"), retention_ms);
        queues.refile();
        assert!(queues.next_deadline_ms().is_some());
        queues.remove("busy");
        queues.refile();
        assert_eq!(queues.next_deadline_ms(), None);
    }

    #[test]
    fn the_index_is_rebuilt_when_read_and_not_written() {
        let mut queues = Queues::default();
        queues.insert("q".to_string(), queue("q"));
        send(queues.get_mut("q").expect("queue"), 5);
        queues.refile();
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&queues, config).expect("encode");
        let map_bytes = bincode::serde::encode_to_vec(&queues.by_name, config).expect("encode");
        assert_eq!(bytes, map_bytes, "a snapshot holds the map alone");
        let (read, _): (Queues, usize) = bincode::serde::decode_from_slice(&bytes, config).expect("decode");
        assert_eq!(read.next_deadline_ms(), queues.next_deadline_ms());
        assert_eq!(read, queues);
    }
}
