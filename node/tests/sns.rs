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
