//! The text of every error, as SQS sends it: each line is a request and the error AWS answers,
//! word for word. SDK users' tests and tools compare these texts, so they are pinned here, and
//! every variant of `SqsError` must appear at least once.

mod common;

use std::collections::BTreeSet;

use common::{arn, attributes, batch_entry, entry, fifo_entry, receive_request, string_attribute, Harness, ACCOUNT_ID};
use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::{SqsError, SqsResult};

/// Every variant's name, by an exhaustive match: a new variant fails to compile until it is
/// named here, and the test fails until the table shows its text.
fn variant(error: &SqsError) -> &'static str {
    match error {
        SqsError::QueueDoesNotExist => "QueueDoesNotExist",
        SqsError::QueueAlreadyExists(_) => "QueueAlreadyExists",
        SqsError::QueueDeletedRecently => "QueueDeletedRecently",
        SqsError::InvalidAttributeName(_) => "InvalidAttributeName",
        SqsError::InvalidAttributeValue(_) => "InvalidAttributeValue",
        SqsError::InvalidParameterValue(_) => "InvalidParameterValue",
        SqsError::MissingParameter(_) => "MissingParameter",
        SqsError::InvalidMessageContents(_) => "InvalidMessageContents",
        SqsError::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
        SqsError::OverLimit(_) => "OverLimit",
        SqsError::PurgeQueueInProgress { .. } => "PurgeQueueInProgress",
        SqsError::TooManyEntriesInBatchRequest { .. } => "TooManyEntriesInBatchRequest",
        SqsError::EmptyBatchRequest { .. } => "EmptyBatchRequest",
        SqsError::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
        SqsError::BatchRequestTooLong { .. } => "BatchRequestTooLong",
        SqsError::InvalidBatchEntryId => "InvalidBatchEntryId",
        SqsError::ResourceNotFound(_) => "ResourceNotFound",
        SqsError::UnsupportedOperation(_) => "UnsupportedOperation",
    }
}

const VARIANTS: usize = 18;

#[derive(Default)]
struct Texts {
    seen: BTreeSet<&'static str>,
}

impl Texts {
    /// `result` must be the error `expected_variant` with exactly the text `expected`.
    #[track_caller]
    fn check<T: std::fmt::Debug>(&mut self, result: SqsResult<T>, expected_variant: &str, expected: &str) {
        let error = result.expect_err(expected);
        assert_eq!((variant(&error), error.to_string().as_str()), (expected_variant, expected));
        self.seen.insert(variant(&error));
    }
}

fn redrive(target: &str, max_receive_count: &str) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receive_count}}}"#, arn(target))
}

#[test]
fn test_error_texts_are_aws_texts_word_for_word() {
    let mut t = Texts::default();
    let mut h = Harness::new();
    h.create("q", &[("MaximumMessageSize", "1024")]).unwrap();
    h.create_fifo("f.fifo", &[("VisibilityTimeout", "5")]).unwrap();

    // Queues.
    t.check(h.send("missing", "x"), "QueueDoesNotExist", "The specified queue does not exist.");
    t.check(
        h.create("q", &[("DelaySeconds", "1")]),
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute DelaySeconds",
    );
    h.create("gone", &[]).unwrap();
    h.delete_queue("gone").unwrap();
    t.check(
        h.create("gone", &[]),
        "QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
    );
    let name_rule = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
    t.check(h.create("bad name", &[]), "InvalidParameterValue", name_rule);
    t.check(h.create("standard.fifo", &[]), "InvalidParameterValue", name_rule);
    t.check(
        h.create_fifo("bad", &[]),
        "InvalidParameterValue",
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length",
    );

    // Queue attributes.
    t.check(h.attributes("q", &["Bogus"]), "InvalidAttributeName", "Unknown Attribute Bogus.");
    t.check(h.set_attributes("q", &[("FifoQueue", "true")]), "InvalidAttributeName", "Unknown Attribute FifoQueue.");
    t.check(
        h.create("r", &[("ContentBasedDeduplication", "false")]),
        "InvalidAttributeName",
        "Unknown Attribute ContentBasedDeduplication.",
    );
    for attribute in ["DeduplicationScope", "FifoThroughputLimit"] {
        t.check(
            h.create("r", &[(attribute, "x")]),
            "InvalidAttributeName",
            &format!("You can specify the {attribute} only when FifoQueue is set to true."),
        );
    }
    t.check(
        h.set_attributes("q", &[("VisibilityTimeout", "43201")]),
        "InvalidAttributeValue",
        "Invalid value for the parameter VisibilityTimeout.",
    );
    t.check(
        h.set_attributes("f.fifo", &[("FifoQueue", "false")]),
        "InvalidAttributeValue",
        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
    );
    t.check(
        h.create("r", &[("KmsMasterKeyId", "k"), ("SqsManagedSseEnabled", "true")]),
        "InvalidAttributeValue",
        "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.",
    );

    // Redrive policies, quoted as the request gave them.
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", "not json")]),
        "InvalidAttributeValue",
        "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.",
    );
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", r#"{"maxReceiveCount":3}"#)]),
        "InvalidParameterValue",
        r#"Value {"maxReceiveCount":3} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn."#,
    );
    let no_count = format!(r#"{{"deadLetterTargetArn":"{}"}}"#, arn("dlq"));
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", &no_count)]),
        "InvalidParameterValue",
        &format!(
            "Value {no_count} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: maxReceiveCount."
        ),
    );
    let zero = redrive("dlq", r#""0""#);
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", &zero)]),
        "InvalidParameterValue",
        &format!(
            "Value {zero} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."
        ),
    );
    let nowhere = redrive("nowhere", "3");
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", &nowhere)]),
        "InvalidParameterValue",
        &format!("Value {nowhere} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."),
    );
    let to_fifo = redrive("f.fifo", "3");
    t.check(
        h.set_attributes("q", &[("RedrivePolicy", &to_fifo)]),
        "InvalidParameterValue",
        &format!(
            "Value {to_fifo} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.."
        ),
    );
    let by_queue = r#"{"redrivePermission":"byQueue"}"#;
    t.check(
        h.set_attributes("q", &[("RedriveAllowPolicy", by_queue)]),
        "InvalidParameterValue",
        &format!(
            "Value {by_queue} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values."
        ),
    );

    // SendMessage.
    t.check(h.send("q", ""), "MissingParameter", "The request must contain the parameter MessageBody.");
    let send_fifo = |h: &mut Harness, entry: SendEntry| h.send_entry("f.fifo", entry);
    t.check(
        send_fifo(&mut h, SendEntry { deduplication_id: Some("d".into()), ..entry("x") }),
        "MissingParameter",
        "The request must contain the parameter MessageGroupId.",
    );
    let allowed =
        "the set of allowed characters is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].";
    t.check(
        h.send("q", "bell \u{7}"),
        "InvalidMessageContents",
        &format!("Invalid binary character '#x7' was found in the message body, {allowed}"),
    );
    t.check(
        h.send("q", "\u{FFFE}"),
        "InvalidMessageContents",
        &format!("Invalid binary character '#xFFFE' was found in the message body, {allowed}"),
    );
    t.check(
        h.send("q", &"x".repeat(1025)),
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
    );
    let reply = h.send_batch("q", vec![batch_entry("big", &"x".repeat(1025))]).unwrap();
    t.check(
        Err::<(), _>(reply.failed[0].error.clone()),
        "InvalidParameterValue",
        "One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes.",
    );
    t.check(
        h.send_entry("q", SendEntry { delay_seconds: Some(901), ..entry("x") }),
        "InvalidParameterValue",
        "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.",
    );
    t.check(
        send_fifo(&mut h, SendEntry { delay_seconds: Some(2), ..fifo_entry("g", Some("d"), "x") }),
        "InvalidParameterValue",
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
    );
    t.check(
        h.send_entry("q", SendEntry { deduplication_id: Some("d-1".into()), ..entry("x") }),
        "InvalidParameterValue",
        "Value d-1 for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.",
    );
    t.check(
        send_fifo(&mut h, fifo_entry("g", None, "x")),
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
    );
    t.check(
        send_fifo(&mut h, fifo_entry("group 123", Some("d"), "x")),
        "InvalidParameterValue",
        "Value group 123 for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
    );
    t.check(
        h.send_entry(
            "q",
            SendEntry { attributes: attributes(&[("ErrorDetails", string_attribute(""))]), ..entry("x") },
        ),
        "InvalidParameterValue",
        "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.",
    );
    let eleven: Vec<(String, _)> = (0..11).map(|i| (format!("a{i}"), string_attribute("v"))).collect();
    t.check(
        h.send_entry("q", SendEntry { attributes: eleven.into_iter().collect(), ..entry("x") }),
        "InvalidParameterValue",
        "Number of message attributes [11] exceeds the allowed maximum [10].",
    );

    // ReceiveMessage.
    t.check(
        h.receive_request("q", receive_request(11, None)),
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    );
    t.check(
        h.receive_request("q", ReceiveRequest { visibility_timeout_seconds: Some(43_201), ..receive_request(1, None) }),
        "InvalidParameterValue",
        "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.",
    );
    // 120,000 messages in flight take seconds to set up; receive.rs reaches this through receives.
    t.check(
        Err::<(), _>(SqsError::too_many_in_flight()),
        "OverLimit",
        "Too many messages have been received without being deleted.\nPlease delete your received messages or let them timeout before receiving more.",
    );

    // Receipt handles.
    h.send("q", "held").unwrap();
    let held = h.receive_for("q", 1, 600).remove(0).receipt_handle;
    t.check(
        h.delete("q", "garbage"),
        "ReceiptHandleIsInvalid",
        "The input receipt handle \"garbage\" is not a valid receipt handle.",
    );
    t.check(
        h.change_visibility("q", &held, 43_201),
        "InvalidParameterValue",
        "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.",
    );
    h.advance_seconds(1);
    t.check(
        h.change_visibility("q", &held, 43_200),
        "InvalidParameterValue",
        "Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].",
    );
    h.create("other", &[]).unwrap();
    let reply = h.delete_batch("other", &[("e", &held)]).unwrap();
    t.check(
        Err::<(), _>(reply.failed[0].error.clone()),
        "ReceiptHandleIsInvalid",
        &format!("The receipt handle \"{held}\" is not valid for this queue."),
    );
    h.delete("q", &held).unwrap();
    t.check(
        h.change_visibility("q", &held, 10),
        "InvalidParameterValue",
        &format!(
            "Value {held} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
        ),
    );
    h.send_fifo("f.fifo", "g", "d", "x").unwrap();
    let expired = h.receive("f.fifo", 1).remove(0).receipt_handle;
    h.advance_seconds(5);
    t.check(
        h.delete("f.fifo", &expired),
        "InvalidParameterValue",
        &format!("Value {expired} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."),
    );
    let reply = h.delete_batch("f.fifo", &[("e", &expired)]).unwrap();
    t.check(Err::<(), _>(reply.failed[0].error.clone()), "ReceiptHandleIsInvalid", "The receipt handle has expired");

    // Batches.
    t.check(
        h.send_batch("q", vec![]),
        "EmptyBatchRequest",
        "There should be at least one SendMessageBatchRequestEntry in the request.",
    );
    t.check(
        h.delete_batch("q", &[]),
        "EmptyBatchRequest",
        "There should be at least one DeleteMessageBatchRequestEntry in the request.",
    );
    t.check(
        h.change_visibility_batch("q", &[]),
        "EmptyBatchRequest",
        "There should be at least one ChangeMessageVisibilityBatchRequestEntry in the request.",
    );
    let eleven = (0..11).map(|i| batch_entry(&format!("e{i}"), "x")).collect();
    t.check(
        h.send_batch("q", eleven),
        "TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
    );
    t.check(h.delete_batch("q", &[("a", "h"), ("a", "h")]), "BatchEntryIdsNotDistinct", "Id a repeated.");
    t.check(
        h.send_batch("q", vec![batch_entry("no spaces", "x")]),
        "InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
    );
    h.create("big", &[]).unwrap();
    let half = "x".repeat(524_288);
    t.check(
        h.send_batch("big", vec![batch_entry("a", &half), batch_entry("b", &half), batch_entry("c", "x")]),
        "BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1048577 bytes.",
    );

    // Purge, tags, permissions.
    h.purge("q").unwrap();
    t.check(h.purge("q"), "PurgeQueueInProgress", "Only one PurgeQueue operation on q is allowed every 60 seconds.");
    let tags: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    t.check(h.tag("q", &tags), "InvalidParameterValue", "Too many tags added for queue q.");
    h.add_permission("q", "l", &[ACCOUNT_ID], &["*"]).unwrap();
    t.check(
        h.add_permission("q", "l", &[ACCOUNT_ID], &["*"]),
        "InvalidParameterValue",
        "Value l for parameter Label is invalid. Reason: Already exists.",
    );
    t.check(
        h.add_permission("q", "m", &[ACCOUNT_ID], &["CreateQueue"]),
        "InvalidParameterValue",
        "Value SQS:CreateQueue for parameter ActionName is invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions.",
    );
    t.check(
        h.remove_permission("q", "m"),
        "InvalidParameterValue",
        "Value m for parameter Label is invalid. Reason: can't find label.",
    );

    // Message move tasks.
    t.check(
        h.start_move_task("missing", None, None),
        "ResourceNotFound",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    );
    t.check(
        h.start_move_task("q", None, None),
        "InvalidParameterValue",
        "Source queue must be configured as a Dead Letter Queue.",
    );
    h.create("dlq", &[]).unwrap();
    h.create("src", &[("RedrivePolicy", &redrive("dlq", "1"))]).unwrap();
    t.check(
        h.start_move_task("dlq", Some("missing"), None),
        "ResourceNotFound",
        "The resource that you specified for the DestinationArn parameter doesn't exist.",
    );
    t.check(
        h.start_move_task("dlq", None, Some(501)),
        "InvalidParameterValue",
        "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.",
    );
    t.check(
        h.move_tasks("dlq", Some(11)),
        "InvalidParameterValue",
        "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.",
    );
    let task = h.start_move_task("dlq", None, None).unwrap();
    t.check(h.cancel_move_task(&task), "UnsupportedOperation", "Only a running message move task can be cancelled.");
    t.check(h.cancel_move_task("9:x"), "ResourceNotFound", "Task does not exist.");
    t.check(h.cancel_move_task("x"), "InvalidParameterValue", "Value for parameter TaskHandle is invalid.");
    // Two messages dead-lettered from `src`: at one a second, a task is still running.
    for body in ["m1", "m2"] {
        h.send("src", body).unwrap();
    }
    h.receive_for("src", 10, 0);
    assert!(h.receive("src", 10).is_empty());
    h.start_move_task("dlq", None, Some(1)).unwrap();
    t.check(
        h.start_move_task("dlq", None, Some(1)),
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
    );

    assert_eq!(t.seen.len(), VARIANTS, "variants without a text here: only {:?}", t.seen);
}
