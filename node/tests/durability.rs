//! Durability: what a client was told is done survives `kill -9` and a restart on the same data
//! directory: sent messages, deletes, and the visibility timeout of messages in flight.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry};
use common::{body, create_queue, message_id, receive, receive_count, Server};

const MESSAGES_SENT: usize = 200;
/// Receives tried while draining, far more than the 20 full batches needed.
const DRAIN_RECEIVES_MAX: usize = 200;

#[tokio::test]
async fn test_durability_acknowledged_sends_survive_kill9() {
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "durable", &[(QueueAttributeName::VisibilityTimeout, "120")]).await;
    let expected: BTreeSet<String> = (0..MESSAGES_SENT).map(|i| format!("message-{i:03}")).collect();
    // The first half in batches of ten, the second half as single sends from ten concurrent
    // senders, so that several proposals share one write to the log.
    for batch in 0..MESSAGES_SENT / 20 {
        let mut request = client.send_message_batch().queue_url(&url);
        for i in 0..10 {
            let text = format!("message-{:03}", batch * 10 + i);
            request = request.entries(
                SendMessageBatchRequestEntry::builder().id(format!("e{i}")).message_body(text).build().unwrap(),
            );
        }
        let output = request.send().await.unwrap();
        assert_eq!(output.successful().len(), 10, "{output:?}");
    }
    let mut senders = Vec::new();
    for sender in 0..10 {
        let client = client.clone();
        let url = url.clone();
        senders.push(tokio::spawn(async move {
            for i in (MESSAGES_SENT / 2 + sender..MESSAGES_SENT).step_by(10) {
                common::send(&client, &url, &format!("message-{i:03}")).await;
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }

    server.kill9();
    server.restart().await;
    let client = server.client().await;

    assert_eq!(common::queue_attribute(&client, &url, QueueAttributeName::VisibilityTimeout).await, "120");
    assert_eq!(common::message_counts(&client, &url).await, (MESSAGES_SENT as u64, 0, 0));
    let mut received = BTreeSet::new();
    for _ in 0..DRAIN_RECEIVES_MAX {
        if received.len() == MESSAGES_SENT {
            break;
        }
        let messages = receive(&client, &url, 10, 0).await;
        assert!(!messages.is_empty(), "the queue ran dry after {} messages", received.len());
        let mut delete = client.delete_message_batch().queue_url(&url);
        for (i, message) in messages.iter().enumerate() {
            assert!(received.insert(body(message).to_string()), "{} was delivered twice", body(message));
            delete = delete.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(message.receipt_handle().unwrap())
                    .build()
                    .unwrap(),
            );
        }
        let output = delete.send().await.unwrap();
        assert!(output.failed().is_empty(), "{output:?}");
    }
    assert_eq!(received, expected);
    assert!(receive(&client, &url, 10, 0).await.is_empty());
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
}

#[tokio::test]
async fn test_durability_acknowledged_delete_survives_kill9() {
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "deletes", &[]).await;
    common::send(&client, &url, "deleted").await;
    common::send(&client, &url, "kept").await;
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.len(), 2);
    for message in &messages {
        if body(message) == "deleted" {
            common::delete(&client, &url, message).await;
        } else {
            common::make_visible(&client, &url, message).await;
        }
    }

    server.kill9();
    server.restart().await;
    let client = server.client().await;

    assert_eq!(common::message_counts(&client, &url).await, (1, 0, 0));
    let after = receive(&client, &url, 10, 0).await;
    assert_eq!(after.iter().map(body).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(receive_count(&after[0]), 2, "the receive before the crash still counts");
}

#[tokio::test]
async fn test_durability_in_flight_message_stays_invisible_until_its_timeout() {
    const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(5);
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "in-flight", &[]).await;
    let id = common::send(&client, &url, "held").await;
    let before_receive = Instant::now();
    let held = common::receive_with_visibility(&client, &url, 1, VISIBILITY_TIMEOUT.as_secs() as i32).await;
    assert_eq!(held.len(), 1);

    server.kill9();
    server.restart().await;
    let client = server.client().await;

    let restarted_after = before_receive.elapsed();
    assert!(
        restarted_after + Duration::from_secs(1) < VISIBILITY_TIMEOUT,
        "the restart took {restarted_after:?}, too close to the visibility timeout to check invisibility"
    );
    assert!(receive(&client, &url, 10, 0).await.is_empty(), "the message in flight was handed out after the restart");
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 0));

    // Long polls wait out the rest of the timeout.
    let mut back = Vec::new();
    for _ in 0..3 {
        back = receive(&client, &url, 1, 5).await;
        if !back.is_empty() {
            break;
        }
    }
    let reappeared_after = before_receive.elapsed();
    assert_eq!(back.len(), 1, "the message did not come back after its visibility timeout");
    assert!(
        reappeared_after + Duration::from_millis(100) >= VISIBILITY_TIMEOUT,
        "the message came back after {reappeared_after:?}, before its timeout"
    );
    assert_eq!(message_id(&back[0]), id);
    assert_eq!(receive_count(&back[0]), 2);

    // The handle from before the crash still names the message: as in SQS, it deletes it while
    // it is in flight under the newer receive, and that too survives a crash.
    let earlier = held[0].receipt_handle().unwrap();
    client.delete_message().queue_url(&url).receipt_handle(earlier).send().await.unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    server.kill9();
    server.restart().await;
    let client = server.client().await;
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    // The newer handle names a message that is gone: deleting it succeeds.
    common::delete(&client, &url, &back[0]).await;
}

#[tokio::test]
async fn test_durability_sends_acknowledged_before_a_crash_mid_stream_survive() {
    const SENDERS: usize = 8;
    const ACKNOWLEDGED_BEFORE_KILL: usize = 100;
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "mid-stream", &[]).await;
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let attempted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let client = client.clone();
        let url = url.clone();
        let acknowledged = acknowledged.clone();
        let attempted = attempted.clone();
        senders.push(tokio::spawn(async move {
            // Bounded: the server is killed long before a sender gets through this many.
            for i in 0..10_000 {
                let text = format!("s{sender}-{i}");
                attempted.lock().unwrap().insert(text.clone());
                // A failed send (the server died) has an unknown outcome: it may or may not be there.
                if client.send_message().queue_url(&url).message_body(&text).send().await.is_err() {
                    return;
                }
                acknowledged.lock().unwrap().insert(text);
            }
        }));
    }
    common::wait_for("acknowledged sends", Duration::from_secs(30), Duration::from_millis(10), || {
        let count = acknowledged.lock().unwrap().len();
        async move { (count >= ACKNOWLEDGED_BEFORE_KILL).then_some(()) }
    })
    .await;
    server.kill9();
    for sender in senders {
        tokio::time::timeout(Duration::from_secs(30), sender)
            .await
            .expect("senders stop once the server is gone")
            .unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();

    server.restart().await;
    let client = server.client().await;
    let mut received = BTreeSet::new();
    for _ in 0..attempted.len() {
        let messages = receive(&client, &url, 10, 0).await;
        if messages.is_empty() {
            break;
        }
        for message in &messages {
            assert!(received.insert(body(message).to_string()), "{} was delivered twice", body(message));
        }
    }
    let lost: Vec<&String> = acknowledged.difference(&received).collect();
    assert!(lost.is_empty(), "{} acknowledged sends were lost after kill -9: {lost:?}", lost.len());
    let invented: Vec<&String> = received.difference(&attempted).collect();
    assert!(invented.is_empty(), "messages nobody sent: {invented:?}");
}

#[tokio::test]
async fn test_durability_fifo_deduplication_and_queue_deletion_survive_kill9() {
    let mut server = Server::start().await;
    let client = server.client().await;
    let fifo = common::create_fifo_queue(&client, "dedup.fifo", &[]).await;
    let send = |client: aws_sdk_sqs::Client, body: &'static str| {
        let fifo = fifo.clone();
        async move {
            let output = client
                .send_message()
                .queue_url(&fifo)
                .message_body(body)
                .message_group_id("g")
                .message_deduplication_id("once")
                .send()
                .await
                .unwrap();
            (output.message_id().unwrap().to_string(), output.sequence_number().unwrap().to_string())
        }
    };
    let first = send(client.clone(), "first").await;
    let doomed = create_queue(&client, "doomed", &[]).await;
    client.delete_queue().queue_url(&doomed).send().await.unwrap();

    server.kill9();
    server.restart().await;
    let client = server.client().await;

    assert_eq!(send(client.clone(), "second").await, first, "the deduplication window survives a crash");
    let messages = receive(&client, &fifo, 10, 0).await;
    assert_eq!(messages.iter().map(body).collect::<Vec<_>>(), ["first"]);
    let error = common::service_error(client.get_queue_url().queue_name("doomed").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = common::service_error(client.create_queue().queue_name("doomed").send().await);
    assert!(error.is_queue_deleted_recently(), "{error:?}");
}

/// With small snapshot intervals the log is snapshotted and purged while messages arrive; a
/// clean stop and a crash after it both recover snapshot plus the log written since.
#[tokio::test]
async fn test_durability_snapshots_then_crash_recover_snapshot_and_log_after_it() {
    let mut server = Server::start_with_env(&[("SHOAL_SNAPSHOT_ENTRIES", "8")]).await;
    let client = server.client().await;
    let url = create_queue(&client, "snapshotted", &[(QueueAttributeName::VisibilityTimeout, "120")]).await;
    for i in 0..20 {
        client.send_message().queue_url(&url).message_body(format!("before-{i:02}")).send().await.unwrap();
    }
    assert!(server.terminate(), "shoal exits cleanly on SIGTERM");
    assert!(server.log_tail().contains("snapshot written"), "{}", server.log_tail());
    assert!(server.log_tail().contains("stopped"), "{}", server.log_tail());
    server.start_again().await;
    let client = server.client().await;
    for i in 0..20 {
        client.send_message().queue_url(&url).message_body(format!("after-{i:02}")).send().await.unwrap();
    }
    server.kill9();
    server.restart().await;
    let client = server.client().await;
    let mut bodies = BTreeSet::new();
    for _ in 0..DRAIN_RECEIVES_MAX {
        let messages = receive(&client, &url, 10, 0).await;
        if messages.is_empty() {
            break;
        }
        bodies.extend(messages.iter().map(|m| body(m).to_string()));
    }
    let expected: BTreeSet<String> =
        (0..20).flat_map(|i| [format!("before-{i:02}"), format!("after-{i:02}")]).collect();
    assert_eq!(bodies, expected);
}

/// Only accepted mutations reach the log: refused requests and idle long polls write nothing,
/// which a restart shows by how many entries it replays.
#[tokio::test]
async fn test_durability_refused_requests_and_idle_polls_write_nothing_to_the_log() {
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "quiet", &[]).await;
    let after_create = log_index(&server).await;
    let missing = url.replace("quiet", "missing");
    for _ in 0..3 {
        let refused = client.send_message().queue_url(&missing).message_body("x").send().await;
        assert!(refused.is_err(), "a send to a missing queue is refused");
    }
    let too_big = "x".repeat(1024 * 1024 + 1);
    assert!(client.send_message().queue_url(&url).message_body(too_big).send().await.is_err());
    let garbage_handle = "not-a-handle".repeat(1000);
    assert!(client.delete_message().queue_url(&url).receipt_handle(&garbage_handle).send().await.is_err());
    let bad_change = client.change_message_visibility().queue_url(&url).receipt_handle(&garbage_handle);
    assert!(bad_change.visibility_timeout(5).send().await.is_err());
    let bad_create = client.create_queue().queue_name("bad").attributes(QueueAttributeName::DelaySeconds, "901");
    assert!(bad_create.send().await.is_err());
    let idle = Instant::now();
    assert!(receive(&client, &url, 10, 2).await.is_empty());
    assert!(idle.elapsed() >= Duration::from_secs(2), "the poll waited");
    assert_eq!(log_index(&server).await, after_create, "refused requests and idle polls wrote nothing");
    server.kill9();
    server.restart().await;
    assert!(receive(&server.client().await, &url, 1, 0).await.is_empty());
}

/// SIGTERM ends long polls at once (empty), so a stop does not wait out their 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_durability_sigterm_ends_long_polls_and_exits_promptly() {
    let mut server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "polled", &[]).await;
    let poll = {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.receive_message().queue_url(url).wait_time_seconds(20).send().await })
    };
    // Let the poll reach the server (bounded: it is in flight once the server holds it).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    assert!(server.terminate(), "shoal exits cleanly on SIGTERM");
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
    let answered = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("the poll ends").unwrap();
    if let Ok(output) = answered {
        assert!(output.messages().is_empty(), "an empty answer, nothing lost");
    }
}

/// Many long pollers and one new message: one receive takes it and the others keep waiting,
/// rather than each writing an empty receive to the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_durability_many_pollers_write_one_receive_for_one_message() {
    const POLLERS: usize = 20;
    let server = Server::start().await;
    let client = server.client().await;
    let url = create_queue(&client, "herd", &[]).await;
    let before_polls = log_index(&server).await;
    let mut polls = Vec::new();
    for _ in 0..POLLERS {
        let (client, url) = (client.clone(), url.clone());
        polls.push(tokio::spawn(async move { receive(&client, &url, 1, 3).await.len() }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.send_message().queue_url(&url).message_body("only one").send().await.unwrap();
    let mut received = 0;
    for poll in polls {
        received += poll.await.unwrap();
    }
    assert_eq!(received, 1);
    let written = log_index(&server).await - before_polls;
    // SendMessage, one ReceiveMessage; a poller racing the first may add one.
    assert!(written <= 3, "{written} entries for {POLLERS} pollers and one message");
}

/// A client that never finishes its request cannot keep a stopping node alive: after the grace
/// period the connection is dropped, the log is flushed and snapshotted, and the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_durability_sigterm_is_bounded_by_the_grace_period_despite_a_stalled_client() {
    use tokio::io::AsyncWriteExt;
    let mut server = Server::start_with_env(&[("SHOAL_SHUTDOWN_GRACE_MS", "1000")]).await;
    let client = server.client().await;
    let url = create_queue(&client, "stalled", &[]).await;
    client.send_message().queue_url(&url).message_body("kept").send().await.unwrap();
    let mut stalled = tokio::net::TcpStream::connect(server.address()).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 100\r\n\r\n{{",
        server.address()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = Instant::now();
    assert!(server.terminate(), "shoal exits cleanly on SIGTERM");
    assert!(stopping.elapsed() < Duration::from_secs(10), "stopped in {:?}", stopping.elapsed());
    assert!(server.log_tail().contains("stopped"), "{}", server.log_tail());
    drop(stalled);
    server.start_again().await;
    let client = server.client().await;
    assert_eq!(body(&receive(&client, &url, 1, 1).await[0]), "kept");
}

/// The last log index of the data group, from the node's status.
async fn log_index(server: &Server) -> u64 {
    let status = common::status(server).await;
    status["groups"][1]["last_log_index"].as_u64().expect("a status with the data group's log index")
}
