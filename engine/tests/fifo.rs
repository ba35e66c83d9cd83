//! FIFO queues: group order, group blocking, deduplication, receive attempts, sequence numbers.

mod common;

use common::{bodies, fifo_entry, receive_count, Harness};
use shoal_engine::command::SendEntry;
use shoal_engine::SqsError;

const Q: &str = "q.fifo";

fn fifo(attributes: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new();
    h.create_fifo(Q, attributes).unwrap();
    h
}

/// Sends `(group, body)` pairs, each with its body as deduplication id.
fn send_all(h: &mut Harness, messages: &[(&str, &str)]) {
    for (group, body) in messages {
        h.send_fifo(Q, group, body, body).unwrap();
    }
}

#[test]
fn test_fifo_group_is_delivered_in_send_order() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("g", "1"), ("g", "2"), ("g", "3")]);
    let mut delivered = Vec::new();
    for _ in 0..3 {
        let message = h.receive(Q, 1).remove(0);
        delivered.push(message.body.to_string());
        h.delete(Q, &message.receipt_handle).unwrap();
    }
    assert_eq!(delivered, ["1", "2", "3"]);
    assert!(h.receive(Q, 10).is_empty());
}

#[test]
fn test_fifo_group_is_blocked_while_a_message_is_in_flight() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("g", "1"), ("g", "2")]);
    let first = h.receive(Q, 1).remove(0);
    assert_eq!(&*first.body, "1");
    assert!(h.receive(Q, 10).is_empty(), "2 waits for 1");
    assert!(!h.engine.has_receivable(Q, h.now_ms));
    h.delete(Q, &first.receipt_handle).unwrap();
    assert!(h.engine.has_receivable(Q, h.now_ms));
    assert_eq!(bodies(&h.receive(Q, 10)), ["2"]);
}

#[test]
fn test_fifo_other_groups_are_served_while_one_is_blocked() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("a", "a1"), ("a", "a2"), ("b", "b1"), ("c", "c1"), ("b", "b2")]);
    assert_eq!(bodies(&h.receive(Q, 1)), ["a1"]);
    assert_eq!(bodies(&h.receive(Q, 2)), ["b1", "b2"]);
    assert_eq!(bodies(&h.receive(Q, 10)), ["c1"]);
    assert!(h.receive(Q, 10).is_empty());
}

#[test]
fn test_fifo_receive_takes_leading_messages_of_oldest_group_first() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("b", "b1"), ("a", "a1"), ("b", "b2"), ("a", "a2")]);
    assert_eq!(bodies(&h.receive(Q, 10)), ["b1", "b2", "a1", "a2"]);
}

#[test]
fn test_fifo_message_reappears_at_head_of_its_group_after_visibility_timeout() {
    let mut h = fifo(&[("VisibilityTimeout", "5")]);
    send_all(&mut h, &[("g", "1"), ("g", "2")]);
    let first = h.receive(Q, 1).remove(0);
    h.advance_seconds(5);
    let again = h.receive(Q, 1).remove(0);
    assert_eq!(&*again.body, "1");
    assert_eq!(receive_count(&again), 2);
    let handle = &first.receipt_handle;
    let expired =
        format!("Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.");
    assert_eq!(h.delete(Q, handle), Err(SqsError::InvalidParameterValue(expired)));
    assert_eq!(h.counts(Q), (1, 1, 0), "the expired handle deleted nothing");
}

#[test]
fn test_fifo_group_stays_blocked_until_every_message_of_a_receive_is_done() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("g", "1"), ("g", "2"), ("g", "3")]);
    let received = h.receive_for(Q, 2, 10);
    assert_eq!(bodies(&received), ["1", "2"]);
    h.change_visibility(Q, &received[0].receipt_handle, 0).unwrap();
    assert!(h.receive(Q, 10).is_empty(), "2 is still in flight, so 1 waits");
    h.delete(Q, &received[1].receipt_handle).unwrap();
    assert_eq!(bodies(&h.receive(Q, 10)), ["1", "3"]);
}

#[test]
fn test_fifo_change_visibility_zero_of_the_head_unblocks_the_group() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("g", "1"), ("g", "2")]);
    let first = h.receive(Q, 1).remove(0);
    h.change_visibility(Q, &first.receipt_handle, 0).unwrap();
    assert_eq!(bodies(&h.receive(Q, 10)), ["1", "2"]);
}

#[test]
fn test_fifo_deduplication_id_returns_the_original_message_id_within_5_minutes() {
    let mut h = fifo(&[]);
    let original = h.send_fifo(Q, "g", "dedup", "first").unwrap();
    h.advance_ms(299_999);
    let repeat = h.send_fifo(Q, "g", "dedup", "second").unwrap();
    assert_eq!(repeat.message_id, original.message_id);
    assert_eq!(repeat.sequence_number, original.sequence_number);
    assert_eq!(h.counts(Q), (1, 0, 0));

    h.advance_ms(1);
    let anew = h.send_fifo(Q, "g", "dedup", "third").unwrap();
    assert_ne!(anew.message_id, original.message_id);
    assert!(anew.sequence_number > original.sequence_number);
    assert_eq!(h.peek_bodies(Q), ["first", "third"]);
}

#[test]
fn test_fifo_deduplication_window_is_not_extended_by_repeats() {
    let mut h = fifo(&[]);
    h.send_fifo(Q, "g", "d", "first").unwrap();
    h.advance_seconds(200);
    h.send_fifo(Q, "g", "d", "repeat").unwrap();
    h.advance_seconds(100);
    h.send_fifo(Q, "g", "d", "after-window").unwrap();
    assert_eq!(h.counts(Q), (2, 0, 0));
}

#[test]
fn test_fifo_content_based_deduplication_uses_the_body() {
    let mut h = fifo(&[("ContentBasedDeduplication", "true")]);
    let original = h.send_entry(Q, fifo_entry("g", None, "same body")).unwrap();
    let repeat = h.send_entry(Q, fifo_entry("other-group", None, "same body")).unwrap();
    assert_eq!(repeat.message_id, original.message_id);
    h.send_entry(Q, fifo_entry("g", None, "other body")).unwrap();
    // An explicit id wins over the content.
    h.send_entry(Q, fifo_entry("g", Some("explicit"), "same body")).unwrap();
    assert_eq!(h.counts(Q), (3, 0, 0));
    let first = h.receive(Q, 1).remove(0);
    // SHA-256 of the body, computed independently (Python hashlib).
    let expected = "8f6372a8b1509601faa57ff3a292cfcccb95aa2325c18b8e50b0c035ea1648fe";
    assert_eq!(first.system_attributes["MessageDeduplicationId"], expected);
    h.advance_seconds(300);
    h.send_entry(Q, fifo_entry("g", None, "same body")).unwrap();
    assert_eq!(h.engine.message_count(), 4);
}

#[test]
fn test_fifo_without_deduplication_id_or_content_based_deduplication_is_refused() {
    let mut h = fifo(&[]);
    let result = h.send_entry(Q, fifo_entry("g", None, "x"));
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
    let result = h.send_entry(Q, SendEntry { deduplication_id: Some("d".into()), ..common::entry("x") });
    assert_eq!(result.map(|_| ()), Err(SqsError::MissingParameter("MessageGroupId".to_string())));
    let result = h.send_entry(Q, SendEntry { delay_seconds: Some(1), ..fifo_entry("g", Some("d"), "x") });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "no per-message delay on FIFO");
    assert_eq!(h.counts(Q), (0, 0, 0));
}

#[test]
fn test_fifo_send_with_delay_seconds_zero_is_accepted_and_the_queue_delay_applies() {
    let mut h = fifo(&[("DelaySeconds", "5")]);
    h.send_entry(Q, SendEntry { delay_seconds: Some(0), ..fifo_entry("g", Some("d"), "x") }).unwrap();
    assert_eq!(h.counts(Q), (0, 0, 1), "the queue's 5 s delay, not 0");
    h.advance_seconds(5);
    assert_eq!(bodies(&h.receive(Q, 1)), ["x"]);
}

#[test]
fn test_fifo_validates_group_and_deduplication_ids() {
    let mut h = fifo(&[]);
    let long = "x".repeat(129);
    for bad in ["", "with space", "ünï", long.as_str()] {
        let result = h.send_fifo(Q, bad, "d", "body");
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "group {bad:?}");
        let result = h.send_fifo(Q, "g", bad, "body");
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "dedup {bad:?}");
    }
    let longest = "x".repeat(128);
    assert!(h.send_fifo(Q, &longest, "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "body").is_ok());
}

#[test]
fn test_fifo_deduplication_survives_deletion() {
    let mut h = fifo(&[]);
    let original = h.send_fifo(Q, "g", "d", "body").unwrap();
    let handle = h.receive(Q, 1)[0].receipt_handle.clone();
    h.delete(Q, &handle).unwrap();
    let repeat = h.send_fifo(Q, "g", "d", "body").unwrap();
    assert_eq!(repeat.message_id, original.message_id);
    assert!(h.receive(Q, 10).is_empty());
}

#[test]
fn test_fifo_deduplication_survives_purge() {
    let mut h = fifo(&[]);
    let original = h.send_fifo(Q, "g", "d", "body").unwrap();
    h.purge(Q).unwrap();
    assert_eq!(h.send_fifo(Q, "g", "d", "body").unwrap().message_id, original.message_id);
    assert_eq!(h.counts(Q), (0, 0, 0));
}

#[test]
fn test_fifo_deduplication_scope_message_group_keeps_groups_apart() {
    let mut h = fifo(&[("DeduplicationScope", "messageGroup"), ("FifoThroughputLimit", "perMessageGroupId")]);
    let a = h.send_fifo(Q, "a", "d", "in a").unwrap();
    let b = h.send_fifo(Q, "b", "d", "in b").unwrap();
    assert_ne!(a.message_id, b.message_id);
    assert_eq!(h.send_fifo(Q, "a", "d", "again").unwrap().message_id, a.message_id);
    assert_eq!(h.counts(Q), (2, 0, 0));

    let mut queue_scope = fifo(&[]);
    let a = queue_scope.send_fifo(Q, "a", "d", "in a").unwrap();
    assert_eq!(queue_scope.send_fifo(Q, "b", "d", "in b").unwrap().message_id, a.message_id);
}

#[test]
fn test_fifo_receive_request_attempt_id_replays_same_messages_and_handles() {
    let mut h = fifo(&[("VisibilityTimeout", "30")]);
    send_all(&mut h, &[("a", "a1"), ("b", "b1"), ("c", "c1")]);
    let first = h.receive_attempt(Q, 2, "attempt-1");
    assert_eq!(bodies(&first), ["a1", "b1"]);
    h.advance_seconds(20);
    let replay = h.receive_attempt(Q, 2, "attempt-1");
    assert_eq!(replay, first, "same messages, same receipt handles");
    // The replay restarted the visibility timeout.
    h.advance_seconds(29);
    assert_eq!(bodies(&h.receive(Q, 10)), ["c1"]);
    assert_eq!(h.delete(Q, &first[0].receipt_handle), Ok(()));
    // Another attempt id is a new receive.
    assert!(h.receive_attempt(Q, 10, "attempt-2").is_empty());
}

#[test]
fn test_fifo_receive_request_attempt_id_after_a_delete_receives_anew() {
    let mut h = fifo(&[]);
    send_all(&mut h, &[("a", "a1"), ("a", "a2")]);
    let first = h.receive_attempt(Q, 1, "attempt");
    h.delete(Q, &first[0].receipt_handle).unwrap();
    assert_eq!(bodies(&h.receive_attempt(Q, 1, "attempt")), ["a2"]);
}

#[test]
fn test_fifo_receive_request_attempt_id_expires_after_5_minutes() {
    let mut h = fifo(&[("VisibilityTimeout", "43200")]);
    send_all(&mut h, &[("a", "a1"), ("b", "b1")]);
    let first = h.receive_attempt(Q, 1, "attempt");
    h.advance_seconds(300);
    let later = h.receive_attempt(Q, 1, "attempt");
    assert_eq!(bodies(&later), ["b1"]);
    assert_ne!(later, first);
}

#[test]
fn test_fifo_sequence_numbers_increase_and_show_on_receive() {
    let mut h = fifo(&[]);
    let mut numbers = Vec::new();
    for (i, group) in ["a", "b", "a", "c"].iter().enumerate() {
        let sent = h.send_fifo(Q, group, &format!("d{i}"), &format!("m{i}")).unwrap();
        let number = sent.sequence_number.unwrap();
        assert_eq!(number.len(), 20);
        numbers.push(number);
    }
    assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]), "{numbers:?}");
    let received = h.receive(Q, 10);
    assert_eq!(bodies(&received), ["m0", "m2", "m1", "m3"]);
    assert_eq!(received[0].system_attributes["SequenceNumber"], numbers[0]);
    assert_eq!(received[0].system_attributes["MessageGroupId"], "a");
    assert_eq!(received[0].system_attributes["MessageDeduplicationId"], "d0");
    assert_eq!(received[1].system_attributes["SequenceNumber"], numbers[2]);
}

#[test]
fn test_fifo_queue_delay_holds_back_the_whole_group() {
    let mut h = fifo(&[("DelaySeconds", "5")]);
    send_all(&mut h, &[("g", "1")]);
    h.set_attributes(Q, &[("DelaySeconds", "0")]).unwrap();
    send_all(&mut h, &[("g", "2"), ("other", "3")]);
    assert_eq!(bodies(&h.receive(Q, 10)), ["3"], "2 must not overtake the delayed 1");
    h.advance_seconds(5);
    assert_eq!(bodies(&h.receive(Q, 10)), ["1", "2"]);
}

#[test]
fn test_fifo_message_expiring_in_flight_unblocks_its_group() {
    let mut h = fifo(&[("MessageRetentionPeriod", "60")]);
    send_all(&mut h, &[("g", "1")]);
    h.advance_seconds(30);
    send_all(&mut h, &[("g", "2")]);
    h.receive_for(Q, 1, 600);
    h.advance_seconds(30);
    assert_eq!(bodies(&h.receive(Q, 10)), ["2"]);
}
