//! ReceiveMessage, DeleteMessage and ChangeMessageVisibility on standard queues, and retention.

mod common;

use common::{bodies, receive_count, receive_request, Harness, START_MS};
use shoal_engine::{BatchEntryType, SqsError};

fn queue_with(bodies: &[&str]) -> Harness {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    for body in bodies {
        h.send("q", body).unwrap();
    }
    h
}

#[test]
fn test_receive_message_returns_at_most_max_oldest_first() {
    let all: Vec<String> = (0..15).map(|i| format!("m{i:02}")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut h = queue_with(&all);
    assert_eq!(bodies(&h.receive("q", 1)), all[..1]);
    assert_eq!(bodies(&h.receive("q", 10)), all[1..11]);
    assert_eq!(bodies(&h.receive("q", 10)), all[11..]);
    assert!(h.receive("q", 10).is_empty());
    assert_eq!(h.counts("q"), (0, 15, 0));
}

#[test]
fn test_receive_message_refuses_out_of_range_parameters() {
    let mut h = queue_with(&["a"]);
    for request in [receive_request(0, None), receive_request(11, None), receive_request(1, Some(43_201))] {
        let result = h.receive_request("q", request.clone());
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{request:?}: {result:?}");
    }
    let bad_attempt = shoal_engine::command::ReceiveRequest {
        receive_request_attempt_id: Some("x".repeat(129)),
        ..receive_request(1, None)
    };
    assert!(matches!(h.receive_request("q", bad_attempt), Err(SqsError::InvalidParameterValue(_))));
    assert_eq!(h.receive_request("missing", receive_request(1, None)), Err(SqsError::QueueDoesNotExist));
    assert_eq!(h.counts("q"), (1, 0, 0), "refused receives change nothing");
}

#[test]
fn test_receive_message_shows_system_attributes() {
    let mut h = queue_with(&["a"]);
    h.advance_seconds(3);
    let message = h.receive("q", 1).remove(0);
    let system = &message.system_attributes;
    assert_eq!(system["SenderId"], common::ACCOUNT_ID);
    assert_eq!(system["SentTimestamp"], START_MS.to_string());
    assert_eq!(system["ApproximateReceiveCount"], "1");
    assert_eq!(system["ApproximateFirstReceiveTimestamp"], (START_MS + 3000).to_string());
    assert!(!system.contains_key("SequenceNumber"));
    assert!(!system.contains_key("MessageGroupId"));
    assert!(!system.contains_key("DeadLetterQueueSourceArn"));
    assert!(message.receipt_handle.len() > 8);
}

#[test]
fn test_receive_message_hides_message_for_the_queue_visibility_timeout() {
    let mut h = Harness::new();
    h.create("q", &[("VisibilityTimeout", "30")]).unwrap();
    h.send("q", "a").unwrap();
    let first = h.receive("q", 1).remove(0);
    assert_eq!(receive_count(&first), 1);

    h.advance_ms(29_999);
    assert!(h.receive("q", 1).is_empty());
    assert_eq!(h.counts("q"), (0, 1, 0));
    h.advance_ms(1);
    let second = h.receive("q", 1).remove(0);
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(receive_count(&second), 2);
    assert_ne!(second.receipt_handle, first.receipt_handle);
    assert_eq!(
        second.system_attributes["ApproximateFirstReceiveTimestamp"],
        first.system_attributes["ApproximateFirstReceiveTimestamp"],
        "the first receive time is kept"
    );
}

#[test]
fn test_receive_message_visibility_timeout_overrides_the_queue_value() {
    let mut h = queue_with(&["a", "b"]);
    h.receive_for("q", 1, 5);
    h.receive_for("q", 1, 100);
    h.advance_seconds(5);
    assert_eq!(bodies(&h.receive_for("q", 10, 1000)), ["a"]);
    h.advance_seconds(95);
    assert_eq!(bodies(&h.receive_for("q", 10, 1000)), ["b"]);
}

#[test]
fn test_receive_message_with_zero_visibility_timeout_leaves_message_visible() {
    let mut h = queue_with(&["a"]);
    assert_eq!(receive_count(&h.receive_for("q", 1, 0)[0]), 1);
    assert_eq!(h.counts("q"), (1, 0, 0));
    assert_eq!(receive_count(&h.receive_for("q", 1, 0)[0]), 2);
}

#[test]
fn test_delete_message_with_current_handle_removes_it() {
    let mut h = queue_with(&["a", "b"]);
    let handle = h.receive("q", 1)[0].receipt_handle.clone();
    assert_eq!(h.delete("q", &handle), Ok(()));
    assert_eq!(h.counts("q"), (1, 0, 0));
    h.advance_seconds(3600);
    assert_eq!(bodies(&h.receive("q", 10)), ["b"]);
}

#[test]
fn test_delete_message_twice_succeeds() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive("q", 1)[0].receipt_handle.clone();
    assert_eq!(h.delete("q", &handle), Ok(()));
    assert_eq!(h.delete("q", &handle), Ok(()));
}

#[test]
fn test_delete_message_with_handle_of_visible_message_not_received_again_succeeds() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive_for("q", 1, 1)[0].receipt_handle.clone();
    h.advance_seconds(2);
    assert_eq!(h.counts("q"), (1, 0, 0));
    assert_eq!(h.delete("q", &handle), Ok(()));
    assert_eq!(h.counts("q"), (0, 0, 0));
}

#[test]
fn test_delete_message_with_garbage_or_foreign_handle_is_refused() {
    let mut h = queue_with(&["a"]);
    h.create("other", &[]).unwrap();
    h.send("other", "b").unwrap();
    let foreign = h.receive("other", 1)[0].receipt_handle.clone();
    for handle in ["", "garbage", "SHL1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", foreign.as_str()] {
        let refused = format!("The input receipt handle \"{handle}\" is not a valid receipt handle.");
        assert_eq!(h.delete("q", handle), Err(SqsError::ReceiptHandleIsInvalid(refused)), "{handle:?}");
    }
    assert_eq!(h.delete("missing", &foreign), Err(SqsError::QueueDoesNotExist));
    assert_eq!(h.counts("other"), (0, 1, 0));
}

#[test]
fn test_delete_message_batch_reports_each_entry() {
    let mut h = queue_with(&["a", "b"]);
    let received = h.receive("q", 2);
    let (a, b) = (received[0].receipt_handle.clone(), received[1].receipt_handle.clone());
    let reply = h.delete_batch("q", &[("one", &a), ("bad", "garbage"), ("two", &b), ("again", &a)]).unwrap();
    let ok: Vec<&str> = reply.successful.iter().map(|(id, ())| id.as_str()).collect();
    assert_eq!(ok, ["one", "two", "again"]);
    assert_eq!(reply.failed.len(), 1);
    assert_eq!(reply.failed[0].id, "bad");
    let refused = "The input receipt handle \"garbage\" is not a valid receipt handle.".to_string();
    assert_eq!(reply.failed[0].error, SqsError::ReceiptHandleIsInvalid(refused));
    assert_eq!(h.counts("q"), (0, 0, 0));

    let empty = SqsError::EmptyBatchRequest { entry: BatchEntryType::DeleteMessage };
    assert_eq!(h.delete_batch("q", &[]).map(|_| ()), Err(empty));
    let duplicate = h.delete_batch("q", &[("x", &a), ("x", &b)]).map(|_| ());
    assert_eq!(duplicate, Err(SqsError::BatchEntryIdsNotDistinct("x".to_string())));
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("e{i}"), a.clone())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(i, h)| (i.as_str(), h.as_str())).collect();
    let too_many = SqsError::TooManyEntriesInBatchRequest { sent: 11, max: 10 };
    assert_eq!(h.delete_batch("q", &eleven).map(|_| ()), Err(too_many));
}

#[test]
fn test_change_message_visibility_extends_the_timeout() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive_for("q", 1, 10)[0].receipt_handle.clone();
    h.advance_seconds(5);
    assert_eq!(h.change_visibility("q", &handle, 30), Ok(()));
    h.advance_ms(29_999);
    assert!(h.receive("q", 1).is_empty());
    h.advance_ms(1);
    assert_eq!(bodies(&h.receive("q", 1)), ["a"]);
}

#[test]
fn test_change_message_visibility_can_shorten_the_timeout() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive_for("q", 1, 600)[0].receipt_handle.clone();
    assert_eq!(h.change_visibility("q", &handle, 2), Ok(()));
    h.advance_seconds(2);
    assert_eq!(bodies(&h.receive("q", 1)), ["a"]);
}

#[test]
fn test_change_message_visibility_zero_makes_the_message_visible_now() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive_for("q", 1, 600)[0].receipt_handle.clone();
    assert_eq!(h.change_visibility("q", &handle, 0), Ok(()));
    assert_eq!(h.counts("q"), (1, 0, 0));
    let again = h.receive("q", 1).remove(0);
    assert_eq!(receive_count(&again), 2);
}

#[test]
fn test_change_message_visibility_of_deleted_message_is_refused_and_of_visible_one_does_nothing() {
    let mut h = queue_with(&["a", "b"]);
    let received = h.receive_for("q", 2, 10);
    let (a, b) = (received[0].receipt_handle.clone(), received[1].receipt_handle.clone());
    h.delete("q", &b).unwrap();
    let gone = format!(
        "Value {b} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    );
    assert_eq!(h.change_visibility("q", &b, 10), Err(SqsError::InvalidParameterValue(gone)), "deleted");
    h.advance_seconds(10);
    assert_eq!(h.change_visibility("q", &a, 10), Ok(()), "visible again: nothing to change");
    assert_eq!(h.counts("q"), (1, 0, 0), "the message stays visible");
    let refused = "The input receipt handle \"garbage\" is not a valid receipt handle.".to_string();
    assert_eq!(h.change_visibility("q", "garbage", 10), Err(SqsError::ReceiptHandleIsInvalid(refused)));
    assert_eq!(h.change_visibility("missing", &a, 10), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_change_message_visibility_beyond_12_hours_from_receive_is_refused() {
    let mut h = queue_with(&["a"]);
    let handle = h.receive_for("q", 1, 43_200)[0].receipt_handle.clone();
    h.advance_seconds(3600);
    let result = h.change_visibility("q", &handle, 39_601);
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{result:?}");
    assert_eq!(h.change_visibility("q", &handle, 39_600), Ok(()), "exactly 12 hours after the receive");
    assert!(matches!(h.change_visibility("q", &handle, 43_201), Err(SqsError::InvalidParameterValue(_))));
    h.advance_ms(39_600_000 - 1);
    assert!(h.receive("q", 1).is_empty());
    h.advance_ms(1);
    assert_eq!(bodies(&h.receive("q", 1)), ["a"]);
}

#[test]
fn test_change_message_visibility_limit_restarts_with_each_receive() {
    let mut h = queue_with(&["a"]);
    h.receive_for("q", 1, 43_200);
    h.advance_seconds(43_200);
    let handle = h.receive_for("q", 1, 10)[0].receipt_handle.clone();
    assert_eq!(h.change_visibility("q", &handle, 43_200), Ok(()));
}

#[test]
fn test_change_message_visibility_batch_reports_each_entry() {
    let mut h = queue_with(&["a", "b"]);
    let received = h.receive_for("q", 2, 10);
    let (a, b) = (received[0].receipt_handle.clone(), received[1].receipt_handle.clone());
    let reply = h.change_visibility_batch("q", &[("a", &a, 0), ("g", "garbage", 5), ("b", &b, 100)]).unwrap();
    let ok: Vec<&str> = reply.successful.iter().map(|(id, ())| id.as_str()).collect();
    assert_eq!(ok, ["a", "b"]);
    assert_eq!(reply.failed[0].id, "g");
    assert_eq!(h.counts("q"), (1, 1, 0));
    let empty = SqsError::EmptyBatchRequest { entry: BatchEntryType::ChangeMessageVisibility };
    assert_eq!(h.change_visibility_batch("q", &[]).map(|_| ()), Err(empty));
}

#[test]
fn test_retention_expires_visible_in_flight_and_delayed_messages() {
    let mut h = Harness::new();
    h.create("q", &[("MessageRetentionPeriod", "60")]).unwrap();
    h.send("q", "visible").unwrap();
    h.send("q", "in-flight").unwrap();
    h.send_entry("q", shoal_engine::command::SendEntry { delay_seconds: Some(120), ..common::entry("delayed") })
        .unwrap();
    let mut in_flight = h.receive_for("q", 2, 600);
    assert_eq!(bodies(&in_flight), ["visible", "in-flight"]);
    h.change_visibility("q", &in_flight.remove(0).receipt_handle, 0).unwrap();
    assert_eq!(h.counts("q"), (1, 1, 1));
    h.advance_seconds(30);
    h.send("q", "young").unwrap();

    h.advance_ms(29_999);
    h.tick();
    assert_eq!(h.engine.message_count(), 4);
    h.advance_ms(1);
    h.tick();
    assert_eq!(h.engine.message_count(), 1);
    assert_eq!(h.counts("q"), (1, 0, 0));
    assert_eq!(h.delete("q", &in_flight[0].receipt_handle), Ok(()), "an expired message counts as deleted");
    assert_eq!(bodies(&h.receive("q", 10)), ["young"]);
}

#[test]
fn test_retention_expiry_is_applied_by_receive_without_a_tick() {
    let mut h = Harness::new();
    h.create("q", &[("MessageRetentionPeriod", "60")]).unwrap();
    h.send("q", "old").unwrap();
    h.advance_seconds(60);
    assert!(h.receive("q", 10).is_empty());
    assert_eq!(h.engine.message_count(), 0);
}

#[test]
fn test_retention_shortened_by_set_queue_attributes_expires_old_messages() {
    let mut h = queue_with(&["old"]);
    h.advance_seconds(120);
    h.send("q", "new").unwrap();
    h.set_attributes("q", &[("MessageRetentionPeriod", "60")]).unwrap();
    assert_eq!(h.engine.message_count(), 1);
    assert_eq!(bodies(&h.receive("q", 10)), ["new"]);
}

#[test]
fn test_receive_message_refuses_more_than_120000_messages_in_flight() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    for chunk in 0..12_001 {
        let entries = (0..10).map(|i| common::batch_entry(&format!("e{i}"), &format!("m{chunk}-{i}"))).collect();
        h.send_batch("q", entries).unwrap();
    }
    let first = h.receive("q", 1)[0].receipt_handle.clone();
    for _ in 0..11_999 {
        assert_eq!(h.receive("q", 10).len(), 10);
    }
    assert_eq!(h.receive("q", 10).len(), 9, "a receive stops at the limit");
    assert_eq!(h.counts("q"), (10, 120_000, 0));
    assert_eq!(h.receive_request("q", receive_request(1, None)), Err(SqsError::too_many_in_flight()));
    // Once one is deleted there is room for one again.
    h.delete("q", &first).unwrap();
    assert_eq!(h.receive("q", 10).len(), 1);
    assert_eq!(h.receive_request("q", receive_request(1, None)), Err(SqsError::too_many_in_flight()));
}

#[test]
fn test_fifo_at_the_in_flight_limit_has_nothing_receivable() {
    let mut h = Harness::new();
    h.create_fifo("q.fifo", &[("ContentBasedDeduplication", "true")]).unwrap();
    for chunk in 0..12_001u32 {
        let entries = (0..10)
            .map(|i| shoal_engine::command::SendEntry {
                group_id: Some(format!("g{chunk}-{i}")),
                ..common::batch_entry(&format!("e{i}"), &format!("m{chunk}-{i}"))
            })
            .collect();
        h.send_batch("q.fifo", entries).unwrap();
    }
    for _ in 0..12_000 {
        assert_eq!(h.receive_for("q.fifo", 10, 600).len(), 10);
    }
    assert!(!h.engine.has_receivable("q.fifo", h.now_ms), "a receive would return nothing, so a long poll must wait");
    assert!(h.receive("q.fifo", 10).is_empty());
    h.advance_seconds(600);
    assert!(h.engine.has_receivable("q.fifo", h.now_ms), "visibility timeouts ended");
}
