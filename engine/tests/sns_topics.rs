//! SNS topics in the engine: CreateTopic's idempotence and refusals, attributes, tags,
//! DeleteTopic, and the listing.

use std::collections::BTreeMap;

use shoal_engine::error::SnsError;
use shoal_engine::{Command, Engine, EngineConfig, EngineError, LogEntry, Outcome};

const NOW_MS: u64 = 1_700_000_000_000;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn engine() -> Engine {
    Engine::new(EngineConfig::new("123456789012", "eu-west-1"))
}

fn apply(engine: &mut Engine, command: Command) -> Outcome {
    engine.apply(&LogEntry::new(NOW_MS, command))
}

fn create(engine: &mut Engine, name: &str, attributes: &[(&str, &str)], tags: &[(&str, &str)]) -> Outcome {
    apply(engine, Command::CreateTopic { name: name.into(), attributes: map(attributes), tags: map(tags) })
}

/// The SNS error an outcome refused with.
fn refusal(outcome: Outcome) -> SnsError {
    match outcome {
        Err(EngineError::Sns(error)) => error,
        other => panic!("expected an SNS refusal, got {other:?}"),
    }
}

#[test]
fn test_create_topic_is_idempotent_for_equal_attributes_and_refuses_different_ones() {
    let mut engine = engine();
    create(&mut engine, "orders", &[("DisplayName", "Orders")], &[("team", "a")]).unwrap();
    create(&mut engine, "orders", &[("DisplayName", "Orders")], &[]).unwrap();
    create(&mut engine, "orders", &[], &[("env", "prod")]).unwrap();
    assert_eq!(engine.topic_tags("orders").unwrap(), map(&[("env", "prod"), ("team", "a")]), "new tags are added");
    let different = refusal(create(&mut engine, "orders", &[("DisplayName", "Other")], &[]));
    assert_eq!(
        different.to_string(),
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
    );
    // An attribute given as its default, or a boolean in another case, is no difference.
    create(&mut engine, "orders", &[("FifoTopic", "false"), ("SignatureVersion", "1")], &[]).unwrap();
    create(&mut engine, "fifo.fifo", &[("FifoTopic", "true")], &[]).unwrap();
    create(&mut engine, "fifo.fifo", &[("FifoTopic", "TRUE")], &[]).unwrap();
    let tags = refusal(create(&mut engine, "orders", &[], &[("team", "b")]));
    assert_eq!(tags.to_string(), "Invalid parameter: Tags Reason: Topic already exists with different tags");
}

#[test]
fn test_create_topic_checks_names_and_fifo_suffix() {
    let mut engine = engine();
    for bad in ["", "has space", "dot.ted", "a:b", &"x".repeat(257)] {
        assert_eq!(refusal(create(&mut engine, bad, &[], &[])).to_string(), "Invalid parameter: Topic Name", "{bad:?}");
    }
    create(&mut engine, &"x".repeat(256), &[], &[]).unwrap();
    create(&mut engine, "Valid_name-1", &[], &[]).unwrap();
    // FIFO takes both the suffix and the attribute; either alone is refused.
    assert_eq!(refusal(create(&mut engine, "f.fifo", &[], &[])).to_string(), "Invalid parameter: Topic Name");
    assert_eq!(
        refusal(create(&mut engine, "f", &[("FifoTopic", "true")], &[])).to_string(),
        "Invalid parameter: Topic Name"
    );
    create(&mut engine, "f.fifo", &[("FifoTopic", "true")], &[]).unwrap();
    let attributes = engine.topic_attributes("f.fifo").unwrap();
    assert_eq!(attributes["FifoTopic"], "true");
    assert_eq!(attributes["ContentBasedDeduplication"], "false");
}

#[test]
fn test_create_topic_refuses_unknown_and_invalid_attributes() {
    let mut engine = engine();
    let cases: &[(&str, &str, &str)] = &[
        ("Color", "red", "Invalid parameter: Attributes Reason: Unknown attribute Color"),
        ("SignatureVersion", "3", "Invalid parameter: Attributes Reason: SignatureVersion: must be 1 or 2"),
        ("Policy", "not json", "Invalid parameter: Attributes Reason: Policy: must be a JSON object"),
        (
            "ContentBasedDeduplication",
            "true",
            "Invalid parameter: Attributes Reason: ContentBasedDeduplication: content-based deduplication is only for FIFO topics",
        ),
    ];
    for (name, value, message) in cases {
        assert_eq!(refusal(create(&mut engine, "t", &[(name, value)], &[])).to_string(), *message);
    }
    assert!(engine.topic_attributes("t").is_err(), "nothing was created");
}

#[test]
fn test_topic_attributes_have_defaults_and_take_changes() {
    let mut engine = engine();
    create(&mut engine, "t", &[], &[]).unwrap();
    let attributes = engine.topic_attributes("t").unwrap();
    assert_eq!(attributes["TopicArn"], "arn:aws:sns:eu-west-1:123456789012:t");
    assert_eq!(attributes["Owner"], "123456789012");
    assert_eq!(attributes["SubscriptionsConfirmed"], "0");
    assert_eq!(attributes["DisplayName"], "");
    let policy: serde_json::Value = serde_json::from_str(&attributes["Policy"]).unwrap();
    assert_eq!(policy["Statement"][0]["Resource"], "arn:aws:sns:eu-west-1:123456789012:t");
    let delivery: serde_json::Value = serde_json::from_str(&attributes["EffectiveDeliveryPolicy"]).unwrap();
    assert_eq!(delivery["http"]["defaultHealthyRetryPolicy"]["numRetries"], 3);

    let set = |attribute: &str, value: &str| Command::SetTopicAttributes {
        topic: "t".into(),
        attribute: attribute.into(),
        value: value.into(),
    };
    apply(&mut engine, set("DisplayName", "Shown")).unwrap();
    assert_eq!(engine.topic_attributes("t").unwrap()["DisplayName"], "Shown");
    // An empty policy is the default policy again.
    let default_policy = attributes["Policy"].clone();
    apply(&mut engine, set("Policy", r#"{"Version":"2012-10-17","Statement":[]}"#)).unwrap();
    assert_ne!(engine.topic_attributes("t").unwrap()["Policy"], default_policy);
    apply(&mut engine, set("Policy", "")).unwrap();
    assert_eq!(engine.topic_attributes("t").unwrap()["Policy"], default_policy);
    // Delivery status logging attributes are kept (and only shown).
    apply(&mut engine, set("SQSSuccessFeedbackSampleRate", "50")).unwrap();
    assert_eq!(engine.topic_attributes("t").unwrap()["SQSSuccessFeedbackSampleRate"], "50");
    let rate = refusal(apply(&mut engine, set("SQSSuccessFeedbackSampleRate", "101")));
    assert!(rate.to_string().contains("must be an integer from 0 to 100"), "{rate}");
    assert_eq!(refusal(apply(&mut engine, set("FifoTopic", "true"))).to_string(), "Invalid parameter: AttributeName");
    assert_eq!(refusal(apply(&mut engine, set("Nope", "x"))).to_string(), "Invalid parameter: AttributeName");
    let missing =
        Command::SetTopicAttributes { topic: "gone".into(), attribute: "DisplayName".into(), value: "x".into() };
    assert_eq!(refusal(apply(&mut engine, missing)), SnsError::NotFound("Topic does not exist".into()));
}

#[test]
fn test_topic_tags_are_limited_and_removed() {
    let mut engine = engine();
    create(&mut engine, "t", &[], &[]).unwrap();
    let fifty: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".to_string())).collect();
    apply(&mut engine, Command::TagTopic { topic: "t".into(), tags: fifty }).unwrap();
    let one_more = Command::TagTopic { topic: "t".into(), tags: map(&[("extra", "v")]) };
    assert_eq!(refusal(apply(&mut engine, one_more)), SnsError::TagLimitExceeded);
    apply(&mut engine, Command::UntagTopic { topic: "t".into(), keys: vec!["k0".into(), "absent".into()] }).unwrap();
    assert_eq!(engine.topic_tags("t").unwrap().len(), 49);
    let missing = Command::TagTopic { topic: "gone".into(), tags: map(&[("a", "b")]) };
    assert_eq!(refusal(apply(&mut engine, missing)), SnsError::ResourceNotFound);
}

#[test]
fn test_delete_topic_is_idempotent_and_the_listing_pages_in_order() {
    let mut engine = engine();
    for name in ["c", "a", "b", "d"] {
        create(&mut engine, name, &[], &[]).unwrap();
    }
    assert_eq!(engine.topic_names(None, 2), vec!["a", "b"]);
    assert_eq!(engine.topic_names(Some("b"), 2), vec!["c", "d"]);
    assert!(engine.topic_names(Some("d"), 2).is_empty());
    apply(&mut engine, Command::DeleteTopic { topic: "b".into() }).unwrap();
    apply(&mut engine, Command::DeleteTopic { topic: "b".into() }).unwrap();
    assert_eq!(engine.topic_names(None, 10), vec!["a", "c", "d"]);
    // Recreated, it starts afresh.
    create(&mut engine, "b", &[], &[]).unwrap();
    assert!(engine.topic_tags("b").unwrap().is_empty());
}

#[test]
fn test_topic_permissions_are_statements_of_its_policy() {
    let mut engine = engine();
    create(&mut engine, "t", &[], &[]).unwrap();
    let add = |label: &str, actions: &[&str]| Command::AddTopicPermission {
        topic: "t".into(),
        label: label.into(),
        account_ids: vec!["111122223333".into()],
        actions: actions.iter().map(|a| a.to_string()).collect(),
    };
    apply(&mut engine, add("publishers", &["Publish"])).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&engine.topic_attributes("t").unwrap()["Policy"]).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "the default statement and the new one");
    assert_eq!(statements[1]["Sid"], "publishers");
    assert_eq!(statements[1]["Principal"]["AWS"][0], "arn:aws:iam::111122223333:root");
    assert_eq!(statements[1]["Action"][0], "SNS:Publish");
    assert_eq!(statements[1]["Resource"], "arn:aws:sns:eu-west-1:123456789012:t");

    let again = refusal(apply(&mut engine, add("publishers", &["Publish"])));
    assert_eq!(again.to_string(), "Invalid parameter: Statement already exists");
    assert_eq!(refusal(apply(&mut engine, add("x", &["Fly"]))).to_string(), "Invalid parameter: ActionName");
    assert_eq!(refusal(apply(&mut engine, add("bad label", &["Publish"]))).to_string(), "Invalid parameter: Label");

    let remove = |label: &str| Command::RemoveTopicPermission { topic: "t".into(), label: label.into() };
    apply(&mut engine, remove("publishers")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&engine.topic_attributes("t").unwrap()["Policy"]).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    let missing = refusal(apply(&mut engine, remove("publishers")));
    assert!(missing.to_string().contains("no statement is labelled publishers"), "{missing}");
}
