//! Receipt handles of earlier receives, as SQS treats them. A standard queue takes the handle of
//! any receive of a message: it deletes the message, and changes its visibility while it is in
//! flight (under whichever receive). A FIFO queue takes only the handle of the receive the
//! message is in flight under; any other has expired. A handle of another queue, or of an
//! earlier queue of the same name, never acts on anything.

mod common;

use common::{arn, bodies, receive_count, Harness};
use shoal_engine::queue::ReceiptHandle;
use shoal_engine::SqsError;

const Q: &str = "q";
const F: &str = "q.fifo";

/// A standard queue holding one message received twice: the handles of both receives, the
/// second receive's visibility timeout 60 seconds.
fn received_twice() -> (Harness, String, String) {
    let mut h = Harness::new();
    h.create(Q, &[]).unwrap();
    h.send(Q, "a").unwrap();
    let first = h.receive_for(Q, 1, 1).remove(0).receipt_handle;
    h.advance_seconds(1);
    let second = h.receive_for(Q, 1, 60).remove(0);
    assert_eq!(receive_count(&second), 2);
    (h, first, second.receipt_handle)
}

/// A FIFO queue whose group `g` holds "1" then "2"; "1" was received twice, the first receive's
/// timeout (5 s) having passed. The handles of both receives.
fn fifo_received_twice() -> (Harness, String, String) {
    let mut h = Harness::new();
    h.create_fifo(F, &[("VisibilityTimeout", "5")]).unwrap();
    h.send_fifo(F, "g", "d1", "1").unwrap();
    h.send_fifo(F, "g", "d2", "2").unwrap();
    let first = h.receive(F, 1).remove(0).receipt_handle;
    h.advance_seconds(5);
    let second = h.receive(F, 1).remove(0);
    assert_eq!((&*second.body, receive_count(&second)), ("1", 2));
    (h, first, second.receipt_handle)
}

fn expired(handle: &str) -> SqsError {
    SqsError::InvalidParameterValue(format!(
        "Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    ))
}

fn not_available(handle: &str) -> SqsError {
    SqsError::InvalidParameterValue(format!(
        "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    ))
}

#[test]
fn test_receipt_handle_of_earlier_receive_deletes_the_message_on_a_standard_queue() {
    let (mut h, first, second) = received_twice();
    assert_eq!(h.counts(Q), (0, 1, 0));
    assert_eq!(h.delete(Q, &first), Ok(()));
    assert_eq!(h.counts(Q), (0, 0, 0), "deleted while in flight under the newer receive");
    assert_eq!(h.engine.queue(Q).unwrap().in_flight_count(), 0);
    assert_eq!(h.delete(Q, &second), Ok(()), "the newer handle names a message that is gone: done");
    h.advance_seconds(3600);
    assert!(h.receive(Q, 10).is_empty());
}

#[test]
fn test_receipt_handle_of_earlier_receive_changes_visibility_while_in_flight_under_a_newer_one() {
    let (mut h, first, _) = received_twice();
    assert_eq!(h.change_visibility(Q, &first, 100), Ok(()));
    h.advance_ms(99_999);
    assert!(h.receive(Q, 1).is_empty(), "60 s became 100 s");
    h.advance_ms(1);
    let third = h.receive_for(Q, 1, 60).remove(0);
    assert_eq!(receive_count(&third), 3);
    assert_eq!(h.change_visibility(Q, &first, 0), Ok(()));
    assert_eq!(h.counts(Q), (1, 0, 0), "visible now");
    assert_eq!(receive_count(&h.receive(Q, 1)[0]), 4);
}

#[test]
fn test_receipt_handle_of_visible_message_changes_nothing() {
    let (mut h, first, second) = received_twice();
    h.advance_seconds(60);
    assert_eq!(h.counts(Q), (1, 0, 0));
    for handle in [&first, &second] {
        assert_eq!(h.change_visibility(Q, handle, 600), Ok(()));
        assert_eq!(h.counts(Q), (1, 0, 0), "still visible");
    }
    assert_eq!(bodies(&h.receive(Q, 1)), ["a"]);
}

#[test]
fn test_receipt_handle_of_deleted_message_deletes_again_but_changes_no_visibility() {
    let (mut h, first, second) = received_twice();
    h.delete(Q, &second).unwrap();
    for handle in [&first, &second] {
        assert_eq!(h.delete(Q, handle), Ok(()));
        assert_eq!(h.change_visibility(Q, handle, 10), Err(not_available(handle)));
    }
}

#[test]
fn test_receipt_handle_of_earlier_receive_keeps_dead_lettering_right() {
    let mut h = Harness::new();
    h.create("dlq", &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, arn("dlq"));
    h.create(Q, &[("RedrivePolicy", &policy)]).unwrap();
    h.send(Q, "deleted").unwrap();
    h.send(Q, "poison").unwrap();
    let first = h.receive_for(Q, 2, 0);
    let second = h.receive_for(Q, 2, 60);
    assert_eq!(second.iter().map(receive_count).collect::<Vec<_>>(), [2, 2]);
    assert_eq!(&*first[0].body, "deleted");
    assert_eq!(h.delete(Q, &first[0].receipt_handle), Ok(()), "deleted while in flight under the second receive");
    assert_eq!(h.counts(Q), (0, 1, 0));
    h.advance_seconds(60);
    assert!(h.receive(Q, 10).is_empty(), "the third receive moves what is left");
    assert_eq!(bodies(&h.receive("dlq", 10)), ["poison"], "only the message nobody deleted");
}

#[test]
fn test_receipt_handle_fifo_of_earlier_receive_has_expired_and_current_one_works() {
    let (mut h, first, second) = fifo_received_twice();
    assert_eq!(h.delete(F, &first), Err(expired(&first)));
    assert_eq!(h.change_visibility(F, &first, 0), Err(expired(&first)));
    assert_eq!(h.counts(F), (1, 1, 0), "the expired handle changed nothing");
    assert!(h.receive(F, 10).is_empty(), "the group stays blocked");
    assert_eq!(h.change_visibility(F, &second, 30), Ok(()));
    assert_eq!(h.delete(F, &second), Ok(()));
    assert_eq!(h.engine.queue(F).unwrap().in_flight_count(), 0);
    assert_eq!(bodies(&h.receive(F, 10)), ["2"], "the delete unblocked the group");
}

#[test]
fn test_receipt_handle_fifo_whose_timeout_passed_has_expired() {
    let (mut h, _, second) = fifo_received_twice();
    h.advance_seconds(5);
    assert_eq!(h.counts(F), (2, 0, 0));
    assert_eq!(h.delete(F, &second), Err(expired(&second)));
    assert_eq!(h.change_visibility(F, &second, 30), Err(expired(&second)));
    let held = h.receive(F, 10);
    assert_eq!(bodies(&held), ["1", "2"], "nothing was deleted or hidden");
    // Of a message that is gone, any FIFO handle deletes again and changes no visibility.
    let current = &held[0].receipt_handle;
    h.delete(F, current).unwrap();
    for handle in [current, &second] {
        assert_eq!(h.delete(F, handle), Ok(()));
        assert_eq!(h.change_visibility(F, handle, 10), Err(not_available(handle)));
    }
}

#[test]
fn test_receipt_handle_of_another_incarnation_acts_on_nothing() {
    let mut h = Harness::new();
    h.create(Q, &[]).unwrap();
    h.send(Q, "old").unwrap();
    let old = h.receive(Q, 1).remove(0).receipt_handle;
    h.delete_queue(Q).unwrap();
    h.advance_seconds(60);
    h.create(Q, &[]).unwrap();
    h.send(Q, "new").unwrap();
    let new = h.receive_for(Q, 1, 60).remove(0).receipt_handle;
    let (old_receipt, new_receipt) = (ReceiptHandle::decode(&old).unwrap(), ReceiptHandle::decode(&new).unwrap());
    assert_eq!((old_receipt.seq, old_receipt.receive_count), (new_receipt.seq, new_receipt.receive_count));
    assert_ne!(old_receipt.incarnation, new_receipt.incarnation, "only the incarnation tells them apart");

    let invalid =
        SqsError::ReceiptHandleIsInvalid(format!("The input receipt handle \"{old}\" is not a valid receipt handle."));
    assert_eq!(h.delete(Q, &old), Err(invalid.clone()));
    assert_eq!(h.change_visibility(Q, &old, 0), Err(invalid));
    let other_queue =
        SqsError::ReceiptHandleIsInvalid(format!("The receipt handle \"{old}\" is not valid for this queue."));
    let reply = h.delete_batch(Q, &[("d", &old)]).unwrap();
    assert_eq!(reply.failed[0].error, other_queue);
    let reply = h.change_visibility_batch(Q, &[("c", &old, 0)]).unwrap();
    assert_eq!(reply.failed[0].error, other_queue);
    assert_eq!(h.counts(Q), (0, 1, 0), "the new queue's message is untouched");
}

#[test]
fn test_receipt_handle_batches_answer_per_entry_as_the_single_actions() {
    let (mut h, first, second) = received_twice();
    let reply = h.change_visibility_batch(Q, &[("early", &first, 0)]).unwrap();
    assert_eq!((reply.successful.len(), reply.failed.len()), (1, 0));
    assert_eq!(h.counts(Q), (1, 0, 0), "the earlier handle made it visible");
    let reply = h.delete_batch(Q, &[("early", &first), ("late", &second)]).unwrap();
    let ok: Vec<&str> = reply.successful.iter().map(|(id, ())| id.as_str()).collect();
    assert_eq!(ok, ["early", "late"]);
    assert_eq!(h.counts(Q), (0, 0, 0));
    let reply = h.change_visibility_batch(Q, &[("gone", &first, 0)]).unwrap();
    assert_eq!(reply.failed[0].error, not_available(&first));

    let (mut h, first, second) = fifo_received_twice();
    let batch_expired = SqsError::ReceiptHandleIsInvalid("The receipt handle has expired".to_string());
    let reply = h.change_visibility_batch(F, &[("old", &first, 0), ("new", &second, 30)]).unwrap();
    assert_eq!(reply.successful.len(), 1);
    assert_eq!((reply.failed[0].id.as_str(), &reply.failed[0].error), ("old", &batch_expired));
    let reply = h.delete_batch(F, &[("old", &first), ("new", &second)]).unwrap();
    assert_eq!(reply.successful.len(), 1);
    assert_eq!((reply.failed[0].id.as_str(), &reply.failed[0].error), ("old", &batch_expired));
    assert_eq!(bodies(&h.receive(F, 10)), ["2"]);
}

#[test]
fn test_receipt_handle_of_a_queue_in_another_group_acts_on_nothing() {
    // Two data groups count incarnations apart: their first queues share incarnation 1, and
    // their first messages position 1. Only the tag of the queue's name tells the handles apart.
    let mut here = Harness::new();
    here.create("a", &[]).unwrap();
    here.send("a", "mine").unwrap();
    let mut there = Harness::new();
    there.create("b", &[]).unwrap();
    there.send("b", "theirs").unwrap();
    let handle_of_b = there.receive_for("b", 1, 60).remove(0).receipt_handle;
    here.receive_for("a", 1, 60);
    let (of_b, of_a) = (ReceiptHandle::decode(&handle_of_b).unwrap(), here.engine.queue("a").unwrap());
    assert_eq!((of_b.incarnation, of_b.receive_count), (of_a.incarnation, 1), "the handles collide but for the tag");

    let refused = SqsError::ReceiptHandleIsInvalid(format!(
        "The input receipt handle \"{handle_of_b}\" is not a valid receipt handle."
    ));
    assert_eq!(here.delete("a", &handle_of_b), Err(refused));
    here.advance_seconds(60);
    assert_eq!(bodies(&here.receive("a", 10)), ["mine"], "still there");
}

#[test]
fn test_receipt_handle_issued_before_tags_still_works() {
    let mut h = Harness::new();
    h.create(Q, &[]).unwrap();
    h.send(Q, "a").unwrap();
    let handle = h.receive_for(Q, 1, 60).remove(0).receipt_handle;
    let untagged = ReceiptHandle { queue_tag: None, ..ReceiptHandle::decode(&handle).unwrap() }.encode();
    assert!(untagged.starts_with("SHL1"));
    h.delete(Q, &untagged).unwrap();
    h.advance_seconds(60);
    assert!(h.receive(Q, 10).is_empty(), "deleted by the old form of its handle");
}
