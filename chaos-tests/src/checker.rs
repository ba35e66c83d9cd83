//! The checkers: total-queue as Jepsen defines it (nothing acknowledged lost, nothing received
//! that was never sent) and, for FIFO queues, per-group order and exactly-once delivery of
//! deduplicated retries. They read only the history, so a history from a Docker run and one
//! from the simulation are judged alike. The `sns` workload's checker (one topic fanned out to
//! several queues) is in `checker/sns.rs`.

mod sns;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Serialize, Serializer};

use crate::history::{operations, Event, Function, Kind, Operation};
use crate::recovery::{self, Recovery, RecoveryStats};

pub use sns::{undelivered, Copies, Misrouted, Partial, QueueTally, SnsFindings};

/// Lists in a verdict hold at most this many entries; counts are not capped.
const LISTED_MAX: usize = 1000;

/// Whether a run kept the promise. `Unknown`: values are missing but the final drain could not
/// finish, so they may still be in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => serializer.serialize_bool(true),
            Validity::Invalid => serializer.serialize_bool(false),
            Validity::Unknown => serializer.serialize_str("unknown"),
        }
    }
}

/// Which rules apply: FIFO adds order and deduplication to total-queue; dead-letter (the
/// simulation's) is a standard queue whose consumers abandon some messages, which come back
/// and, received too often, move to a dead-letter queue: there a value counts as arrived only
/// once a delete of it succeeded (or may have), from either queue, since a message received
/// and abandoned can still be lost on its way to the dead-letter queue. `sns`: values are
/// published to a topic and must reach every subscribed queue whose filter accepts them, once
/// each, and no other (`checker/sns.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Queue,
    Fifo,
    DeadLetter,
    Sns,
}

/// An acknowledged value that was never received (`sns`: never received from one queue it
/// should have reached).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lost {
    pub value: u64,
    /// `sns`: the queue it is missing from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The node that acknowledged the send.
    pub node: String,
    pub process: String,
    /// When the acknowledgement came, seconds into the run.
    pub acknowledged_s: f64,
    /// `tail`: every later acknowledged send of the same producer is lost too (often an
    /// unsynced tail); `hole`: a later one arrived (worse).
    pub position: &'static str,
}

/// A message processed after a later message of its group, though its send was acknowledged
/// before the later one was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderViolation {
    pub group: String,
    pub earlier: u64,
    pub later: u64,
    /// History index of the delete that processed `earlier`, after `later` had been.
    pub at_index: u64,
}

/// A value delivered as more than one message although every send of it carried the same
/// deduplication id within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DedupViolation {
    pub value: u64,
    pub message_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LostCounts {
    pub tail: u64,
    pub hole: u64,
}

impl LostCounts {
    /// Counts one lost value: a hole (a later value of its producer arrived) or the tail.
    pub fn count(&mut self, hole: bool) {
        if hole {
            self.hole += 1;
        } else {
            self.tail += 1;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcomes {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub valid: Validity,
    pub workload: Workload,
    /// Distinct values of every send invocation.
    pub attempted: u64,
    /// Distinct values with an `ok` send.
    pub acknowledged: u64,
    /// Distinct values seen by `ok` receives, the drain included.
    pub received: u64,
    /// `sns`: (value, queue) pairs lost; elsewhere values.
    pub lost_count: u64,
    /// Lost values per node that acknowledged them: (tail, hole).
    pub lost_by_node: BTreeMap<String, LostCounts>,
    pub lost: Vec<Lost>,
    pub unexpected: Vec<u64>,
    /// Values received more times than they were sent (allowed for standard queues); `sns`:
    /// (value, queue) pairs received more than once.
    pub duplicated: u64,
    /// Deliveries from a dead-letter queue.
    pub dead_lettered: u64,
    /// Values received whose sends all ended unknown or refused, at least one unknown.
    pub recovered: u64,
    /// Values received although every send of them was refused (definitely did not happen).
    pub failed_but_received: Vec<u64>,
    /// FIFO: values delivered again by a receive that began after a delete of them had
    /// succeeded (a delete acknowledged but not done).
    pub delivered_after_delete: Vec<u64>,
    pub order_violations: Vec<OrderViolation>,
    pub dedup_violations: Vec<DedupViolation>,
    pub faults_injected: BTreeMap<String, u64>,
    pub operations: BTreeMap<String, Outcomes>,
    /// Whether the final drain saw every queue empty (`None`: no drain in the history).
    pub drain_complete: Option<bool>,
    /// Recovery over the kill faults, and over every measured fault (`recovery.rs`).
    pub recovery_kill: RecoveryStats,
    pub recovery_all: RecoveryStats,
    /// Per kill, pause and partition: how long until sends and receives through the nodes it did
    /// not hit succeeded again. Measured, not judged: it does not change `valid`.
    pub recoveries: Vec<Recovery>,
    /// What only the `sns` checker decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns: Option<SnsFindings>,
}

impl Verdict {
    /// One line for people: what the run showed.
    pub fn summary(&self) -> String {
        let valid = match self.valid {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "UNKNOWN (the drain did not finish)",
        };
        let faults: u64 = self.faults_injected.values().sum();
        let mut extra = String::new();
        if !self.failed_but_received.is_empty() {
            extra.push_str(&format!(", {} failed but received", self.failed_but_received.len()));
        }
        if !self.delivered_after_delete.is_empty() {
            extra.push_str(&format!(", {} delivered after delete", self.delivered_after_delete.len()));
        }
        if self.dead_lettered > 0 {
            extra.push_str(&format!(", {} received from the dead-letter queue", self.dead_lettered));
        }
        if let Some(sns) = &self.sns {
            let expected: u64 = sns.queues.iter().map(|queue| queue.expected).sum();
            return format!(
                "verdict: {valid}: {} published and acknowledged, {expected} deliveries expected in {} queues, \
                 {} lost, {} misrouted, {} copies, {} partial, {} unexpected, {} duplicated, {} recovered{extra}, \
                 {faults} faults",
                self.acknowledged,
                sns.queues.len(),
                self.lost_count,
                sns.misrouted.len(),
                sns.copies.len(),
                sns.partial.len(),
                self.unexpected.len(),
                self.duplicated,
                self.recovered,
            );
        }
        format!(
            "verdict: {valid}: {} acknowledged, {} lost, {} unexpected, {} duplicated, {} recovered, \
             {} order violations, {} dedup violations{extra}, {faults} faults",
            self.acknowledged,
            self.lost_count,
            self.unexpected.len(),
            self.duplicated,
            self.recovered,
            self.order_violations.len(),
            self.dedup_violations.len(),
        )
    }

    /// One line for people: how long service took to come back after the faults.
    pub fn recovery_summary(&self) -> String {
        format!("recovery: after kill {}; after any {}", self.recovery_kill.describe(), self.recovery_all.describe())
    }
}

/// What the history says about each value.
#[derive(Default)]
struct ValueFacts<'a> {
    attempts: u64,
    /// Sends that ended unknown (`info`, or no completion).
    unknown_attempts: u64,
    /// The first `ok` send: its completion event.
    acknowledged: Option<&'a Event>,
    first_invoke_index: Option<u64>,
    group: Option<&'a str>,
    sequence: Option<u64>,
    deliveries: u64,
    /// Deletes that succeeded or may have.
    deletes: u64,
    message_ids: BTreeSet<&'a str>,
}

/// Counts `operation`'s outcome under its function's name.
fn count_outcome(outcomes: &mut BTreeMap<String, Outcomes>, operation: &Operation<'_>) {
    let counts = outcomes.entry(format!("{:?}", operation.invoke.f).to_lowercase()).or_default();
    match operation.outcome() {
        Kind::Ok => counts.ok += 1,
        Kind::Fail => counts.fail += 1,
        Kind::Info | Kind::Invoke => counts.info += 1,
    }
}

/// What the nemesis and the drain recorded: faults begun per kind, and whether the drain
/// finished (`None`: no drain in the history).
fn faults_and_drain(events: &[Event]) -> (BTreeMap<String, u64>, Option<bool>) {
    let mut faults_injected: BTreeMap<String, u64> = BTreeMap::new();
    let mut drain_complete = None;
    for event in events {
        match event.f {
            Function::FaultStart => {
                *faults_injected.entry(event.fault.clone().unwrap_or_default()).or_default() += 1;
            }
            Function::DrainEnd => drain_complete = event.complete,
            _ => {}
        }
    }
    (faults_injected, drain_complete)
}

/// Judges a history. Lists in the verdict are capped; counts are not.
pub fn check(events: &[Event], workload: Workload) -> Verdict {
    if workload == Workload::Sns {
        return sns::check(events);
    }
    let mut values: HashMap<u64, ValueFacts<'_>> = HashMap::new();
    let mut outcomes: BTreeMap<String, Outcomes> = BTreeMap::new();
    // Completed sends per producer, in order, to tell a lost tail from a hole.
    let mut acknowledged_by_process: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    // FIFO: values in the order their processing (an ok delete) completed.
    let mut processed: Vec<(u64, u64)> = Vec::new();
    // Per value, the history index at which a delete of it first succeeded.
    let mut deleted_at: HashMap<u64, u64> = HashMap::new();
    let mut dead_lettered = 0;
    // Ok receives: (invoke index, values from the main queue).
    let mut receives: Vec<(u64, Vec<u64>)> = Vec::new();

    for operation in operations(events) {
        let invoke = operation.invoke;
        let outcome = operation.outcome();
        count_outcome(&mut outcomes, &operation);
        match invoke.f {
            Function::Send => {
                let Some(value) = invoke.value else { continue };
                let facts = values.entry(value).or_default();
                facts.attempts += 1;
                if matches!(outcome, Kind::Info | Kind::Invoke) {
                    facts.unknown_attempts += 1;
                }
                facts.first_invoke_index.get_or_insert(invoke.index);
                if facts.group.is_none() {
                    facts.group = invoke.group.as_deref();
                    facts.sequence = invoke.sequence;
                }
                if let (Kind::Ok, Some(done)) = (outcome, operation.completion) {
                    if facts.acknowledged.is_none() {
                        facts.acknowledged = Some(done);
                        acknowledged_by_process.entry(&invoke.process).or_default().push(value);
                    }
                }
            }
            Function::Receive => {
                let Some(done) = operation.completion.filter(|_| outcome == Kind::Ok) else { continue };
                let main = done.deliveries.iter().filter(|delivery| delivery.queue == "main");
                receives.push((invoke.index, main.map(|delivery| delivery.value).collect()));
                dead_lettered += done.deliveries.iter().filter(|delivery| delivery.queue != "main").count() as u64;
                for delivery in &done.deliveries {
                    let facts = values.entry(delivery.value).or_default();
                    facts.deliveries += 1;
                    if delivery.queue == "main" {
                        facts.message_ids.insert(&delivery.message_id);
                    }
                }
            }
            Function::Delete => {
                if let (Kind::Ok | Kind::Info | Kind::Invoke, Some(value)) = (outcome, invoke.value) {
                    values.entry(value).or_default().deletes += 1;
                }
                if let (Kind::Ok, Some(value), Some(done)) = (outcome, invoke.value, operation.completion) {
                    processed.push((value, done.index));
                    let first = deleted_at.entry(value).or_insert(done.index);
                    *first = (*first).min(done.index);
                }
            }
            Function::FaultStart
            | Function::FaultInForce
            | Function::FaultEnd
            | Function::DrainEnd
            | Function::Subscribed => {}
        }
    }
    let (faults_injected, drain_complete) = faults_and_drain(events);

    let arrived =
        |facts: &ValueFacts<'_>| facts.deliveries > 0 && (workload != Workload::DeadLetter || facts.deletes > 0);
    let mut lost = Vec::new();
    let mut lost_count = 0;
    let mut lost_by_node: BTreeMap<String, LostCounts> = BTreeMap::new();
    for (process, sent) in &acknowledged_by_process {
        // The last value of this producer that did arrive: lost values after it are the tail.
        let last_arrived = sent.iter().rposition(|value| arrived(&values[value]));
        for (position, value) in sent.iter().enumerate() {
            let facts = &values[value];
            if arrived(facts) {
                continue;
            }
            lost_count += 1;
            let done = facts.acknowledged.expect("acknowledged values have an ok send");
            let node = done.node.clone().unwrap_or_default();
            let hole = last_arrived.is_some_and(|arrived| arrived > position);
            lost_by_node.entry(node.clone()).or_default().count(hole);
            if lost.len() >= LISTED_MAX {
                continue;
            }
            lost.push(Lost {
                value: *value,
                queue: None,
                node,
                process: process.to_string(),
                acknowledged_s: done.time_s(),
                position: if hole { "hole" } else { "tail" },
            });
        }
    }
    lost.sort_by(|a, b| a.acknowledged_s.total_cmp(&b.acknowledged_s));

    let mut unexpected: Vec<u64> = values
        .iter()
        .filter(|(_, facts)| facts.deliveries > 0 && facts.attempts == 0)
        .map(|(value, _)| *value)
        .collect();
    unexpected.sort_unstable();
    unexpected.truncate(LISTED_MAX);
    let duplicated =
        values.values().filter(|facts| facts.attempts > 0 && facts.deliveries > facts.attempts).count() as u64;
    let unacknowledged_received =
        |facts: &&ValueFacts<'_>| facts.deliveries > 0 && facts.attempts > 0 && facts.acknowledged.is_none();
    let recovered =
        values.values().filter(unacknowledged_received).filter(|facts| facts.unknown_attempts > 0).count() as u64;
    let mut failed_but_received: Vec<u64> = values
        .iter()
        .filter(|(_, facts)| unacknowledged_received(facts) && facts.unknown_attempts == 0)
        .map(|(value, _)| *value)
        .collect();
    failed_but_received.sort_unstable();
    failed_but_received.truncate(LISTED_MAX);
    let mut delivered_after_delete: Vec<u64> = Vec::new();
    if workload == Workload::Fifo {
        for (invoked, delivered) in &receives {
            for value in delivered {
                if deleted_at.get(value).is_some_and(|deleted| deleted < invoked) {
                    delivered_after_delete.push(*value);
                }
            }
        }
        delivered_after_delete.sort_unstable();
        delivered_after_delete.dedup();
        delivered_after_delete.truncate(LISTED_MAX);
    }

    let (order_violations, dedup_violations) = if workload == Workload::Fifo {
        (order_violations(&values, &processed, LISTED_MAX), dedup_violations(&values, LISTED_MAX))
    } else {
        (Vec::new(), Vec::new())
    };

    let broken = !unexpected.is_empty()
        || !failed_but_received.is_empty()
        || !delivered_after_delete.is_empty()
        || !order_violations.is_empty()
        || !dedup_violations.is_empty();
    // Without a finished drain, what is missing may still be in the queue and what was not read
    // was not checked: the run shows nothing either way.
    let valid = if broken {
        Validity::Invalid
    } else if drain_complete != Some(true) {
        Validity::Unknown
    } else if lost_count == 0 {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let recoveries = recovery::recoveries(events);
    Verdict {
        valid,
        workload,
        attempted: values.values().filter(|facts| facts.attempts > 0).count() as u64,
        acknowledged: values.values().filter(|facts| facts.acknowledged.is_some()).count() as u64,
        received: values.values().filter(|facts| facts.deliveries > 0).count() as u64,
        lost_count,
        lost_by_node,
        lost,
        unexpected,
        duplicated,
        dead_lettered,
        recovered,
        failed_but_received,
        delivered_after_delete,
        order_violations,
        dedup_violations,
        faults_injected,
        operations: outcomes,
        drain_complete,
        recovery_kill: recovery::stats(recoveries.iter().filter(|recovery| recovery.fault == "kill")),
        recovery_all: recovery::stats(&recoveries),
        recoveries,
        sns: None,
    }
}

/// Per group, a message processed after a later one of its group whose send was invoked only
/// after this one's was acknowledged.
fn order_violations(
    values: &HashMap<u64, ValueFacts<'_>>,
    processed: &[(u64, u64)],
    listed_max: usize,
) -> Vec<OrderViolation> {
    let mut violations = Vec::new();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    // Per group: the values processed so far, as (sequence, value, first invoke index).
    let mut done_by_group: BTreeMap<&str, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for &(value, index) in processed {
        if !seen.insert(value) {
            continue;
        }
        let Some(facts) = values.get(&value) else { continue };
        let (Some(group), Some(sequence)) = (facts.group, facts.sequence) else { continue };
        let done = done_by_group.entry(group).or_default();
        if let Some(acknowledged) = facts.acknowledged {
            for &(later_sequence, later, later_invoked) in done.iter() {
                if later_sequence > sequence && later_invoked > acknowledged.index && violations.len() < listed_max {
                    violations.push(OrderViolation {
                        group: group.to_string(),
                        earlier: value,
                        later,
                        at_index: index,
                    });
                    break;
                }
            }
        }
        done.push((sequence, value, facts.first_invoke_index.unwrap_or(0)));
    }
    violations
}

fn dedup_violations(values: &HashMap<u64, ValueFacts<'_>>, listed_max: usize) -> Vec<DedupViolation> {
    let mut violations: Vec<DedupViolation> = values
        .iter()
        .filter(|(_, facts)| facts.attempts > 0 && facts.message_ids.len() > 1)
        .map(|(value, facts)| DedupViolation {
            value: *value,
            message_ids: facts.message_ids.iter().map(|id| id.to_string()).collect(),
        })
        .collect();
    violations.sort_by_key(|violation| violation.value);
    violations.truncate(listed_max);
    violations
}
