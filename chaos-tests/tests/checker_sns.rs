//! The `sns` checker on synthetic histories: a topic with an unfiltered queue `all` and a queue
//! `red` that takes only publishes whose `colour` is `red`. Each broken promise (a lost
//! delivery, a delivery to a queue whose filter refuses it, a value never published, two
//! messages of one publish in one queue, an unknown publish in only some of its queues) is
//! reported; a redelivery and an unknown publish found everywhere or nowhere are not.

use std::collections::BTreeMap;

use shoal_chaos::checker::{check, undelivered, Validity, Verdict, Workload};
use shoal_chaos::history::{Delivery, Event, Function, Kind};

/// Builds a history event by event; indices and times follow the order of the calls.
#[derive(Default)]
struct History {
    events: Vec<Event>,
}

/// What a publish carries: `Red` matches both queues, `Blue` only `all`.
#[derive(Clone, Copy)]
enum Colour {
    Red,
    Blue,
}

impl History {
    /// The subscriptions of every history here: `all` takes everything, `red` only red.
    fn new() -> History {
        let mut history = History::default();
        history.subscribe("all", None).subscribe("red", Some("red"));
        history
    }

    fn push(&mut self, mut event: Event) -> &mut History {
        event.index = self.events.len() as u64;
        event.time_ns = event.index * 1_000_000;
        self.events.push(event);
        self
    }

    fn subscribe(&mut self, queue: &str, colour: Option<&str>) -> &mut History {
        let mut event = Event::new("setup", Kind::Info, Function::Subscribed).queue(queue);
        if let Some(colour) = colour {
            event.filter = BTreeMap::from([("colour".to_string(), vec![colour.to_string()])]);
        }
        self.push(event)
    }

    fn publish(&mut self, process: &str, value: u64, colour: Colour, outcome: Kind) -> &mut History {
        let mut invoke = Event::new(process, Kind::Invoke, Function::Send).node("n1").value(value);
        let colour = match colour {
            Colour::Red => "red",
            Colour::Blue => "blue",
        };
        invoke.attributes = BTreeMap::from([("colour".to_string(), colour.to_string())]);
        self.push(invoke);
        self.push(Event::new(process, outcome, Function::Send).node("n1").value(value))
    }

    /// A receive from `queue` that returned `values`, each as message `<queue>-<value>` seen
    /// for the first time.
    fn receive(&mut self, queue: &str, values: &[u64]) -> &mut History {
        let deliveries: Vec<(u64, u32)> = values.iter().map(|value| (*value, 1)).collect();
        self.receive_counted(queue, &deliveries)
    }

    /// A receive from `queue` that returned (value, ApproximateReceiveCount) pairs.
    fn receive_counted(&mut self, queue: &str, deliveries: &[(u64, u32)]) -> &mut History {
        self.push(Event::new("c0", Kind::Invoke, Function::Receive).node("n2").queue(queue));
        let mut done = Event::new("c0", Kind::Ok, Function::Receive).node("n2").queue(queue);
        done.deliveries = deliveries
            .iter()
            .map(|(value, receive_count)| Delivery {
                value: *value,
                message_id: format!("{queue}-{value}"),
                queue: queue.to_string(),
                receive_count: Some(*receive_count),
            })
            .collect();
        self.push(done)
    }

    fn drain_end(&mut self, complete: bool) -> &mut History {
        let mut event = Event::new("drain", Kind::Info, Function::DrainEnd);
        event.complete = Some(complete);
        self.push(event)
    }

    fn check(&self) -> Verdict {
        check(&self.events, Workload::Sns)
    }
}

#[test]
fn test_sns_checker_clean_fan_out_is_valid() {
    let mut history = History::new();
    history
        .publish("p0", 1, Colour::Red, Kind::Ok)
        .publish("p0", 2, Colour::Blue, Kind::Ok)
        .receive("all", &[1, 2])
        .receive("red", &[1])
        .drain_end(true);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    let sns = verdict.sns.as_ref().expect("the sns findings");
    let tallies: Vec<(&str, u64, u64)> =
        sns.queues.iter().map(|queue| (queue.queue.as_str(), queue.expected, queue.received)).collect();
    assert_eq!(tallies, [("all", 2, 2), ("red", 1, 1)]);
    assert_eq!((verdict.acknowledged, verdict.lost_count, verdict.duplicated), (2, 0, 0));
    assert_eq!(undelivered(&history.events), 0);
}

#[test]
fn test_sns_checker_reports_acknowledged_publish_missing_from_one_queue() {
    let mut history = History::new();
    history
        .publish("p0", 1, Colour::Red, Kind::Ok)
        .publish("p0", 2, Colour::Red, Kind::Ok)
        .receive("all", &[1, 2])
        .receive("red", &[2])
        .drain_end(true);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.lost_count, 1);
    let lost = &verdict.lost[0];
    assert_eq!((lost.value, lost.queue.as_deref(), lost.position), (1, Some("red"), "hole"));
    assert_eq!(undelivered(&history.events), 1, "the drain waits for it");
}

#[test]
fn test_sns_checker_lost_with_incomplete_drain_is_unknown() {
    let mut history = History::new();
    history.publish("p0", 1, Colour::Blue, Kind::Ok).drain_end(false);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Unknown);
    assert_eq!(verdict.lost_count, 1);
}

#[test]
fn test_sns_checker_reports_delivery_to_queue_whose_filter_refuses_it() {
    let mut history = History::new();
    history.publish("p0", 1, Colour::Blue, Kind::Ok).receive("all", &[1]).receive("red", &[1]).drain_end(true);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    let misrouted: Vec<(&str, u64)> =
        verdict.sns.as_ref().unwrap().misrouted.iter().map(|m| (m.queue.as_str(), m.value)).collect();
    assert_eq!(misrouted, [("red", 1)]);
    // Whatever the drain did.
    history.drain_end(false);
    assert_eq!(history.check().valid, Validity::Invalid);
}

#[test]
fn test_sns_checker_reports_value_never_published() {
    let mut history = History::new();
    history.publish("p0", 1, Colour::Blue, Kind::Ok).receive("all", &[1, 7]).drain_end(true);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.unexpected, vec![7]);
}

#[test]
fn test_sns_checker_reports_refused_publish_that_arrived() {
    let mut history = History::new();
    history.publish("p0", 1, Colour::Blue, Kind::Fail).receive("all", &[1]).drain_end(true);
    let verdict = history.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    assert_eq!(verdict.failed_but_received, vec![1]);
}

#[test]
fn test_sns_checker_redelivery_is_allowed_but_two_messages_of_one_publish_are_not() {
    // The same message received again after its visibility timeout: its count goes up.
    let mut redelivered = History::new();
    redelivered
        .publish("p0", 1, Colour::Blue, Kind::Ok)
        .receive_counted("all", &[(1, 1)])
        .receive_counted("all", &[(1, 2)])
        .drain_end(true);
    let verdict = redelivered.check();
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    assert_eq!(verdict.duplicated, 1);

    // Two receives that each were the first of their message: the queue held two.
    let mut copied = History::new();
    copied
        .publish("p0", 1, Colour::Blue, Kind::Ok)
        .receive_counted("all", &[(1, 1)])
        .receive_counted("all", &[(1, 1)])
        .drain_end(true);
    let verdict = copied.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    let copies = &verdict.sns.as_ref().unwrap().copies;
    assert_eq!(copies.len(), 1);
    assert_eq!((copies[0].queue.as_str(), copies[0].value, copies[0].receive_counts.clone()), ("all", 1, vec![1, 1]));
}

#[test]
fn test_sns_checker_unknown_publish_is_all_or_nothing() {
    // Found in every queue it matches, or in none: both fine.
    let mut everywhere = History::new();
    everywhere
        .publish("p0", 1, Colour::Red, Kind::Info)
        .publish("p0", 2, Colour::Red, Kind::Info)
        .receive("all", &[1])
        .receive("red", &[1])
        .drain_end(true);
    let verdict = everywhere.check();
    assert_eq!(verdict.valid, Validity::Valid, "{verdict:?}");
    assert_eq!((verdict.recovered, verdict.lost_count, verdict.acknowledged), (1, 0, 0));

    // Found in one of the two queues it matches: one log entry cannot do that.
    let mut torn = History::new();
    torn.publish("p0", 1, Colour::Red, Kind::Info).receive("all", &[1]).drain_end(true);
    assert_eq!(undelivered(&torn.events), 1, "the drain waits for it");
    let verdict = torn.check();
    assert_eq!(verdict.valid, Validity::Invalid);
    let partial = &verdict.sns.as_ref().unwrap().partial;
    assert_eq!(partial.len(), 1);
    assert_eq!(
        (partial[0].value, partial[0].received_in.clone(), partial[0].missing_from.clone()),
        (1, vec!["all".to_string()], vec!["red".to_string()])
    );
}
