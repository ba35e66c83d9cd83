//! SendMessage and SendMessageBatch: validation, checksums, delays, batch errors.

mod common;

use std::collections::BTreeMap;

use common::{attributes, batch_entry, binary_attribute, entry, number_attribute, string_attribute, Harness};
use shoal_engine::command::SendEntry;
use shoal_engine::{BatchEntryType, SqsError};

fn standard() -> Harness {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h
}

#[test]
fn test_send_message_returns_message_id_and_md5_of_body() {
    let mut h = standard();
    let sent = h.send_entry("q", SendEntry { message_id: "m-1".to_string(), ..entry("hello") }).unwrap();
    assert_eq!(sent.message_id, "m-1");
    assert_eq!(sent.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(sent.md5_of_attributes, None);
    assert_eq!(sent.md5_of_system_attributes, None);
    assert_eq!(sent.sequence_number, None);
    // The MD5 is of the UTF-8 bytes.
    assert_eq!(h.send("q", "héllo wörld").unwrap().md5_of_body, "ed0c22cc110ede12327851863c078138");

    let received = h.receive("q", 1);
    assert_eq!(received[0].message_id, "m-1");
    assert_eq!(&*received[0].body, "hello");
    assert_eq!(received[0].md5_of_body, "5d41402abc4b2a76b9719d911017c592");
}

#[test]
fn test_send_message_md5_of_attributes_matches_aws_encoding() {
    let mut h = standard();
    // Expected digests computed independently (Python hashlib) from the AWS algorithm.
    let user = attributes(&[
        (
            "text",
            shoal_engine::message::AttributeValue { data_type: "String.custom".into(), ..string_attribute("héllo") },
        ),
        ("num", number_attribute("42")),
        ("bin", binary_attribute(&[1, 2, 3])),
    ]);
    let system = BTreeMap::from([("AWSTraceHeader".to_string(), string_attribute("Root=1-abc"))]);
    let sent =
        h.send_entry("q", SendEntry { attributes: user.clone(), system_attributes: system, ..entry("body") }).unwrap();
    assert_eq!(sent.md5_of_attributes.as_deref(), Some("a15cc719b33767995f907d885a39e3dc"));
    assert_eq!(sent.md5_of_system_attributes.as_deref(), Some("4777fe4e8f0ac8a9a8da35539c6fb198"));

    let received = h.receive("q", 1).remove(0);
    assert_eq!(received.attributes, user);
    assert_eq!(received.system_attributes["AWSTraceHeader"], "Root=1-abc");
}

#[test]
fn test_send_message_rejects_characters_outside_the_allowed_set() {
    let mut h = standard();
    for body in ["nul\u{0}", "bell\u{7}", "\u{1F}", "\u{FFFE}", "\u{FFFF}"] {
        let result = h.send("q", body);
        assert!(matches!(result, Err(SqsError::InvalidMessageContents(_))), "{body:?}: {result:?}");
    }
    for body in ["tab\tnewline\ncr\r", "\u{20}", "\u{D7FF}", "\u{E000}", "\u{FFFD}", "emoji 🦀 \u{10FFFF}"] {
        assert!(h.send("q", body).is_ok(), "{body:?}");
    }
    let bad_attribute = attributes(&[("a", string_attribute("bad\u{1}"))]);
    let result = h.send_entry("q", SendEntry { attributes: bad_attribute, ..entry("fine") });
    assert!(matches!(result, Err(SqsError::InvalidMessageContents(_))), "{result:?}");
    assert_eq!(h.counts("q"), (6, 0, 0));
}

#[test]
fn test_send_message_rejects_empty_body_and_missing_queue() {
    let mut h = standard();
    assert_eq!(h.send("q", "").map(|_| ()), Err(SqsError::MissingParameter("MessageBody".to_string())));
    assert_eq!(h.send("missing", "x").map(|_| ()), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_send_message_size_counts_body_and_attributes_against_maximum_message_size() {
    let mut h = Harness::new();
    h.create("small", &[("MaximumMessageSize", "1024")]).unwrap();
    assert!(h.send("small", &"x".repeat(1024)).is_ok());
    assert!(matches!(h.send("small", &"x".repeat(1025)), Err(SqsError::InvalidParameterValue(_))));
    // 1000 body + "a" + "String" + 17 value bytes = 1024.
    let fits = attributes(&[("a", string_attribute(&"v".repeat(17)))]);
    assert!(h.send_entry("small", SendEntry { attributes: fits, ..entry(&"x".repeat(1000)) }).is_ok());
    let too_big = attributes(&[("a", string_attribute(&"v".repeat(18)))]);
    let result = h.send_entry("small", SendEntry { attributes: too_big, ..entry(&"x".repeat(1000)) });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
    // Sizes are bytes, not characters: 342 three-byte characters are 1026 bytes.
    assert!(matches!(h.send("small", &"€".repeat(342)), Err(SqsError::InvalidParameterValue(_))));

    h.create("default", &[]).unwrap();
    assert!(h.send("default", &"x".repeat(1_048_576)).is_ok());
    assert!(matches!(h.send("default", &"x".repeat(1_048_577)), Err(SqsError::InvalidParameterValue(_))));
    assert_eq!(h.counts("small"), (2, 0, 0));
}

#[test]
fn test_send_message_validates_message_attributes() {
    let mut h = standard();
    let eleven: Vec<(String, shoal_engine::message::AttributeValue)> =
        (0..11).map(|i| (format!("a{i}"), string_attribute("v"))).collect();
    let cases: Vec<(&str, shoal_engine::message::MessageAttributes)> = vec![
        ("too many", eleven.into_iter().collect()),
        ("bad name", attributes(&[("has space", string_attribute("v"))])),
        ("leading dot", attributes(&[(".a", string_attribute("v"))])),
        ("double dot", attributes(&[("a..b", string_attribute("v"))])),
        ("reserved aws", attributes(&[("AWS.x", string_attribute("v"))])),
        ("reserved amazon", attributes(&[("amazon.x", string_attribute("v"))])),
        (
            "empty type",
            attributes(&[(
                "a",
                shoal_engine::message::AttributeValue { data_type: String::new(), ..string_attribute("v") },
            )]),
        ),
        (
            "unknown type",
            attributes(&[(
                "a",
                shoal_engine::message::AttributeValue { data_type: "Blob".into(), ..string_attribute("v") },
            )]),
        ),
        ("empty string", attributes(&[("a", string_attribute(""))])),
        ("not a number", attributes(&[("a", number_attribute("12abc"))])),
        ("empty binary", attributes(&[("a", binary_attribute(&[]))])),
        (
            "string without value",
            attributes(&[("a", shoal_engine::message::AttributeValue { string_value: None, ..string_attribute("v") })]),
        ),
    ];
    for (case, attributes) in cases {
        let result = h.send_entry("q", SendEntry { attributes, ..entry("body") });
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{case}: {result:?}");
    }
    let ten: shoal_engine::message::MessageAttributes =
        (0..10).map(|i| (format!("a{i}"), number_attribute("-1.5e3"))).collect();
    assert!(h.send_entry("q", SendEntry { attributes: ten, ..entry("body") }).is_ok());
    assert_eq!(h.counts("q"), (1, 0, 0));
}

#[test]
fn test_send_message_accepts_only_aws_trace_header_system_attribute() {
    let mut h = standard();
    let other = BTreeMap::from([("Other".to_string(), string_attribute("x"))]);
    let result = h.send_entry("q", SendEntry { system_attributes: other, ..entry("body") });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
    let binary = BTreeMap::from([("AWSTraceHeader".to_string(), binary_attribute(&[1]))]);
    let result = h.send_entry("q", SendEntry { system_attributes: binary, ..entry("body") });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
}

#[test]
fn test_send_message_per_message_delay_overrides_queue_delay() {
    let mut h = Harness::new();
    h.create("q", &[("DelaySeconds", "10")]).unwrap();
    h.send("q", "queue-delay").unwrap();
    h.send_entry("q", SendEntry { delay_seconds: Some(0), ..entry("no-delay") }).unwrap();
    h.send_entry("q", SendEntry { delay_seconds: Some(5), ..entry("five") }).unwrap();
    assert_eq!(h.counts("q"), (1, 0, 2));
    assert_eq!(common::bodies(&h.receive("q", 10)), ["no-delay"]);
    h.advance_ms(4_999);
    assert!(h.receive("q", 10).is_empty());
    assert!(!h.engine.has_receivable("q", h.now_ms));
    assert!(h.engine.has_receivable("q", h.now_ms + 1));
    h.advance_ms(1);
    assert_eq!(common::bodies(&h.receive("q", 10)), ["five"]);
    h.advance_seconds(5);
    assert_eq!(h.counts("q"), (1, 2, 0));
    assert_eq!(common::bodies(&h.receive("q", 10)), ["queue-delay"]);
}

#[test]
fn test_send_message_delay_above_900_seconds_is_refused() {
    let mut h = standard();
    assert!(h.send_entry("q", SendEntry { delay_seconds: Some(900), ..entry("ok") }).is_ok());
    let result = h.send_entry("q", SendEntry { delay_seconds: Some(901), ..entry("late") });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
    assert_eq!(h.counts("q"), (0, 0, 1));
}

#[test]
fn test_send_message_standard_queue_refuses_deduplication_id_and_accepts_group_id() {
    let mut h = standard();
    let result = h.send_entry("q", SendEntry { deduplication_id: Some("d".into()), ..entry("x") });
    assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))));
    h.send_entry("q", SendEntry { group_id: Some("tenant-1".into()), ..entry("fair") }).unwrap();
    let received = h.receive("q", 1).remove(0);
    assert_eq!(received.system_attributes["MessageGroupId"], "tenant-1");
    assert!(!received.system_attributes.contains_key("SequenceNumber"));
}

#[test]
fn test_send_message_batch_refuses_empty_and_more_than_ten_entries() {
    let mut h = standard();
    let empty = SqsError::EmptyBatchRequest { entry: BatchEntryType::SendMessage };
    assert_eq!(h.send_batch("q", vec![]).map(|_| ()), Err(empty));
    let eleven = (0..11).map(|i| batch_entry(&format!("e{i}"), "x")).collect();
    let too_many = SqsError::TooManyEntriesInBatchRequest { sent: 11, max: 10 };
    assert_eq!(h.send_batch("q", eleven).map(|_| ()), Err(too_many));
    let ten = (0..10).map(|i| batch_entry(&format!("e{i}"), "x")).collect();
    assert_eq!(h.send_batch("q", ten).unwrap().successful.len(), 10);
    assert_eq!(h.send_batch("missing", vec![batch_entry("a", "x")]).map(|_| ()), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_send_message_batch_refuses_duplicate_and_invalid_ids() {
    let mut h = standard();
    let duplicate = vec![batch_entry("a", "x"), batch_entry("b", "y"), batch_entry("a", "z")];
    assert_eq!(h.send_batch("q", duplicate).map(|_| ()), Err(SqsError::BatchEntryIdsNotDistinct("a".to_string())));
    let too_long = "i".repeat(81);
    for id in ["", "has space", "dot.", too_long.as_str()] {
        let result = h.send_batch("q", vec![batch_entry(id, "x")]);
        assert_eq!(result.map(|_| ()), Err(SqsError::InvalidBatchEntryId), "{id:?}");
    }
    let longest = "i".repeat(80);
    assert!(h.send_batch("q", vec![batch_entry(&longest, "x"), batch_entry("A-b_9", "y")]).is_ok());
    assert_eq!(h.counts("q"), (2, 0, 0), "refused batches send nothing");
}

#[test]
fn test_send_message_batch_refuses_total_size_above_limit() {
    let mut h = standard();
    let half = "x".repeat(524_288);
    let exact = vec![batch_entry("a", &half), batch_entry("b", &half)];
    assert_eq!(h.send_batch("q", exact).unwrap().successful.len(), 2);
    let over = vec![batch_entry("a", &half), batch_entry("b", &half), batch_entry("c", "x")];
    assert_eq!(
        h.send_batch("q", over).map(|_| ()),
        Err(SqsError::BatchRequestTooLong { sent_bytes: 1_048_577, max_bytes: 1_048_576 })
    );
    assert_eq!(h.counts("q"), (2, 0, 0));
}

#[test]
fn test_send_message_batch_reports_failures_per_entry() {
    let mut h = standard();
    let entries = vec![
        SendEntry { message_id: "id-a".into(), ..batch_entry("a", "first") },
        batch_entry("b", "bad\u{0}"),
        SendEntry { delay_seconds: Some(901), ..batch_entry("c", "late") },
        SendEntry { message_id: "id-d".into(), ..batch_entry("d", "last") },
    ];
    let reply = h.send_batch("q", entries).unwrap();
    let successful: Vec<(&str, &str)> =
        reply.successful.iter().map(|(id, result)| (id.as_str(), result.message_id.as_str())).collect();
    assert_eq!(successful, [("a", "id-a"), ("d", "id-d")]);
    assert_eq!(reply.successful[0].1.md5_of_body, shoal_engine::message::md5_hex(b"first"));
    assert_eq!(reply.failed.len(), 2);
    assert_eq!(reply.failed[0].id, "b");
    assert!(matches!(reply.failed[0].error, SqsError::InvalidMessageContents(_)));
    assert_eq!(reply.failed[1].id, "c");
    assert!(matches!(reply.failed[1].error, SqsError::InvalidParameterValue(_)));
    assert_eq!(common::bodies(&h.receive("q", 10)), ["first", "last"]);
}
