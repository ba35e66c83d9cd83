//! The `sns` checker: one topic, several queues subscribed to it (some with a filter policy on
//! a message attribute), producers publishing unique values, consumers receiving from every
//! queue. Shoal promises that a publish is one log entry of the topic's group and that each
//! subscription whose filter accepts it gets it exactly once: queues of the same group in that
//! entry, queues of other groups through the outbox, which they take once. So, per value and
//! queue:
//!
//! - an acknowledged publish must reach every queue whose filter accepts it (`lost` otherwise,
//!   per value and queue, once the drain has finished);
//! - a queue whose filter does not accept a publish must never hold it (`misrouted`);
//! - nothing may arrive that was never published (`unexpected`) or whose every publish was
//!   refused (`failed_but_received`);
//! - a publish is one message in each queue: the same message received again after its
//!   visibility timeout is a redelivery (`duplicated`, allowed), but two messages of one
//!   publish in one queue (two message ids, or one receive count seen by two receives) break
//!   the exactly-once promise (`copies`);
//! - a publish whose outcome was unknown may or may not have happened, but it is one entry,
//!   so after the drain it is in every queue it matches or in none (`partial` otherwise).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::{count_outcome, faults_and_drain, Lost, LostCounts, Outcomes, Validity, Verdict, Workload, LISTED_MAX};
use crate::history::{operations, Event, Function, Kind};
use crate::recovery;

/// What only the `sns` checker decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnsFindings {
    /// Per subscribed queue, in name order.
    pub queues: Vec<QueueTally>,
    pub misrouted: Vec<Misrouted>,
    pub copies: Vec<Copies>,
    pub partial: Vec<Partial>,
}

/// One subscribed queue: what it should hold and what it delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueTally {
    pub queue: String,
    /// Per attribute, the values the subscription accepts; empty: every publish.
    pub filter: BTreeMap<String, Vec<String>>,
    /// Acknowledged publishes the filter accepts.
    pub expected: u64,
    /// Distinct values received from the queue.
    pub received: u64,
    pub lost: u64,
    /// Values received from the queue more than once.
    pub duplicated: u64,
}

/// A value received from a queue whose filter does not accept it (or that no subscription
/// names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Misrouted {
    pub queue: String,
    pub value: u64,
}

/// A publish held in one queue as more than one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copies {
    pub queue: String,
    pub value: u64,
    pub message_ids: Vec<String>,
    /// `ApproximateReceiveCount` of each delivery, in history order: a count seen twice is two
    /// messages (each receive of one message counts one more).
    pub receive_counts: Vec<u32>,
}

/// A publish whose outcome was unknown, found after the drain in some of the queues it
/// matches but not in others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Partial {
    pub value: u64,
    pub received_in: Vec<String>,
    pub missing_from: Vec<String>,
}

/// What the history says about one published value.
#[derive(Default)]
struct Publish<'a> {
    attempts: u64,
    /// Publishes that ended unknown (`info`, or no completion).
    unknown_attempts: u64,
    /// The first `ok` publish: its completion event.
    acknowledged: Option<&'a Event>,
    /// The attributes of its first invocation.
    attributes: Option<&'a BTreeMap<String, String>>,
}

/// One value in one queue, as the receives saw it.
#[derive(Default)]
struct Arrival<'a> {
    deliveries: u64,
    message_ids: BTreeSet<&'a str>,
    receive_counts: Vec<u32>,
}

/// Everything the decisions read, gathered in one pass.
struct Facts<'a> {
    /// Per subscribed queue, its filter.
    subscriptions: BTreeMap<&'a str, &'a BTreeMap<String, Vec<String>>>,
    publishes: HashMap<u64, Publish<'a>>,
    /// Per (queue, value), what arrived.
    arrivals: BTreeMap<(&'a str, u64), Arrival<'a>>,
    /// Per value, the queues it arrived in.
    arrived_in: HashMap<u64, BTreeSet<&'a str>>,
    /// Acknowledged values per producer, in order, to tell a lost tail from a hole.
    acknowledged_by_process: BTreeMap<&'a str, Vec<u64>>,
    outcomes: BTreeMap<String, Outcomes>,
}

/// Whether a message with `attributes` passes `filter`: every attribute the filter names is
/// present with one of the values it lists (SNS's exact string matching; an empty filter
/// passes everything).
pub fn matches(filter: &BTreeMap<String, Vec<String>>, attributes: &BTreeMap<String, String>) -> bool {
    filter.iter().all(|(name, accepted)| attributes.get(name).is_some_and(|value| accepted.contains(value)))
}

impl<'a> Facts<'a> {
    fn gather(events: &'a [Event]) -> Facts<'a> {
        let mut facts = Facts {
            subscriptions: BTreeMap::new(),
            publishes: HashMap::new(),
            arrivals: BTreeMap::new(),
            arrived_in: HashMap::new(),
            acknowledged_by_process: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        };
        for event in events {
            if let (Function::Subscribed, Some(queue)) = (event.f, event.queue.as_deref()) {
                facts.subscriptions.insert(queue, &event.filter);
            }
        }
        for operation in operations(events) {
            count_outcome(&mut facts.outcomes, &operation);
            let (invoke, outcome) = (operation.invoke, operation.outcome());
            match invoke.f {
                Function::Send => {
                    let Some(value) = invoke.value else { continue };
                    let publish = facts.publishes.entry(value).or_default();
                    publish.attempts += 1;
                    publish.attributes.get_or_insert(&invoke.attributes);
                    if matches!(outcome, Kind::Info | Kind::Invoke) {
                        publish.unknown_attempts += 1;
                    }
                    if let (Kind::Ok, Some(done), None) = (outcome, operation.completion, publish.acknowledged) {
                        publish.acknowledged = Some(done);
                        facts.acknowledged_by_process.entry(&invoke.process).or_default().push(value);
                    }
                }
                Function::Receive => {
                    let Some(done) = operation.completion.filter(|_| outcome == Kind::Ok) else { continue };
                    for delivery in &done.deliveries {
                        let arrival = facts.arrivals.entry((delivery.queue.as_str(), delivery.value)).or_default();
                        arrival.deliveries += 1;
                        arrival.message_ids.insert(&delivery.message_id);
                        arrival.receive_counts.extend(delivery.receive_count);
                        facts.arrived_in.entry(delivery.value).or_default().insert(&delivery.queue);
                    }
                }
                _ => {}
            }
        }
        facts
    }

    /// The subscribed queues whose filter accepts `attributes`.
    fn matching<'b>(&'b self, attributes: &'b BTreeMap<String, String>) -> impl Iterator<Item = &'a str> + 'b {
        self.subscriptions.iter().filter(|(_, filter)| matches(filter, attributes)).map(|(queue, _)| *queue)
    }

    fn arrived(&self, queue: &str, value: u64) -> bool {
        self.arrived_in.get(&value).is_some_and(|queues| queues.contains(queue))
    }

    /// The (value, queue) pairs the history owes and has not seen: for every value published
    /// and acknowledged, or received from any queue, each queue it matches that has not
    /// delivered it.
    fn undelivered(&self) -> impl Iterator<Item = (u64, &'a str)> + '_ {
        let owed = self
            .publishes
            .iter()
            .filter(|(value, publish)| publish.acknowledged.is_some() || self.arrived_in.contains_key(value));
        owed.flat_map(move |(value, publish)| {
            let attributes = publish.attributes.expect("an attempted value has its invocation's attributes");
            self.matching(attributes).filter(|queue| !self.arrived(queue, *value)).map(|queue| (*value, queue))
        })
    }
}

/// How many deliveries the history owes and has not seen (see `Facts::undelivered`): the
/// drain reads until this is 0 or the queues stay empty.
pub fn undelivered(events: &[Event]) -> usize {
    Facts::gather(events).undelivered().count()
}

pub(super) fn check(events: &[Event]) -> Verdict {
    let facts = Facts::gather(events);
    let (faults_injected, drain_complete) = faults_and_drain(events);

    let mut queues: BTreeMap<&str, QueueTally> = BTreeMap::new();
    for (queue, filter) in &facts.subscriptions {
        let tally = QueueTally {
            queue: queue.to_string(),
            filter: (*filter).clone(),
            expected: 0,
            received: 0,
            lost: 0,
            duplicated: 0,
        };
        queues.insert(queue, tally);
    }

    // Lost: per queue and producer, the acknowledged values that queue should hold.
    let mut lost = Vec::new();
    let mut lost_count = 0;
    let mut lost_by_node: BTreeMap<String, LostCounts> = BTreeMap::new();
    for (process, sent) in &facts.acknowledged_by_process {
        for (queue, tally) in queues.iter_mut() {
            let owed: Vec<u64> = sent
                .iter()
                .copied()
                .filter(|value| facts.publishes[value].attributes.is_some_and(|a| matches(&tally.filter, a)))
                .collect();
            tally.expected += owed.len() as u64;
            let last_arrived = owed.iter().rposition(|value| facts.arrived(queue, *value));
            for (position, value) in owed.iter().enumerate() {
                if facts.arrived(queue, *value) {
                    continue;
                }
                lost_count += 1;
                tally.lost += 1;
                let done = facts.publishes[value].acknowledged.expect("acknowledged values have an ok publish");
                let node = done.node.clone().unwrap_or_default();
                let hole = last_arrived.is_some_and(|arrived| arrived > position);
                lost_by_node.entry(node.clone()).or_default().count(hole);
                if lost.len() < LISTED_MAX {
                    lost.push(Lost {
                        value: *value,
                        queue: Some(queue.to_string()),
                        node,
                        process: process.to_string(),
                        acknowledged_s: done.time_s(),
                        position: if hole { "hole" } else { "tail" },
                    });
                }
            }
        }
    }
    lost.sort_by(|a, b| a.acknowledged_s.total_cmp(&b.acknowledged_s).then(a.queue.cmp(&b.queue)));

    // Per (queue, value): where it should not be, and as how many messages.
    let mut unexpected = BTreeSet::new();
    let mut misrouted = Vec::new();
    let mut copies = Vec::new();
    let mut duplicated = 0;
    for ((queue, value), arrival) in &facts.arrivals {
        if arrival.deliveries > 1 {
            duplicated += 1;
        }
        if let Some(tally) = queues.get_mut(queue) {
            tally.received += 1;
            tally.duplicated += u64::from(arrival.deliveries > 1);
        }
        match facts.publishes.get(value).and_then(|publish| publish.attributes) {
            None => {
                unexpected.insert(*value);
            }
            Some(attributes) => {
                let accepted = facts.subscriptions.get(queue).is_some_and(|filter| matches(filter, attributes));
                if !accepted {
                    misrouted.push(Misrouted { queue: queue.to_string(), value: *value });
                }
            }
        }
        let mut counts_seen = BTreeSet::new();
        let count_seen_twice = arrival.receive_counts.iter().any(|count| !counts_seen.insert(*count));
        if arrival.message_ids.len() > 1 || count_seen_twice {
            copies.push(Copies {
                queue: queue.to_string(),
                value: *value,
                message_ids: arrival.message_ids.iter().map(|id| id.to_string()).collect(),
                receive_counts: arrival.receive_counts.clone(),
            });
        }
    }
    misrouted.truncate(LISTED_MAX);
    copies.truncate(LISTED_MAX);

    // Per value received but not acknowledged: recovered (some publish of it ended unknown) or
    // refused every time; and whether it reached every queue it matches.
    let mut recovered = 0;
    let mut failed_but_received = Vec::new();
    let mut partial = Vec::new();
    for (value, arrived_in) in &facts.arrived_in {
        let Some(publish) = facts.publishes.get(value) else { continue };
        if publish.acknowledged.is_some() {
            continue;
        }
        if publish.unknown_attempts == 0 {
            failed_but_received.push(*value);
            continue;
        }
        recovered += 1;
        let attributes = publish.attributes.expect("an attempted value has its invocation's attributes");
        let missing_from: Vec<String> =
            facts.matching(attributes).filter(|queue| !arrived_in.contains(queue)).map(str::to_string).collect();
        if !missing_from.is_empty() {
            let received_in = arrived_in.iter().map(|queue| queue.to_string()).collect();
            partial.push(Partial { value: *value, received_in, missing_from });
        }
    }
    failed_but_received.sort_unstable();
    failed_but_received.truncate(LISTED_MAX);
    partial.sort_by_key(|partial| partial.value);
    partial.truncate(LISTED_MAX);
    let unexpected: Vec<u64> = unexpected.into_iter().take(LISTED_MAX).collect();

    let broken =
        !unexpected.is_empty() || !failed_but_received.is_empty() || !misrouted.is_empty() || !copies.is_empty();
    // Lost and partial publishes are only known once the drain has read everything: before, a
    // delivery may still be on its way through the outbox.
    let valid = if broken {
        Validity::Invalid
    } else if drain_complete != Some(true) {
        Validity::Unknown
    } else if lost_count == 0 && partial.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let recoveries = recovery::recoveries(events);
    Verdict {
        valid,
        workload: Workload::Sns,
        attempted: facts.publishes.values().filter(|publish| publish.attempts > 0).count() as u64,
        acknowledged: facts.publishes.values().filter(|publish| publish.acknowledged.is_some()).count() as u64,
        received: facts.arrived_in.len() as u64,
        lost_count,
        lost_by_node,
        lost,
        unexpected,
        duplicated,
        dead_lettered: 0,
        recovered,
        failed_but_received,
        delivered_after_delete: Vec::new(),
        order_violations: Vec::new(),
        dedup_violations: Vec::new(),
        faults_injected,
        operations: facts.outcomes,
        drain_complete,
        recovery_kill: recovery::stats(recoveries.iter().filter(|recovery| recovery.fault == "kill")),
        recovery_all: recovery::stats(&recoveries),
        recoveries,
        sns: Some(SnsFindings { queues: queues.into_values().collect(), misrouted, copies, partial }),
    }
}
