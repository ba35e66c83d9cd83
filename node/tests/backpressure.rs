//! Producer flow control: a send to a queue whose consumers fall behind waits for them, and after
//! its bound is refused the way SQS clients retry (403 RequestThrottled with a retry-after);
//! queues nobody consumes, and every queue with flow control off, take sends as SQS does.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use common::{create_queue, message_counts, Server};

/// More messages than the least backlog at which flow control holds sends (100).
const BACKLOG: usize = 300;

fn batch(start: usize) -> Vec<SendMessageBatchRequestEntry> {
    (start..start + 10)
        .map(|i| {
            SendMessageBatchRequestEntry::builder().id(format!("m{i}")).message_body(format!("message {i}")).build()
        })
        .map(|entry| entry.expect("a valid entry"))
        .collect()
}

/// A client that does not retry, so a throttled send is seen as such.
fn without_retries(client: &Client) -> Client {
    Client::from_conf(client.config().to_builder().retry_config(RetryConfig::disabled()).build())
}

/// A consumer that takes one message every 500 ms and deletes nothing: it counts as active, and
/// a send held for it waits longer than its bound (2 s) for the backlog to shrink by a batch.
fn slow_consumer(client: Client, url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let _ = client.receive_message().queue_url(&url).max_number_of_messages(1).send().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Sends `BACKLOG` messages in batches.
async fn fill(client: &Client, url: &str) {
    for start in (0..BACKLOG).step_by(10) {
        client.send_message_batch().queue_url(url).set_entries(Some(batch(start))).send().await.expect("filling");
    }
}

#[tokio::test]
async fn test_a_send_to_a_queue_whose_consumer_falls_behind_is_throttled_with_403_and_a_retry_after() {
    let server = Server::start().await;
    let client = without_retries(&server.client().await);
    let url = create_queue(&client, "behind", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = slow_consumer(client.clone(), url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The first sends pass while the backlog is small; once it is above the limit they wait
    // (the fill itself may take a few waits while the consumer nibbles).
    let filled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match client.send_message_batch().queue_url(&url).set_entries(Some(batch(0))).send().await {
                Ok(_) => continue,
                Err(error) => return error,
            }
        }
    })
    .await
    .expect("a send is throttled while the consumer falls behind");
    let SdkError::ServiceError(service) = &filled else {
        panic!("expected a service error, got {filled:?}");
    };
    assert_eq!(service.err().code(), Some("RequestThrottled"));
    assert_eq!(service.raw().status().as_u16(), 403);
    assert_eq!(service.raw().headers().get("x-amz-retry-after"), Some("200"));
    assert_eq!(service.raw().headers().get("x-amzn-query-error"), Some("RequestThrottled;Sender"));

    // Nothing of the refused batch was taken: the queue holds only what was acknowledged.
    stop.store(true, Ordering::SeqCst);
    consumer.await.expect("the consumer task");
    let (visible, in_flight, _) = message_counts(&client, &url).await;
    assert_eq!((visible + in_flight) % 10, 0, "whole batches only: {visible} + {in_flight}");

    // With the consumer gone, sends are taken again however large the backlog.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    client.send_message_batch().queue_url(&url).set_entries(Some(batch(0))).send().await.expect("no consumer: taken");
}

#[tokio::test]
async fn test_a_held_send_is_taken_once_the_consumers_catch_up() {
    let server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "catching-up", &[]).await;
    // Filled before anyone consumes: a queue without consumers takes every send.
    fill(&client, &url).await;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = slow_consumer(client.clone(), url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let held = {
        let client = without_retries(&client);
        let url = url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let sent = client.send_message_batch().queue_url(&url).set_entries(Some(batch(1000))).send().await;
            (sent, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "the send waits while the backlog is above the limit");
    // The consumer catches up: it takes and deletes everything, ten at a time, so the drain
    // fits the held send's wait on a loaded machine too.
    stop.store(true, Ordering::SeqCst);
    consumer.await.expect("the consumer task");
    loop {
        let received =
            client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let entries = messages.iter().enumerate().map(|(index, message)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(message.receipt_handle.clone().unwrap_or_default())
                .build()
                .expect("a complete delete entry")
        });
        let deleted = client.delete_message_batch().queue_url(&url).set_entries(Some(entries.collect())).send().await;
        assert!(deleted.expect("delete").failed.is_empty());
    }
    let (sent, waited) = held.await.expect("the held send's task");
    let sent = sent.expect("taken once the backlog drained, within its wait");
    assert_eq!(sent.successful.len(), 10);
    assert!(waited >= Duration::from_millis(500), "it was held: {waited:?}");
}

#[tokio::test]
async fn test_with_flow_control_off_sends_are_never_held() {
    let server = Server::start_with_env(&[("SHOAL_PRODUCER_FLOW_CONTROL", "off")]).await;
    let client = without_retries(&server.client().await);
    let url = create_queue(&client, "unbounded", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = slow_consumer(client.clone(), url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    fill(&client, &url).await;
    fill(&client, &url).await;
    stop.store(true, Ordering::SeqCst);
    consumer.await.expect("the consumer task");
    let (visible, in_flight, _) = message_counts(&client, &url).await;
    assert_eq!(visible + in_flight, 2 * BACKLOG as u64);
}

/// Counts the attempts of every request a client makes (retries included).
#[derive(Debug, Default, Clone)]
struct Attempts(Arc<AtomicUsize>);

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn test_the_sdk_with_its_default_retries_retries_a_throttled_send() {
    let server = Server::start().await;
    let plain = server.client().await;
    let attempts = Attempts::default();
    // The SDK's default retry configuration (standard mode, 3 attempts), attempts counted.
    let client = Client::from_conf(plain.config().to_builder().interceptor(attempts.clone()).build());
    let url = create_queue(&client, "retried", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = slow_consumer(plain.clone(), url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Send until one send took more than one attempt: the SDK retried a throttled attempt
    // (the server refuses nothing else here). It may then have been taken, or refused again.
    let retried = tokio::time::timeout(Duration::from_secs(60), async {
        for start in (0..).step_by(10) {
            let before = attempts.0.load(Ordering::SeqCst);
            let sent = client.send_message_batch().queue_url(&url).set_entries(Some(batch(start))).send().await;
            if attempts.0.load(Ordering::SeqCst) - before > 1 {
                return sent;
            }
            sent.expect("a send that was not retried was taken");
        }
        unreachable!("the range does not end")
    })
    .await
    .expect("a send was retried while the consumer fell behind");
    stop.store(true, Ordering::SeqCst);
    consumer.await.expect("the consumer task");
    if let Err(error) = retried {
        let SdkError::ServiceError(service) = &error else {
            panic!("expected a service error, got {error:?}");
        };
        assert_eq!(service.err().code(), Some("RequestThrottled"), "retried, then refused as throttled");
    }
}
