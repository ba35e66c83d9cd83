//! Queue administration: CreateQueue, DeleteQueue, Get/SetQueueAttributes, ListQueues, tags,
//! permissions and PurgeQueue.

mod common;

use common::{arn, Harness, START_MS};
use shoal_engine::SqsError;

#[test]
fn test_create_queue_returns_name_and_is_idempotent() {
    let mut h = Harness::new();
    assert_eq!(h.create("orders", &[("VisibilityTimeout", "60")]), Ok("orders".to_string()));
    h.send("orders", "kept").unwrap();
    assert_eq!(h.create("orders", &[("VisibilityTimeout", "60")]), Ok("orders".to_string()));
    // Attributes not named in the repeated request are not compared.
    assert_eq!(h.create("orders", &[]), Ok("orders".to_string()));
    assert_eq!(h.engine.queues().count(), 1);
    assert_eq!(h.counts("orders"), (1, 0, 0), "recreating must not reset the queue");
}

#[test]
fn test_create_queue_with_different_attributes_is_refused() {
    let mut h = Harness::new();
    h.create("orders", &[("VisibilityTimeout", "60")]).unwrap();
    assert_eq!(
        h.create("orders", &[("VisibilityTimeout", "61")]),
        Err(SqsError::QueueAlreadyExists("VisibilityTimeout".to_string()))
    );
    assert_eq!(
        h.create("orders", &[("DelaySeconds", "5")]),
        Err(SqsError::QueueAlreadyExists("DelaySeconds".to_string()))
    );
    assert_eq!(h.attribute("orders", "VisibilityTimeout").as_deref(), Some("60"));
}

#[test]
fn test_create_queue_after_delete_is_refused_for_60_seconds() {
    let mut h = Harness::new();
    h.create("orders", &[]).unwrap();
    h.send("orders", "old").unwrap();
    let old_handle = h.receive("orders", 1)[0].receipt_handle.clone();
    h.delete_queue("orders").unwrap();

    assert_eq!(h.send("orders", "x").map(|_| ()), Err(SqsError::QueueDoesNotExist));
    h.advance_ms(59_999);
    assert_eq!(h.create("orders", &[]), Err(SqsError::QueueDeletedRecently));
    h.advance_ms(1);
    assert_eq!(h.create("orders", &[]), Ok("orders".to_string()));

    // The new queue is empty and does not accept handles of the old one.
    assert_eq!(h.counts("orders"), (0, 0, 0));
    let refused = format!("The input receipt handle \"{old_handle}\" is not a valid receipt handle.");
    assert_eq!(h.delete("orders", &old_handle), Err(SqsError::ReceiptHandleIsInvalid(refused)));
}

#[test]
fn test_create_queue_after_delete_is_allowed_once_tick_forgot_the_name() {
    let mut h = Harness::new();
    h.create("orders", &[]).unwrap();
    h.delete_queue("orders").unwrap();
    assert!(!h.engine.needs_tick(h.now_ms + 59_999), "nothing is due before the name may be reused");
    h.advance_seconds(60);
    assert!(h.engine.needs_tick(h.now_ms), "a name past its block needs a tick to be forgotten");
    h.tick();
    assert!(!h.engine.needs_tick(h.now_ms));
    assert_eq!(h.create("orders", &[]), Ok("orders".to_string()));
}

#[test]
fn test_delete_queue_of_missing_queue_is_refused() {
    let mut h = Harness::new();
    assert_eq!(h.delete_queue("nope"), Err(SqsError::QueueDoesNotExist));
    h.create("q", &[]).unwrap();
    h.delete_queue("q").unwrap();
    assert_eq!(h.delete_queue("q"), Err(SqsError::QueueDoesNotExist));
    assert_eq!(h.attributes("q", &["All"]), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_create_queue_validates_standard_names() {
    let mut h = Harness::new();
    let longest = "a".repeat(80);
    for name in ["a", "Orders-2024_x", longest.as_str()] {
        assert_eq!(h.create(name, &[]), Ok(name.to_string()), "{name}");
    }
    let too_long = "a".repeat(81);
    for name in ["", "has space", "dot.ted", "slash/", "ünïcode", too_long.as_str(), "x.fifo"] {
        assert!(matches!(h.create(name, &[]), Err(SqsError::InvalidParameterValue(_))), "{name:?} should be refused");
    }
}

#[test]
fn test_create_queue_validates_fifo_names() {
    let mut h = Harness::new();
    let longest = format!("{}.fifo", "a".repeat(75));
    for name in ["a.fifo", "Orders-1_x.fifo", longest.as_str()] {
        assert_eq!(h.create_fifo(name, &[]), Ok(name.to_string()), "{name}");
        assert_eq!(h.attribute(name, "FifoQueue").as_deref(), Some("true"));
    }
    let too_long = format!("{}.fifo", "a".repeat(76));
    for name in ["plain", ".fifo", "a.b.fifo", "a fifo.fifo", too_long.as_str(), "a.FIFO"] {
        assert!(
            matches!(h.create_fifo(name, &[]), Err(SqsError::InvalidParameterValue(_))),
            "{name:?} should be refused"
        );
    }
    // A .fifo name without FifoQueue=true, or with FifoQueue=false, is not a FIFO queue.
    assert!(matches!(h.create("b.fifo", &[]), Err(SqsError::InvalidParameterValue(_))));
    assert!(matches!(h.create("b.fifo", &[("FifoQueue", "false")]), Err(SqsError::InvalidParameterValue(_))));
    assert!(matches!(h.create("b", &[("FifoQueue", "maybe")]), Err(SqsError::InvalidAttributeValue(_))));
}

/// (attribute, accepted values, refused values)
const RANGES: [(&str, &[&str], &[&str]); 6] = [
    ("DelaySeconds", &["0", "900"], &["901", "-1", "abc", "1.5", ""]),
    ("MaximumMessageSize", &["1024", "1048576"], &["1023", "1048577"]),
    ("MessageRetentionPeriod", &["60", "1209600"], &["59", "1209601"]),
    ("ReceiveMessageWaitTimeSeconds", &["0", "20"], &["21"]),
    ("VisibilityTimeout", &["0", "43200"], &["43201"]),
    ("KmsDataKeyReusePeriodSeconds", &["60", "86400"], &["59", "86401"]),
];

#[test]
fn test_create_queue_enforces_attribute_ranges() {
    let mut h = Harness::new();
    let mut number = 0;
    for (attribute, accepted, refused) in RANGES {
        for value in accepted {
            number += 1;
            let name = format!("q{number}");
            assert_eq!(h.create(&name, &[(attribute, value)]), Ok(name.clone()), "{attribute}={value}");
            if attribute != "KmsDataKeyReusePeriodSeconds" {
                assert_eq!(h.attribute(&name, attribute).as_deref(), Some(*value));
            }
        }
        for value in refused {
            let result = h.create("refused", &[(attribute, value)]);
            assert!(matches!(result, Err(SqsError::InvalidAttributeValue(_))), "{attribute}={value:?}: {result:?}");
        }
    }
    assert!(h.engine.queue("refused").is_err());
}

#[test]
fn test_set_queue_attributes_enforces_attribute_ranges_and_changes_nothing_on_error() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    for (attribute, accepted, refused) in RANGES {
        for value in accepted {
            assert_eq!(h.set_attributes("q", &[(attribute, value)]), Ok(()), "{attribute}={value}");
        }
        for value in refused {
            let result = h.set_attributes("q", &[(attribute, value)]);
            assert!(matches!(result, Err(SqsError::InvalidAttributeValue(_))), "{attribute}={value:?}: {result:?}");
        }
    }
    // One bad attribute in a request applies none of them.
    h.set_attributes("q", &[("VisibilityTimeout", "10")]).unwrap();
    let result = h.set_attributes("q", &[("VisibilityTimeout", "20"), ("DelaySeconds", "901")]);
    assert!(matches!(result, Err(SqsError::InvalidAttributeValue(_))));
    assert_eq!(h.attribute("q", "VisibilityTimeout").as_deref(), Some("10"));
}

#[test]
fn test_create_queue_rejects_unknown_read_only_and_fifo_only_attributes() {
    let mut h = Harness::new();
    for attribute in
        ["Nope", "QueueArn", "ApproximateNumberOfMessages", "ContentBasedDeduplication", "DeduplicationScope"]
    {
        let result = h.create("q", &[(attribute, "true")]);
        assert!(matches!(result, Err(SqsError::InvalidAttributeName(_))), "{attribute}: {result:?}");
    }
    // A standard queue knows no FifoQueue attribute; a FIFO queue takes only `true`, as it is.
    let unknown = Err(SqsError::InvalidAttributeName("Unknown Attribute FifoQueue.".to_string()));
    assert_eq!(h.create("q", &[("FifoQueue", "false")]).map(|_| ()), unknown);
    h.create("q", &[]).unwrap();
    for value in ["true", "false"] {
        assert_eq!(h.set_attributes("q", &[("FifoQueue", value)]), unknown, "{value}");
    }
    h.create_fifo("f.fifo", &[]).unwrap();
    assert_eq!(h.set_attributes("f.fifo", &[("FifoQueue", "true")]), Ok(()));
    assert_eq!(
        h.set_attributes("f.fifo", &[("FifoQueue", "false")]),
        Err(SqsError::InvalidAttributeValue(
            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.".to_string()
        ))
    );
    assert!(matches!(
        h.set_attributes("f.fifo", &[("DeduplicationScope", "x")]),
        Err(SqsError::InvalidAttributeValue(_))
    ));
}

#[test]
fn test_get_queue_attributes_all_shows_defaults() {
    let mut h = Harness::new();
    h.create("std", &[]).unwrap();
    let all = h.attributes("std", &["All"]).unwrap();
    let expected = [
        ("ApproximateNumberOfMessages", "0"),
        ("ApproximateNumberOfMessagesDelayed", "0"),
        ("ApproximateNumberOfMessagesNotVisible", "0"),
        ("CreatedTimestamp", "1700000000"),
        ("DelaySeconds", "0"),
        ("LastModifiedTimestamp", "1700000000"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("QueueArn", "arn:aws:sqs:us-east-1:123456789012:std"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("SqsManagedSseEnabled", "true"),
        ("VisibilityTimeout", "30"),
    ];
    assert_eq!(all, common::string_map(&expected));

    h.create_fifo("f.fifo", &[]).unwrap();
    let all = h.attributes("f.fifo", &["All"]).unwrap();
    assert_eq!(all["FifoQueue"], "true");
    assert_eq!(all["ContentBasedDeduplication"], "false");
    assert_eq!(all["DeduplicationScope"], "queue");
    assert_eq!(all["FifoThroughputLimit"], "perQueue");
}

#[test]
fn test_get_queue_attributes_returns_only_requested_and_refuses_unknown() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    let some = h.attributes("q", &["VisibilityTimeout", "QueueArn"]).unwrap();
    assert_eq!(some, common::string_map(&[("QueueArn", &arn("q")), ("VisibilityTimeout", "30")]));
    assert_eq!(h.attributes("q", &[]).unwrap().len(), 0);
    assert_eq!(
        h.attributes("q", &["Bogus"]),
        Err(SqsError::InvalidAttributeName("Unknown Attribute Bogus.".to_string()))
    );
    // Unset optional attributes are not listed.
    assert_eq!(h.attribute("q", "RedrivePolicy"), None);
    assert_eq!(h.attribute("q", "Policy"), None);
}

#[test]
fn test_set_queue_attributes_changes_values_and_last_modified() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h.advance_seconds(100);
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    h.set_attributes("q", &[("VisibilityTimeout", "45"), ("DelaySeconds", "3"), ("Policy", policy)]).unwrap();
    let all = h.attributes("q", &["All"]).unwrap();
    assert_eq!(all["VisibilityTimeout"], "45");
    assert_eq!(all["DelaySeconds"], "3");
    assert_eq!(all["Policy"], policy);
    assert_eq!(all["CreatedTimestamp"], (START_MS / 1000).to_string());
    assert_eq!(all["LastModifiedTimestamp"], (START_MS / 1000 + 100).to_string());
    assert!(matches!(h.set_attributes("q", &[("Policy", "{not json")]), Err(SqsError::InvalidAttributeValue(_))));
    assert_eq!(h.set_attributes("missing", &[("DelaySeconds", "1")]), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_set_queue_attributes_kms_and_sqs_managed_sse_exclude_each_other() {
    let mut h = Harness::new();
    h.create("q", &[("KmsMasterKeyId", "alias/aws/sqs")]).unwrap();
    assert_eq!(h.attribute("q", "SqsManagedSseEnabled").as_deref(), Some("false"));
    assert_eq!(h.attribute("q", "KmsDataKeyReusePeriodSeconds").as_deref(), Some("300"));
    h.set_attributes("q", &[("SqsManagedSseEnabled", "true")]).unwrap();
    assert_eq!(h.attribute("q", "KmsMasterKeyId"), None);
    let both = h.create("r", &[("KmsMasterKeyId", "k"), ("SqsManagedSseEnabled", "true")]);
    assert!(matches!(both, Err(SqsError::InvalidAttributeValue(_))));
}

#[test]
fn test_get_queue_attributes_counts_visible_in_flight_and_delayed_over_time() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h.send("q", "a").unwrap();
    h.send("q", "b").unwrap();
    h.send_entry("q", shoal_engine::command::SendEntry { delay_seconds: Some(10), ..common::entry("late") }).unwrap();
    assert_eq!(h.counts("q"), (2, 0, 1));

    assert_eq!(h.receive_for("q", 1, 20).len(), 1);
    assert_eq!(h.counts("q"), (1, 1, 1));

    // The counters are read without any entry applied: reads see time pass too.
    h.advance_seconds(10);
    assert_eq!(h.counts("q"), (2, 1, 0));
    h.advance_seconds(10);
    assert_eq!(h.counts("q"), (3, 0, 0));
    h.tick();
    assert_eq!(h.counts("q"), (3, 0, 0));
}

#[test]
fn test_get_queue_attributes_counts_exclude_expired_messages() {
    let mut h = Harness::new();
    h.create("q", &[("MessageRetentionPeriod", "60")]).unwrap();
    h.send("q", "old").unwrap();
    h.receive_for("q", 1, 120);
    h.advance_seconds(30);
    h.send("q", "new").unwrap();
    assert_eq!(h.counts("q"), (1, 1, 0));
    // At 60 s the first message is past its retention even before a Tick removes it.
    h.advance_seconds(30);
    assert_eq!(h.counts("q"), (1, 0, 0));
    h.tick();
    assert_eq!(h.counts("q"), (1, 0, 0));
    assert_eq!(h.engine.message_count(), 1);
}

#[test]
fn test_list_queues_filters_by_prefix_in_name_order() {
    let mut h = Harness::new();
    for name in ["prod-b", "dev-a", "prod-a", "prod_c"] {
        h.create(name, &[]).unwrap();
    }
    let (names, next) = h.engine.list_queues("", None, None);
    assert_eq!(names, ["dev-a", "prod-a", "prod-b", "prod_c"]);
    assert_eq!(next, None);
    let (names, _) = h.engine.list_queues("prod-", None, None);
    assert_eq!(names, ["prod-a", "prod-b"]);
    let (names, _) = h.engine.list_queues("nothing", None, None);
    assert!(names.is_empty());
}

fn page(names: &[&str], next: Option<&str>) -> (Vec<String>, Option<String>) {
    (names.iter().map(|n| n.to_string()).collect(), next.map(str::to_string))
}

#[test]
fn test_list_queues_paginates_with_max_results() {
    let mut h = Harness::new();
    for name in ["a1", "a2", "a3", "a4", "a5", "b1"] {
        h.create(name, &[]).unwrap();
    }
    let list = |after: Option<&str>| h.engine.list_queues("a", after, Some(2));
    assert_eq!(list(None), page(&["a1", "a2"], Some("a2")));
    assert_eq!(list(Some("a2")), page(&["a3", "a4"], Some("a4")));
    assert_eq!(list(Some("a4")), page(&["a5"], None));
    // Exactly a full last page: no token.
    assert_eq!(list(Some("a3")), page(&["a4", "a5"], None));
    assert_eq!(list(Some("a5")), page(&[], None));
}

#[test]
fn test_tag_queue_adds_replaces_and_untag_removes() {
    let mut h = Harness::new();
    h.create_with_tags("q", &[], &[("team", "core"), ("env", "dev")]).unwrap();
    assert_eq!(h.tags("q"), common::string_map(&[("env", "dev"), ("team", "core")]));
    h.tag("q", &[("env", "prod"), ("cost", "7")]).unwrap();
    assert_eq!(h.tags("q"), common::string_map(&[("cost", "7"), ("env", "prod"), ("team", "core")]));
    h.untag("q", &["team", "absent"]).unwrap();
    assert_eq!(h.tags("q"), common::string_map(&[("cost", "7"), ("env", "prod")]));
    assert_eq!(h.tag("missing", &[("a", "b")]), Err(SqsError::QueueDoesNotExist));
    assert_eq!(h.untag("missing", &["a"]), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_tag_queue_rejects_bad_keys_values_and_too_many_tags() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (key, value) in [("aws:reserved", "x"), ("", "x"), (long_key.as_str(), "x"), ("ok", long_value.as_str())] {
        assert!(matches!(h.tag("q", &[(key, value)]), Err(SqsError::InvalidParameterValue(_))), "{key}");
    }
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let fifty: Vec<(&str, &str)> = fifty.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    h.tag("q", &fifty).unwrap();
    assert!(matches!(h.tag("q", &[("one-more", "v")]), Err(SqsError::InvalidParameterValue(_))));
    assert_eq!(h.tags("q").len(), 50);
    h.tag("q", &[("k0", "replaced")]).unwrap();

    let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let fifty_one: Vec<(&str, &str)> = fifty_one.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(matches!(h.create_with_tags("r", &[], &fifty_one), Err(SqsError::InvalidParameterValue(_))));
    assert!(matches!(h.create_with_tags("r", &[], &[("aws:x", "y")]), Err(SqsError::InvalidParameterValue(_))));
}

#[test]
fn test_add_permission_and_remove_permission_edit_the_policy_attribute() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    assert_eq!(h.attribute("q", "Policy"), None);
    h.add_permission("q", "send-only", &["111122223333"], &["SendMessage"]).unwrap();
    h.add_permission("q", "all", &["444455556666", "777788889999"], &["*"]).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&h.attribute("q", "Policy").unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0]["Sid"], "send-only");
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(statements[0]["Principal"]["AWS"], serde_json::json!(["arn:aws:iam::111122223333:root"]));
    assert_eq!(statements[0]["Action"], serde_json::json!(["SQS:SendMessage"]));
    assert_eq!(statements[0]["Resource"], arn("q"));
    assert_eq!(statements[1]["Action"], serde_json::json!(["SQS:*"]));

    let again = h.add_permission("q", "send-only", &["111122223333"], &["ReceiveMessage"]);
    assert!(matches!(again, Err(SqsError::InvalidParameterValue(_))));
    h.remove_permission("q", "send-only").unwrap();
    let policy: serde_json::Value = serde_json::from_str(&h.attribute("q", "Policy").unwrap()).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    assert!(matches!(h.remove_permission("q", "send-only"), Err(SqsError::InvalidParameterValue(_))));
    h.remove_permission("q", "all").unwrap();
    assert_eq!(h.attribute("q", "Policy"), None, "the last statement removed removes the policy");
    assert_eq!(h.remove_permission("missing", "x"), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_add_permission_extends_a_policy_set_as_an_attribute() {
    let mut h = Harness::new();
    let set = r#"{"Version":"2012-10-17","Statement":{"Sid":"mine","Effect":"Deny","Principal":"*","Action":"SQS:*"}}"#;
    h.create("q", &[("Policy", set)]).unwrap();
    h.add_permission("q", "extra", &["111122223333"], &["ReceiveMessage"]).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&h.attribute("q", "Policy").unwrap()).unwrap();
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(sids, ["mine", "extra"]);
    assert!(matches!(h.add_permission("q", "bad", &["1"], &["CreateQueue"]), Err(SqsError::InvalidParameterValue(_))));
}

#[test]
fn test_add_permission_validates_label_accounts_and_actions() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    let long_label = "l".repeat(81);
    for label in ["", "has space", long_label.as_str()] {
        let result = h.add_permission("q", label, &["1"], &["*"]);
        assert!(matches!(result, Err(SqsError::InvalidParameterValue(_))), "{label:?}");
    }
    assert_eq!(h.add_permission("q", "l", &[], &["*"]), Err(SqsError::MissingParameter("AWSAccountIds".to_string())));
    assert_eq!(h.add_permission("q", "l", &["1"], &[]), Err(SqsError::MissingParameter("Actions".to_string())));
    assert_eq!(h.add_permission("missing", "l", &["1"], &["*"]), Err(SqsError::QueueDoesNotExist));
}

#[test]
fn test_purge_queue_deletes_every_message() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    for body in ["a", "b", "c"] {
        h.send("q", body).unwrap();
    }
    h.send_entry("q", shoal_engine::command::SendEntry { delay_seconds: Some(60), ..common::entry("delayed") })
        .unwrap();
    let handle = h.receive("q", 1)[0].receipt_handle.clone();
    assert_eq!(h.counts("q"), (2, 1, 1));
    h.purge("q").unwrap();
    assert_eq!(h.counts("q"), (0, 0, 0));
    assert_eq!(h.delete("q", &handle), Ok(()), "deleting a purged message is done, not an error");
    h.advance_seconds(120);
    assert!(h.receive("q", 10).is_empty());
    // Messages sent after the purge are kept.
    h.send("q", "after").unwrap();
    assert_eq!(common::bodies(&h.receive("q", 10)), ["after"]);
}

#[test]
fn test_purge_queue_twice_within_60_seconds_is_refused() {
    let mut h = Harness::new();
    h.create("q", &[]).unwrap();
    h.purge("q").unwrap();
    h.send("q", "survives").unwrap();
    h.advance_ms(59_999);
    assert_eq!(h.purge("q"), Err(SqsError::PurgeQueueInProgress { queue: "q".to_string() }));
    assert_eq!(h.counts("q"), (1, 0, 0));
    h.advance_ms(1);
    assert_eq!(h.purge("q"), Ok(()));
    assert_eq!(h.counts("q"), (0, 0, 0));
    assert_eq!(h.purge("missing"), Err(SqsError::QueueDoesNotExist));
}
