//! SNS subscriptions and publishing in the engine: Subscribe's idempotence and refusals,
//! confirming HTTP/S subscriptions, subscription attributes, and what a publish delivers to
//! queues in its own group and, through the outbox, in another.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;
use shoal_engine::command::{PublishEntry, PublishResult, Subscribed};
use shoal_engine::error::SnsError;
use shoal_engine::message::{AttributeValue, MessageAttributes};
use shoal_engine::{Command, EngineError, Outcome, Reply};

const TOPIC: &str = "news";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn refusal(outcome: Outcome) -> SnsError {
    match outcome {
        Err(EngineError::Sns(error)) => error,
        other => panic!("expected an SNS refusal, got {other:?}"),
    }
}

fn create_topic(harness: &mut Harness, name: &str) {
    let command = Command::CreateTopic { name: name.into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    assert_eq!(harness.apply(command), Ok(Reply::Done));
}

fn subscribe_with(
    harness: &mut Harness,
    id: &str,
    protocol: &str,
    endpoint: &str,
    attributes: &[(&str, &str)],
) -> Outcome {
    harness.apply(Command::Subscribe {
        topic: TOPIC.into(),
        subscription_id: id.into(),
        protocol: protocol.into(),
        endpoint: endpoint.into(),
        attributes: map(attributes),
        token: format!("token-{id}"),
    })
}

/// Subscribes queue `queue` (by name) with `attributes`; returns the subscription's id.
fn subscribe_queue(harness: &mut Harness, id: &str, queue: &str, attributes: &[(&str, &str)]) -> String {
    match subscribe_with(harness, id, "sqs", &arn(queue), attributes) {
        Ok(Reply::Subscribed(Subscribed { subscription_id, pending: false })) => subscription_id,
        other => panic!("subscribe failed: {other:?}"),
    }
}

fn entry(message: &str) -> PublishEntry {
    PublishEntry {
        id: String::new(),
        message_id: "11111111-2222-3333-4444-555555555555".into(),
        message: message.into(),
        subject: None,
        attributes: MessageAttributes::new(),
        json_structure: false,
        group_id: None,
        deduplication_id: None,
        signatures: BTreeMap::new(),
    }
}

fn string_attribute(value: &str) -> AttributeValue {
    AttributeValue { data_type: "String".into(), string_value: Some(value.into()), binary_value: None }
}

fn publish_entries(harness: &mut Harness, batch: bool, entries: Vec<PublishEntry>) -> Outcome {
    harness.apply(Command::Publish {
        topic: TOPIC.into(),
        batch,
        entries,
        published_ms: 1_613_511_679_978,
        base_url: "http://localhost:9324/".into(),
    })
}

fn publish(harness: &mut Harness, entry: PublishEntry) -> Outcome {
    publish_entries(harness, false, vec![entry])
}

fn bodies(harness: &mut Harness, queue: &str) -> Vec<String> {
    harness.receive(queue, 10).into_iter().map(|message| message.body.to_string()).collect()
}

#[test]
fn test_subscribe_is_idempotent_per_endpoint_and_refuses_what_sns_refuses() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    let id = subscribe_queue(&mut harness, "s1", "inbox", &[("RawMessageDelivery", "true")]);
    // Again with the same or no attributes, or a default: the same subscription.
    assert_eq!(subscribe_queue(&mut harness, "s2", "inbox", &[("RawMessageDelivery", "true")]), id);
    assert_eq!(subscribe_queue(&mut harness, "s3", "inbox", &[]), id);
    let different =
        refusal(subscribe_with(&mut harness, "s4", "sqs", &arn("inbox"), &[("RawMessageDelivery", "false")]));
    assert_eq!(different.to_string(), "Invalid parameter: Subscription already exists with different attributes");
    /// Protocol, endpoint, attributes, and the refusal expected.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("sqs", "https://sqs.example/queue", &[], "Invalid parameter: SQS endpoint ARN"),
        ("sqs", "arn:aws:sqs:eu-west-1:123456789012:inbox", &[], "Invalid parameter: SQS endpoint ARN"),
        (
            "sqs",
            &arn("orders.fifo"),
            &[],
            "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
        ),
        ("carrier-pigeon", "x", &[], "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"),
        ("http", "https://example.com/", &[], "Invalid parameter: Endpoint must match the specified protocol"),
        ("sqs", &arn("q"), &[("Colour", "red")], "Invalid parameter: Attributes Reason: Unknown attribute Colour"),
        ("sqs", &arn("q"), &[("RawMessageDelivery", "yes")], "Invalid parameter: Attributes Reason: RawMessageDelivery: must be true or false"),
        (
            "sqs",
            &arn("q"),
            &[("FilterPolicy", r#"{"a":{"b":["c"]}}"#)],
            "Invalid parameter: Attributes Reason: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy",
        ),
        (
            "sqs",
            &arn("q"),
            &[("RedrivePolicy", r#"{"deadLetterTargetArn":"nope"}"#)],
            "Invalid parameter: Attributes Reason: RedrivePolicy: deadLetterTargetArn is not an SQS queue ARN of this account and region: nope",
        ),
    ];
    for (protocol, endpoint, attributes, expected) in cases {
        let error = refusal(subscribe_with(&mut harness, "new", protocol, endpoint, attributes));
        assert_eq!(error.to_string(), *expected, "{protocol} {endpoint} {attributes:?}");
    }
    let email = refusal(subscribe_with(&mut harness, "new", "email", "a@example.com", &[]));
    assert!(email.to_string().contains("not email"), "{email}");
    let missing = Command::Subscribe {
        topic: "nope".into(),
        subscription_id: "x".into(),
        protocol: "sqs".into(),
        endpoint: arn("q"),
        attributes: BTreeMap::new(),
        token: "t".into(),
    };
    assert_eq!(refusal(harness.apply(missing)), SnsError::NotFound("Topic does not exist".into()));
    // The nested policy is taken in the body's scope.
    subscribe_queue(
        &mut harness,
        "s5",
        "body",
        &[("FilterPolicyScope", "MessageBody"), ("FilterPolicy", r#"{"a":{"b":["c"]}}"#)],
    );
}

#[test]
fn test_http_subscriptions_wait_for_their_token_and_topic_counts_follow() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    subscribe_queue(&mut harness, "q1", "inbox", &[]);
    let pending = subscribe_with(&mut harness, "h1", "https", "https://example.com/hook", &[]);
    assert_eq!(pending, Ok(Reply::Subscribed(Subscribed { subscription_id: "h1".into(), pending: true })));
    let counts = |harness: &Harness| {
        let attributes = harness.engine.topic_attributes(TOPIC).unwrap();
        ["SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted"].map(|name| attributes[name].clone())
    };
    assert_eq!(counts(&harness), ["1", "1", "0"]);
    let attributes = harness.engine.subscription_attributes(TOPIC, "h1").unwrap();
    assert_eq!(attributes["PendingConfirmation"], "true");
    assert_eq!(attributes["SubscriptionArn"], format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}:h1"));
    assert!(attributes["EffectiveDeliveryPolicy"].contains("numRetries"), "{attributes:?}");
    let wrong = Command::ConfirmSubscription { topic: TOPIC.into(), token: "guess".into() };
    assert_eq!(refusal(harness.apply(wrong)).to_string(), "Invalid parameter: Token");
    let confirm = Command::ConfirmSubscription { topic: TOPIC.into(), token: "token-h1".into() };
    let confirmed = Ok(Reply::Subscribed(Subscribed { subscription_id: "h1".into(), pending: false }));
    assert_eq!(harness.apply(confirm.clone()), confirmed);
    assert_eq!(harness.apply(confirm), confirmed, "confirming twice answers the same");
    assert_eq!(counts(&harness), ["2", "0", "0"]);
    assert_eq!(
        harness.apply(Command::Unsubscribe { topic: TOPIC.into(), subscription_id: "h1".into() }),
        Ok(Reply::Done)
    );
    assert_eq!(
        harness.apply(Command::Unsubscribe { topic: TOPIC.into(), subscription_id: "h1".into() }),
        Ok(Reply::Done)
    );
    assert_eq!(counts(&harness), ["1", "0", "1"]);
    // A token is valid for three days.
    subscribe_with(&mut harness, "h2", "http", "http://example.com/late", &[]).unwrap();
    harness.advance_seconds(3 * 24 * 3600 + 1);
    let late = Command::ConfirmSubscription { topic: TOPIC.into(), token: "token-h2".into() };
    assert_eq!(refusal(harness.apply(late)).to_string(), "Invalid parameter: Token");
}

#[test]
fn test_subscription_attributes_are_checked_and_an_empty_filter_policy_removes_it() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    subscribe_queue(&mut harness, "s", "inbox", &[]);
    let set = |harness: &mut Harness, attribute: &str, value: &str| {
        harness.apply(Command::SetSubscriptionAttributes {
            topic: TOPIC.into(),
            subscription_id: "s".into(),
            attribute: attribute.into(),
            value: value.into(),
        })
    };
    let nested = r#"{"order":{"kind":["book"]}}"#;
    assert_eq!(
        refusal(set(&mut harness, "FilterPolicy", nested)).to_string(),
        "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy"
    );
    set(&mut harness, "FilterPolicyScope", "MessageBody").unwrap();
    set(&mut harness, "FilterPolicy", nested).unwrap();
    // Back to the attributes' scope: the nested policy no longer fits, and nothing changes.
    assert!(refusal(set(&mut harness, "FilterPolicyScope", "MessageAttributes")).to_string().contains("nested"));
    let attributes = harness.engine.subscription_attributes(TOPIC, "s").unwrap();
    assert_eq!(
        (attributes["FilterPolicy"].as_str(), attributes["FilterPolicyScope"].as_str()),
        (nested, "MessageBody")
    );
    assert_eq!(refusal(set(&mut harness, "Protocol", "http")).to_string(), "Invalid parameter: AttributeName");
    set(&mut harness, "FilterPolicy", "").unwrap();
    assert!(!harness.engine.subscription_attributes(TOPIC, "s").unwrap().contains_key("FilterPolicy"));
    assert_eq!(
        refusal(harness.apply(Command::SetSubscriptionAttributes {
            topic: TOPIC.into(),
            subscription_id: "gone".into(),
            attribute: "RawMessageDelivery".into(),
            value: "true".into(),
        })),
        SnsError::NotFound("Subscription does not exist".into())
    );
}

#[test]
fn test_publish_delivers_the_notification_to_queues_of_the_group_and_raw_messages_with_attributes() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    harness.create("envelope", &[]).unwrap();
    harness.create("raw", &[("DelaySeconds", "5")]).unwrap();
    subscribe_queue(&mut harness, "e", "envelope", &[]);
    subscribe_queue(&mut harness, "r", "raw", &[("RawMessageDelivery", "true")]);
    subscribe_with(&mut harness, "h", "https", "https://example.com/", &[]).unwrap();
    let mut message = entry("hello \"world\"");
    message.subject = Some("Greetings".into());
    message.attributes.insert("colour".into(), string_attribute("red"));
    message.attributes.insert(
        "blob".into(),
        AttributeValue { data_type: "Binary".into(), string_value: None, binary_value: Some(vec![2, 3, 4]) },
    );
    let Ok(Reply::Published(results)) = publish(&mut harness, message.clone()) else { panic!("publish failed") };
    let expected = PublishResult { message_id: message.message_id.clone(), sequence_number: None };
    assert_eq!(results, vec![(String::new(), Ok(expected))]);

    let received = harness.receive("envelope", 10);
    assert_eq!(received.len(), 1);
    assert!(received[0].attributes.is_empty(), "a notification carries no SQS attributes");
    assert_eq!(received[0].system_attributes["SenderId"], "AIDAIT2UOQQY3AUEKVGXU");
    assert_ne!(received[0].message_id, message.message_id, "each copy has its own id");
    let body = received[0].body.to_string();
    assert!(body.starts_with("{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : "), "{body}");
    let notification: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(notification["Type"], "Notification");
    assert_eq!(notification["MessageId"], message.message_id.as_str());
    assert_eq!(notification["TopicArn"], format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}"));
    assert_eq!(notification["Subject"], "Greetings");
    assert_eq!(notification["Message"], "hello \"world\"");
    assert_eq!(notification["Timestamp"], "2021-02-16T21:41:19.978Z");
    assert_eq!(notification["SignatureVersion"], "1");
    assert_eq!(notification["SigningCertURL"], "http://localhost:9324/SimpleNotificationService-shoal.pem");
    assert_eq!(
        notification["UnsubscribeURL"],
        format!("http://localhost:9324/?Action=Unsubscribe&SubscriptionArn=arn%3Aaws%3Asns%3A{REGION}%3A{ACCOUNT_ID}%3A{TOPIC}%3Ae")
    );
    assert_eq!(notification["MessageAttributes"]["colour"], serde_json::json!({"Type": "String", "Value": "red"}));
    assert_eq!(notification["MessageAttributes"]["blob"], serde_json::json!({"Type": "Binary", "Value": "AgME"}));

    assert!(harness.receive("raw", 10).is_empty(), "the raw queue delays it by its DelaySeconds");
    harness.advance_seconds(5);
    let raw = harness.receive("raw", 10);
    assert_eq!(raw.len(), 1);
    assert_eq!(&*raw[0].body, "hello \"world\"");
    assert_eq!(raw[0].attributes, message.attributes, "raw delivery keeps the attributes, types included");
}

#[test]
fn test_publish_reaches_only_the_subscriptions_whose_filter_policy_matches() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    for queue in ["all", "red", "big"] {
        harness.create(queue, &[]).unwrap();
    }
    subscribe_queue(&mut harness, "a", "all", &[("RawMessageDelivery", "true")]);
    subscribe_queue(
        &mut harness,
        "r",
        "red",
        &[("RawMessageDelivery", "true"), ("FilterPolicy", r#"{"colour":["red"]}"#)],
    );
    subscribe_queue(
        &mut harness,
        "b",
        "big",
        &[
            ("RawMessageDelivery", "true"),
            ("FilterPolicyScope", "MessageBody"),
            ("FilterPolicy", r#"{"size":[{"numeric":[">",10]}]}"#),
        ],
    );
    let mut red = entry(r#"{"size": 3}"#);
    red.attributes.insert("colour".into(), string_attribute("red"));
    publish(&mut harness, red).unwrap();
    let mut blue = entry(r#"{"size": 30}"#);
    blue.attributes.insert("colour".into(), string_attribute("blue"));
    publish(&mut harness, blue).unwrap();
    publish(&mut harness, entry("not json")).unwrap();
    assert_eq!(bodies(&mut harness, "all").len(), 3);
    assert_eq!(bodies(&mut harness, "red"), vec![r#"{"size": 3}"#]);
    assert_eq!(bodies(&mut harness, "big"), vec![r#"{"size": 30}"#]);
    // After Unsubscribe, nothing more arrives.
    harness.apply(Command::Unsubscribe { topic: TOPIC.into(), subscription_id: "a".into() }).unwrap();
    publish(&mut harness, entry("later")).unwrap();
    assert!(bodies(&mut harness, "all").is_empty());
}

#[test]
fn test_publish_refuses_what_sns_refuses_and_a_batch_fails_only_its_bad_entries() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    harness.create("inbox", &[]).unwrap();
    subscribe_queue(&mut harness, "s", "inbox", &[("RawMessageDelivery", "true")]);
    let with = |change: &dyn Fn(&mut PublishEntry)| {
        let mut entry = entry("m");
        change(&mut entry);
        entry
    };
    let cases: Vec<(PublishEntry, SnsError)> = vec![
        (with(&|e| e.message.clear()), SnsError::InvalidParameter("Invalid parameter: Empty message".into())),
        (with(&|e| e.subject = Some(String::new())), SnsError::InvalidParameter("Invalid parameter: Subject".into())),
        (with(&|e| e.subject = Some("x".repeat(101))), SnsError::InvalidParameter("Invalid parameter: Subject".into())),
        (with(&|e| e.message = "x".repeat(262_145)), SnsError::InvalidParameter("Invalid parameter: Message too long".into())),
        (
            with(&|e| {
                e.message = "x".repeat(262_140);
                e.attributes.insert("abc".into(), string_attribute("de"));
            }),
            SnsError::InvalidParameter("Invalid parameter: Message too long".into()),
        ),
        (
            with(&|e| e.json_structure = true),
            SnsError::InvalidParameter("Invalid parameter: Message Structure - JSON message body failed to parse".into()),
        ),
        (
            with(&|e| {
                e.json_structure = true;
                e.message = r#"{"sqs":"only"}"#.into();
            }),
            SnsError::InvalidParameter("Invalid parameter: Message Structure - No default entry in JSON message body".into()),
        ),
        (
            with(&|e| {
                e.attributes.insert("n".into(), AttributeValue { data_type: "Number".into(), string_value: Some("ten".into()), binary_value: None });
            }),
            SnsError::ParameterValueInvalid("Could not cast message attribute 'n' value to number.".into()),
        ),
        (
            with(&|e| {
                e.attributes.insert("t".into(), AttributeValue { data_type: "Date".into(), string_value: Some("x".into()), binary_value: None });
            }),
            SnsError::ParameterValueInvalid("The message attribute 't' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.".into()),
        ),
    ];
    for (bad, expected) in &cases {
        assert_eq!(refusal(publish(&mut harness, bad.clone())), *expected);
    }
    assert!(bodies(&mut harness, "inbox").is_empty(), "nothing refused was delivered");

    let mut good = entry("good");
    good.id = "ok".into();
    let mut bad = entry("");
    bad.id = "bad".into();
    let Ok(Reply::Published(results)) = publish_entries(&mut harness, true, vec![good, bad]) else { panic!() };
    assert_eq!(results.len(), 2);
    assert!(results[0].1.is_ok());
    assert_eq!(
        results[1],
        ("bad".to_string(), Err(SnsError::InvalidParameter("Invalid parameter: Empty message".into())))
    );
    assert_eq!(bodies(&mut harness, "inbox"), vec!["good"]);
    let twice: Vec<PublishEntry> =
        ["a", "a"].iter().map(|id| PublishEntry { id: id.to_string(), ..entry("m") }).collect();
    assert_eq!(refusal(publish_entries(&mut harness, true, twice)), SnsError::BatchEntryIdsNotDistinct);
    let eleven: Vec<PublishEntry> = (0..11).map(|i| PublishEntry { id: format!("e{i}"), ..entry("m") }).collect();
    assert_eq!(refusal(publish_entries(&mut harness, true, eleven)), SnsError::TooManyEntriesInBatchRequest);
    let big: Vec<PublishEntry> =
        (0..2).map(|i| PublishEntry { id: format!("e{i}"), ..entry(&"x".repeat(150_000)) }).collect();
    assert_eq!(refusal(publish_entries(&mut harness, true, big)), SnsError::BatchRequestTooLong);
    assert_eq!(refusal(publish_entries(&mut harness, true, vec![])), SnsError::EmptyBatchRequest);
}

#[test]
fn test_message_structure_json_gives_each_protocol_its_message() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    harness.create("inbox", &[]).unwrap();
    harness.create("plain", &[]).unwrap();
    subscribe_queue(&mut harness, "s", "inbox", &[("RawMessageDelivery", "true")]);
    let mut per_protocol = entry(r#"{"default":"for everyone","sqs":"for queues"}"#);
    per_protocol.json_structure = true;
    per_protocol.attributes.insert("colour".into(), string_attribute("red"));
    publish(&mut harness, per_protocol).unwrap();
    let received = harness.receive("inbox", 10);
    assert_eq!(&*received[0].body, "for queues");
    assert!(received[0].attributes.is_empty(), "no attributes with per-protocol messages");
    subscribe_queue(&mut harness, "p", "plain", &[]);
    let mut default_only = entry(r#"{"default":"for everyone","http":"for the web"}"#);
    default_only.json_structure = true;
    publish(&mut harness, default_only).unwrap();
    let notification: Value = serde_json::from_str(&harness.receive("plain", 10)[0].body).unwrap();
    assert_eq!(notification["Message"], "for everyone");
}

#[test]
fn test_a_missing_queue_passes_the_message_to_the_subscription_dead_letter_queue() {
    let mut harness = Harness::new();
    create_topic(&mut harness, TOPIC);
    harness.create("dlq", &[]).unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{}"}}"#, arn("dlq"));
    subscribe_queue(&mut harness, "s", "gone", &[("RawMessageDelivery", "true"), ("RedrivePolicy", &policy)]);
    subscribe_queue(&mut harness, "t", "also-gone", &[]);
    publish(&mut harness, entry("lost?")).unwrap();
    assert_eq!(bodies(&mut harness, "dlq"), vec!["lost?"]);
    assert_eq!(harness.engine.outbox_len(), 0);
}

/// Hands `from`'s whole outbox to `to`, each batch twice (as after a leader change), and
/// acknowledges it; returns how many entries `to` refused.
fn hand_over(from: &mut Harness, from_group: u32, to: &mut Harness) -> usize {
    let mut refused_total = 0;
    while let Some((_, entries)) = from.outbox_batch(10, &BTreeSet::new()) {
        let positions: Vec<u64> = entries.iter().map(|e| e.position).collect();
        let import = Command::ImportMessages { source_group: from_group, entries };
        let Ok(Reply::Imported { refused }) = to.apply(import.clone()) else { panic!("import failed") };
        assert_eq!(to.apply(import), Ok(Reply::Imported { refused: refused.clone() }), "a repeat is answered alike");
        refused_total += refused.len();
        from.apply(Command::AckOutbox { positions, refused }).unwrap();
    }
    refused_total
}

#[test]
fn test_publish_reaches_queues_of_other_groups_once_through_the_outbox() {
    let (mut one, mut two) = (group(1), group(2));
    // The topic lives in group 1 (its name hashes there); the harness applies everything
    // about it to `one`.
    let topic_group = one.engine.group_of(TOPIC);
    let (topic_side, other_side, other_group) =
        if topic_group == 1 { (&mut one, &mut two, 2) } else { (&mut two, &mut one, 1) };
    let from_group = 3 - other_group;
    create_topic(topic_side, TOPIC);
    let remote = name_in(other_side, other_group, "remote");
    let local = name_in(topic_side, from_group, "local");
    other_side.create(&remote, &[]).unwrap();
    topic_side.create(&local, &[]).unwrap();
    subscribe_queue(topic_side, "r", &remote, &[("RawMessageDelivery", "true")]);
    subscribe_queue(topic_side, "l", &local, &[("RawMessageDelivery", "true")]);
    // A subscription whose queue (elsewhere) does not exist, with a dead-letter queue here.
    let policy = format!(r#"{{"deadLetterTargetArn":"{}"}}"#, arn(&local));
    let missing = name_in(other_side, other_group, "missing");
    subscribe_queue(topic_side, "m", &missing, &[("RawMessageDelivery", "true"), ("RedrivePolicy", &policy)]);
    for i in 0..3 {
        publish(topic_side, entry(&format!("m{i}"))).unwrap();
    }
    assert_eq!(topic_side.engine.generation(), shoal_engine::command::Generation::Subscriptions);
    assert_eq!(bodies(topic_side, &local), vec!["m0", "m1", "m2"], "the group's own queue at once");
    assert!(bodies(other_side, &remote).is_empty());
    assert_eq!(hand_over(topic_side, from_group, other_side), 3, "the missing queue refuses its three");
    let mut arrived = bodies(other_side, &remote);
    arrived.sort();
    assert_eq!(arrived, vec!["m0", "m1", "m2"], "each once, though every batch came twice");
    let mut dead = bodies(topic_side, &local);
    dead.sort();
    assert_eq!(dead, vec!["m0", "m1", "m2"], "the refused ones in the dead-letter queue");
    assert_eq!(topic_side.engine.outbox_len(), 0);
}

/// Policies of every kind the index treats differently: exact strings it indexes (alone, with
/// other keys, beside `$or`), and those it cannot (other operators, numbers, `$or` alone, the
/// body's scope, none).
const POLICIES: &[(&str, &str)] = &[
    ("MessageAttributes", r#"{"colour":["red"]}"#),
    ("MessageAttributes", r#"{"colour":["red","blue"],"size":["S"]}"#),
    ("MessageAttributes", r#"{"size":["M"],"$or":[{"colour":["blue"]},{"shape":["round"]}]}"#),
    ("MessageAttributes", r#"{"colour":[{"prefix":"gr"}]}"#),
    ("MessageAttributes", r#"{"colour":[{"anything-but":["red"]}]}"#),
    ("MessageAttributes", r#"{"colour":["red",{"prefix":"b"}]}"#),
    ("MessageAttributes", r#"{"weight":[{"numeric":[">",5]}]}"#),
    ("MessageAttributes", r#"{"$or":[{"colour":["red"]},{"size":["S"]}]}"#),
    ("MessageAttributes", r#"{"shape":[{"exists":false}]}"#),
    ("MessageBody", r#"{"colour":["red"]}"#),
    ("MessageAttributes", ""),
];

fn attribute_strategy() -> impl proptest::strategy::Strategy<Value = MessageAttributes> {
    use proptest::prelude::*;
    let colour = prop::option::of(prop::sample::select(vec!["red", "blue", "green", "black"]));
    let size = prop::option::of(prop::sample::select(vec!["S", "M"]));
    let shape = prop::option::of(prop::sample::select(vec!["round", "square"]));
    let weight = prop::option::of(0..10u32);
    let array = any::<bool>();
    (colour, size, shape, weight, array).prop_map(|(colour, size, shape, weight, array)| {
        let mut attributes = MessageAttributes::new();
        if let Some(colour) = colour {
            let value = if array {
                AttributeValue {
                    data_type: "String.Array".into(),
                    string_value: Some(format!(r#"["{colour}","white"]"#)),
                    binary_value: None,
                }
            } else {
                string_attribute(colour)
            };
            attributes.insert("colour".into(), value);
        }
        for (name, value) in [("size", size), ("shape", shape)] {
            if let Some(value) = value {
                attributes.insert(name.into(), string_attribute(value));
            }
        }
        if let Some(weight) = weight {
            let number = AttributeValue {
                data_type: "Number".into(),
                string_value: Some(weight.to_string()),
                binary_value: None,
            };
            attributes.insert("weight".into(), number);
        }
        attributes
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever the policies, a publish reaches exactly the subscriptions whose policy matches
    /// it (tried one by one here), through the index kept across Subscribe, attribute changes,
    /// Unsubscribe and a snapshot's reload.
    #[test]
    fn test_publish_reaches_exactly_the_matching_subscriptions(
        assignment in proptest::collection::vec(0..POLICIES.len(), 1..14),
        changes in proptest::collection::vec((0..14usize, 0..POLICIES.len()), 0..4),
        gone in proptest::collection::btree_set(0..14usize, 0..3),
        messages in proptest::collection::vec(attribute_strategy(), 1..8),
    ) {
        use shoal_engine::sns::filter::{FilterInput, FilterPolicy, FilterScope};
        let mut harness = Harness::new();
        create_topic(&mut harness, TOPIC);
        let mut policies: Vec<usize> = assignment.clone();
        for (i, policy) in assignment.iter().enumerate() {
            let queue = format!("q{i}");
            harness.create(&queue, &[]).unwrap();
            let (scope, text) = POLICIES[*policy];
            let mut attributes = vec![("RawMessageDelivery", "true"), ("FilterPolicyScope", scope)];
            if !text.is_empty() {
                attributes.push(("FilterPolicy", text));
            }
            subscribe_queue(&mut harness, &format!("s{i}"), &queue, &attributes);
        }
        for (i, policy) in changes {
            if i < policies.len() {
                let (scope, text) = POLICIES[policy];
                for (attribute, value) in [("FilterPolicy", ""), ("FilterPolicyScope", scope), ("FilterPolicy", text)] {
                    harness.apply(Command::SetSubscriptionAttributes {
                        topic: TOPIC.into(),
                        subscription_id: format!("s{i}"),
                        attribute: attribute.into(),
                        value: value.into(),
                    }).unwrap();
                }
                policies[i] = policy;
            }
        }
        for i in &gone {
            harness.apply(Command::Unsubscribe { topic: TOPIC.into(), subscription_id: format!("s{i}") }).unwrap();
        }
        // A reload from a snapshot rebuilds the index.
        let sns = harness.engine.sns_state().clone();
        harness.engine.set_sns_state(sns);
        for (n, attributes) in messages.iter().enumerate() {
            let body = format!(r#"{{"colour":"red","n":{n}}}"#);
            let mut message = entry(&body);
            message.message_id = format!("m{n}");
            message.attributes = attributes.clone();
            publish(&mut harness, message).unwrap();
            let input = FilterInput::new(attributes, &body);
            for (i, policy) in policies.iter().enumerate() {
                let (scope, text) = POLICIES[*policy];
                let scope = if scope == "MessageBody" { FilterScope::MessageBody } else { FilterScope::MessageAttributes };
                let matches = !gone.contains(&i)
                    && (text.is_empty() || FilterPolicy::parse(text, scope).unwrap().matches(&input));
                let received = bodies(&mut harness, &format!("q{i}"));
                let expected = if matches { vec![body.clone()] } else { vec![] };
                proptest::prop_assert_eq!(received, expected, "queue {} policy {:?} attributes {:?}", i, POLICIES[*policy], attributes);
            }
        }
    }
}

const FIFO_TOPIC: &str = "orders.fifo";

fn create_fifo_topic(harness: &mut Harness, attributes: &[(&str, &str)]) {
    let mut all = map(&[("FifoTopic", "true")]);
    all.extend(map(attributes));
    let command = Command::CreateTopic { name: FIFO_TOPIC.into(), attributes: all, tags: BTreeMap::new() };
    assert_eq!(harness.apply(command), Ok(Reply::Done));
}

fn subscribe_to_fifo(harness: &mut Harness, id: &str, queue: &str) {
    let subscribe = Command::Subscribe {
        topic: FIFO_TOPIC.into(),
        subscription_id: id.into(),
        protocol: "sqs".into(),
        endpoint: arn(queue),
        attributes: map(&[("RawMessageDelivery", "true")]),
        token: String::new(),
    };
    assert!(matches!(harness.apply(subscribe), Ok(Reply::Subscribed(_))));
}

fn fifo_entry(message: &str, group: Option<&str>, deduplication: Option<&str>) -> PublishEntry {
    PublishEntry {
        message_id: format!("id-{message}"),
        group_id: group.map(str::to_string),
        deduplication_id: deduplication.map(str::to_string),
        ..entry(message)
    }
}

fn publish_fifo(harness: &mut Harness, entry: PublishEntry) -> Outcome {
    harness.apply(Command::Publish {
        topic: FIFO_TOPIC.into(),
        batch: false,
        entries: vec![entry],
        published_ms: START_MS,
        base_url: "http://localhost/".into(),
    })
}

/// The (message id, sequence number) a publish answered.
fn published(outcome: Outcome) -> (String, String) {
    match outcome {
        Ok(Reply::Published(mut results)) => {
            let (_, result) = results.pop().expect("a result");
            let result = result.expect("published");
            (result.message_id, result.sequence_number.expect("a FIFO topic numbers its messages"))
        }
        other => panic!("publish failed: {other:?}"),
    }
}

#[test]
fn test_fifo_topics_need_a_group_deduplicate_for_five_minutes_and_number_their_messages() {
    let mut harness = Harness::new();
    create_fifo_topic(&mut harness, &[]);
    harness.create_fifo("sink.fifo", &[]).unwrap();
    subscribe_to_fifo(&mut harness, "s", "sink.fifo");
    assert_eq!(
        refusal(publish_fifo(&mut harness, fifo_entry("a", None, Some("d")))).to_string(),
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    );
    assert_eq!(
        refusal(publish_fifo(&mut harness, fifo_entry("a", Some("g"), None))).to_string(),
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    );
    let (first_id, first_sequence) = published(publish_fifo(&mut harness, fifo_entry("a", Some("g"), Some("d1"))));
    let (second_id, second_sequence) = published(publish_fifo(&mut harness, fifo_entry("b", Some("g"), Some("d2"))));
    assert_eq!(first_sequence.len(), 20);
    assert!(second_sequence > first_sequence, "{second_sequence} after {first_sequence}");
    // The same deduplication id within five minutes: the original's answer, nothing delivered,
    // even after the original was delivered and deleted.
    let received = harness.receive("sink.fifo", 10);
    assert_eq!(received.iter().map(|m| m.body.to_string()).collect::<Vec<_>>(), vec!["a", "b"], "in order");
    assert_eq!(received[0].system_attributes["MessageGroupId"], "g");
    assert_eq!(received[0].system_attributes["MessageDeduplicationId"], "d1");
    for message in received {
        let delete = Command::DeleteMessage { queue: "sink.fifo".into(), receipt_handle: message.receipt_handle };
        harness.apply(delete).unwrap();
    }
    let repeat = published(publish_fifo(&mut harness, fifo_entry("a again", Some("g"), Some("d1"))));
    assert_eq!(repeat, (first_id.clone(), first_sequence.clone()));
    assert!(bodies(&mut harness, "sink.fifo").is_empty(), "a repeat delivers nothing");
    assert_ne!(second_id, first_id);
    harness.advance_seconds(5 * 60 + 1);
    let (_, later) = published(publish_fifo(&mut harness, fifo_entry("a later", Some("g"), Some("d1"))));
    assert!(later > second_sequence, "a new message after the window");
    // A standard queue takes a FIFO topic's messages too, without FIFO ids.
    harness.create("plain", &[]).unwrap();
    subscribe_to_fifo(&mut harness, "p", "plain");
    published(publish_fifo(&mut harness, fifo_entry("to both", Some("g2"), Some("d3"))));
    let plain = harness.receive("plain", 10);
    assert_eq!(plain.len(), 1);
    assert!(!plain[0].system_attributes.contains_key("MessageGroupId"));
}

#[test]
fn test_fifo_topics_deduplicate_by_content_or_per_group_and_refuse_a_batch_without_groups() {
    let mut harness = Harness::new();
    create_fifo_topic(&mut harness, &[("ContentBasedDeduplication", "true"), ("FifoThroughputScope", "MessageGroup")]);
    // The queue passes on what the topic passes on only if it too deduplicates per group: the
    // deduplication id (here the content's hash) travels with the message, as in AWS.
    let per_group = [("DeduplicationScope", "messageGroup"), ("FifoThroughputLimit", "perMessageGroupId")];
    harness.create_fifo("sink.fifo", &per_group).unwrap();
    subscribe_to_fifo(&mut harness, "s", "sink.fifo");
    let one = published(publish_fifo(&mut harness, fifo_entry("same", Some("g1"), None)));
    assert_eq!(published(publish_fifo(&mut harness, fifo_entry("same", Some("g1"), None))), one, "same content");
    // Per message group: the same content in another group is another message.
    let other = published(publish_fifo(&mut harness, fifo_entry("same", Some("g2"), None)));
    assert_ne!(other.1, one.1);
    let batch = vec![
        PublishEntry { id: "a".into(), ..fifo_entry("x", Some("g"), None) },
        PublishEntry { id: "b".into(), ..fifo_entry("y", None, None) },
    ];
    let outcome = harness.apply(Command::Publish {
        topic: FIFO_TOPIC.into(),
        batch: true,
        entries: batch,
        published_ms: START_MS,
        base_url: String::new(),
    });
    assert_eq!(
        refusal(outcome).to_string(),
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    );
    assert_eq!(bodies(&mut harness, "sink.fifo"), vec!["same", "same"], "one in each group; the batch added none");
    // A notification from a FIFO topic carries its sequence number.
    harness.create("envelope", &[]).unwrap();
    let subscribe = Command::Subscribe {
        topic: FIFO_TOPIC.into(),
        subscription_id: "e".into(),
        protocol: "sqs".into(),
        endpoint: arn("envelope"),
        attributes: BTreeMap::new(),
        token: String::new(),
    };
    harness.apply(subscribe).unwrap();
    let (_, sequence) = published(publish_fifo(&mut harness, fifo_entry("numbered", Some("g3"), None)));
    let notification: Value = serde_json::from_str(&harness.receive("envelope", 1)[0].body).unwrap();
    assert_eq!(notification["SequenceNumber"], sequence.as_str());
}

#[test]
fn test_a_fifo_topic_keeps_each_group_in_order_into_a_fifo_queue_of_another_group() {
    let (mut one, mut two) = (group(1), group(2));
    let topic_group = one.engine.group_of(FIFO_TOPIC);
    let (topic_side, other_side, other_group) =
        if topic_group == 1 { (&mut one, &mut two, 2) } else { (&mut two, &mut one, 1) };
    let from_group = 3 - other_group;
    create_fifo_topic(topic_side, &[]);
    let queue = (0..).map(|i| format!("far{i}.fifo")).find(|q| other_side.engine.group_of(q) == other_group).unwrap();
    other_side.create_fifo(&queue, &[]).unwrap();
    subscribe_to_fifo(topic_side, "s", &queue);
    for i in 0..6 {
        let group = if i % 2 == 0 { "even" } else { "odd" };
        published(publish_fifo(topic_side, fifo_entry(&format!("m{i}"), Some(group), Some(&format!("d{i}")))));
    }
    assert_eq!(topic_side.engine.generation(), shoal_engine::command::Generation::Subscriptions);
    assert_eq!(hand_over(topic_side, from_group, other_side), 0);
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let received = other_side.receive(&queue, 10);
        if received.is_empty() {
            break;
        }
        for message in received {
            order
                .entry(message.system_attributes["MessageGroupId"].clone())
                .or_default()
                .push(message.body.to_string());
            other_side
                .apply(Command::DeleteMessage { queue: queue.clone(), receipt_handle: message.receipt_handle })
                .unwrap();
        }
    }
    assert_eq!(order["even"], vec!["m0", "m2", "m4"]);
    assert_eq!(order["odd"], vec!["m1", "m3", "m5"]);
}

#[test]
fn test_a_dead_letter_queue_must_be_of_the_subscribed_queue_kind_and_takes_what_is_too_long() {
    let mut harness = Harness::new();
    create_fifo_topic(&mut harness, &[]);
    let policy = |queue: &str| format!(r#"{{"deadLetterTargetArn":"{}"}}"#, arn(queue));
    let subscribe = |endpoint: &str, dead_letter_queue: &str| Command::Subscribe {
        topic: FIFO_TOPIC.into(),
        subscription_id: "s".into(),
        protocol: "sqs".into(),
        endpoint: arn(endpoint),
        attributes: map(&[("RedrivePolicy", &policy(dead_letter_queue))]),
        token: String::new(),
    };
    assert_eq!(
        refusal(harness.apply(subscribe("in.fifo", "dlq"))).to_string(),
        "Invalid parameter: Attributes Reason: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic"
    );
    assert!(refusal(harness.apply(subscribe("plain", "dlq.fifo"))).to_string().contains("must use a standard queue"));

    // A message longer than the queue takes goes to the subscription's dead-letter queue.
    create_topic(&mut harness, TOPIC);
    harness.create("small", &[("MaximumMessageSize", "1024")]).unwrap();
    harness.create("dlq", &[]).unwrap();
    subscribe_queue(&mut harness, "s", "small", &[("RawMessageDelivery", "true"), ("RedrivePolicy", &policy("dlq"))]);
    publish(&mut harness, entry(&"x".repeat(2000))).unwrap();
    publish(&mut harness, entry("short")).unwrap();
    assert_eq!(bodies(&mut harness, "small"), vec!["short"]);
    assert_eq!(bodies(&mut harness, "dlq"), vec!["x".repeat(2000)]);
}

#[test]
fn test_subscription_listings_page_through_every_topic_once_in_order() {
    let mut harness = Harness::new();
    for topic in ["a", "b", "c"] {
        let command = Command::CreateTopic { name: topic.into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
        harness.apply(command).unwrap();
        for i in 0..90 {
            let subscribe = Command::Subscribe {
                topic: topic.into(),
                subscription_id: format!("{i:03}"),
                protocol: "sqs".into(),
                endpoint: arn(&format!("q{i}")),
                attributes: BTreeMap::new(),
                token: String::new(),
            };
            harness.apply(subscribe).unwrap();
        }
    }
    let page = |harness: &Harness, only: Option<&str>, after: Option<(String, String)>| {
        let after = after.as_ref().map(|(topic, id)| (topic.as_str(), id.as_str()));
        harness.engine.subscription_rows(only, after, 100).unwrap()
    };
    for only in [None, Some("b")] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let rows = page(&harness, only, after.clone());
            if rows.is_empty() {
                break;
            }
            after = rows.last().map(|row| (row.topic.clone(), row.subscription_id.clone()));
            seen.extend(rows.into_iter().map(|row| (row.topic, row.subscription_id)));
        }
        let topics: &[&str] = if only.is_some() { &["b"] } else { &["a", "b", "c"] };
        let expected: Vec<(String, String)> =
            topics.iter().flat_map(|t| (0..90).map(move |i| (t.to_string(), format!("{i:03}")))).collect();
        assert_eq!(seen, expected, "{only:?}");
    }
    // Subscribing an endpoint again finds the subscription it has, also after a reload.
    let sns = harness.engine.sns_state().clone();
    harness.engine.set_sns_state(sns);
    assert_eq!(subscribe_with_topic(&mut harness, "c", "new-id", &arn("q7")), "007");
}

fn subscribe_with_topic(harness: &mut Harness, topic: &str, id: &str, endpoint: &str) -> String {
    let subscribe = Command::Subscribe {
        topic: topic.into(),
        subscription_id: id.into(),
        protocol: "sqs".into(),
        endpoint: endpoint.into(),
        attributes: BTreeMap::new(),
        token: String::new(),
    };
    match harness.apply(subscribe) {
        Ok(Reply::Subscribed(Subscribed { subscription_id, .. })) => subscription_id,
        other => panic!("{other:?}"),
    }
}
