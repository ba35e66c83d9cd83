//! Recovery per fault on synthetic histories: which operations show that service came back
//! (begun after the fault was in force, through a node it did not hit, before the next fault),
//! and the percentiles over faults.

use shoal_chaos::checker::{check, Workload};
use shoal_chaos::history::{Event, Function, Kind};
use shoal_chaos::recovery::{recoveries, stats, Recovery, RecoveryStats};

/// A history written as timed events in any order; `events` sorts them by time and numbers them.
#[derive(Default)]
struct History {
    timed: Vec<(u64, Event)>,
}

impl History {
    fn at(&mut self, ms: u64, event: Event) -> &mut History {
        self.timed.push((ms, event));
        self
    }

    fn nemesis(&mut self, ms: u64, f: Function, fault: &str, nodes: &[&str]) -> &mut History {
        let mut event = Event::new("nemesis", Kind::Info, f);
        event.fault = Some(fault.to_string());
        event.nodes = nodes.iter().map(|node| node.to_string()).collect();
        self.at(ms, event)
    }

    /// A fault begun at `start_ms`, in force at `in_force_ms`, healed at `end_ms`.
    fn fault(&mut self, fault: &str, nodes: &[&str], start_ms: u64, in_force_ms: u64, end_ms: u64) -> &mut History {
        self.nemesis(start_ms, Function::FaultStart, fault, nodes);
        self.nemesis(in_force_ms, Function::FaultInForce, fault, nodes);
        self.nemesis(end_ms, Function::FaultEnd, fault, nodes)
    }

    /// Operation `f` by `process` through `node`, begun at `from_ms`, ended with `outcome` at
    /// `to_ms`.
    fn operation(
        &mut self,
        process: &str,
        f: Function,
        node: &str,
        from_ms: u64,
        to_ms: u64,
        outcome: Kind,
    ) -> &mut History {
        self.at(from_ms, Event::new(process, Kind::Invoke, f).node(node));
        self.at(to_ms, Event::new(process, outcome, f).node(node))
    }

    fn send(&mut self, process: &str, node: &str, from_ms: u64, to_ms: u64, outcome: Kind) -> &mut History {
        self.operation(process, Function::Send, node, from_ms, to_ms, outcome)
    }

    fn receive(&mut self, process: &str, node: &str, from_ms: u64, to_ms: u64, outcome: Kind) -> &mut History {
        self.operation(process, Function::Receive, node, from_ms, to_ms, outcome)
    }

    fn events(&self) -> Vec<Event> {
        let mut timed = self.timed.clone();
        timed.sort_by_key(|(ms, _)| *ms);
        let mut events = Vec::new();
        for (index, (ms, mut event)) in timed.into_iter().enumerate() {
            event.index = index as u64;
            event.time_ns = ms * 1_000_000;
            events.push(event);
        }
        events
    }
}

/// A fault's name and its send, receive and overall recovery, in seconds.
type Expected<'a> = (&'a str, Option<f64>, Option<f64>, Option<f64>);

/// Checks each measured fault's recovery, in the order the faults began.
fn check_recoveries(history: &History, expected: &[Expected<'_>]) -> Vec<Recovery> {
    let found = recoveries(&history.events());
    let times: Vec<Expected<'_>> = found
        .iter()
        .map(|recovery| {
            (
                recovery.fault.as_str(),
                recovery.send_recovered_after_s,
                recovery.receive_recovered_after_s,
                recovery.recovered_after_s,
            )
        })
        .collect();
    assert_eq!(times, expected);
    found
}

#[test]
fn test_recovery_counts_only_ok_operations_begun_after_the_fault_through_nodes_not_hit() {
    let mut history = History::default();
    history
        .fault("kill", &["n1"], 1_000, 1_050, 5_000)
        // Begun before the fault began, or before it was in force: not evidence.
        .send("p0", "n2", 900, 1_500, Kind::Ok)
        .send("p1", "n2", 1_020, 1_100, Kind::Ok)
        // Through the node hit, or not ok.
        .send("p2", "n1", 1_100, 1_200, Kind::Ok)
        .send("p3", "n3", 1_100, 4_100, Kind::Info)
        .send("p4", "n3", 1_150, 1_250, Kind::Fail)
        // Begun later but answered first: the first completion counts.
        .send("probe-s0", "n2", 1_300, 2_400, Kind::Ok)
        .send("probe-s1", "n3", 2_000, 2_100, Kind::Ok)
        .receive("c0", "n1", 1_100, 1_150, Kind::Ok)
        .receive("probe-r0", "n3", 1_500, 2_600, Kind::Ok)
        .receive("probe-r1", "n2", 2_700, 2_710, Kind::Ok);
    let found = check_recoveries(&history, &[("kill", Some(1.1), Some(1.6), Some(1.6))]);
    assert_eq!(found[0].nodes, vec!["n1".to_string()]);
    assert_eq!((found[0].start_s, found[0].in_force_after_s, found[0].healed_after_s), (1.0, 0.05, Some(4.0)));
}

#[test]
fn test_recovery_needs_both_sends_and_receives_before_the_next_fault() {
    let mut history = History::default();
    history
        .fault("pause", &["n2"], 1_000, 1_010, 4_000)
        .fault("partition", &["n3"], 6_000, 6_010, 9_000)
        .send("p0", "n1", 1_200, 1_300, Kind::Ok)
        // Receives come back only after the next fault began: not this fault's recovery.
        .receive("c0", "n1", 6_100, 6_200, Kind::Ok)
        .send("p0", "n1", 6_300, 6_400, Kind::Ok);
    check_recoveries(&history, &[("pause", Some(0.3), None, None), ("partition", Some(0.4), Some(0.2), Some(0.4))]);
}

#[test]
fn test_recovery_window_ends_where_the_drain_begins() {
    let mut history = History::default();
    history.fault("kill", &["n1"], 1_000, 1_010, 4_000).send("p0", "n2", 2_000, 2_100, Kind::Ok);
    history.receive("drain", "n2", 7_000, 7_100, Kind::Ok);
    check_recoveries(&history, &[("kill", Some(1.1), None, None)]);
}

#[test]
fn test_recovery_skips_clock_steps_and_rolling_restarts() {
    let mut history = History::default();
    history
        .fault("clock", &["n1"], 1_000, 1_010, 2_000)
        .fault("restart", &["n1", "n2", "n3"], 3_000, 3_010, 9_000)
        .send("p0", "n2", 1_200, 1_300, Kind::Ok)
        .receive("c0", "n2", 1_200, 1_300, Kind::Ok);
    check_recoveries(&history, &[]);
}

#[test]
fn test_recovery_without_an_in_force_event_counts_from_the_start() {
    // The simulation's faults act at once and log no in-force event.
    let mut history = History::default();
    history
        .nemesis(1_000, Function::FaultStart, "kill", &["n1"])
        .nemesis(3_000, Function::FaultEnd, "kill", &["n1"])
        .send("p0", "n2", 1_000, 1_900, Kind::Ok)
        .receive("c0", "n3", 1_001, 1_500, Kind::Ok);
    check_recoveries(&history, &[("kill", Some(0.9), Some(0.5), Some(0.9))]);
}

fn recovered_after(seconds: Option<f64>) -> Recovery {
    Recovery {
        fault: "kill".into(),
        nodes: vec!["n1".into()],
        detail: None,
        start_s: 0.0,
        in_force_after_s: 0.0,
        healed_after_s: None,
        send_recovered_after_s: seconds,
        receive_recovered_after_s: seconds,
        recovered_after_s: seconds,
    }
}

fn check_stats(times: &[Option<f64>], expected: RecoveryStats) {
    let recoveries: Vec<Recovery> = times.iter().map(|time| recovered_after(*time)).collect();
    assert_eq!(stats(&recoveries), expected, "{times:?}");
}

#[test]
fn test_recovery_stats_are_nearest_rank_percentiles() {
    let twenty: Vec<Option<f64>> = (1..=20).rev().map(|tenths| Some(f64::from(tenths) / 10.0)).collect();
    let expected = RecoveryStats { faults: 20, recovered: 20, p50_s: Some(1.0), p99_s: Some(2.0), max_s: Some(2.0) };
    check_stats(&twenty, expected);
    check_stats(&[], RecoveryStats::default());
    assert_eq!(RecoveryStats::default().describe(), "no faults");
}

#[test]
fn test_recovery_stats_rank_a_fault_that_did_not_recover_above_every_time() {
    let expected = RecoveryStats { faults: 4, recovered: 3, p50_s: Some(1.0), p99_s: None, max_s: None };
    check_stats(&[Some(1.5), None, Some(0.5), Some(1.0)], expected.clone());
    assert_eq!(expected.describe(), "4 faults, p50 1.00 s, p99 not recovered, max not recovered (1 not recovered)");
}

#[test]
fn test_recovery_is_in_the_verdict_by_fault_kind() {
    let mut history = History::default();
    history
        .fault("kill", &["n1"], 1_000, 1_010, 4_000)
        .send("p0", "n2", 1_100, 2_000, Kind::Ok)
        .receive("c0", "n2", 1_100, 2_500, Kind::Ok)
        .fault("pause", &["n2"], 6_000, 6_010, 9_000)
        .send("p0", "n1", 6_100, 6_200, Kind::Ok)
        .receive("c0", "n1", 6_100, 6_300, Kind::Ok);
    let verdict = check(&history.events(), Workload::Queue);
    assert_eq!(verdict.recoveries.len(), 2);
    assert_eq!((verdict.recovery_kill.faults, verdict.recovery_kill.max_s), (1, Some(1.5)));
    assert_eq!((verdict.recovery_all.faults, verdict.recovery_all.p50_s), (2, Some(0.3)));
}
