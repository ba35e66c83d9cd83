//! Queue administration through the official SDK: create, URLs, listing, attributes, tags,
//! purge, permissions and deletion, against the real binary.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{create_queue, queue_arn, queue_attribute, service_error};

#[tokio::test]
async fn test_create_queue_is_idempotent_with_same_attributes() {
    let (server, client) = common::start().await;
    let attributes = [(QueueAttributeName::VisibilityTimeout, "45"), (QueueAttributeName::DelaySeconds, "2")];
    let first = create_queue(&client, "idempotent", &attributes).await;
    let second = create_queue(&client, "idempotent", &attributes).await;
    assert_eq!(first, second);
    assert_eq!(first, format!("{}/{}/idempotent", server.endpoint(), common::ACCOUNT_ID));
    // No attributes at all names no difference either.
    let third = create_queue(&client, "idempotent", &[]).await;
    assert_eq!(first, third);
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), [first]);
}

#[tokio::test]
async fn test_create_queue_with_different_attributes_is_queue_name_exists() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "taken", &[(QueueAttributeName::VisibilityTimeout, "45")]).await;
    let result =
        client.create_queue().queue_name("taken").attributes(QueueAttributeName::VisibilityTimeout, "46").send().await;
    let error = service_error(result);
    assert!(error.is_queue_name_exists(), "{error:?}");
    assert_eq!(error.code(), Some("QueueAlreadyExists"));
    assert_eq!(queue_attribute(&client, &url, QueueAttributeName::VisibilityTimeout).await, "45");
}

#[tokio::test]
async fn test_create_queue_invalid_name_and_attribute_are_refused() {
    let (_server, client) = common::start().await;
    let error = service_error(client.create_queue().queue_name("bad name!").send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let error = service_error(
        client
            .create_queue()
            .queue_name("bad-visibility")
            .attributes(QueueAttributeName::VisibilityTimeout, "-1")
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidAttributeValue"), "{error:?}");
    let error = service_error(
        client
            .create_queue()
            .queue_name("standard")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidAttributeName"), "{error:?}");
    let error = service_error(client.create_queue().queue_name("no-flag.fifo").send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let listed = client.list_queues().send().await.unwrap();
    assert!(listed.queue_urls().is_empty(), "{listed:?}");
}

#[tokio::test]
async fn test_get_queue_url_returns_url_or_queue_does_not_exist() {
    let (server, client) = common::start().await;
    let url = create_queue(&client, "findable", &[]).await;
    let output = client.get_queue_url().queue_name("findable").send().await.unwrap();
    assert_eq!(output.queue_url(), Some(url.as_str()));
    assert_eq!(url, format!("{}/000000000000/findable", server.endpoint()));
    let error = service_error(client.get_queue_url().queue_name("missing").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(
        client.get_queue_url().queue_name("findable").queue_owner_aws_account_id("111111111111").send().await,
    );
    assert!(error.is_queue_does_not_exist(), "{error:?}");
}

#[tokio::test]
async fn test_list_queues_filters_by_prefix_and_pages() {
    let (_server, client) = common::start().await;
    let mut alpha = Vec::new();
    for name in ["alpha-3", "alpha-1", "alpha-2"] {
        alpha.push(create_queue(&client, name, &[]).await);
    }
    alpha.sort();
    let beta = create_queue(&client, "beta-1", &[]).await;

    let all = client.list_queues().send().await.unwrap();
    assert_eq!(all.queue_urls().len(), 4);
    assert!(all.queue_urls().contains(&beta));
    assert_eq!(all.next_token(), None);

    let prefixed = client.list_queues().queue_name_prefix("alpha").send().await.unwrap();
    let mut urls = prefixed.queue_urls().to_vec();
    urls.sort();
    assert_eq!(urls, alpha);

    let first = client.list_queues().queue_name_prefix("alpha").max_results(2).send().await.unwrap();
    assert_eq!(first.queue_urls().len(), 2);
    let token = first.next_token().expect("a NextToken when more queues remain").to_string();
    let second = client.list_queues().queue_name_prefix("alpha").max_results(2).next_token(token).send().await.unwrap();
    assert_eq!(second.queue_urls().len(), 1);
    assert_eq!(second.next_token(), None);
    let mut paged: Vec<String> = first.queue_urls().iter().chain(second.queue_urls()).cloned().collect();
    paged.sort();
    assert_eq!(paged, alpha);

    let none = client.list_queues().queue_name_prefix("gamma").send().await.unwrap();
    assert!(none.queue_urls().is_empty());
}

#[tokio::test]
async fn test_queue_attributes_set_get_and_defaults() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "attributes", &[]).await;
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "3")
        .send()
        .await
        .unwrap();
    let output =
        client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::All).send().await.unwrap();
    let attributes = output.attributes().unwrap();
    let get = |name: QueueAttributeName| attributes.get(&name).map(String::as_str);
    assert_eq!(get(QueueAttributeName::VisibilityTimeout), Some("45"));
    assert_eq!(get(QueueAttributeName::MessageRetentionPeriod), Some("3600"));
    assert_eq!(get(QueueAttributeName::ReceiveMessageWaitTimeSeconds), Some("3"));
    assert_eq!(get(QueueAttributeName::DelaySeconds), Some("0"));
    assert_eq!(get(QueueAttributeName::MaximumMessageSize), Some("1048576"));
    assert_eq!(get(QueueAttributeName::ApproximateNumberOfMessages), Some("0"));
    assert_eq!(get(QueueAttributeName::QueueArn), Some(queue_arn("attributes").as_str()));
    assert!(get(QueueAttributeName::CreatedTimestamp).is_some_and(|t| t.parse::<u64>().is_ok()));
    assert_eq!(get(QueueAttributeName::FifoQueue), None, "a standard queue has no FifoQueue attribute");

    // Only the attributes asked for come back.
    let one = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap();
    let keys: Vec<&QueueAttributeName> = one.attributes().unwrap().keys().collect();
    assert_eq!(keys, [&QueueAttributeName::VisibilityTimeout]);
}

#[tokio::test]
async fn test_queue_attributes_invalid_name_and_value_are_refused() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "validated", &[]).await;
    let error = service_error(
        client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::from("NoSuchAttribute"))
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidAttributeName"), "{error:?}");
    assert!(error.is_invalid_attribute_name(), "{error:?}");

    let error = service_error(
        client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::from("NoSuchAttribute"), "1")
            .send()
            .await,
    );
    assert!(error.is_invalid_attribute_name(), "{error:?}");

    let error = service_error(
        client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::VisibilityTimeout, "43201")
            .send()
            .await,
    );
    assert!(error.is_invalid_attribute_value(), "{error:?}");
    assert_eq!(error.code(), Some("InvalidAttributeValue"));

    let error = service_error(
        client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::MaximumMessageSize, "1023")
            .send()
            .await,
    );
    assert!(error.is_invalid_attribute_value(), "{error:?}");

    let error = service_error(
        client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::QueueArn, "arn:x").send().await,
    );
    assert!(error.is_invalid_attribute_name(), "{error:?}");

    // A refused change leaves every attribute as it was, including valid ones in the same call.
    let error = service_error(
        client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::DelaySeconds, "5")
            .attributes(QueueAttributeName::VisibilityTimeout, "-1")
            .send()
            .await,
    );
    assert!(error.is_invalid_attribute_value(), "{error:?}");
    assert_eq!(queue_attribute(&client, &url, QueueAttributeName::DelaySeconds).await, "0");
    assert_eq!(queue_attribute(&client, &url, QueueAttributeName::VisibilityTimeout).await, "30");
}

#[tokio::test]
async fn test_queue_tags_create_tag_list_untag() {
    let (_server, client) = common::start().await;
    let output = client.create_queue().queue_name("tagged").tags("team", "core").send().await.unwrap();
    let url = output.queue_url().unwrap().to_string();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("team").map(String::as_str), Some("core"));

    client.tag_queue().queue_url(&url).tags("env", "test").tags("team", "platform").send().await.unwrap();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(tags.get("env").map(String::as_str), Some("test"));

    client.untag_queue().queue_url(&url).tag_keys("team").send().await.unwrap();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    let keys: Vec<&String> = tags.tags().map(|t| t.keys().collect()).unwrap_or_default();
    assert_eq!(keys, [&"env".to_string()]);

    client.untag_queue().queue_url(&url).tag_keys("env").send().await.unwrap();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()), "{tags:?}");
}

#[tokio::test]
async fn test_purge_queue_removes_messages_and_is_limited_to_once_a_minute() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "purged", &[]).await;
    for i in 0..3 {
        common::send(&client, &url, &format!("message {i}")).await;
    }
    // One in flight and one delayed are purged too.
    let received = common::receive(&client, &url, 1, 0).await;
    assert_eq!(received.len(), 1);
    client.send_message().queue_url(&url).message_body("delayed").delay_seconds(60).send().await.unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (2, 1, 1));

    client.purge_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    assert!(common::receive(&client, &url, 10, 0).await.is_empty());

    let error = service_error(client.purge_queue().queue_url(&url).send().await);
    assert!(error.is_purge_queue_in_progress(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.PurgeQueueInProgress"));

    // The queue still works after a purge.
    common::send(&client, &url, "after purge").await;
    let received = common::receive(&client, &url, 10, 0).await;
    assert_eq!(received.iter().map(common::body).collect::<Vec<_>>(), ["after purge"]);
}

#[tokio::test]
async fn test_permission_add_and_remove() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "shared", &[]).await;
    client
        .add_permission()
        .queue_url(&url)
        .label("let-them-send")
        .aws_account_ids("111111111111")
        .actions("SendMessage")
        .actions("ReceiveMessage")
        .send()
        .await
        .unwrap();
    let policy = queue_attribute(&client, &url, QueueAttributeName::Policy).await;
    let policy: serde_json::Value = serde_json::from_str(&policy).expect("the policy is json");
    assert_eq!(policy["Statement"][0]["Sid"], "let-them-send");
    assert_eq!(policy["Statement"][0]["Action"], serde_json::json!(["SQS:SendMessage", "SQS:ReceiveMessage"]));
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"], serde_json::json!(["arn:aws:iam::111111111111:root"]));
    let error = service_error(
        client
            .add_permission()
            .queue_url(&url)
            .label("let-them-send")
            .aws_account_ids("222222222222")
            .actions("SendMessage")
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "a label is used once: {error:?}");

    let error =
        service_error(client.add_permission().queue_url(&url).label("no-accounts").actions("SendMessage").send().await);
    assert_eq!(error.code(), Some("MissingParameter"), "{error:?}");

    client.remove_permission().queue_url(&url).label("let-them-send").send().await.unwrap();
    let error = service_error(client.remove_permission().queue_url(&url).label("let-them-send").send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "the label is gone: {error:?}");

    // The label can be used again once removed.
    client
        .add_permission()
        .queue_url(&url)
        .label("let-them-send")
        .aws_account_ids("333333333333")
        .actions("*")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn test_delete_queue_then_queue_does_not_exist_and_deleted_recently() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "doomed", &[]).await;
    common::send(&client, &url, "lost with the queue").await;
    client.delete_queue().queue_url(&url).send().await.unwrap();

    let error = service_error(client.get_queue_url().queue_name("doomed").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    let error = service_error(client.send_message().queue_url(&url).message_body("x").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.receive_message().queue_url(&url).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.get_queue_attributes().queue_url(&url).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.delete_queue().queue_url(&url).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let listed = client.list_queues().send().await.unwrap();
    assert!(listed.queue_urls().is_empty(), "{listed:?}");

    let error = service_error(client.create_queue().queue_name("doomed").send().await);
    assert!(error.is_queue_deleted_recently(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.QueueDeletedRecently"));
}
