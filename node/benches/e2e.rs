//! End-to-end benchmark of a `shoal` node or cluster through the SQS API: concurrent producers
//! send 1 KiB messages, concurrent consumers receive (max 10, long polling) and batch-delete
//! them. Prints sustained messages/s and end-to-end latency percentiles (send start ->
//! received). Asserts nothing about speed.
//!
//! `cargo bench --workspace --bench e2e`. Environment: `SHOAL_E2E_SECONDS` (10),
//! `SHOAL_E2E_PRODUCERS` (8), `SHOAL_E2E_CONSUMERS` (8), `SHOAL_E2E_SEND_BATCH` (messages per
//! send: 1 is SendMessage, 2-10 SendMessageBatch), `SHOAL_E2E_NODES` (1: the cluster it starts
//! on loopback), `SHOAL_E2E_GROUPS` (its data groups, 1), `SHOAL_E2E_QUEUES` (queues the clients
//! spread over, 1). `SHOAL_E2E_ENDPOINTS=http://a,http://b` drives a running cluster (e.g. from
//! `scripts/local-cluster.sh start 3`) instead. Clients spread over the nodes, so most requests
//! are forwarded to their group's leader, as with a load balancer.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use tokio::sync::Mutex;

const BODY_BYTES: usize = 1024;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The body carries its send time, padded to BODY_BYTES.
fn body(sent_us: u64) -> String {
    let mut text = format!("{sent_us:020}:");
    text.extend(std::iter::repeat_n('x', BODY_BYTES - text.len()));
    text
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let seconds = env_number("SHOAL_E2E_SECONDS", 10);
    let producers = env_number("SHOAL_E2E_PRODUCERS", 8);
    let consumers = env_number("SHOAL_E2E_CONSUMERS", 8);
    let nodes = env_number("SHOAL_E2E_NODES", 1) as usize;
    let groups = env_number("SHOAL_E2E_GROUPS", 1);
    let queues = env_number("SHOAL_E2E_QUEUES", 1) as usize;
    let send_batch = env_number("SHOAL_E2E_SEND_BATCH", 1).clamp(1, 10);
    let (servers, endpoints) = match std::env::var("SHOAL_E2E_ENDPOINTS") {
        Ok(list) => (Vec::new(), list.split(',').map(str::to_string).collect::<Vec<_>>()),
        Err(_) => {
            let servers = common::Server::start_cluster(nodes, &[], &["--data-groups", &groups.to_string()]).await;
            let endpoints = servers.iter().map(common::Server::endpoint).collect();
            (servers, endpoints)
        }
    };
    let mut clients = Vec::new();
    for endpoint in &endpoints {
        clients.push(common::client_for(endpoint).await);
    }
    let mut urls = Vec::new();
    for q in 0..queues {
        urls.push(create_queue_retrying(&clients[0], &format!("bench-{q}")).await);
    }
    println!(
        "shoal end-to-end: {} node(s), {groups} data group(s), {queues} queue(s), {producers} producers, \
         {consumers} consumers, {BODY_BYTES} B bodies, {send_batch} per send, {seconds} s",
        endpoints.len()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let latencies_us = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let errors = Arc::new(AtomicU64::new(0));
    for p in 0..producers as usize {
        let (client, url) = (clients[p % clients.len()].clone(), urls[p % urls.len()].clone());
        let (stop, sent, errors) = (stop.clone(), sent.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent_count = if send_batch <= 1 {
                    let result = client.send_message().queue_url(&url).message_body(body(now_us())).send().await;
                    result.map(|_| 1).map_err(|_| 1)
                } else {
                    let entries = (0..send_batch).map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body(now_us()))
                            .build()
                            .expect("a complete send entry")
                    });
                    let result =
                        client.send_message_batch().queue_url(&url).set_entries(Some(entries.collect())).send().await;
                    match result {
                        Ok(reply) => Ok(reply.successful().len() as u64),
                        Err(_) => Err(send_batch),
                    }
                };
                match sent_count {
                    Ok(count) => sent.fetch_add(count, Ordering::Relaxed),
                    Err(count) => errors.fetch_add(count, Ordering::Relaxed),
                };
            }
        }));
    }
    for c in 0..consumers as usize {
        let (client, url) = (clients[(c + 1) % clients.len()].clone(), urls[c % urls.len()].clone());
        let (stop, latencies_us) = (stop.clone(), latencies_us.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(reply) = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                else {
                    continue;
                };
                let received_us = now_us();
                let mut entries = Vec::new();
                for (index, message) in reply.messages().iter().enumerate() {
                    let sent_us: u64 =
                        message.body().and_then(|b| b.get(..20)).and_then(|t| t.parse().ok()).unwrap_or(0);
                    local.push(received_us.saturating_sub(sent_us));
                    let entry = DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .build()
                        .expect("a complete delete entry");
                    entries.push(entry);
                }
                if !entries.is_empty() {
                    let _ = client.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await;
                }
            }
            latencies_us.lock().await.extend(local);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies = latencies_us.lock().await.clone();
    latencies.sort_unstable();
    let sent = sent.load(Ordering::Relaxed);
    println!("sent      {:>10.0} msg/s ({sent} in {elapsed:.1} s)", sent as f64 / elapsed);
    println!("received  {:>10.0} msg/s ({} in {elapsed:.1} s)", latencies.len() as f64 / elapsed, latencies.len());
    println!(
        "end-to-end latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50) as f64 / 1000.0,
        percentile(&latencies, 0.99) as f64 / 1000.0,
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("failed sends {}", errors.load(Ordering::Relaxed));
    drop(servers);
}

async fn create_queue_retrying(client: &aws_sdk_sqs::Client, name: &str) -> String {
    for _ in 0..100 {
        if let Ok(output) = client.create_queue().queue_name(name).send().await {
            return output.queue_url().unwrap_or_default().to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not create queue {name}");
}
