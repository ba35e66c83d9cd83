//! Engine benchmark: single-core throughput of `Engine::apply` for SendMessage, ReceiveMessage
//! and DeleteMessage with 1 KiB bodies, memory per stored message, and how the cost of a
//! receive + delete changes with queue depth (1k against 1M messages), and the cost of an SNS
//! publish with 1 against 1,000 subscriptions on the topic. Prints numbers; asserts nothing
//! about speed.
//!
//! Run with `cargo bench -p shoal-engine --bench engine`. The 1M-message depth case takes a few
//! seconds and about 2 GB of memory; set `SHOAL_BENCH_SKIP_LARGE=1` to leave it out.
//!
//! Memory is measured as the growth of the process's anonymous resident memory (`RssAnon` in
//! `/proc/self/status`) while messages are enqueued, not with a counting global allocator: the
//! workspace forbids `unsafe_code`, and a `GlobalAlloc` impl is unsafe. RSS includes allocator
//! overhead and fragmentation, so it is the cost a node actually pays.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::message::MessageAttributes;
use shoal_engine::{Command, Engine, EngineConfig, LogEntry, Reply};

const START_MS: u64 = 1_700_000_000_000;
const BODY_BYTES: usize = 1024;
const QUEUE: &str = "bench";

/// A clock that moves one millisecond every thousand entries, like a busy leader's.
struct Clock {
    entries: u64,
}

impl Clock {
    fn next_ms(&mut self) -> u64 {
        self.entries += 1;
        START_MS + self.entries / 1000
    }
}

/// Applies `entry` as the state machine does: the engine, then taking the body effects the
/// store carries out (so they do not pile up).
fn apply(engine: &mut Engine, entry: &LogEntry) -> shoal_engine::Outcome {
    let outcome = engine.apply(entry);
    black_box(engine.take_body_effects());
    outcome
}

fn new_engine(fifo: bool) -> (Engine, Clock) {
    let mut engine = Engine::new(EngineConfig::new("123456789012", "us-east-1"));
    let mut attributes = std::collections::BTreeMap::new();
    if fifo {
        attributes.insert("FifoQueue".to_string(), "true".to_string());
    }
    let name = queue_name(fifo).to_string();
    let create = Command::CreateQueue { name, attributes, tags: Default::default() };
    apply(&mut engine, &LogEntry::new(START_MS, create)).unwrap();
    (engine, Clock { entries: 0 })
}

fn queue_name(fifo: bool) -> &'static str {
    if fifo {
        "bench.fifo"
    } else {
        QUEUE
    }
}

fn body(number: u64) -> String {
    let mut body = format!("{number:016}");
    body.push_str(&"x".repeat(BODY_BYTES - body.len()));
    body
}

fn send_command(number: u64, fifo: bool) -> Command {
    let entry = SendEntry {
        id: String::new(),
        message_id: format!("00000000-0000-4000-8000-{number:012}"),
        body: body(number),
        delay_seconds: None,
        attributes: MessageAttributes::new(),
        system_attributes: Default::default(),
        deduplication_id: fifo.then(|| format!("d{number}")),
        group_id: fifo.then(|| format!("g{}", number % 100)),
        sender_id: "123456789012".to_string(),
    };
    Command::SendMessage { queue: queue_name(fifo).to_string(), entry }
}

fn receive_command(max: u32, fifo: bool) -> Command {
    let request =
        ReceiveRequest { max_messages: max, visibility_timeout_seconds: None, receive_request_attempt_id: None };
    Command::ReceiveMessage { queue: queue_name(fifo).to_string(), request }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn print_rate(what: &str, ops: u64, elapsed: Duration) {
    let micros = elapsed.as_secs_f64() * 1e6 / ops as f64;
    println!("{what:<48} {:>12.0} ops/s {micros:>9.3} us/op", per_second(ops, elapsed));
}

/// Anonymous resident memory of this process, in bytes.
fn rss_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("RssAnon:") {
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            return kib * 1024;
        }
    }
    0
}

/// SendMessage, then ReceiveMessage (max 1 and max 10), then DeleteMessage, each timed alone.
fn throughput(count: u64) {
    let fifo = false;
    let kind = "standard";
    let (mut engine, mut clock) = new_engine(fifo);
    let sends: Vec<LogEntry> = (0..count).map(|n| LogEntry::new(clock.next_ms(), send_command(n, fifo))).collect();
    let started = Instant::now();
    for entry in &sends {
        black_box(apply(&mut engine, entry)).unwrap();
    }
    print_rate(&format!("send ({kind})"), count, started.elapsed());
    drop(sends);

    // Max 1: one message per entry. Replies are dropped as they come (a node serializes and drops
    // them too), keeping only the receipt handles for the deletes.
    let receive_one = LogEntry::new(clock.next_ms(), receive_command(1, fifo));
    let half = count / 2;
    let mut handles = Handles::default();
    let started = Instant::now();
    for _ in 0..half {
        keep_handles(apply(&mut engine, &receive_one), &mut handles);
    }
    print_rate(&format!("receive max 1 ({kind})"), half, started.elapsed());
    let receive_ten = LogEntry::new(clock.next_ms(), receive_command(10, fifo));
    let entries = (count - half) / 10;
    let started = Instant::now();
    for _ in 0..entries {
        keep_handles(apply(&mut engine, &receive_ten), &mut handles);
    }
    let elapsed = started.elapsed();
    print_rate(&format!("receive max 10 ({kind}), per entry"), entries, elapsed);
    print_rate(&format!("receive max 10 ({kind}), per message"), entries * 10, elapsed);

    let deletes: Vec<LogEntry> = handles
        .iter()
        .map(|handle| {
            let delete =
                Command::DeleteMessage { queue: queue_name(fifo).to_string(), receipt_handle: handle.to_string() };
            LogEntry::new(clock.next_ms(), delete)
        })
        .collect();
    let deleted = deletes.len() as u64;
    assert_eq!(deleted, count);
    let started = Instant::now();
    for entry in &deletes {
        black_box(apply(&mut engine, entry)).unwrap();
    }
    print_rate(&format!("delete ({kind})"), deleted, started.elapsed());
}

/// Receipt handles kept for the delete phase, packed in one buffer: keeping each in its own small
/// allocation among the freed reply bodies fragments glibc's heap and slows the receives being
/// measured (by 2x for max 10 in a test run), which would be a cost of this harness, not of the engine.
#[derive(Default)]
struct Handles {
    text: String,
    ends: Vec<usize>,
}

impl Handles {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.text[start..end])
    }
}

fn keep_handles(outcome: shoal_engine::Outcome, handles: &mut Handles) {
    let Ok(Reply::Received(messages)) = outcome else {
        panic!("receive failed: {outcome:?}");
    };
    for message in messages {
        handles.text.push_str(&message.receipt_handle);
        handles.ends.push(handles.text.len());
    }
}

/// FIFO, 100 groups: SendMessage timed alone, then receive (max 10) + delete of what it returns,
/// since a group hands out nothing more until its messages are deleted.
fn fifo_throughput(count: u64) {
    let (mut engine, mut clock) = new_engine(true);
    let sends: Vec<LogEntry> = (0..count).map(|n| LogEntry::new(clock.next_ms(), send_command(n, true))).collect();
    let started = Instant::now();
    for entry in &sends {
        black_box(apply(&mut engine, entry)).unwrap();
    }
    print_rate("send (fifo, 100 groups)", count, started.elapsed());
    drop(sends);

    let mut entries = 0;
    let mut consumed = 0;
    let started = Instant::now();
    while consumed < count {
        let receive = LogEntry::new(clock.next_ms(), receive_command(10, true));
        let Ok(Reply::Received(messages)) = apply(&mut engine, &receive) else {
            panic!("receive failed");
        };
        entries += 1;
        consumed += messages.len() as u64;
        for message in messages {
            let delete =
                Command::DeleteMessage { queue: queue_name(true).to_string(), receipt_handle: message.receipt_handle };
            apply(&mut engine, &LogEntry::new(clock.next_ms(), delete)).unwrap();
            entries += 1;
        }
    }
    let elapsed = started.elapsed();
    print_rate("receive max 10 + delete (fifo), per entry", entries, elapsed);
    print_rate("receive max 10 + delete (fifo), per message", consumed, elapsed);
}

/// Bytes of resident memory per stored message, for a body size.
fn memory_per_message(count: u64, body_bytes: usize) -> f64 {
    let (mut engine, mut clock) = new_engine(false);
    let before = rss_anon_bytes();
    for number in 0..count {
        let Command::SendMessage { queue, mut entry } = send_command(number, false) else {
            unreachable!();
        };
        entry.body.truncate(body_bytes);
        entry.body.shrink_to_fit();
        apply(&mut engine, &LogEntry::new(clock.next_ms(), Command::SendMessage { queue, entry })).unwrap();
    }
    let after = rss_anon_bytes();
    assert_eq!(engine.message_count() as u64, count);
    let per_message = after.saturating_sub(before) as f64 / count as f64;
    drop(black_box(engine));
    per_message
}

/// Receive (max 10) + delete of every received message, with the queue held at `depth` messages
/// of `body_bytes`: each consumed message is replaced by a new one, outside the timed part.
/// Returns the receive and the delete cost per consumed message.
fn receive_delete_at_depth(depth: u64, consumed: u64, body_bytes: usize) -> (Duration, Duration) {
    let (mut engine, mut clock) = new_engine(false);
    let send = |engine: &mut Engine, clock: &mut Clock, number: u64| {
        let Command::SendMessage { queue, mut entry } = send_command(number, false) else {
            unreachable!();
        };
        entry.body.truncate(body_bytes);
        apply(engine, &LogEntry::new(clock.next_ms(), Command::SendMessage { queue, entry })).unwrap();
    };
    for number in 0..depth {
        send(&mut engine, &mut clock, number);
    }
    let mut next_number = depth;
    let mut receive_time = Duration::ZERO;
    let mut delete_time = Duration::ZERO;
    let mut done = 0;
    while done < consumed {
        let receive = LogEntry::new(clock.next_ms(), receive_command(10, false));
        let started = Instant::now();
        let Ok(Reply::Received(messages)) = apply(&mut engine, &receive) else {
            panic!("receive failed");
        };
        let received = Instant::now();
        receive_time += received - started;
        let count = messages.len() as u64;
        for message in messages {
            let delete = Command::DeleteMessage { queue: QUEUE.to_string(), receipt_handle: message.receipt_handle };
            apply(&mut engine, &LogEntry::new(clock.next_ms(), delete)).unwrap();
        }
        delete_time += received.elapsed();
        assert_eq!(count, 10);
        for number in next_number..next_number + count {
            send(&mut engine, &mut clock, number);
        }
        next_number += count;
        done += count;
    }
    assert_eq!(engine.message_count() as u64, depth);
    (receive_time / consumed as u32, delete_time / consumed as u32)
}

/// The whole life of a message on a standard queue kept near empty: 10 sends, one receive of 10,
/// 10 deletes, repeated. Reports entries per second over the mix.
fn mixed_throughput(messages: u64) {
    let (mut engine, mut clock) = new_engine(false);
    let sends: Vec<LogEntry> = (0..messages).map(|n| LogEntry::new(clock.next_ms(), send_command(n, false))).collect();
    let mut entries = 0;
    let started = Instant::now();
    for batch in sends.chunks(10) {
        for send in batch {
            black_box(apply(&mut engine, send)).unwrap();
        }
        let receive = LogEntry::new(clock.next_ms(), receive_command(10, false));
        let Ok(Reply::Received(received)) = apply(&mut engine, &receive) else {
            panic!("receive failed");
        };
        entries += batch.len() as u64 + 1;
        for message in received {
            let delete = Command::DeleteMessage { queue: QUEUE.to_string(), receipt_handle: message.receipt_handle };
            apply(&mut engine, &LogEntry::new(clock.next_ms(), delete)).unwrap();
            entries += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(engine.message_count(), 0);
    print_rate("mix: 10 sends + receive max 10 + 10 deletes", entries, elapsed);
    print_rate("mix, per message (send + receive + delete)", messages, elapsed);
}

/// Runs `memory_per_message` in a fresh copy of this process, so that memory freed by earlier
/// measurements cannot hide the growth.
fn memory_in_child(count: u64, body_bytes: usize) -> f64 {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["memory-child", &count.to_string(), &body_bytes.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, count, body_bytes] = args.as_slice() {
        if mode == "memory-child" {
            println!("{}", memory_per_message(count.parse().unwrap(), body_bytes.parse().unwrap()));
            return;
        }
    }
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing useful.
    let quick = args.iter().any(|a| a == "--test") || cfg!(debug_assertions);
    let scale = if quick { 100 } else { 1 };
    println!("shoal-engine benchmark: one core, {BODY_BYTES} B bodies{}", if quick { " (quick mode)" } else { "" });
    println!();

    println!("memory per stored message (growth of RssAnon while enqueueing, standard queue, fresh process each)");
    let count = 200_000 / scale;
    for body_bytes in [BODY_BYTES, 16] {
        let bytes = memory_in_child(count, body_bytes);
        println!(
            "  {body_bytes:>5} B body: {bytes:>8.0} bytes/message ({:.0} bytes beyond the body)",
            bytes - body_bytes as f64
        );
    }
    println!(
        "  (in-line sizes: Message {} B, QueueConfig {} B)",
        std::mem::size_of::<shoal_engine::queue::Message>(),
        std::mem::size_of::<shoal_engine::queue::QueueConfig>()
    );
    println!();

    println!("throughput of Engine::apply");
    // Under the standard queue's in-flight limit (120k): every message is received before any delete.
    throughput(100_000 / scale);
    mixed_throughput(200_000 / scale);
    fifo_throughput(200_000 / scale);
    println!();

    println!("receive (max 10) + delete, per consumed message, queue held at a fixed depth");
    let consumed = 200_000 / scale;
    let skip_large = quick || std::env::var_os("SHOAL_BENCH_SKIP_LARGE").is_some();
    for body_bytes in [BODY_BYTES, 16] {
        let mut costs = Vec::new();
        for depth in [1_000, 1_000_000] {
            if depth > 1_000 && skip_large {
                println!(
                    "  depth {depth:>9}, {body_bytes:>4} B body: skipped (quick mode or SHOAL_BENCH_SKIP_LARGE set)"
                );
                continue;
            }
            let (receive, delete) = receive_delete_at_depth(depth, consumed, body_bytes);
            let total = (receive + delete).as_secs_f64() * 1e6;
            println!(
                "  depth {depth:>9}, {body_bytes:>4} B body: {total:>7.3} us/message (receive {:.3}, delete {:.3})",
                receive.as_secs_f64() * 1e6,
                delete.as_secs_f64() * 1e6
            );
            costs.push(total);
        }
        if let [small, large] = costs[..] {
            println!("  ratio 1M / 1k, {body_bytes:>4} B body: {:.3}", large / small);
        }
    }
    println!();

    println!("SNS publish to a topic whose one matching subscription delivers to a queue, per publish");
    let publishes = 20_000 / scale;
    for policies in [Policies::Exact, Policies::Prefix] {
        let mut costs = Vec::new();
        for subscriptions in [1, 1_000] {
            let cost = publish_cost(subscriptions, policies, publishes);
            println!(
                "  {subscriptions:>5} subscriptions, {:<28} {:>8.3} us/publish",
                policies.describe(),
                cost.as_secs_f64() * 1e6
            );
            costs.push(cost.as_secs_f64());
        }
        println!("  ratio 1000 / 1, {} {:.2}", policies.describe(), costs[1] / costs[0]);
    }
}

/// The filter policies of the subscriptions that do not match.
#[derive(Clone, Copy)]
enum Policies {
    /// `{"colour":["c<i>"]}`: exact strings, which the topic's index looks up.
    Exact,
    /// `{"colour":[{"prefix":"c<i>"}]}`: a prefix each, which every publish must try.
    Prefix,
}

impl Policies {
    fn describe(self) -> &'static str {
        match self {
            Policies::Exact => "others exact (indexed):",
            Policies::Prefix => "others prefix (tried each):",
        }
    }

    fn policy(self, i: usize) -> String {
        match self {
            Policies::Exact => format!(r#"{{"colour":["c{i}"]}}"#),
            Policies::Prefix => format!(r#"{{"colour":[{{"prefix":"c{i}x"}}]}}"#),
        }
    }
}

/// The time per publish (with a `colour=red` attribute and a 1 KiB message) to a topic with
/// `subscriptions` raw queue subscriptions: one taking red into a queue, the others with
/// policies of the kind `others` that do not match. Each publish is received and deleted
/// afterwards, outside the timing, so the queue stays shallow.
fn publish_cost(subscriptions: usize, others: Policies, publishes: u64) -> Duration {
    use shoal_engine::command::PublishEntry;
    use shoal_engine::message::AttributeValue;
    let (mut engine, mut clock) = new_engine(false);
    let create =
        Command::CreateTopic { name: "topic".into(), attributes: Default::default(), tags: Default::default() };
    apply(&mut engine, &LogEntry::new(clock.next_ms(), create)).unwrap();
    let arn = |queue: &str| format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    for i in 0..subscriptions {
        let (endpoint, policy) = if i == 0 {
            (arn(QUEUE), r#"{"colour":["red"]}"#.to_string())
        } else {
            (arn(&format!("q{i}")), others.policy(i))
        };
        let attributes =
            [("RawMessageDelivery", "true".to_string()), ("FilterPolicy", policy)].map(|(k, v)| (k.to_string(), v));
        let subscribe = Command::Subscribe {
            topic: "topic".into(),
            subscription_id: format!("s{i:05}"),
            protocol: "sqs".into(),
            endpoint,
            attributes: attributes.into_iter().collect(),
            token: String::new(),
        };
        apply(&mut engine, &LogEntry::new(clock.next_ms(), subscribe)).unwrap();
    }
    let mut attributes = MessageAttributes::new();
    let red = AttributeValue { data_type: "String".into(), string_value: Some("red".into()), binary_value: None };
    attributes.insert("colour".into(), red);
    let mut elapsed = Duration::ZERO;
    for number in 0..publishes {
        let entry = PublishEntry {
            id: String::new(),
            message_id: format!("m{number}"),
            message: body(number),
            subject: None,
            attributes: attributes.clone(),
            json_structure: false,
            group_id: None,
            deduplication_id: None,
            signatures: Default::default(),
        };
        let publish = Command::Publish {
            topic: "topic".into(),
            batch: false,
            entries: vec![entry],
            published_ms: START_MS,
            base_url: "http://localhost/".into(),
        };
        let entry = LogEntry::new(clock.next_ms(), publish);
        let started = Instant::now();
        black_box(apply(&mut engine, &entry).unwrap());
        elapsed += started.elapsed();
        let Ok(Reply::Received(messages)) =
            apply(&mut engine, &LogEntry::new(clock.next_ms(), receive_command(10, false)))
        else {
            panic!("receive failed")
        };
        assert_eq!(messages.len(), 1, "the matching subscription got the publish");
        for message in messages {
            let delete = Command::DeleteMessage { queue: QUEUE.into(), receipt_handle: message.receipt_handle };
            apply(&mut engine, &LogEntry::new(clock.next_ms(), delete)).unwrap();
        }
    }
    elapsed / publishes as u32
}
