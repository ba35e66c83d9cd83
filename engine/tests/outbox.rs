//! Dead-letter queues and move tasks across data groups: two engines, each one group of two,
//! and a hand-over loop doing what the node's outbox task does between them.

mod common;

use std::collections::BTreeSet;

use common::*;
use shoal_engine::outbox::Placement;
use shoal_engine::{Command, Engine, Reply};

/// One batch of `from`'s outbox into `to`, then acknowledged in `from`. Returns the number
/// of entries handed over, and how many `to` refused.
fn hand_over_once(from: &mut Harness, from_group: u32, to: &mut Harness, repeat: bool) -> (usize, usize) {
    let Some((target, entries)) = from.outbox_batch(3, &BTreeSet::new()) else {
        return (0, 0);
    };
    assert_ne!(target, from_group);
    let positions: Vec<u64> = entries.iter().map(|e| e.position).collect();
    let import = Command::ImportMessages { source_group: from_group, entries };
    let Ok(Reply::Imported { refused }) = to.apply(import.clone()) else { panic!("import failed") };
    if repeat {
        // The source's leader died before acknowledging: its successor hands the batch over again.
        assert_eq!(to.apply(import), Ok(Reply::Imported { refused: refused.clone() }));
    }
    let count = refused.len();
    assert_eq!(from.apply(Command::AckOutbox { positions: positions.clone(), refused }), Ok(Reply::Done));
    (positions.len(), count)
}

fn hand_over_all(from: &mut Harness, from_group: u32, to: &mut Harness) -> usize {
    let mut total = 0;
    loop {
        let (handed, _) = hand_over_once(from, from_group, to, true);
        if handed == 0 {
            return total;
        }
        total += handed;
    }
}

/// Source queue in group 1 with a dead-letter queue in group 2, maxReceiveCount 1.
fn redrive_across(one: &mut Harness, two: &mut Harness) -> (String, String) {
    let source = name_in(one, 1, "source");
    let dlq = name_in(two, 2, "dlq");
    two.create(&dlq, &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(&dlq));
    one.create(&source, &[("RedrivePolicy", &policy)]).unwrap();
    (source, dlq)
}

/// A FIFO source queue in group 1 with a FIFO dead-letter queue in group 2, maxReceiveCount 1.
fn fifo_redrive_across(one: &mut Harness, two: &mut Harness) -> (String, String) {
    let source = (0..).map(|i| format!("fsrc{i}.fifo")).find(|name| one.engine.group_of(name) == 1).unwrap();
    let dlq = (0..).map(|i| format!("fdlq{i}.fifo")).find(|name| two.engine.group_of(name) == 2).unwrap();
    two.create_fifo(&dlq, &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(&dlq));
    one.create_fifo(&source, &[("RedrivePolicy", &policy)]).unwrap();
    (source, dlq)
}

/// Sends `n` messages and receives each twice (visibility 0), so each is dead.
fn exhaust(one: &mut Harness, source: &str, n: usize) {
    for i in 0..n {
        one.send(source, &format!("m{i}")).unwrap();
    }
    assert_eq!(one.receive_for(source, 10, 0).len(), n);
    one.advance_ms(1);
    assert!(one.receive_for(source, 10, 0).is_empty(), "every message went to the dead-letter queue");
}

#[test]
fn test_dead_letters_reach_another_group_once_even_when_handed_over_twice() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = redrive_across(&mut one, &mut two);
    exhaust(&mut one, &source, 7);
    assert_eq!(one.engine.outbox_len(), 7);
    assert_eq!(one.counts(&source), (0, 0, 0), "in transit, counted in neither queue");

    assert_eq!(hand_over_all(&mut one, 1, &mut two), 7);
    assert_eq!(one.engine.outbox_len(), 0);
    let received = two.receive(&dlq, 10);
    let mut got: Vec<&str> = bodies(&received);
    got.sort();
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"], "each message exactly once");
    assert!(received.iter().all(|m| receive_count(m) == 1), "the count restarts in the dead-letter queue");
    let source_arn = received[0].system_attributes.get("DeadLetterQueueSourceArn");
    assert_eq!(source_arn, Some(&arn(&source)));
}

#[test]
fn test_a_repeated_import_of_an_old_batch_changes_nothing() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = redrive_across(&mut one, &mut two);
    exhaust(&mut one, &source, 2);
    let (_, entries) = one.outbox_batch(10, &BTreeSet::new()).unwrap();
    let import = Command::ImportMessages { source_group: 1, entries };
    assert_eq!(two.apply(import.clone()), Ok(Reply::Imported { refused: vec![] }));
    exhaust(&mut one, &source, 1);
    let (_, later) = one.outbox_batch(10, &BTreeSet::new()).unwrap();
    assert_eq!(
        two.apply(Command::ImportMessages { source_group: 1, entries: later }),
        Ok(Reply::Imported { refused: vec![] })
    );
    assert_eq!(two.apply(import), Ok(Reply::Imported { refused: vec![] }));
    assert_eq!(two.peek_bodies(&dlq).len(), 3);
}

#[test]
fn test_a_missing_remote_dead_letter_queue_returns_messages_and_pauses_redrive() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = redrive_across(&mut one, &mut two);
    two.delete_queue(&dlq).unwrap();
    exhaust(&mut one, &source, 2);
    let (handed, refused) = hand_over_once(&mut one, 1, &mut two, false);
    assert_eq!((handed, refused), (2, 2));
    assert_eq!(one.engine.outbox_len(), 0);
    // Back where they were, and received normally now instead of bouncing.
    let again = one.receive_for(&source, 10, 0);
    assert_eq!(again.len(), 2, "nothing lost");
    assert!(again.iter().all(|m| receive_count(m) == 2), "received once before, and now");
    assert_eq!(one.engine.outbox_len(), 0);
    // Setting the redrive policy again turns redrive back on.
    two.advance_seconds(61);
    two.create(&dlq, &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(&dlq));
    one.set_attributes(&source, &[("RedrivePolicy", &policy)]).unwrap();
    one.advance_ms(1);
    assert!(one.receive_for(&source, 10, 0).is_empty());
    assert_eq!(hand_over_all(&mut one, 1, &mut two), 2);
    assert_eq!(two.peek_bodies(&dlq).len(), 2);
}

#[test]
fn test_a_move_task_redrives_to_sources_in_another_group() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = redrive_across(&mut one, &mut two);
    exhaust(&mut one, &source, 4);
    hand_over_all(&mut one, 1, &mut two);

    let start = |two: &mut Harness, sources_elsewhere: bool| {
        two.apply(Command::StartMessageMoveTask {
            source_arn: arn(&dlq),
            destination_arn: None,
            rate_per_second: None,
            sources_elsewhere,
        })
    };
    assert!(start(&mut two, false).is_err(), "no queue of its own group uses it as a dead-letter queue");
    let Ok(Reply::MoveTaskStarted { task_handle }) = start(&mut two, true) else { panic!("not started") };
    two.advance_seconds(1);
    two.tick();
    assert_eq!(two.counts(&dlq), (0, 0, 0));
    assert_eq!(two.engine.outbox_len(), 4);
    assert_eq!(hand_over_all(&mut two, 2, &mut one), 4);

    let back = one.receive(&source, 10);
    assert_eq!(back.len(), 4);
    assert!(back.iter().all(|m| receive_count(m) == 1), "moved messages start unreceived");
    assert!(back.iter().all(|m| !m.system_attributes.contains_key("DeadLetterQueueSourceArn")));
    let tasks = two.move_tasks(&dlq, Some(1)).unwrap();
    assert_eq!((tasks[0].task_handle.as_str(), tasks[0].moved), (task_handle.as_str(), 4));
}

#[test]
fn test_a_move_to_a_deleted_destination_fails_the_task_and_keeps_the_messages() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = redrive_across(&mut one, &mut two);
    exhaust(&mut one, &source, 3);
    hand_over_all(&mut one, 1, &mut two);
    let destination = name_in(&one, 1, "elsewhere");
    let command = Command::StartMessageMoveTask {
        source_arn: arn(&dlq),
        destination_arn: Some(arn(&destination)),
        rate_per_second: None,
        sources_elsewhere: true,
    };
    assert!(matches!(two.apply(command), Ok(Reply::MoveTaskStarted { .. })));
    two.advance_seconds(1);
    two.tick();
    let (handed, refused) = hand_over_once(&mut two, 2, &mut one, false);
    assert_eq!((handed, refused), (3, 3));
    assert_eq!(two.peek_bodies(&dlq).len(), 3, "the refused messages are back in the dead-letter queue");
    let task = &two.move_tasks(&dlq, Some(1)).unwrap()[0];
    assert_eq!(task.status.as_str(), "FAILED");
    assert_eq!(task.moved, 0);
}

#[test]
fn test_an_engine_never_imports_its_own_outbox() {
    let mut one = group(1);
    let import = Command::ImportMessages { source_group: 1, entries: Vec::new() };
    assert!(one.apply(import).is_err());
}

#[test]
fn test_a_refusal_is_remembered_when_a_new_leader_hands_over_part_of_a_batch_again() {
    let (mut one, mut two) = (group(1), group(2));
    let (kept_source, _kept_dlq) = redrive_across(&mut one, &mut two);
    let gone_source = name_in(&one, 1, "other-source");
    let gone_dlq = name_in(&two, 2, "gone-dlq");
    two.create(&gone_dlq, &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(&gone_dlq));
    one.create(&gone_source, &[("RedrivePolicy", &policy)]).unwrap();
    two.delete_queue(&gone_dlq).unwrap();
    exhaust(&mut one, &kept_source, 2);
    exhaust(&mut one, &gone_source, 2);
    let (_, entries) = one.outbox_batch(10, &BTreeSet::new()).unwrap();
    assert_eq!(entries.len(), 4);
    let refused_of = |two: &mut Harness, batch: &[shoal_engine::outbox::OutboxEntry]| match two
        .apply(Command::ImportMessages { source_group: 1, entries: batch.to_vec() })
    {
        Ok(Reply::Imported { refused }) => refused,
        other => panic!("import failed: {other:?}"),
    };
    let all_refused = refused_of(&mut two, &entries);
    assert_eq!(all_refused.len(), 2, "the two bound for the deleted queue");
    // The source's leader died before acknowledging; its successor hands the batch over in two
    // parts. Each part must still learn which of its messages were refused.
    let (first, second) = entries.split_at(2);
    let mut again = refused_of(&mut two, first);
    again.extend(refused_of(&mut two, second));
    assert_eq!(again, all_refused);
    let positions: Vec<u64> = entries.iter().map(|e| e.position).collect();
    one.apply(Command::AckOutbox { positions, refused: again }).unwrap();
    one.advance_ms(1);
    assert_eq!(one.receive_for(&gone_source, 10, 0).len(), 2, "the refused messages came back");
}

#[test]
fn test_a_refused_fifo_dead_letter_returns_to_the_end_of_its_group_without_a_source_arn() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = fifo_redrive_across(&mut one, &mut two);
    two.delete_queue(&dlq).unwrap();
    one.send_fifo(&source, "g", "d1", "first").unwrap();
    let sequence_before = one.receive_for(&source, 1, 0)[0].system_attributes["SequenceNumber"].clone();
    one.advance_ms(1);
    assert!(one.receive_for(&source, 1, 0).is_empty(), "on its way to the dead-letter queue");
    assert_eq!(hand_over_once(&mut one, 1, &mut two, false), (1, 1));
    one.advance_ms(1);
    let back = one.receive_for(&source, 1, 0);
    assert_eq!(bodies(&back), ["first"]);
    assert!(!back[0].system_attributes.contains_key("DeadLetterQueueSourceArn"));
    let sequence_after = &back[0].system_attributes["SequenceNumber"];
    assert!(sequence_after.parse::<u128>().unwrap() > sequence_before.parse::<u128>().unwrap());
}

#[test]
fn test_fifo_dead_letters_keep_their_group_and_order_in_another_group() {
    let (mut one, mut two) = (group(1), group(2));
    let (source, dlq) = fifo_redrive_across(&mut one, &mut two);
    for (i, body) in ["a1", "a2", "a3"].iter().enumerate() {
        one.send_fifo(&source, "a", &format!("d{i}"), body).unwrap();
    }
    assert_eq!(one.receive_for(&source, 10, 0).len(), 3);
    one.advance_ms(1);
    assert!(one.receive_for(&source, 10, 0).is_empty(), "received once each: all dead now");
    assert_eq!(hand_over_all(&mut one, 1, &mut two), 3);
    let received = two.receive_for(&dlq, 10, 30);
    assert_eq!(bodies(&received), ["a1", "a2", "a3"], "in their original order");
    assert!(received.iter().all(|m| m.system_attributes["MessageGroupId"] == "a"));
    assert!(two.receive_for(&dlq, 10, 30).is_empty(), "the group is in flight");
}

#[test]
fn test_a_batch_for_an_unreachable_group_does_not_hold_back_the_others() {
    let mut config = engine_config();
    config.placement = Placement { group: 1, data_groups: 3 };
    let mut one = Harness::with_engine(Engine::new(config));
    one.now_ms = START_MS;
    let name_in_group = |one: &Harness, group: u32, stem: &str| {
        (0..).map(|i| format!("{stem}{i}")).find(|name| one.engine.group_of(name) == group).unwrap()
    };
    let (to_two, to_three) = (name_in_group(&one, 1, "a"), name_in_group(&one, 1, "b"));
    let (dlq_two, dlq_three) = (name_in_group(&one, 2, "dlq"), name_in_group(&one, 3, "dlq"));
    for (source, dlq) in [(&to_two, &dlq_two), (&to_three, &dlq_three)] {
        let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(dlq));
        one.create(source, &[("RedrivePolicy", &policy)]).unwrap();
    }
    exhaust(&mut one, &to_two, 1);
    exhaust(&mut one, &to_three, 1);
    let (first, _) = one.outbox_batch(10, &BTreeSet::new()).unwrap();
    assert_eq!(first, 2, "the oldest entry's group first");
    let (next, entries) = one.outbox_batch(10, &BTreeSet::from([2])).unwrap();
    assert_eq!((next, entries.len()), (3, 1), "group 3's batch while group 2 rests");
    assert!(one.outbox_batch(10, &BTreeSet::from([2, 3])).is_none());
}
