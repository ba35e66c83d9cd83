//! Visibility and timing of messages through the official SDK: visibility timeouts and their
//! changes, long polling, and delivery delays.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{body, create_queue, message_id, receive, receive_count, service_error};

#[tokio::test]
async fn test_message_visibility_timeout_expiry_redelivers_with_receive_count_2() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "visibility", &[(QueueAttributeName::VisibilityTimeout, "1")]).await;
    let id = common::send(&client, &url, "comes back").await;
    let started = Instant::now();
    let first = receive(&client, &url, 1, 0).await;
    assert_eq!(first.len(), 1);
    assert_eq!(receive_count(&first[0]), 1);
    assert!(receive(&client, &url, 1, 0).await.is_empty(), "invisible while in flight");

    // A long poll waits out the visibility timeout.
    let second = receive(&client, &url, 1, 5).await;
    assert_eq!(second.len(), 1, "the message reappears after its visibility timeout");
    assert!(started.elapsed() >= Duration::from_millis(900), "reappeared after {:?}", started.elapsed());
    assert_eq!(message_id(&second[0]), id);
    assert_eq!(receive_count(&second[0]), 2);
    assert_ne!(first[0].receipt_handle(), second[0].receipt_handle());
}

#[tokio::test]
async fn test_message_change_visibility_to_zero_makes_it_visible_at_once() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "visibility-zero", &[]).await;
    let id = common::send(&client, &url, "again").await;
    let first = receive(&client, &url, 1, 0).await;
    assert_eq!(first.len(), 1);
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(first[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let second = receive(&client, &url, 1, 0).await;
    assert_eq!(second.len(), 1);
    assert_eq!(message_id(&second[0]), id);
    assert_eq!(receive_count(&second[0]), 2);

    // Extending works too: the message stays invisible.
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(second[0].receipt_handle().unwrap())
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    assert!(receive(&client, &url, 1, 0).await.is_empty());
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 0));
}

#[tokio::test]
async fn test_message_long_poll_returns_when_a_message_arrives() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "long-poll", &[]).await;
    let poller = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let messages = receive(&client, &url, 1, 5).await;
            (messages, started.elapsed())
        })
    };
    // Nothing can be polled to see that the receive is parked on the server; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poller.is_finished(), "the long poll returned before any message was sent");
    let id = common::send(&client, &url, "wake up").await;
    let (messages, elapsed) = tokio::time::timeout(Duration::from_secs(10), poller).await.unwrap().unwrap();
    assert_eq!(messages.len(), 1, "the long poll returned without the message after {elapsed:?}");
    assert_eq!(message_id(&messages[0]), id);
    assert!(elapsed < Duration::from_secs(5), "the long poll took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(400), "the long poll returned too early: {elapsed:?}");
}

#[tokio::test]
async fn test_message_long_poll_empty_queue_waits_the_full_time() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "long-poll-empty", &[]).await;
    let started = Instant::now();
    let messages = receive(&client, &url, 1, 1).await;
    let elapsed = started.elapsed();
    assert!(messages.is_empty());
    assert!(elapsed >= Duration::from_millis(900), "returned after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "returned after {elapsed:?}");
}

#[tokio::test]
async fn test_message_delay_seconds_hides_it_until_due() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "delayed", &[]).await;
    let started = Instant::now();
    client.send_message().queue_url(&url).message_body("later").delay_seconds(2).send().await.unwrap();
    assert!(receive(&client, &url, 1, 0).await.is_empty(), "a delayed message is not receivable yet");
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 1));
    let messages = receive(&client, &url, 1, 5).await;
    assert_eq!(messages.len(), 1, "the delayed message arrives within the long poll");
    assert!(started.elapsed() >= Duration::from_millis(1900), "arrived after {:?}", started.elapsed());
    assert_eq!(body(&messages[0]), "later");

    let error = service_error(client.send_message().queue_url(&url).message_body("x").delay_seconds(901).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
}

#[tokio::test]
async fn test_message_queue_delay_seconds_applies_by_default() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "queue-delay", &[(QueueAttributeName::DelaySeconds, "60")]).await;
    common::send(&client, &url, "delayed by the queue").await;
    client.send_message().queue_url(&url).message_body("not delayed").delay_seconds(0).send().await.unwrap();
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.iter().map(body).collect::<Vec<_>>(), ["not delayed"]);
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 1));
}

#[tokio::test]
async fn test_message_concurrent_long_polls_deliver_a_message_once() {
    const POLLERS: usize = 5;
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "contended", &[]).await;
    let mut pollers = Vec::new();
    for _ in 0..POLLERS {
        let client = client.clone();
        let url = url.clone();
        pollers.push(tokio::spawn(async move { receive(&client, &url, 10, 2).await }));
    }
    // Nothing can be polled to see that the receives are parked on the server; give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = common::send(&client, &url, "only once").await;
    let mut delivered = Vec::new();
    for poller in pollers {
        let messages = tokio::time::timeout(Duration::from_secs(10), poller).await.unwrap().unwrap();
        delivered.extend(messages.iter().map(|m| message_id(m).to_string()));
    }
    assert_eq!(delivered, [id], "exactly one of {POLLERS} concurrent long polls gets the message");
}

#[tokio::test]
async fn test_message_queue_wait_time_applies_when_the_receive_gives_none() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "queue-wait", &[(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "1")]).await;
    let started = Instant::now();
    let output = client.receive_message().queue_url(&url).send().await.unwrap();
    let elapsed = started.elapsed();
    assert!(output.messages().is_empty());
    assert!(elapsed >= Duration::from_millis(900), "the queue's wait time was not applied: {elapsed:?}");
    // An explicit WaitTimeSeconds of 0 overrides the queue's.
    let started = Instant::now();
    client.receive_message().queue_url(&url).wait_time_seconds(0).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(900), "a short poll waited {:?}", started.elapsed());
}

#[tokio::test]
async fn test_message_visibility_extension_is_capped_at_12_hours() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "capped", &[]).await;
    common::send(&client, &url, "x").await;
    let messages = receive(&client, &url, 1, 0).await;
    let handle = messages[0].receipt_handle().unwrap();
    // Time must pass since the receive for 12 hours from now to end after 12 hours from it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let change = |seconds: i32| {
        client.change_message_visibility().queue_url(&url).receipt_handle(handle).visibility_timeout(seconds).send()
    };
    let error = service_error(change(43_200).await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "past 12 hours from the receive: {error:?}");
    change(43_000).await.unwrap();
    let error = service_error(change(43_201).await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "past the largest timeout: {error:?}");
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 0));
}

#[tokio::test]
async fn test_message_delete_after_visibility_expiry_succeeds_until_received_again() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "late-delete", &[(QueueAttributeName::VisibilityTimeout, "1")]).await;
    common::send(&client, &url, "slow worker").await;
    let messages = receive(&client, &url, 1, 0).await;
    assert_eq!(messages.len(), 1);
    common::wait_for("the visibility timeout to end", Duration::from_secs(5), Duration::from_millis(50), || {
        let client = client.clone();
        let url = url.clone();
        async move { (common::message_counts(&client, &url).await == (1, 0, 0)).then_some(()) }
    })
    .await;
    // Nobody received it since, so the handle still deletes it.
    common::delete(&client, &url, &messages[0]).await;
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    assert!(receive(&client, &url, 1, 0).await.is_empty());
}
