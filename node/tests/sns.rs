//! SNS through the real binary and the official SDK (`aws-sdk-sns`, Query protocol): topics,
//! their attributes and tags, the listing across data groups, SNS's errors, and the write-level
//! gate.

mod common;

use std::collections::BTreeSet;

use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::Tag;
use common::{Server, ACCOUNT_ID, REGION};

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("a valid tag")
}

/// The AWS error code of a failed call.
fn code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("(no code)").to_string()
}

#[tokio::test]
async fn test_sns_topic_lifecycle_through_the_sdk() {
    let server = Server::start().await;
    common::await_newest_write_level(std::slice::from_ref(&server)).await;
    let sns = server.sns_client().await;

    let created = sns
        .create_topic()
        .name("orders")
        .attributes("DisplayName", "Orders")
        .tags(tag("team", "payments"))
        .send()
        .await
        .expect("CreateTopic");
    assert_eq!(created.topic_arn(), Some(topic_arn("orders").as_str()));
    // The same name and attributes give the same topic; a different attribute is refused.
    let again = sns.create_topic().name("orders").attributes("DisplayName", "Orders").send().await.unwrap();
    assert_eq!(again.topic_arn(), created.topic_arn());
    let conflict = sns.create_topic().name("orders").attributes("DisplayName", "Other").send().await.unwrap_err();
    assert_eq!(code(&conflict), "InvalidParameter");
    assert!(conflict.message().unwrap_or("").contains("Topic already exists with different attributes"));
    let bad_name = sns.create_topic().name("no spaces").send().await.unwrap_err();
    assert_eq!(
        (code(&bad_name), bad_name.message()),
        ("InvalidParameter".to_string(), Some("Invalid parameter: Topic Name"))
    );

    let arn = topic_arn("orders");
    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    let attributes = attributes.attributes().expect("attributes");
    assert_eq!(attributes.get("TopicArn"), Some(&arn));
    assert_eq!(attributes.get("DisplayName").map(String::as_str), Some("Orders"));
    assert_eq!(attributes.get("Owner").map(String::as_str), Some(ACCOUNT_ID));
    assert!(attributes.contains_key("EffectiveDeliveryPolicy"));

    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("DisplayName")
        .attribute_value("Renamed")
        .send()
        .await
        .unwrap();
    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(attributes.attributes().unwrap().get("DisplayName").map(String::as_str), Some("Renamed"));

    sns.tag_resource().resource_arn(&arn).tags(tag("env", "prod")).send().await.unwrap();
    sns.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let tags = sns.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|tag| (tag.key(), tag.value())).collect();
    assert_eq!(tags, vec![("env", "prod")]);

    sns.add_permission()
        .topic_arn(&arn)
        .label("publishers")
        .aws_account_id("111122223333")
        .action_name("Publish")
        .send()
        .await
        .expect("AddPermission");
    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    let policy = attributes.attributes().unwrap().get("Policy").cloned().unwrap_or_default();
    assert!(policy.contains("\"Sid\":\"publishers\"") && policy.contains("SNS:Publish"), "{policy}");
    sns.remove_permission().topic_arn(&arn).label("publishers").send().await.expect("RemovePermission");
    let again = sns.remove_permission().topic_arn(&arn).label("publishers").send().await.unwrap_err();
    assert_eq!(code(&again), "InvalidParameter");

    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    sns.delete_topic().topic_arn(&arn).send().await.expect("DeleteTopic is idempotent");
    let gone = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap_err();
    assert_eq!((code(&gone), gone.message()), ("NotFound".to_string(), Some("Topic does not exist")));
    let untagged = sns.list_tags_for_resource().resource_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&untagged), "ResourceNotFound");
}

#[tokio::test]
async fn test_sns_lists_topics_of_every_group_in_pages() {
    let server = Server::start_with_env(&[("SHOAL_DATA_GROUPS", "3")]).await;
    common::await_newest_write_level(std::slice::from_ref(&server)).await;
    let sns = server.sns_client().await;
    let names: BTreeSet<String> = (0..130).map(|i| format!("topic-{i:03}")).collect();
    for name in &names {
        sns.create_topic().name(name).send().await.expect("CreateTopic");
    }
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = sns.list_topics().set_next_token(token.clone()).send().await.expect("ListTopics");
        pages += 1;
        listed.extend(page.topics().iter().filter_map(|topic| topic.topic_arn().map(str::to_string)));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "ListTopics never ended");
    }
    assert_eq!(pages, 2, "100 topics a page");
    let expected: Vec<String> = names.iter().map(|name| topic_arn(name)).collect();
    assert_eq!(listed, expected, "every topic once, in order");
}

#[tokio::test]
async fn test_sns_is_refused_while_the_cluster_writes_below_level_4() {
    // A node that takes part in levels up to 3 only, as in a cluster with an older node.
    let server = Server::start_with_env(&[("SHOAL_WRITE_LEVEL_MAX", "3")]).await;
    let sns = server.sns_client().await;
    let error = sns.create_topic().name("early").send().await.unwrap_err();
    assert_eq!(code(&error), "ServiceUnavailable");
    assert!(error.message().unwrap_or("").contains("write level 4"), "{error:?}");
    // SQS is served as before.
    let sqs = server.client().await;
    sqs.create_queue().queue_name("still-served").send().await.expect("CreateQueue");
}

#[tokio::test]
async fn test_sns_subscriptions_are_refused_while_the_cluster_writes_below_level_5() {
    let server = Server::start_with_env(&[("SHOAL_WRITE_LEVEL_MAX", "4")]).await;
    let sns = server.sns_client().await;
    sns.create_topic().name("early").send().await.expect("topics are served at level 4");
    let error = sns
        .subscribe()
        .topic_arn(topic_arn("early"))
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:q"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "ServiceUnavailable");
    assert!(error.message().unwrap_or("").contains("write level 5"), "{error:?}");
    let error = sns.publish().topic_arn(topic_arn("early")).message("m").send().await.unwrap_err();
    assert_eq!(code(&error), "ServiceUnavailable");
}

#[tokio::test]
async fn test_sns_fifo_topic_to_a_fifo_queue_through_the_sdks() {
    let server = Server::start_with_env(&[("SHOAL_DATA_GROUPS", "3")]).await;
    common::await_newest_write_level(std::slice::from_ref(&server)).await;
    let (sns, sqs) = (server.sns_client().await, server.client().await);
    let topic = sns
        .create_topic()
        .name("orders.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .unwrap();
    let topic = topic.topic_arn().unwrap().to_string();
    let url = sqs
        .create_queue()
        .queue_name("orders-in.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:orders-in.fifo");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let missing = sns.publish().topic_arn(&topic).message("no group").send().await.unwrap_err();
    assert_eq!(code(&missing), "InvalidParameter");
    let mut sequences = Vec::new();
    for i in 0..5 {
        let published = sns.publish().topic_arn(&topic).message(format!("m{i}")).message_group_id("g").send().await;
        sequences.push(published.unwrap().sequence_number().expect("a sequence number").to_string());
    }
    let repeat = sns.publish().topic_arn(&topic).message("m0").message_group_id("g").send().await.unwrap();
    assert_eq!(repeat.sequence_number(), Some(sequences[0].as_str()), "deduplicated by content");
    let mut sorted = sequences.clone();
    sorted.sort();
    assert_eq!(sorted, sequences, "increasing");
    let messages = drain(&sqs, &url, 5).await;
    let bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, vec!["m0", "m1", "m2", "m3", "m4"], "in order, once each");
}

/// A queue's messages' bodies and attributes, received with every attribute.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let mut messages = Vec::new();
    for _ in 0..50 {
        let page = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        messages.extend(page.messages().iter().cloned());
        if messages.len() >= expected {
            break;
        }
    }
    messages
}

#[tokio::test]
async fn test_sns_fans_out_to_queues_of_every_group_through_the_sdks() {
    use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
    // Three data groups on one node: queues land in groups other than the topic's, so delivery
    // goes through the outbox as well as within the group.
    let server = Server::start_with_env(&[("SHOAL_DATA_GROUPS", "3")]).await;
    common::await_newest_write_level(std::slice::from_ref(&server)).await;
    let (sns, sqs) = (server.sns_client().await, server.client().await);
    let topic = sns.create_topic().name("events").send().await.unwrap().topic_arn().unwrap().to_string();
    let mut queues = Vec::new();
    for i in 0..6 {
        let url =
            sqs.create_queue().queue_name(format!("fan-{i}")).send().await.unwrap().queue_url().unwrap().to_string();
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:fan-{i}");
        let mut subscribe = sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(&arn);
        if i % 2 == 1 {
            subscribe = subscribe.attributes("RawMessageDelivery", "true");
        }
        if i == 5 {
            subscribe = subscribe.attributes("FilterPolicy", r#"{"kind":["order"]}"#);
        }
        let subscribed = subscribe.send().await.expect("Subscribe");
        let subscription = subscribed.subscription_arn().unwrap().to_string();
        assert!(subscription.starts_with(&format!("{topic}:")), "{subscription}");
        queues.push((url, subscription));
    }
    // Subscribing again with the same attributes gives the same subscription.
    let again = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:fan-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.subscription_arn(), Some(queues[0].1.as_str()));
    let attributes = sns.get_subscription_attributes().subscription_arn(&queues[5].1).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes.get("FilterPolicy").map(String::as_str), Some(r#"{"kind":["order"]}"#));
    assert_eq!(attributes.get("RawMessageDelivery").map(String::as_str), Some("true"));
    assert_eq!(attributes.get("PendingConfirmation").map(String::as_str), Some("false"));

    let kind = MessageAttributeValue::builder().data_type("String").string_value("order").build().unwrap();
    let published = sns
        .publish()
        .topic_arn(&topic)
        .message("first")
        .subject("Hello")
        .message_attributes("kind", kind)
        .send()
        .await
        .expect("Publish");
    let message_id = published.message_id().unwrap().to_string();
    let batch = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(PublishBatchRequestEntry::builder().id("a").message("second").build().unwrap())
        .publish_batch_request_entries(PublishBatchRequestEntry::builder().id("b").message("").build().unwrap())
        .send()
        .await
        .expect("PublishBatch");
    assert_eq!(batch.successful().iter().map(|s| s.id().unwrap_or("")).collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(batch.failed().len(), 1);
    assert_eq!((batch.failed()[0].id(), batch.failed()[0].code()), ("b", "InvalidParameter"));
    assert!(batch.failed()[0].sender_fault());

    for (i, (url, subscription)) in queues.iter().enumerate() {
        let expected = if i == 5 { 1 } else { 2 };
        let mut messages = drain(&sqs, url, expected).await;
        assert_eq!(messages.len(), expected, "queue fan-{i}");
        messages.sort_by_key(|m| m.body().unwrap_or("").contains("second"));
        let first = &messages[0];
        if i % 2 == 1 {
            assert_eq!(first.body(), Some("first"), "raw delivery, queue fan-{i}");
            let kind = first.message_attributes().and_then(|a| a.get("kind")).expect("the attribute");
            assert_eq!((kind.data_type(), kind.string_value()), ("String", Some("order")));
        } else {
            let notification: serde_json::Value = serde_json::from_str(first.body().unwrap()).unwrap();
            assert_eq!(notification["Type"], "Notification");
            assert_eq!(notification["MessageId"], message_id.as_str());
            assert_eq!(notification["TopicArn"], topic.as_str());
            assert_eq!(notification["Subject"], "Hello");
            assert_eq!(notification["Message"], "first");
            assert_eq!(notification["MessageAttributes"]["kind"]["Value"], "order");
            let unsubscribe = notification["UnsubscribeURL"].as_str().unwrap();
            assert!(unsubscribe.ends_with(&subscription.replace(':', "%3A")), "{unsubscribe}");
        }
    }

    // Listing: every subscription, in pages across groups and per topic.
    let listed = sns.list_subscriptions().send().await.unwrap();
    assert_eq!(listed.subscriptions().len(), 6);
    let by_topic = sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.unwrap();
    let mut arns: Vec<&str> = by_topic.subscriptions().iter().filter_map(|s| s.subscription_arn()).collect();
    arns.sort();
    let mut expected: Vec<&str> = queues.iter().map(|(_, arn)| arn.as_str()).collect();
    expected.sort();
    assert_eq!(arns, expected);

    // The UnsubscribeURL works as a plain GET, as SNS's does.
    let notification = drain(&sqs, &queues[0].0, 0).await;
    assert!(notification.is_empty());
    let path = format!("/?Action=Unsubscribe&SubscriptionArn={}", queues[0].1.replace(':', "%3A"));
    let response = common::admin_get(&server, &path).await.expect("GET UnsubscribeURL");
    assert!(response.contains("<UnsubscribeResponse"), "{response}");
    let attributes = sns.get_topic_attributes().topic_arn(&topic).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes.get("SubscriptionsConfirmed").map(String::as_str), Some("5"));
    assert_eq!(attributes.get("SubscriptionsDeleted").map(String::as_str), Some("1"));
    let gone = sns.get_subscription_attributes().subscription_arn(&queues[0].1).send().await.unwrap_err();
    assert_eq!(code(&gone), "NotFound");
}
