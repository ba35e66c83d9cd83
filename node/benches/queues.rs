//! Many queues: creates `SHOAL_QUEUES` queues (100,000) on a cluster through the SQS API, pages
//! through all of them with ListQueues, and reads each node's CPU while the cluster idles,
//! before and after. Prints CreateQueue rate and latency per 10,000 queues, the time per
//! ListQueues page early and late in the listing, and idle CPU per node. Asserts nothing about
//! speed: the numbers should stay flat as queues are added.
//!
//! `cargo bench --workspace --bench queues`. Environment: `SHOAL_QUEUES` (100000),
//! `SHOAL_QUEUES_CLIENTS` (16 concurrent creators), `SHOAL_QUEUES_NODES` (3),
//! `SHOAL_QUEUES_GROUPS` (3 data groups), `SHOAL_QUEUES_IDLE_SECONDS` (20 per idle reading).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

const STEP: usize = 10_000;
const PAGE: i32 = 1_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}

/// Each node's share of a core while nothing is asked of the cluster, and its RSS.
async fn idle_reading(pids: &[u32], seconds: u64) -> String {
    let before: Vec<f64> = pids.iter().map(|&pid| cpu_seconds(pid)).collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let readings: Vec<String> = pids
        .iter()
        .zip(before)
        .map(|(&pid, before)| {
            let share = (cpu_seconds(pid) - before) / seconds as f64 * 100.0;
            format!("{share:.1}% cpu {:.0} MiB", common::rss_mib(pid))
        })
        .collect();
    readings.join(", ")
}

#[tokio::main]
async fn main() {
    let total = env_number("SHOAL_QUEUES", 100_000) as usize;
    let creators = env_number("SHOAL_QUEUES_CLIENTS", 16) as usize;
    let nodes = env_number("SHOAL_QUEUES_NODES", 3) as usize;
    let groups = env_number("SHOAL_QUEUES_GROUPS", 3);
    let idle_seconds = env_number("SHOAL_QUEUES_IDLE_SECONDS", 20);
    let servers = common::Server::start_cluster(nodes, &[], &["--data-groups", &groups.to_string()]).await;
    let pids: Vec<u32> = servers.iter().filter_map(common::Server::pid).collect();
    let mut clients = Vec::new();
    for server in &servers {
        clients.push(server.client().await);
    }
    println!("shoal queues: {nodes} node(s), {groups} data group(s), {total} queues, {creators} creators");
    // The first request waits for the groups' first leaders.
    while clients[0].list_queues().send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("idle, no queues: {}", idle_reading(&pids, idle_seconds).await);

    // CreateQueue from many clients spread over the nodes, timed per step of 10,000.
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut step_start = Instant::now();
    let mut created = 0;
    while created < total {
        let step_end = (created + STEP).min(total);
        let mut tasks = Vec::new();
        for c in 0..creators {
            let (client, next, latencies) = (clients[c % clients.len()].clone(), next.clone(), latencies.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= step_end {
                        next.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let started = Instant::now();
                    let mut tries = 0;
                    while let Err(error) = client.create_queue().queue_name(format!("q-{i:07}")).send().await {
                        tries += 1;
                        assert!(tries < 20, "CreateQueue q-{i:07} failed 20 times: {error:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    latencies.lock().await.push(started.elapsed());
                }
            }));
        }
        for task in tasks {
            task.await.expect("creator");
        }
        let mut step: Vec<Duration> = std::mem::take(&mut *latencies.lock().await);
        step.sort();
        let elapsed = step_start.elapsed();
        println!(
            "created {step_end:>7}: {:>6.0} CreateQueue/s, p50 {:.1} ms, p99 {:.1} ms",
            (step_end - created) as f64 / elapsed.as_secs_f64(),
            ms(percentile(&step, 0.5)),
            ms(percentile(&step, 0.99)),
        );
        created = step_end;
        step_start = Instant::now();
    }

    // Page through every queue, 1,000 a page.
    let mut token: Option<String> = None;
    let mut listed = 0;
    let mut pages: Vec<Duration> = Vec::new();
    loop {
        let started = Instant::now();
        let page = clients[listed / PAGE as usize % clients.len()]
            .list_queues()
            .queue_name_prefix("q-")
            .max_results(PAGE)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("ListQueues");
        pages.push(started.elapsed());
        listed += page.queue_urls().len();
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(listed, total, "ListQueues paged through every queue once");
    let tenth = (pages.len() / 10).max(1);
    let average = |slice: &[Duration]| ms(slice.iter().sum::<Duration>()) / slice.len().max(1) as f64;
    println!(
        "listed {listed} in {} pages of {PAGE}: first tenth {:.1} ms a page, last tenth {:.1} ms a page",
        pages.len(),
        average(&pages[..tenth]),
        average(&pages[pages.len() - tenth..]),
    );

    println!("idle, {total} queues: {}", idle_reading(&pids, idle_seconds).await);
}
