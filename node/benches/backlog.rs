//! Backlog benchmark (issue 10, plan step 10d): fills one queue with 1 KiB messages and, at each
//! depth, prints every node's resident memory and data directory size, then the latency of
//! receiving and deleting a few thousand messages at that depth; at the end it kills every node
//! (SIGKILL), starts them again and prints how long until a receive succeeds. Asserts nothing
//! about speed or size.
//!
//! `cargo bench --workspace --bench backlog`. Environment: `SHOAL_BACKLOG_DEPTHS` (comma
//! separated, ascending; 1000,100000), `SHOAL_BACKLOG_NODES` (1), `SHOAL_BACKLOG_PRODUCERS` (8),
//! `SHOAL_BACKLOG_PROBE` (messages received and deleted at each depth, 2000),
//! `SHOAL_BACKLOG_TEXT` (1: bodies of repeated text that compress well; random printable
//! otherwise), `SHOAL_TEST_BIN` (the `shoal` binary; a release build for real numbers).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use rand::{Rng, SeedableRng};

const BODY_BYTES: usize = 1024;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A body of `BODY_BYTES`: random printable characters, or text that compresses well.
fn body(rng: &mut rand::rngs::StdRng, text: bool) -> String {
    if text {
        let word = ["order", "shipped", "customer", "invoice", "payment"][rng.gen_range(0..5)];
        return std::iter::repeat_n(word, BODY_BYTES).collect::<String>()[..BODY_BYTES].to_string();
    }
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..BODY_BYTES).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Bytes under `path`.
fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize].as_secs_f64() * 1000.0
}

/// Sends until the queue holds `depth` messages (as counted by the producers).
async fn fill(
    clients: &[aws_sdk_sqs::Client],
    url: &str,
    producers: u64,
    sent: &Arc<AtomicU64>,
    depth: u64,
    text: bool,
) {
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let client = clients[producer as usize % clients.len()].clone();
        let (url, sent) = (url.to_string(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(producer ^ depth);
            while sent.fetch_add(10, Ordering::SeqCst) < depth {
                let entries: Vec<SendMessageBatchRequestEntry> = (0..10)
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body(&mut rng, text))
                            .build()
                            .expect("an entry")
                    })
                    .collect();
                loop {
                    match client.send_message_batch().queue_url(&url).set_entries(Some(entries.clone())).send().await {
                        Ok(output) if output.failed.is_empty() => break,
                        Ok(output) => panic!("refused entries: {:?}", output.failed),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            }
            sent.fetch_sub(10, Ordering::SeqCst);
        }));
    }
    for task in tasks {
        task.await.expect("a producer");
    }
}

/// Receives (10 at a time) and deletes about `count` messages; returns the receive and delete
/// latencies and how many messages were deleted.
async fn probe(client: &aws_sdk_sqs::Client, url: &str, count: usize) -> (Vec<Duration>, Vec<Duration>, u64) {
    let (mut receives, mut deletes) = (Vec::new(), Vec::new());
    let (mut done, mut deleted) = (0, 0);
    while done < count {
        let started = Instant::now();
        let Ok(output) = client.receive_message().queue_url(url).max_number_of_messages(10).send().await else {
            continue;
        };
        receives.push(started.elapsed());
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .expect("an entry")
            })
            .collect();
        let started = Instant::now();
        if let Ok(output) = client.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
            deletes.push(started.elapsed());
            deleted += output.successful.len() as u64;
        }
        done += messages.len();
    }
    receives.sort();
    deletes.sort();
    (receives, deletes, deleted)
}

fn report_nodes(servers: &[common::Server]) -> String {
    servers
        .iter()
        .map(|server| {
            let rss = server.pid().map_or(0.0, common::rss_mib);
            let disk = disk_bytes(&server.data_dir()) as f64 / (1024.0 * 1024.0);
            format!("rss {rss:.0} MiB, disk {disk:.0} MiB")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::main]
async fn main() {
    let depths: Vec<u64> = std::env::var("SHOAL_BACKLOG_DEPTHS")
        .unwrap_or_else(|_| "1000,100000".to_string())
        .split(',')
        .map(|depth| depth.trim().parse().expect("a depth"))
        .collect();
    let nodes = env_number("SHOAL_BACKLOG_NODES", 1) as usize;
    let producers = env_number("SHOAL_BACKLOG_PRODUCERS", 8);
    let probe_count = env_number("SHOAL_BACKLOG_PROBE", 2000) as usize;
    let text = env_number("SHOAL_BACKLOG_TEXT", 0) == 1;
    let mut servers = common::Server::start_cluster(nodes, &[], &[]).await;
    let mut clients = Vec::new();
    for server in &servers {
        clients.push(server.client().await);
    }
    let url = common::create_queue(&clients[0], "backlog", &[]).await;
    println!(
        "shoal backlog: {nodes} node(s), {producers} producers, {BODY_BYTES} B {} bodies, probe {probe_count}",
        if text { "text" } else { "random" }
    );
    println!("empty: {}", report_nodes(&servers));
    let sent = Arc::new(AtomicU64::new(0));
    let mut held = 0u64;
    for depth in depths {
        let started = Instant::now();
        let before = sent.load(Ordering::SeqCst);
        fill(&clients, &url, producers, &sent, depth, text).await;
        let added = sent.load(Ordering::SeqCst) - before;
        held += added;
        let rate = added as f64 / started.elapsed().as_secs_f64();
        // Let background work (snapshots, compactions) settle before memory is read.
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!("depth {held}: filled at {rate:.0} msg/s; {}", report_nodes(&servers));
        // Never drain the queue: the next depth and the restart need what is left.
        let (receives, deletes, deleted) = probe(&clients[0], &url, probe_count.min(held as usize / 2)).await;
        held -= deleted;
        sent.fetch_sub(deleted, Ordering::SeqCst);
        println!(
            "depth {depth}: receive p50 {:.2} ms p99 {:.2} ms, delete batch p50 {:.2} ms p99 {:.2} ms ({} receives)",
            percentile(&receives, 0.5),
            percentile(&receives, 0.99),
            percentile(&deletes, 0.5),
            percentile(&deletes, 0.99),
            receives.len()
        );
    }
    for server in servers.iter_mut() {
        server.kill9();
    }
    let started = Instant::now();
    for server in servers.iter_mut() {
        server.start_again().await;
    }
    let client = servers[0].client().await;
    loop {
        let received = client.receive_message().queue_url(&url).max_number_of_messages(1).send().await;
        if received.is_ok_and(|output| !output.messages.unwrap_or_default().is_empty()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "no receive within 10 minutes of a restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("restart (SIGKILL, start, first message received): {:.2} s", started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("after restart: {}", report_nodes(&servers));
}
