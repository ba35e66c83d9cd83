//! The checkers on synthetic histories: each kind of broken promise is reported, and the
//! outcomes a correct broker produces under faults are not.

use shoal_chaos::checker::{check, Validity, Verdict, Workload};
use shoal_chaos::history::{Delivery, Event, Function, Kind};

/// Builds a history event by event; indices and times follow the order of the calls.
#[derive(Default)]
struct History {
    events: Vec<Event>,
}

impl History {
    fn push(&mut self, mut event: Event) -> &mut History {
        event.index = self.events.len() as u64;
        event.time_ns = event.index * 1_000_000;
        self.events.push(event);
        self
    }

    fn send(&mut self, process: &str, value: u64, outcome: Kind) -> &mut History {
        self.fifo_send(process, value, None, outcome)
    }

    fn fifo_send(&mut self, process: &str, value: u64, place: Option<(&str, u64)>, outcome: Kind) -> &mut History {
        let mut invoke = Event::new(process, Kind::Invoke, Function::Send).node("n1").value(value);
        if let Some((group, sequence)) = place {
            invoke.group = Some(group.to_string());
            invoke.sequence = Some(sequence);
        }
        self.push(invoke);
        let mut done = Event::new(process, outcome, Function::Send).node("n1").value(value);
        if outcome == Kind::Ok {
            done.message_id = Some(format!("m{value}"));
        }
        self.push(done)
    }

    /// A receive that returned `values`, each as message `m<value>`.
    fn receive(&mut self, process: &str, values: &[u64]) -> &mut History {
        let deliveries = values.iter().map(|value| (*value, format!("m{value}"))).collect();
        self.receive_ids(process, deliveries)
    }

    fn receive_ids(&mut self, process: &str, deliveries: Vec<(u64, String)>) -> &mut History {
        self.push(Event::new(process, Kind::Invoke, Function::Receive).node("n2"));
        let mut done = Event::new(process, Kind::Ok, Function::Receive).node("n2");
        done.deliveries = deliveries
            .into_iter()
            .map(|(value, message_id)| Delivery { value, message_id, queue: "main".into(), receive_count: None })
            .collect();
        self.push(done)
    }

    fn delete(&mut self, process: &str, value: u64) -> &mut History {
        self.push(Event::new(process, Kind::Invoke, Function::Delete).value(value));
        self.push(Event::new(process, Kind::Ok, Function::Delete).value(value))
    }

    fn drain_end(&mut self, complete: bool) -> &mut History {
        let mut event = Event::new("drain", Kind::Info, Function::DrainEnd);
        event.complete = Some(complete);
        self.push(event)
    }

    fn fault(&mut self, name: &str) -> &mut History {
        let mut event = Event::new("nemesis", Kind::Info, Function::FaultStart);
        event.fault = Some(name.into());
        event.nodes = vec!["n1".into()];
        self.push(event)
    }

    fn check(&self, workload: Workload) -> Verdict {
        check(&self.events, workload)
    }
}

#[test]
fn test_checker_clean_history_is_valid() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).send("p0", 2, Kind::Ok).fault("kill").receive("c0", &[1, 2]).drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    assert_eq!((verdict.acknowledged, verdict.received, verdict.lost_count), (2, 2, 0));
    assert_eq!(verdict.faults_injected.get("kill"), Some(&1));
    assert_eq!(verdict.operations["send"].ok, 2);
}

#[test]
fn test_checker_reports_lost_value_as_hole_or_tail() {
    let mut history = History::default();
    history
        .send("p0", 1, Kind::Ok)
        .send("p0", 2, Kind::Ok)
        .send("p0", 3, Kind::Ok)
        .send("p0", 4, Kind::Ok)
        .receive("c0", &[1, 3])
        .drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.lost_count, 2);
    let positions: Vec<(u64, &str, &str)> =
        verdict.lost.iter().map(|lost| (lost.value, lost.position, lost.node.as_str())).collect();
    assert_eq!(positions, vec![(2, "hole", "n1"), (4, "tail", "n1")]);
    assert_eq!((verdict.lost_by_node["n1"].tail, verdict.lost_by_node["n1"].hole), (1, 1));
}

#[test]
fn test_checker_lost_with_incomplete_drain_is_unknown() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).send("p0", 2, Kind::Ok).receive("c0", &[1]).drain_end(false);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Unknown);
    assert_eq!(verdict.lost_count, 1);
}

#[test]
fn test_checker_reports_unexpected_value() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).receive("c0", &[1, 99]).drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.unexpected, vec![99]);
}

#[test]
fn test_checker_without_finished_drain_is_unknown_even_with_nothing_lost() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).receive("c0", &[1]).drain_end(false);
    assert_eq!(history.check(Workload::Queue).valid, Validity::Unknown);
    let mut no_drain = History::default();
    no_drain.send("p0", 1, Kind::Ok).receive("c0", &[1]);
    assert_eq!(no_drain.check(Workload::Queue).valid, Validity::Unknown);
}

#[test]
fn test_checker_reports_refused_send_that_arrived() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Fail).receive("c0", &[1]).drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.failed_but_received, vec![1]);
    assert_eq!(verdict.recovered, 0);
}

#[test]
fn test_checker_reports_fifo_message_delivered_after_its_delete_succeeded() {
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Ok)
        .fifo_send("p0", 11, Some(("g", 1)), Kind::Ok)
        .receive("c0", &[10])
        .delete("c0", 10)
        .receive("c0", &[11])
        .delete("c0", 11)
        .receive("c0", &[10])
        .delete("c0", 10)
        .drain_end(true);
    let verdict = history.check(Workload::Fifo);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.delivered_after_delete, vec![10]);
    // Standard queues may deliver again after a delete (at-least-once).
    assert_eq!(history.check(Workload::Queue).valid, Validity::Valid);
}

#[test]
fn test_checker_unknown_send_is_recovered_not_lost_or_unexpected() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Info).send("p0", 2, Kind::Info).send("p0", 3, Kind::Fail).receive("c0", &[1]);
    history.drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    assert_eq!((verdict.recovered, verdict.lost_count, verdict.acknowledged), (1, 0, 0));
    assert_eq!(verdict.operations["send"].info, 2);
    assert_eq!(verdict.operations["send"].fail, 1);
}

#[test]
fn test_checker_invocation_without_completion_counts_as_unknown() {
    let mut history = History::default();
    history.push(Event::new("p0", Kind::Invoke, Function::Send).value(7));
    history.receive("c0", &[7]).drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Valid);
    assert_eq!(verdict.recovered, 1);
    assert_eq!(verdict.operations["send"].info, 1);
}

#[test]
fn test_checker_duplicate_allowed_for_standard_queue() {
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).receive("c0", &[1]).receive("c1", &[1]).drain_end(true);
    let verdict = history.check(Workload::Queue);
    assert_eq!(verdict.valid, Validity::Valid);
    assert_eq!(verdict.duplicated, 1);
}

#[test]
fn test_checker_reports_fifo_reorder() {
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Ok)
        .fifo_send("p0", 11, Some(("g", 1)), Kind::Ok)
        .receive("c0", &[11])
        .delete("c0", 11)
        .receive("c0", &[10])
        .delete("c0", 10)
        .drain_end(true);
    let verdict = history.check(Workload::Fifo);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.order_violations.len(), 1);
    assert_eq!((verdict.order_violations[0].earlier, verdict.order_violations[0].later), (10, 11));
    // The same history is no violation for a standard queue.
    assert_eq!(history.check(Workload::Queue).valid, Validity::Valid);
}

#[test]
fn test_checker_fifo_redelivery_and_other_groups_are_in_order() {
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("a", 0)), Kind::Ok)
        .fifo_send("p1", 20, Some(("b", 0)), Kind::Ok)
        .fifo_send("p0", 11, Some(("a", 1)), Kind::Ok)
        .fifo_send("p1", 21, Some(("b", 1)), Kind::Ok)
        .receive("c0", &[10])
        .receive("c1", &[20])
        .delete("c1", 20)
        .receive("c0", &[21])
        .delete("c0", 21)
        // 10 comes back after its visibility timeout and is processed now: still in order.
        .receive("c1", &[10])
        .delete("c1", 10)
        .receive("c1", &[11])
        .delete("c1", 11)
        .drain_end(true);
    let verdict = history.check(Workload::Fifo);
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    // 10 was sent once and received twice: counted as duplicated, but it is one message, so
    // no deduplication was broken.
    assert_eq!(verdict.duplicated, 1);
    assert!(verdict.dedup_violations.is_empty());
}

#[test]
fn test_checker_fifo_unacknowledged_send_has_no_order() {
    // 10's send is unknown: it may have been committed after 11, so 11 first is no violation.
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Info)
        .fifo_send("p0", 11, Some(("g", 1)), Kind::Ok)
        .receive("c0", &[11])
        .delete("c0", 11)
        .receive("c0", &[10])
        .delete("c0", 10)
        .drain_end(true);
    assert_eq!(history.check(Workload::Fifo).valid, Validity::Valid);
}

#[test]
fn test_checker_reports_deduplicated_retry_delivered_twice() {
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Info)
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Ok)
        .receive_ids("c0", vec![(10, "first".into())])
        .delete("c0", 10)
        .receive_ids("c0", vec![(10, "second".into())])
        .delete("c0", 10)
        .drain_end(true);
    let verdict = history.check(Workload::Fifo);
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.dedup_violations.len(), 1);
    assert_eq!(verdict.dedup_violations[0].message_ids, vec!["first".to_string(), "second".to_string()]);
}

#[test]
fn test_checker_fifo_retry_delivered_once_is_valid() {
    let mut history = History::default();
    history
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Info)
        .fifo_send("p0", 10, Some(("g", 0)), Kind::Ok)
        .receive("c0", &[10])
        .delete("c0", 10)
        .drain_end(true);
    let verdict = history.check(Workload::Fifo);
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    assert_eq!(verdict.attempted, 1);
    assert_eq!(verdict.duplicated, 0);
}

#[test]
fn test_checker_dead_letter_values_count_only_once_deleted() {
    // Value 1 is received, abandoned, and never seen again: it was lost on its way to the
    // dead-letter queue. Value 2 is abandoned, then received from the dead-letter queue and
    // deleted there. Value 3's delete timed out: it may have been deleted.
    let mut history = History::default();
    history.send("p0", 1, Kind::Ok).send("p0", 2, Kind::Ok).send("p0", 3, Kind::Ok);
    history.receive("c0", &[1, 2, 3]);
    history.push(Event::new("c0", Kind::Invoke, Function::Receive).node("n3"));
    let mut from_dlq = Event::new("c0", Kind::Ok, Function::Receive).node("n3");
    from_dlq.deliveries =
        vec![Delivery { value: 2, message_id: "d2".into(), queue: "dlq".into(), receive_count: None }];
    history.push(from_dlq);
    history.delete("c0", 2);
    history.push(Event::new("c0", Kind::Invoke, Function::Delete).value(3));
    history.push(Event::new("c0", Kind::Info, Function::Delete).value(3));
    history.drain_end(true);

    let verdict = history.check(Workload::DeadLetter);
    assert_eq!(verdict.valid, Validity::Invalid, "{}", verdict.summary());
    assert_eq!(verdict.lost.iter().map(|lost| lost.value).collect::<Vec<_>>(), vec![1]);
    assert_eq!(verdict.dead_lettered, 1);
    // Under the plain queue rule, being received once is enough.
    assert_eq!(history.check(Workload::Queue).valid, Validity::Valid);
}
