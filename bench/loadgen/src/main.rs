//! loadgen: drives one messaging system with producers and consumers for a warm-up and a measured
//! window, and writes what it saw as JSON. See bench/README.md.
//!
//!   loadgen --system sqs|amqp|nats --endpoints A,B,C --producers 4 --consumers 4 --batch 10|1
//!           --rate unpaced|N --warmup 10 --seconds 30 --json OUT [--server-pids P1,P2,P3]

mod amqp;
mod driver;
mod nats;
mod sqs;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use driver::{body, now_us, send_time_us, System};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SystemKind {
    /// Shoal or any SQS endpoint (http://host:port)
    Sqs,
    /// RabbitMQ quorum queue (amqp://user:pass@host:port/%2f)
    Amqp,
    /// NATS JetStream (nats://host:port)
    Nats,
}

#[derive(Parser, Debug)]
#[command(about = "Producers and consumers against SQS (Shoal), RabbitMQ quorum queues or NATS JetStream")]
struct Args {
    #[arg(long, value_enum)]
    system: SystemKind,
    /// Comma-separated endpoints; clients are spread round-robin over them.
    #[arg(long, value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    #[arg(long, default_value_t = 4)]
    producers: usize,
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Messages per send and most messages per receive / ack (1..=10).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// `unpaced` (send as fast as acks come back) or a total target rate in messages per second.
    #[arg(long, default_value = "unpaced")]
    rate: String,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds in the measured window.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Where to write the run's results as JSON (also printed to stdout).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Queue (SQS, AMQP) or stream (NATS, upper-cased) name.
    #[arg(long, default_value = "bench")]
    queue: String,
    /// Server process ids to report CPU seconds and memory for.
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// A free-form label stored in the JSON.
    #[arg(long, default_value = "")]
    label: String,
    /// Seconds to keep retrying the queue creation and the connections while the cluster settles.
    #[arg(long, default_value_t = 90)]
    setup_timeout: u64,
}

#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    sent_total: AtomicU64,
    consumed_total: AtomicU64,
    sent_window: AtomicU64,
    consumed_window: AtomicU64,
    send_errors: AtomicU64,
    receive_errors: AtomicU64,
    ack_errors: AtomicU64,
    foreign_bodies: AtomicU64,
}

const CLOCK_TICKS: f64 = 100.0;

/// utime + stime of a process in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime field 14 and stime field 15 (1-based).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn percentile_ms(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[index] as f64 / 1000.0)
}

async fn retry<T, F, Fut>(what: &str, deadline: Instant, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() < deadline => {
                eprintln!("loadgen: {what}: {error:#}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error).context(what.to_string()),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !(1..=10).contains(&args.batch) {
        bail!("--batch must be 1..=10");
    }
    let rate: Option<f64> = match args.rate.as_str() {
        "unpaced" => None,
        n => Some(n.parse().context("--rate must be `unpaced` or a number")?).filter(|r: &f64| *r > 0.0),
    };
    let load_before = loadavg();
    let system: Arc<dyn System> = match args.system {
        SystemKind::Sqs => Arc::new(sqs::Sqs::new(&args.queue, &args.endpoints)),
        SystemKind::Amqp => Arc::new(amqp::Amqp::new(&args.queue, &args.endpoints, args.batch as u16)),
        SystemKind::Nats => Arc::new(nats::Nats::new(&args.queue, &args.endpoints)),
    };
    let deadline = Instant::now() + Duration::from_secs(args.setup_timeout);
    retry("prepare the queue", deadline, || system.prepare()).await?;
    let endpoint = |k: usize| args.endpoints[k % args.endpoints.len()].clone();
    let mut producers = Vec::new();
    for p in 0..args.producers {
        let e = endpoint(p);
        producers.push(retry("open a producer", deadline, || system.producer(&e)).await?);
    }
    let mut consumers = Vec::new();
    for c in 0..args.consumers {
        let e = endpoint(args.producers + c);
        consumers.push(retry("open a consumer", deadline, || system.consumer(&e)).await?);
    }

    let counters = Arc::new(Counters::default());
    let latencies_us = Arc::new(Mutex::new(Vec::<u64>::new()));
    let start = Instant::now();
    let t0 = start + Duration::from_secs(args.warmup);
    let t1 = t0 + Duration::from_secs(args.seconds);
    let in_window = move |t: Instant| t >= t0 && t < t1;
    let batch = args.batch;
    let interval = rate.map(|r| Duration::from_secs_f64(batch as f64 * args.producers as f64 / r));

    let mut tasks = Vec::new();
    for (p, mut producer) in producers.into_iter().enumerate() {
        let counters = counters.clone();
        let n = args.producers as u32;
        tasks.push(tokio::spawn(async move {
            // The token schedule: batch k of this producer is due at start + offset + k * interval;
            // a producer that falls behind sends at once until it is back on schedule.
            let mut next = interval.map(|iv| start + iv * p as u32 / n);
            while !counters.stop.load(Ordering::Relaxed) {
                if let (Some(due), Some(iv)) = (next.as_mut(), interval) {
                    tokio::time::sleep_until(*due).await;
                    *due += iv;
                    if counters.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                let stamp = now_us();
                let bodies = (0..batch).map(|_| body(stamp)).collect();
                match producer.send(bodies).await {
                    Ok(stored) => {
                        counters.sent_total.fetch_add(stored as u64, Ordering::Relaxed);
                        if in_window(Instant::now()) {
                            counters.sent_window.fetch_add(stored as u64, Ordering::Relaxed);
                        }
                    }
                    Err(error) => {
                        if counters.send_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("loadgen: send: {error:#}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for mut consumer in consumers.into_iter() {
        let counters = counters.clone();
        let latencies_us = latencies_us.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while !counters.stop.load(Ordering::Relaxed) {
                let bodies = match consumer.receive(batch).await {
                    Ok(bodies) => bodies,
                    Err(error) => {
                        if counters.receive_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("loadgen: receive: {error:#}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if bodies.is_empty() {
                    continue;
                }
                let (received_at, received_us) = (Instant::now(), now_us());
                if in_window(received_at) {
                    for b in &bodies {
                        match send_time_us(b) {
                            Some(sent_us) => local.push(received_us.saturating_sub(sent_us)),
                            None => {
                                counters.foreign_bodies.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                match consumer.ack().await {
                    Ok(acked) => {
                        counters.consumed_total.fetch_add(acked as u64, Ordering::Relaxed);
                        if in_window(Instant::now()) {
                            counters.consumed_window.fetch_add(acked as u64, Ordering::Relaxed);
                        }
                    }
                    Err(error) => {
                        if counters.ack_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("loadgen: ack: {error:#}");
                        }
                    }
                }
            }
            latencies_us.lock().await.extend(local);
        }));
    }

    // The measured window: CPU at both ends, backlog once a second.
    tokio::time::sleep_until(t0).await;
    let pids: Vec<String> = args.server_pids.iter().map(|p| p.to_string()).collect();
    let self_cpu0 = cpu_seconds("self").unwrap_or(0.0);
    let server_cpu0: Vec<Option<f64>> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let backlog = |c: &Counters| {
        c.sent_total.load(Ordering::Relaxed) as i64 - c.consumed_total.load(Ordering::Relaxed) as i64
    };
    let mut samples = vec![(0u64, backlog(&counters))];
    for s in 1..=args.seconds {
        tokio::time::sleep_until(t0 + Duration::from_secs(s)).await;
        samples.push((s, backlog(&counters)));
    }
    let self_cpu = cpu_seconds("self").unwrap_or(0.0) - self_cpu0;
    let servers: Vec<_> = pids
        .iter()
        .zip(server_cpu0)
        .map(|(pid, cpu0)| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
            json!({
                "pid": pid.parse::<u32>().unwrap_or(0),
                "comm": comm,
                "cpu_seconds": cpu_seconds(pid).zip(cpu0).map(|(b, a)| b - a),
                "rss_mib": status_kib(pid, "VmRSS:").map(|k| k as f64 / 1024.0),
                "peak_rss_mib": status_kib(pid, "VmHWM:").map(|k| k as f64 / 1024.0),
            })
        })
        .collect();
    let load_after = loadavg();
    counters.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
            abort.abort();
        }
    }

    let mut latencies = latencies_us.lock().await.clone();
    latencies.sort_unstable();
    let seconds = args.seconds as f64;
    let backlog_end = samples.last().map(|s| s.1).unwrap_or(0);
    let ten_back = samples.len().saturating_sub(11);
    let growth = backlog_end - samples[ten_back].1;
    let growth_span = samples.last().map(|s| s.0).unwrap_or(0) - samples[ten_back].0;
    let server_cpu_total: f64 = servers.iter().filter_map(|s| s["cpu_seconds"].as_f64()).sum();
    let server_rss_total: f64 = servers.iter().filter_map(|s| s["rss_mib"].as_f64()).sum();
    let result = json!({
        "label": args.label,
        "system": format!("{:?}", args.system).to_lowercase(),
        "endpoints": args.endpoints,
        "producers": args.producers,
        "consumers": args.consumers,
        "batch": batch,
        "rate_target": rate,
        "warmup_s": args.warmup,
        "seconds": args.seconds,
        "body_bytes": driver::BODY_BYTES,
        "sent_per_s": counters.sent_window.load(Ordering::Relaxed) as f64 / seconds,
        "consumed_per_s": counters.consumed_window.load(Ordering::Relaxed) as f64 / seconds,
        "sent_total": counters.sent_total.load(Ordering::Relaxed),
        "consumed_total": counters.consumed_total.load(Ordering::Relaxed),
        "latency_samples": latencies.len(),
        "latency_p50_ms": percentile_ms(&latencies, 0.50),
        "latency_p99_ms": percentile_ms(&latencies, 0.99),
        "latency_max_ms": latencies.last().map(|v| *v as f64 / 1000.0),
        "backlog_end": backlog_end,
        "backlog_growth_last": growth,
        "backlog_growth_span_s": growth_span,
        "backlog_samples": samples.iter().map(|s| s.1).collect::<Vec<_>>(),
        "send_errors": counters.send_errors.load(Ordering::Relaxed),
        "receive_errors": counters.receive_errors.load(Ordering::Relaxed),
        "ack_errors": counters.ack_errors.load(Ordering::Relaxed),
        "foreign_bodies": counters.foreign_bodies.load(Ordering::Relaxed),
        "client_cpu_s": self_cpu,
        "servers": servers,
        "server_cpu_s": server_cpu_total,
        "server_rss_mib": server_rss_total,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "unix_time": now_us() / 1_000_000,
    });
    let text = serde_json::to_string_pretty(&result)?;
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("write {}", path.display()))?;
    }
    println!("{text}");
    eprintln!(
        "loadgen: {} batch {} rate {}: sent {:.0}/s consumed {:.0}/s p50 {:.1} ms p99 {:.1} ms backlog {} ({:+} over {} s)",
        result["system"].as_str().unwrap_or(""),
        batch,
        args.rate,
        result["sent_per_s"].as_f64().unwrap_or(0.0),
        result["consumed_per_s"].as_f64().unwrap_or(0.0),
        result["latency_p50_ms"].as_f64().unwrap_or(f64::NAN),
        result["latency_p99_ms"].as_f64().unwrap_or(f64::NAN),
        backlog_end,
        growth,
        growth_span
    );
    // Dropping open connections can take a while with some clients; the results are written.
    std::process::exit(0);
}
