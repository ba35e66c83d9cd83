//! FIFO queues through the official SDK: order within a group, groups blocked while in flight,
//! deduplication, receive attempt retries and sequence numbers.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use common::{body, create_fifo_queue, message_id, receive, service_error, system_attribute};

/// Sends to a FIFO queue with an explicit deduplication id; returns (MessageId, SequenceNumber).
async fn send_fifo(client: &Client, url: &str, group: &str, deduplication_id: &str, text: &str) -> (String, u128) {
    let output = client
        .send_message()
        .queue_url(url)
        .message_body(text)
        .message_group_id(group)
        .message_deduplication_id(deduplication_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SendMessage to {group}: {e:?}"));
    let sequence_number = output.sequence_number().expect("a FIFO send returns a SequenceNumber");
    (output.message_id().unwrap().to_string(), sequence_number.parse().expect("a numeric SequenceNumber"))
}

#[tokio::test]
async fn test_fifo_group_order_is_kept_across_receives() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "ordered.fifo", &[]).await;
    for i in 0..6 {
        send_fifo(&client, &url, "g", &format!("d{i}"), &format!("m{i}")).await;
    }
    let mut seen = Vec::new();
    // Two at a time, deleting before the next receive: the group goes out in send order.
    for _ in 0..3 {
        let messages = receive(&client, &url, 2, 0).await;
        assert_eq!(messages.len(), 2, "after {seen:?}");
        for message in &messages {
            assert_eq!(system_attribute(message, MessageSystemAttributeName::MessageGroupId), "g");
            seen.push(body(message).to_string());
            common::delete(&client, &url, message).await;
        }
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    assert!(receive(&client, &url, 10, 0).await.is_empty());
}

#[tokio::test]
async fn test_fifo_group_in_flight_blocks_it_while_other_groups_are_served() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "groups.fifo", &[]).await;
    send_fifo(&client, &url, "a", "a1", "a1").await;
    send_fifo(&client, &url, "a", "a2", "a2").await;
    send_fifo(&client, &url, "b", "b1", "b1").await;
    send_fifo(&client, &url, "b", "b2", "b2").await;

    let first = receive(&client, &url, 1, 0).await;
    assert_eq!(first.iter().map(body).collect::<Vec<_>>(), ["a1"]);
    // Group a has a message in flight: only group b is served, in order.
    let second = receive(&client, &url, 10, 0).await;
    assert_eq!(second.iter().map(body).collect::<Vec<_>>(), ["b1", "b2"]);
    // Both groups are in flight now.
    assert!(receive(&client, &url, 10, 0).await.is_empty());

    common::delete(&client, &url, &first[0]).await;
    let third = receive(&client, &url, 10, 0).await;
    assert_eq!(third.iter().map(body).collect::<Vec<_>>(), ["a2"]);

    // A message made visible again goes out before the rest of its group.
    for message in &second {
        common::make_visible(&client, &url, message).await;
    }
    let fourth = receive(&client, &url, 1, 0).await;
    assert_eq!(fourth.iter().map(body).collect::<Vec<_>>(), ["b1"]);
    assert_eq!(common::receive_count(&fourth[0]), 2);
}

#[tokio::test]
async fn test_fifo_deduplication_id_returns_the_same_message_id() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "dedup.fifo", &[]).await;
    let (first_id, first_number) = send_fifo(&client, &url, "g", "same-id", "first body").await;
    let (second_id, second_number) = send_fifo(&client, &url, "g", "same-id", "another body").await;
    assert_eq!(first_id, second_id);
    assert_eq!(first_number, second_number);
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(body(&messages[0]), "first body");
    assert_eq!(system_attribute(&messages[0], MessageSystemAttributeName::MessageDeduplicationId), "same-id");

    // Still a duplicate after the first copy was deleted: the window remembers it.
    common::delete(&client, &url, &messages[0]).await;
    let (third_id, _) = send_fifo(&client, &url, "g", "same-id", "third body").await;
    assert_eq!(third_id, first_id);
    assert!(receive(&client, &url, 10, 0).await.is_empty());
}

#[tokio::test]
async fn test_fifo_content_based_deduplication_returns_the_same_message_id() {
    let (_server, client) = common::start().await;
    let url =
        create_fifo_queue(&client, "content.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    let send = |text: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let output =
                client.send_message().queue_url(&url).message_body(text).message_group_id("g").send().await.unwrap();
            output.message_id().unwrap().to_string()
        }
    };
    let first = send("same content").await;
    let second = send("same content").await;
    let other = send("other content").await;
    assert_eq!(first, second);
    assert_ne!(first, other);
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.iter().map(message_id).collect::<Vec<_>>(), [first.as_str(), other.as_str()]);
}

#[tokio::test]
async fn test_fifo_receive_request_attempt_id_retry_returns_the_same_messages() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "attempts.fifo", &[]).await;
    for i in 0..3 {
        send_fifo(&client, &url, "g", &format!("d{i}"), &format!("m{i}")).await;
    }
    let attempt = |attempt_id: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let output = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(2)
                .receive_request_attempt_id(attempt_id)
                .send()
                .await
                .unwrap();
            output.messages().to_vec()
        }
    };
    let first = attempt("attempt-1").await;
    assert_eq!(first.iter().map(body).collect::<Vec<_>>(), ["m0", "m1"]);
    let retry = attempt("attempt-1").await;
    let ids = |messages: &[aws_sdk_sqs::types::Message]| -> Vec<String> {
        messages.iter().map(|m| message_id(m).to_string()).collect()
    };
    assert_eq!(ids(&retry), ids(&first));
    let handles = |messages: &[aws_sdk_sqs::types::Message]| -> Vec<String> {
        messages.iter().map(|m| m.receipt_handle().unwrap().to_string()).collect()
    };
    assert_eq!(handles(&retry), handles(&first), "a retried attempt hands out the same receipt handles");

    // Another attempt finds the group in flight.
    assert!(attempt("attempt-2").await.is_empty());
    // The handles of the retried attempt delete the messages.
    for message in &retry {
        common::delete(&client, &url, message).await;
    }
    let rest = attempt("attempt-3").await;
    assert_eq!(rest.iter().map(body).collect::<Vec<_>>(), ["m2"]);
}

#[tokio::test]
async fn test_fifo_sequence_numbers_increase() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "sequence.fifo", &[]).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let group = if i % 2 == 0 { "even" } else { "odd" };
        sent.push(send_fifo(&client, &url, group, &format!("d{i}"), &format!("m{i}")).await);
    }
    let batch = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b0")
                .message_body("b0")
                .message_group_id("even")
                .message_deduplication_id("b0")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b1")
                .message_body("b1")
                .message_group_id("odd")
                .message_deduplication_id("b1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(batch.failed().is_empty(), "{batch:?}");
    for id in ["b0", "b1"] {
        let entry = batch.successful().iter().find(|e| e.id() == id).unwrap();
        let number: u128 = entry.sequence_number().expect("a SequenceNumber").parse().unwrap();
        sent.push((entry.message_id().to_string(), number));
    }
    for pair in sent.windows(2) {
        assert!(pair[0].1 < pair[1].1, "sequence numbers must increase: {sent:?}");
    }

    // Received messages carry the sequence number their send returned.
    let mut received = Vec::new();
    for _ in 0..10 {
        let messages = receive(&client, &url, 10, 0).await;
        if messages.is_empty() {
            break;
        }
        for message in &messages {
            let number: u128 = system_attribute(message, MessageSystemAttributeName::SequenceNumber).parse().unwrap();
            received.push((message_id(message).to_string(), number));
            common::delete(&client, &url, message).await;
        }
    }
    received.sort_by_key(|(_, number)| *number);
    assert_eq!(received, sent);
}

#[tokio::test]
async fn test_fifo_missing_group_id_and_deduplication_are_refused() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "strict.fifo", &[]).await;
    let error = service_error(
        client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await,
    );
    assert_eq!(error.code(), Some("MissingParameter"), "{error:?}");
    assert_eq!(error.message(), Some("The request must contain the parameter MessageGroupId."));

    // Without content-based deduplication a deduplication id is needed.
    let error =
        service_error(client.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(
        error.message(),
        Some("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
    );

    // Per-message delays are not allowed on FIFO queues.
    let error = service_error(
        client
            .send_message()
            .queue_url(&url)
            .message_body("x")
            .message_group_id("g")
            .message_deduplication_id("d")
            .delay_seconds(1)
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Value 1 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
    );
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));

    // A standard queue refuses a deduplication id.
    let standard = common::create_queue(&client, "standard", &[]).await;
    let error = service_error(
        client.send_message().queue_url(&standard).message_body("x").message_deduplication_id("d").send().await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
}

#[tokio::test]
async fn test_fifo_queue_attributes_report_fifo_settings() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(
        &client,
        "settings.fifo",
        &[
            (QueueAttributeName::ContentBasedDeduplication, "true"),
            (QueueAttributeName::DeduplicationScope, "messageGroup"),
        ],
    )
    .await;
    assert_eq!(common::queue_attribute(&client, &url, QueueAttributeName::FifoQueue).await, "true");
    assert_eq!(common::queue_attribute(&client, &url, QueueAttributeName::ContentBasedDeduplication).await, "true");
    assert_eq!(common::queue_attribute(&client, &url, QueueAttributeName::DeduplicationScope).await, "messageGroup");
    // FifoQueue cannot be changed on an existing queue; repeating it is accepted.
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap();
    let error = service_error(
        client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::FifoQueue, "false").send().await,
    );
    assert!(error.is_invalid_attribute_value(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
    );
}

#[tokio::test]
async fn test_fifo_receipt_handle_of_earlier_receive_has_expired() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "expiring.fifo", &[]).await;
    send_fifo(&client, &url, "g", "d1", "first").await;
    let earlier = common::receive_with_visibility(&client, &url, 1, 0).await;
    let current = common::receive_with_visibility(&client, &url, 1, 60).await;
    assert_eq!((earlier.len(), current.len()), (1, 1));
    assert_eq!(message_id(&earlier[0]), message_id(&current[0]));

    let handle = earlier[0].receipt_handle().unwrap();
    let error = service_error(client.delete_message().queue_url(&url).receipt_handle(handle).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let expected =
        format!("Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.");
    assert_eq!(error.message(), Some(expected.as_str()));
    // In a batch, the entry fails with AWS's wording for batches.
    let output = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(DeleteMessageBatchRequestEntry::builder().id("earlier").receipt_handle(handle).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(output.failed().len(), 1, "{output:?}");
    assert_eq!(output.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert_eq!(output.failed()[0].message(), Some("The receipt handle has expired"));
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 0), "the expired handle deleted nothing");

    common::delete(&client, &url, &current[0]).await;
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
}

#[tokio::test]
async fn test_fifo_long_poll_wakes_when_the_group_is_released() {
    let (_server, client) = common::start().await;
    let url = create_fifo_queue(&client, "release.fifo", &[]).await;
    send_fifo(&client, &url, "g", "d1", "first").await;
    send_fifo(&client, &url, "g", "d2", "second").await;
    let first = receive(&client, &url, 1, 0).await;
    assert_eq!(first.iter().map(body).collect::<Vec<_>>(), ["first"]);
    let poller = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (receive(&client, &url, 10, 5).await, started.elapsed())
        })
    };
    // Nothing can be polled to see that the receive is parked on the server; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!poller.is_finished(), "the group is blocked while its first message is in flight");
    common::delete(&client, &url, &first[0]).await;
    let (messages, elapsed) = poller.await.unwrap();
    assert_eq!(messages.iter().map(body).collect::<Vec<_>>(), ["second"]);
    assert!(elapsed < std::time::Duration::from_secs(5), "the long poll took {elapsed:?}");
}
