//! Dead-letter queues through the official SDK: redrive after maxReceiveCount receives,
//! ListDeadLetterSourceQueues, and a message move task that carries messages back.

mod common;

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use common::{create_queue, message_id, queue_arn, receive, receive_count, service_error, system_attribute};

/// A source queue with a dead-letter queue after `max_receive_count` receives; returns both URLs.
async fn queues_with_redrive(client: &Client, source: &str, dead_letter: &str) -> (String, String) {
    let dead_letter_url = create_queue(client, dead_letter, &[]).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, queue_arn(dead_letter));
    let source_url = create_queue(client, source, &[(QueueAttributeName::RedrivePolicy, &policy)]).await;
    (source_url, dead_letter_url)
}

async fn make_visible(client: &Client, url: &str, message: &aws_sdk_sqs::types::Message) {
    client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
}

/// Receives the one message of `url` `times` times without deleting it.
async fn receive_without_delete(client: &Client, url: &str, id: &str, times: u32) {
    for attempt in 1..=times {
        let messages = receive(client, url, 1, 0).await;
        assert_eq!(messages.len(), 1, "receive {attempt}");
        assert_eq!(message_id(&messages[0]), id);
        assert_eq!(receive_count(&messages[0]), attempt);
        make_visible(client, url, &messages[0]).await;
    }
}

#[tokio::test]
async fn test_dlq_message_moves_after_max_receive_count() {
    let (_server, client) = common::start().await;
    let (source, dead_letter) = queues_with_redrive(&client, "work", "work-dlq").await;
    let policy = common::queue_attribute(&client, &source, QueueAttributeName::RedrivePolicy).await;
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["deadLetterTargetArn"], queue_arn("work-dlq"));
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "2");

    let id = common::send(&client, &source, "poison").await;
    receive_without_delete(&client, &source, &id, 2).await;
    // The third receive finds the message received too often and moves it instead.
    assert!(receive(&client, &source, 10, 0).await.is_empty());
    assert_eq!(common::message_counts(&client, &source).await, (0, 0, 0));
    assert_eq!(common::message_counts(&client, &dead_letter).await, (1, 0, 0));

    let moved = receive(&client, &dead_letter, 10, 0).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(message_id(&moved[0]), id);
    assert_eq!(common::body(&moved[0]), "poison");
    assert_eq!(receive_count(&moved[0]), 1);
    assert_eq!(system_attribute(&moved[0], MessageSystemAttributeName::DeadLetterQueueSourceArn), queue_arn("work"));
}

#[tokio::test]
async fn test_dlq_visibility_timeout_expiry_counts_as_a_receive() {
    let (_server, client) = common::start().await;
    let dead_letter = create_queue(&client, "expiry-dlq", &[]).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"2"}}"#, queue_arn("expiry-dlq"));
    let source = create_queue(
        &client,
        "expiry",
        &[(QueueAttributeName::RedrivePolicy, &policy), (QueueAttributeName::VisibilityTimeout, "1")],
    )
    .await;
    let id = common::send(&client, &source, "slow consumer").await;
    assert_eq!(receive(&client, &source, 1, 0).await.len(), 1);
    // Each long poll waits out the 1 s visibility timeout of the receive before it.
    let second = receive(&client, &source, 1, 5).await;
    assert_eq!(second.len(), 1);
    assert_eq!(receive_count(&second[0]), 2);
    let moved = common::wait_for(
        "the message in the dead-letter queue",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let client = client.clone();
            let source = source.clone();
            let dead_letter = dead_letter.clone();
            async move {
                assert!(
                    receive(&client, &source, 1, 0).await.is_empty(),
                    "the source hands out the message a third time"
                );
                let messages = receive(&client, &dead_letter, 1, 0).await;
                (!messages.is_empty()).then_some(messages)
            }
        },
    )
    .await;
    assert_eq!(message_id(&moved[0]), id);
}

#[tokio::test]
async fn test_dlq_list_dead_letter_source_queues() {
    let (_server, client) = common::start().await;
    let (source, dead_letter) = queues_with_redrive(&client, "source-a", "shared-dlq").await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":5}}"#, queue_arn("shared-dlq"));
    let other = create_queue(&client, "source-b", &[(QueueAttributeName::RedrivePolicy, &policy)]).await;
    create_queue(&client, "unrelated", &[]).await;

    let output = client.list_dead_letter_source_queues().queue_url(&dead_letter).send().await.unwrap();
    let mut urls = output.queue_urls().to_vec();
    urls.sort();
    assert_eq!(urls, [source.clone(), other.clone()]);

    let first = client.list_dead_letter_source_queues().queue_url(&dead_letter).max_results(1).send().await.unwrap();
    assert_eq!(first.queue_urls(), std::slice::from_ref(&source));
    let token = first.next_token().expect("a NextToken when more sources remain");
    let second = client
        .list_dead_letter_source_queues()
        .queue_url(&dead_letter)
        .max_results(1)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.queue_urls(), [other]);
    assert_eq!(second.next_token(), None);

    let none = client.list_dead_letter_source_queues().queue_url(&source).send().await.unwrap();
    assert!(none.queue_urls().is_empty());
    let error = service_error(
        client.list_dead_letter_source_queues().queue_url(format!("{}-missing", dead_letter)).send().await,
    );
    assert!(error.is_queue_does_not_exist(), "{error:?}");
}

#[tokio::test]
async fn test_dlq_redrive_policy_must_name_an_existing_queue() {
    let (_server, client) = common::start().await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, queue_arn("nowhere"));
    let error = service_error(
        client
            .create_queue()
            .queue_name("orphan")
            .attributes(QueueAttributeName::RedrivePolicy, policy.as_str())
            .send()
            .await,
    );
    // As SQS: InvalidParameterValue, quoting the policy as it was sent.
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let expected =
        format!("Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.");
    assert_eq!(error.message(), Some(expected.as_str()));
    let error = service_error(
        client
            .create_queue()
            .queue_name("orphan")
            .attributes(QueueAttributeName::RedrivePolicy, r#"{"maxReceiveCount":2}"#)
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(
        error.message(),
        Some(
            r#"Value {"maxReceiveCount":2} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn."#
        )
    );
    let error = service_error(
        client.create_queue().queue_name("orphan").attributes(QueueAttributeName::RedrivePolicy, "{").send().await,
    );
    assert!(error.is_invalid_attribute_value(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.")
    );
}

#[tokio::test]
async fn test_dlq_message_move_task_moves_messages_back_and_completes() {
    let (_server, client) = common::start().await;
    let (source, dead_letter) = queues_with_redrive(&client, "orders", "orders-dlq").await;
    let id = common::send(&client, &source, "retry me").await;
    receive_without_delete(&client, &source, &id, 2).await;
    assert!(receive(&client, &source, 10, 0).await.is_empty());
    assert_eq!(common::message_counts(&client, &dead_letter).await, (1, 0, 0));

    // Moving from a queue that is nobody's dead-letter queue is refused.
    let error = service_error(client.start_message_move_task().source_arn(queue_arn("orders")).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let error = service_error(client.start_message_move_task().source_arn(queue_arn("missing")).send().await);
    assert!(error.is_resource_not_found_exception(), "{error:?}");

    let started = client.start_message_move_task().source_arn(queue_arn("orders-dlq")).send().await.unwrap();
    let handle = started.task_handle().expect("a TaskHandle").to_string();
    assert!(!handle.is_empty());

    let task =
        common::wait_for("the move task to complete", Duration::from_secs(10), Duration::from_millis(100), || {
            let client = client.clone();
            async move {
                let output = client.list_message_move_tasks().source_arn(queue_arn("orders-dlq")).send().await.unwrap();
                let task = output.results().first().cloned().expect("the started task is listed");
                (task.status() == Some("COMPLETED")).then_some(task)
            }
        })
        .await;
    assert_eq!(task.source_arn(), Some(queue_arn("orders-dlq").as_str()));
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(1));
    assert_eq!(task.destination_arn(), None);
    assert!(task.started_timestamp() > 0);

    assert_eq!(common::message_counts(&client, &dead_letter).await, (0, 0, 0));
    let back = receive(&client, &source, 10, 0).await;
    assert_eq!(back.len(), 1, "the message is back in its source queue");
    assert_eq!(message_id(&back[0]), id);
    assert_eq!(common::body(&back[0]), "retry me");
    assert_eq!(receive_count(&back[0]), 1, "a moved message starts over");

    // A finished task cannot be cancelled.
    let error = service_error(client.cancel_message_move_task().task_handle(handle).send().await);
    assert!(
        error.is_unsupported_operation() || error.is_resource_not_found_exception(),
        "cancelling a finished task: {error:?}"
    );
}

#[tokio::test]
async fn test_dlq_message_move_task_to_explicit_destination() {
    let (_server, client) = common::start().await;
    let (source, _dead_letter) = queues_with_redrive(&client, "jobs", "jobs-dlq").await;
    let elsewhere = create_queue(&client, "jobs-replay", &[]).await;
    let id = common::send(&client, &source, "replay me").await;
    receive_without_delete(&client, &source, &id, 2).await;
    assert!(receive(&client, &source, 10, 0).await.is_empty());

    client
        .start_message_move_task()
        .source_arn(queue_arn("jobs-dlq"))
        .destination_arn(queue_arn("jobs-replay"))
        .max_number_of_messages_per_second(10)
        .send()
        .await
        .unwrap();
    let moved =
        common::wait_for("the message in the destination", Duration::from_secs(10), Duration::from_millis(100), || {
            let client = client.clone();
            let elsewhere = elsewhere.clone();
            async move {
                let messages = receive(&client, &elsewhere, 10, 0).await;
                (!messages.is_empty()).then_some(messages)
            }
        })
        .await;
    assert_eq!(moved.len(), 1);
    assert_eq!(message_id(&moved[0]), id);
    assert!(receive(&client, &source, 10, 0).await.is_empty());
    let output = client.list_message_move_tasks().source_arn(queue_arn("jobs-dlq")).send().await.unwrap();
    let task = &output.results()[0];
    assert_eq!(task.status(), Some("COMPLETED"));
    assert_eq!(task.destination_arn(), Some(queue_arn("jobs-replay").as_str()));
    assert_eq!(task.max_number_of_messages_per_second(), Some(10));
}

#[tokio::test]
async fn test_dlq_message_move_task_running_can_be_cancelled() {
    const MESSAGES: usize = 5;
    let (_server, client) = common::start().await;
    let (source, dead_letter) = queues_with_redrive(&client, "bulk", "bulk-dlq").await;
    for i in 0..MESSAGES {
        common::send(&client, &source, &format!("m{i}")).await;
    }
    for attempt in 1..=2 {
        let messages = receive(&client, &source, 10, 0).await;
        assert_eq!(messages.len(), MESSAGES, "receive {attempt}");
        for message in &messages {
            make_visible(&client, &source, message).await;
        }
    }
    assert!(receive(&client, &source, 10, 0).await.is_empty());
    assert_eq!(common::message_counts(&client, &dead_letter).await, (MESSAGES as u64, 0, 0));

    // One message a second: the task is still running right after it starts.
    let started = client
        .start_message_move_task()
        .source_arn(queue_arn("bulk-dlq"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .unwrap();
    let handle = started.task_handle().unwrap().to_string();
    let listed = client.list_message_move_tasks().source_arn(queue_arn("bulk-dlq")).send().await.unwrap();
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("RUNNING"));
    assert_eq!(task.task_handle(), Some(handle.as_str()));
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(MESSAGES as i64));

    let error = service_error(client.start_message_move_task().source_arn(queue_arn("bulk-dlq")).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "a second task on the same queue: {error:?}");
    assert_eq!(
        error.message(),
        Some(
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
        )
    );

    let cancelled = client.cancel_message_move_task().task_handle(&handle).send().await.unwrap();
    let moved = cancelled.approximate_number_of_messages_moved();
    assert!((1..MESSAGES as i64).contains(&moved), "moved {moved} before the cancel");
    let listed = client.list_message_move_tasks().source_arn(queue_arn("bulk-dlq")).send().await.unwrap();
    assert_eq!(listed.results()[0].status(), Some("CANCELLED"));
    let (left, _, _) = common::message_counts(&client, &dead_letter).await;
    let (back, _, _) = common::message_counts(&client, &source).await;
    assert_eq!(left + back, MESSAGES as u64);
    assert_eq!(back, moved as u64);
}
