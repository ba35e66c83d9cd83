//! Dead-letter queues: redrive after maxReceiveCount, redrive policies, RedriveAllowPolicy,
//! ListDeadLetterSourceQueues and message move tasks.

mod common;

use common::{arn, bodies, receive_count, Harness};
use shoal_engine::dlq::MoveTaskStatus;
use shoal_engine::SqsError;

fn redrive(dead_letter_queue: &str, max_receive_count: u32) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receive_count}}}"#, arn(dead_letter_queue))
}

/// A dead-letter queue `dlq` and a source `src` that moves messages there after `max` receives.
fn source_and_dead_letter_queue(max: u32) -> Harness {
    let mut h = Harness::new();
    h.create("dlq", &[]).unwrap();
    h.create("src", &[("RedrivePolicy", &redrive("dlq", max))]).unwrap();
    h
}

#[test]
fn test_dead_letter_queue_receives_message_after_max_receive_count() {
    let mut h = source_and_dead_letter_queue(2);
    let sent = h.send("src", "poison").unwrap();
    assert_eq!(receive_count(&h.receive_for("src", 1, 0)[0]), 1);
    assert_eq!(receive_count(&h.receive_for("src", 1, 0)[0]), 2);
    assert!(h.receive("src", 10).is_empty(), "the third receive moves it instead");
    assert_eq!(h.counts("src"), (0, 0, 0));
    assert_eq!(h.counts("dlq"), (1, 0, 0));

    let dead = h.receive("dlq", 10).remove(0);
    assert_eq!(dead.message_id, sent.message_id);
    assert_eq!(&*dead.body, "poison");
    assert_eq!(dead.md5_of_body, sent.md5_of_body);
    assert_eq!(dead.system_attributes["DeadLetterQueueSourceArn"], arn("src"));
    assert_eq!(dead.system_attributes["SentTimestamp"], common::START_MS.to_string());
}

#[test]
fn test_dead_letter_queue_move_does_not_block_other_messages_of_the_receive() {
    let mut h = source_and_dead_letter_queue(1);
    h.send("src", "poison").unwrap();
    h.receive_for("src", 1, 0);
    h.send("src", "fresh-1").unwrap();
    h.send("src", "fresh-2").unwrap();
    assert_eq!(bodies(&h.receive("src", 2)), ["fresh-1", "fresh-2"]);
    assert_eq!(h.counts("dlq"), (1, 0, 0));
}

#[test]
fn test_dead_letter_queue_fifo_keeps_group_and_order() {
    let mut h = Harness::new();
    h.create_fifo("dlq.fifo", &[]).unwrap();
    h.create_fifo("src.fifo", &[("RedrivePolicy", &redrive("dlq.fifo", 1))]).unwrap();
    for body in ["1", "2", "3"] {
        h.send_fifo("src.fifo", "g", body, body).unwrap();
    }
    let first = h.receive_for("src.fifo", 2, 0);
    assert_eq!(bodies(&first), ["1", "2"]);
    // Both were received once: the next receive moves them and delivers 3.
    assert_eq!(bodies(&h.receive("src.fifo", 10)), ["3"]);
    let dead = h.receive("dlq.fifo", 10);
    assert_eq!(bodies(&dead), ["1", "2"]);
    assert_eq!(dead[0].system_attributes["MessageGroupId"], "g");
    assert_eq!(dead[0].system_attributes["DeadLetterQueueSourceArn"], arn("src.fifo"));
    assert!(dead[0].system_attributes["SequenceNumber"] < dead[1].system_attributes["SequenceNumber"]);
}

#[test]
fn test_redrive_policy_to_missing_queue_is_refused() {
    let mut h = Harness::new();
    // The refusal quotes the policy as the request gave it.
    let does_not_exist = |policy: &str| {
        Err(SqsError::InvalidParameterValue(format!(
            "Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
        )))
    };
    let nope = redrive("nope", 3);
    assert_eq!(h.create("src", &[("RedrivePolicy", &nope)]).map(|_| ()), does_not_exist(&nope));
    let other_account = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:999999999999:dlq","maxReceiveCount":3}"#;
    h.create("dlq", &[]).unwrap();
    assert_eq!(h.create("src", &[("RedrivePolicy", other_account)]).map(|_| ()), does_not_exist(other_account));
    h.create("src", &[]).unwrap();
    assert_eq!(h.set_attributes("src", &[("RedrivePolicy", &nope)]), does_not_exist(&nope));
    let itself = h.set_attributes("src", &[("RedrivePolicy", &redrive("src", 3))]);
    assert!(matches!(itself, Err(SqsError::InvalidParameterValue(_))), "{itself:?}");
    let result = h.set_attributes("src", &[("RedrivePolicy", "not json")]);
    assert!(matches!(result, Err(SqsError::InvalidAttributeValue(_))), "{result:?}");
    for bad in [r#"{"maxReceiveCount":3}"#, &redrive("dlq", 0), &redrive("dlq", 1001)] {
        let result = h.set_attributes("src", &[("RedrivePolicy", bad)]);
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{bad}: {result:?}");
    }
    assert_eq!(h.attribute("src", "RedrivePolicy"), None);
}

#[test]
fn test_redrive_policy_to_queue_of_other_type_is_refused() {
    let mut h = Harness::new();
    h.create("dlq", &[]).unwrap();
    h.create_fifo("dlq.fifo", &[]).unwrap();
    // AWS's text, with its two full stops.
    let other_type = |policy: &str| {
        Err(SqsError::InvalidParameterValue(format!(
            "Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.."
        )))
    };
    let policy = redrive("dlq", 3);
    assert_eq!(h.create_fifo("src.fifo", &[("RedrivePolicy", &policy)]).map(|_| ()), other_type(&policy));
    let policy = redrive("dlq.fifo", 3);
    assert_eq!(h.create("src", &[("RedrivePolicy", &policy)]).map(|_| ()), other_type(&policy));
}

#[test]
fn test_redrive_policy_renders_and_can_be_removed() {
    let mut h = source_and_dead_letter_queue(3);
    let rendered = h.attribute("src", "RedrivePolicy").unwrap();
    assert_eq!(rendered, redrive("dlq", 3));
    // maxReceiveCount may come as a string, as the console sends it.
    let as_string = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"5"}}"#, arn("dlq"));
    h.set_attributes("src", &[("RedrivePolicy", &as_string)]).unwrap();
    assert_eq!(h.attribute("src", "RedrivePolicy").unwrap(), redrive("dlq", 5));
    h.set_attributes("src", &[("RedrivePolicy", "")]).unwrap();
    assert_eq!(h.attribute("src", "RedrivePolicy"), None);
}

#[test]
fn test_set_queue_attributes_keeps_working_after_the_dead_letter_queue_is_deleted() {
    let mut h = source_and_dead_letter_queue(1);
    h.delete_queue("dlq").unwrap();
    assert_eq!(h.set_attributes("src", &[("VisibilityTimeout", "45")]), Ok(()));
    assert_eq!(h.attribute("src", "VisibilityTimeout").as_deref(), Some("45"));
    // Without its dead-letter queue the source keeps delivering.
    h.send("src", "m").unwrap();
    h.receive_for("src", 1, 0);
    assert_eq!(bodies(&h.receive("src", 1)), ["m"]);
}

#[test]
fn test_redrive_allow_policy_deny_all_refuses_sources() {
    let mut h = Harness::new();
    h.create("dlq", &[("RedriveAllowPolicy", r#"{"redrivePermission":"denyAll"}"#)]).unwrap();
    let result = h.create("src", &[("RedrivePolicy", &redrive("dlq", 3))]);
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{result:?}");
    h.set_attributes("dlq", &[("RedriveAllowPolicy", r#"{"redrivePermission":"allowAll"}"#)]).unwrap();
    assert!(h.create("src", &[("RedrivePolicy", &redrive("dlq", 3))]).is_ok());
    assert_eq!(h.attribute("dlq", "RedriveAllowPolicy").unwrap(), r#"{"redrivePermission":"allowAll"}"#);
}

#[test]
fn test_redrive_allow_policy_by_queue_allows_only_listed_sources() {
    let mut h = Harness::new();
    let policy = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#, arn("allowed"));
    h.create("dlq", &[("RedriveAllowPolicy", &policy)]).unwrap();
    assert!(h.create("allowed", &[("RedrivePolicy", &redrive("dlq", 3))]).is_ok());
    let result = h.create("other", &[("RedrivePolicy", &redrive("dlq", 3))]);
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{result:?}");

    // A policy SQS can read but refuses names its value; one it cannot read does not.
    let eleven: Vec<String> = (0..11).map(|i| format!(r#""{}""#, arn(&format!("s{i}")))).collect();
    let too_many = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":[{}]}}"#, eleven.join(","));
    for bad in [too_many.as_str(), r#"{"redrivePermission":"byQueue"}"#] {
        let result = h.set_attributes("dlq", &[("RedriveAllowPolicy", bad)]);
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{bad}: {result:?}");
    }
    for bad in [r#"{"redrivePermission":"some"}"#, "x"] {
        let result = h.set_attributes("dlq", &[("RedriveAllowPolicy", bad)]);
        assert!(matches!(result, Err(SqsError::InvalidAttributeValue(_))), "{bad}: {result:?}");
    }
}

#[test]
fn test_list_dead_letter_source_queues_names_sources_with_pagination() {
    let mut h = Harness::new();
    h.create("dlq", &[]).unwrap();
    h.create("other-dlq", &[]).unwrap();
    for name in ["src-c", "src-a", "src-b"] {
        h.create(name, &[("RedrivePolicy", &redrive("dlq", 3))]).unwrap();
    }
    h.create("elsewhere", &[("RedrivePolicy", &redrive("other-dlq", 3))]).unwrap();
    h.create("plain", &[]).unwrap();

    let (names, next) = h.engine.dead_letter_source_queues("dlq", None, None).unwrap();
    assert_eq!((names, next), (vec!["src-a".to_string(), "src-b".into(), "src-c".into()], None));
    let (names, next) = h.engine.dead_letter_source_queues("dlq", None, Some(2)).unwrap();
    assert_eq!((names, next.clone()), (vec!["src-a".to_string(), "src-b".into()], Some("src-b".to_string())));
    let (names, next) = h.engine.dead_letter_source_queues("dlq", next.as_deref(), Some(2)).unwrap();
    assert_eq!((names, next), (vec!["src-c".to_string()], None));
    assert!(h.engine.dead_letter_source_queues("plain", None, None).unwrap().0.is_empty());
    assert_eq!(h.engine.dead_letter_source_queues("missing", None, None), Err(SqsError::QueueDoesNotExist));
}

/// A source `src` whose `count` messages have all been moved to `dlq`.
fn dead_letter_queue_with(count: usize) -> Harness {
    let mut h = source_and_dead_letter_queue(1);
    for i in 0..count {
        h.send("src", &format!("m{i}")).unwrap();
    }
    // Receive each once with visibility 0; the next receive moves them all.
    while h.engine.queue("src").unwrap().messages().any(|(_, m)| m.receive_count == 0) {
        h.receive_for("src", 10, 0);
    }
    assert!(h.receive("src", 10).is_empty());
    assert_eq!(h.counts("dlq"), (count as u64, 0, 0));
    h
}

#[test]
fn test_message_move_task_moves_messages_back_to_their_source_at_the_rate() {
    let mut h = dead_letter_queue_with(5);
    let seqs: Vec<u64> = h.engine.queue("dlq").unwrap().messages().map(|(seq, _)| seq).collect();
    let ids: Vec<String> = seqs.into_iter().map(|seq| h.message_id("dlq", seq)).collect();
    let handle = h.start_move_task("dlq", None, Some(2)).unwrap();
    // One second's worth moves at the start, then one message per 1/rate seconds.
    assert_eq!((h.counts("dlq").0, h.counts("src").0), (3, 2));
    h.advance_ms(499);
    h.tick();
    assert_eq!((h.counts("dlq").0, h.counts("src").0), (3, 2));
    h.advance_ms(1);
    h.tick();
    assert_eq!((h.counts("dlq").0, h.counts("src").0), (2, 3));
    h.advance_ms(500);
    h.tick();
    assert_eq!((h.counts("dlq").0, h.counts("src").0), (1, 4));
    let task = &h.move_tasks("dlq", None).unwrap()[0];
    assert_eq!((task.status, task.moved, task.to_move), (MoveTaskStatus::Running, 4, 5));
    assert!(h.engine.needs_tick(h.now_ms), "a running task needs ticks");
    h.advance_ms(500);
    h.tick();
    let task = &h.move_tasks("dlq", None).unwrap()[0];
    assert_eq!((task.status, task.moved, task.task_handle.as_str()), (MoveTaskStatus::Completed, 5, handle.as_str()));
    assert!(!h.engine.needs_tick(h.now_ms + 60_000));

    let back = h.receive("src", 10);
    let back_ids: Vec<String> = back.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(back_ids, ids, "same messages, in order");
    assert_eq!(bodies(&back), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(receive_count(&back[0]), 1, "the receive count starts again");
    assert!(!back[0].system_attributes.contains_key("DeadLetterQueueSourceArn"));
}

#[test]
fn test_message_move_task_to_an_explicit_destination() {
    let mut h = dead_letter_queue_with(3);
    h.create("elsewhere", &[]).unwrap();
    h.start_move_task("dlq", Some("elsewhere"), None).unwrap();
    assert_eq!(h.counts("dlq"), (0, 0, 0));
    assert_eq!(h.counts("src"), (0, 0, 0));
    assert_eq!(bodies(&h.receive("elsewhere", 10)), ["m0", "m1", "m2"]);
    assert_eq!(h.move_tasks("dlq", None).unwrap()[0].status, MoveTaskStatus::Completed);
}

#[test]
fn test_message_move_task_refuses_a_destination_of_the_other_queue_type() {
    let mut h = dead_letter_queue_with(1);
    h.create_fifo("elsewhere.fifo", &[]).unwrap();
    let result = h.start_move_task("dlq", Some("elsewhere.fifo"), None);
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{result:?}");
    assert_eq!(h.counts("dlq"), (1, 0, 0), "nothing moved");
}

#[test]
fn test_message_move_task_leaves_messages_sent_after_its_start() {
    let mut h = dead_letter_queue_with(2);
    h.start_move_task("dlq", None, Some(1)).unwrap();
    h.send("dlq", "late").unwrap();
    h.advance_seconds(10);
    h.tick();
    assert_eq!(h.counts("src"), (2, 0, 0));
    assert_eq!(bodies(&h.receive("dlq", 10)), ["late"]);
    assert_eq!(h.move_tasks("dlq", None).unwrap()[0].status, MoveTaskStatus::Completed);
}

#[test]
fn test_message_move_task_fails_when_a_message_has_no_source() {
    let mut h = dead_letter_queue_with(0);
    h.send("dlq", "sent directly").unwrap();
    h.start_move_task("dlq", None, None).unwrap();
    let task = &h.move_tasks("dlq", None).unwrap()[0];
    assert_eq!(task.status, MoveTaskStatus::Failed);
    assert!(task.failure_reason.is_some());
    assert_eq!(h.counts("dlq"), (1, 0, 0), "the message stays where it was");
}

#[test]
fn test_message_move_task_validates_its_parameters() {
    let mut h = dead_letter_queue_with(1);
    let missing = h.start_move_task("missing", None, None);
    assert!(matches!(missing, Err(SqsError::ResourceNotFound(_))));
    let not_dead_letter = h.start_move_task("src", None, None);
    assert!(matches!(not_dead_letter, Err(SqsError::InvalidParameterValue(_))));
    let missing_destination = h.start_move_task("dlq", Some("missing"), None);
    assert!(matches!(missing_destination, Err(SqsError::ResourceNotFound(_))));
    for rate in [0, 501] {
        assert!(
            matches!(h.start_move_task("dlq", None, Some(rate)), Err(SqsError::InvalidParameterValue(_))),
            "{rate}"
        );
    }
    h.send("src", "more").unwrap();
    h.receive_for("src", 1, 0);
    h.receive("src", 1);
    h.start_move_task("dlq", None, Some(1)).unwrap();
    let second = h.start_move_task("dlq", None, Some(1));
    let running =
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.";
    assert_eq!(second, Err(SqsError::InvalidParameterValue(running.to_string())), "one running task per source");
}

#[test]
fn test_cancel_message_move_task_stops_moving() {
    let mut h = dead_letter_queue_with(5);
    let handle = h.start_move_task("dlq", None, Some(1)).unwrap();
    h.advance_seconds(1);
    h.tick();
    assert_eq!(h.cancel_move_task(&handle), Ok(2));
    h.advance_seconds(10);
    h.tick();
    assert_eq!(h.counts("dlq"), (3, 0, 0));
    let task = &h.move_tasks("dlq", None).unwrap()[0];
    assert_eq!((task.status, task.moved), (MoveTaskStatus::Cancelled, 2));
    assert!(matches!(h.cancel_move_task(&handle), Err(SqsError::UnsupportedOperation(_))));
    let unknown = format!("99{handle}");
    assert_eq!(h.cancel_move_task(&unknown), Err(SqsError::ResourceNotFound("Task does not exist.".to_string())));
    let malformed = Err(SqsError::InvalidParameterValue("Value for parameter TaskHandle is invalid.".to_string()));
    assert_eq!(h.cancel_move_task("no-such-task"), malformed);
}

#[test]
fn test_list_message_move_tasks_newest_first_up_to_max() {
    let mut h = dead_letter_queue_with(10);
    let mut handles = Vec::new();
    for _ in 0..3 {
        let handle = h.start_move_task("dlq", None, Some(1)).unwrap();
        h.cancel_move_task(&handle).unwrap();
        handles.push(handle);
    }
    let listed: Vec<String> = h.move_tasks("dlq", Some(10)).unwrap().into_iter().map(|t| t.task_handle).collect();
    assert_eq!(listed, [handles[2].clone(), handles[1].clone(), handles[0].clone()]);
    assert_eq!(h.move_tasks("dlq", None).unwrap().len(), 1);
    for max in [0, 11] {
        assert!(matches!(h.move_tasks("dlq", Some(max)), Err(SqsError::InvalidParameterValue(_))));
    }
    assert!(matches!(h.move_tasks("missing", None), Err(SqsError::ResourceNotFound(_))));
    assert!(h.move_tasks("src", None).unwrap().is_empty());
}

#[test]
fn test_list_message_move_tasks_keeps_the_last_ten_finished() {
    let mut h = dead_letter_queue_with(20);
    for _ in 0..12 {
        let handle = h.start_move_task("dlq", None, Some(1)).unwrap();
        h.cancel_move_task(&handle).unwrap();
    }
    let tasks = h.move_tasks("dlq", Some(10)).unwrap();
    assert_eq!(tasks.len(), 10);
}

#[test]
fn test_deleting_the_dead_letter_queue_fails_its_running_task() {
    let mut h = dead_letter_queue_with(5);
    h.start_move_task("dlq", None, Some(1)).unwrap();
    h.delete_queue("dlq").unwrap();
    h.advance_seconds(120);
    h.tick();
    assert_eq!(h.counts("src"), (1, 0, 0));
    assert!(!h.engine.needs_tick(h.now_ms), "no running task is left to drive");
}

/// Retention in a standard dead-letter queue counts from the original send; a FIFO dead-letter
/// queue starts it anew, as in SQS. SentTimestamp is the original send time in both.
#[test]
fn test_dead_letter_queue_retention_counts_from_send_for_standard_and_restarts_for_fifo() {
    let mut h = Harness::new();
    h.create("dlq", &[("MessageRetentionPeriod", "120")]).unwrap();
    h.create("src", &[("RedrivePolicy", &redrive("dlq", 1))]).unwrap();
    h.create_fifo("dlq.fifo", &[("MessageRetentionPeriod", "120")]).unwrap();
    h.create_fifo("src.fifo", &[("RedrivePolicy", &redrive("dlq.fifo", 1))]).unwrap();
    h.send("src", "standard").unwrap();
    h.send_fifo("src.fifo", "g", "d", "fifo").unwrap();
    h.receive_for("src", 1, 0);
    h.receive_for("src.fifo", 1, 0);
    h.advance_seconds(100);
    assert!(h.receive("src", 1).is_empty(), "moved to the dead-letter queue");
    assert!(h.receive("src.fifo", 1).is_empty(), "moved to the dead-letter queue");
    assert_eq!(h.counts("dlq"), (1, 0, 0));
    assert_eq!(h.counts("dlq.fifo"), (1, 0, 0));

    h.advance_seconds(30);
    h.tick();
    assert_eq!(h.counts("dlq"), (0, 0, 0), "130 s after its send, past the 120 s retention");
    assert_eq!(h.counts("dlq.fifo"), (1, 0, 0), "30 s after the move");
    let dead = h.receive("dlq.fifo", 1).remove(0);
    assert_eq!(dead.system_attributes["SentTimestamp"], common::START_MS.to_string());
}
