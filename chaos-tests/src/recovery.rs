//! Failover time per fault: how long after a fault began requests through the nodes it did not
//! hit succeeded again. Like the checkers, it reads only the history.
//!
//! A fault's recovery is the later of two moments, each counted from the fault's start: the
//! first completion of an `ok` send, and of an `ok` receive, that began after the fault was in
//! force, through a node the fault did not hit, and before the next fault (or the drain) began.
//! An operation that began before the fault never counts, whatever it waited for.

use std::cmp::Ordering;

use serde::Serialize;

use crate::history::{self, operations, Event, Function, Kind, Operation};

/// The faults whose recovery is measured: each takes a node, or a minority, out of service.
/// A clock step stops nothing, and a rolling restart hits every node.
pub const MEASURED_FAULTS: [&str; 3] = ["kill", "pause", "partition"];

/// One fault and how long service through the nodes it did not hit took to come back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovery {
    pub fault: String,
    /// The nodes the fault hit (for a partition, those it cut off from a majority).
    pub nodes: Vec<String>,
    /// What the nemesis did, as it logged it.
    pub detail: Option<String>,
    /// When the fault began (before the nemesis acted), seconds into the run.
    pub start_s: f64,
    /// How long after its start the nemesis's action returned: what the recovery may overstate.
    pub in_force_after_s: f64,
    /// How long after its start the fault was healed (`None`: not within the history).
    pub healed_after_s: Option<f64>,
    /// From the start until the first `ok` send begun after the fault was in force, through a
    /// node it did not hit, completed (`None`: none before the next fault or the drain).
    pub send_recovered_after_s: Option<f64>,
    /// The same for receives.
    pub receive_recovered_after_s: Option<f64>,
    /// The later of the two: sends and receives both work again (`None`: one of them did not).
    pub recovered_after_s: Option<f64>,
}

/// Recovery over faults: nearest-rank percentiles, where a fault that did not recover ranks
/// above every time, so a percentile that lands on one is `None` rather than a flattering number.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecoveryStats {
    pub faults: u64,
    pub recovered: u64,
    pub p50_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub max_s: Option<f64>,
}

impl RecoveryStats {
    /// `20 faults, p50 1.21 s, p99 2.03 s, max 2.03 s` (and how many did not recover).
    pub fn describe(&self) -> String {
        if self.faults == 0 {
            return "no faults".to_string();
        }
        let seconds = |value: Option<f64>| value.map_or("not recovered".to_string(), |value| format!("{value:.2} s"));
        let mut text = format!(
            "{} faults, p50 {}, p99 {}, max {}",
            self.faults,
            seconds(self.p50_s),
            seconds(self.p99_s),
            seconds(self.max_s)
        );
        if self.recovered < self.faults {
            text.push_str(&format!(" ({} not recovered)", self.faults - self.recovered));
        }
        text
    }
}

/// The recovery of every measured fault in `events`, in the order the faults began.
pub fn recoveries(events: &[Event]) -> Vec<Recovery> {
    let operations = operations(events);
    let starts: Vec<usize> = (0..events.len())
        .filter(|&at| events[at].f == Function::FaultStart && events[at].process == "nemesis")
        .collect();
    let drain_ns = history::drain_start(events).map(|event| event.time_ns);
    let mut recoveries = Vec::new();
    for (number, &at) in starts.iter().enumerate() {
        let start = &events[at];
        let fault = start.fault.clone().unwrap_or_default();
        if !MEASURED_FAULTS.contains(&fault.as_str()) {
            continue;
        }
        let next_ns = starts.get(number + 1).map(|&next| events[next].time_ns);
        let window_end_ns = next_ns.or(drain_ns).unwrap_or(u64::MAX);
        // In force from the nemesis's in-force event; the simulation's faults (and histories
        // recorded before that event existed) act at their start.
        let mut in_force_ns = start.time_ns;
        let mut healed_ns = None;
        for event in events[at + 1..].iter().filter(|event| event.process == "nemesis") {
            match event.f {
                Function::FaultInForce => in_force_ns = event.time_ns,
                Function::FaultEnd => {
                    healed_ns = Some(event.time_ns);
                    break;
                }
                _ => break,
            }
        }
        let window = Window { hit: &start.nodes, from_ns: in_force_ns, until_ns: window_end_ns };
        let after_start = |time_ns: Option<u64>| time_ns.map(|time_ns| seconds_between(start.time_ns, time_ns));
        let send_recovered_after_s = after_start(window.first_ok(&operations, Function::Send));
        let receive_recovered_after_s = after_start(window.first_ok(&operations, Function::Receive));
        let recovered_after_s = match (send_recovered_after_s, receive_recovered_after_s) {
            (Some(send), Some(receive)) => Some(send.max(receive)),
            _ => None,
        };
        recoveries.push(Recovery {
            fault,
            nodes: start.nodes.clone(),
            detail: start.detail.clone(),
            start_s: start.time_s(),
            in_force_after_s: seconds_between(start.time_ns, in_force_ns),
            healed_after_s: after_start(healed_ns),
            send_recovered_after_s,
            receive_recovered_after_s,
            recovered_after_s,
        });
    }
    recoveries
}

/// Which operations may show that a fault is over: begun in `from_ns..until_ns` through a node
/// not in `hit`.
struct Window<'a> {
    hit: &'a [String],
    from_ns: u64,
    until_ns: u64,
}

impl Window<'_> {
    /// When the first `ok` operation `f` begun in the window completed.
    fn first_ok(&self, operations: &[Operation<'_>], f: Function) -> Option<u64> {
        let mut first: Option<u64> = None;
        for operation in operations {
            let invoke = operation.invoke;
            if invoke.f != f || invoke.time_ns < self.from_ns || invoke.time_ns >= self.until_ns {
                continue;
            }
            // An operation with no node cannot show that a node not hit answers.
            if invoke.node.as_ref().is_none_or(|node| self.hit.contains(node)) {
                continue;
            }
            let Some(done) = operation.completion.filter(|done| done.kind == Kind::Ok) else { continue };
            first = Some(first.map_or(done.time_ns, |earliest| earliest.min(done.time_ns)));
        }
        first
    }
}

fn seconds_between(from_ns: u64, to_ns: u64) -> f64 {
    to_ns.saturating_sub(from_ns) as f64 / 1e9
}

/// Count and nearest-rank p50, p99 and max of `recoveries`' `recovered_after_s`.
pub fn stats<'a>(recoveries: impl IntoIterator<Item = &'a Recovery>) -> RecoveryStats {
    let mut times: Vec<Option<f64>> = recoveries.into_iter().map(|recovery| recovery.recovered_after_s).collect();
    times.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
    let count = times.len();
    let percentile = |fraction: f64| -> Option<f64> {
        if count == 0 {
            return None;
        }
        let rank = ((fraction * count as f64).ceil() as usize).clamp(1, count);
        times[rank - 1]
    };
    RecoveryStats {
        faults: count as u64,
        recovered: times.iter().filter(|time| time.is_some()).count() as u64,
        p50_s: percentile(0.50),
        p99_s: percentile(0.99),
        max_s: percentile(1.0),
    }
}
