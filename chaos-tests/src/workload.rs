//! The workloads: producers and consumers through the SQS API (aws-sdk-sqs, no SDK retries),
//! each operation recorded as invoke then ok / fail / info, and the final drain.
//!
//! `queue`: a standard queue; every producer sends unique values. `fifo`: a FIFO queue; each
//! producer owns one message group and sends its values in order, each with its own
//! deduplication id, retrying an unknown send with the same id until it is acknowledged and
//! now and then sending an acknowledged value again. `sns`: producers publish unique values
//! to a topic that several queues subscribe to (`sns.rs` sets it up and publishes); consumers
//! and the drain read every queue.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::limits;
use shoal_chaos::checker::{self, Workload};
use shoal_chaos::history::{Delivery, Event, Function, Kind, Recorder, DRAIN_PROCESS};

/// The name of the run's queue (`sns`: the topic, whose group takes every publish).
pub fn queue_name(workload: Workload) -> &'static str {
    match workload {
        Workload::Queue | Workload::DeadLetter => "chaos",
        Workload::Fifo => "chaos.fifo",
        Workload::Sns => limits::SNS_TOPIC,
    }
}

/// How a receive polls: how long it may wait for a message, and how many it takes.
#[derive(Debug, Clone, Copy)]
struct Poll {
    wait_seconds: i32,
    max_messages: i32,
}

/// Consumers and the drain: a long poll for a batch.
const LONG_POLL: Poll = Poll { wait_seconds: limits::RECEIVE_WAIT_SECONDS, max_messages: 10 };
/// Probes: a short poll for one message, so it answers as soon as the cluster does.
const SHORT_POLL: Poll = Poll { wait_seconds: 0, max_messages: 1 };

/// A queue the clients read.
#[derive(Debug, Clone)]
pub struct QueueRef {
    /// What its deliveries are recorded under: `main`, or in the `sns` workload its name.
    pub label: String,
    pub url: String,
}

/// An SQS and an SNS client per node, which nodes to leave alone for now, and the queues (and
/// topic) of the run. Clones share the marks: what one client learns about a node, every
/// client acts on.
#[derive(Clone)]
pub struct Clients {
    nodes: Vec<(String, Client)>,
    /// SNS clients, in the order of `nodes`.
    sns: Vec<aws_sdk_sns::Client>,
    marks: Arc<NodeMarks>,
    /// Whether `pick` skips nodes marked down; the probes do not (see `probe`).
    skip_marked: bool,
    /// The queues receives go to, in turn; one but in the `sns` workload.
    pub queues: Vec<QueueRef>,
    /// `sns`: the topic publishes go to.
    pub topic_arn: String,
    pub workload: Workload,
}

/// Per node, until when clients skip it. A node is marked down when it refuses or drops a
/// connection, times out or answers 503 (`marks_node_down`), for `limits::NODE_SKIP_MS`.
#[derive(Debug)]
struct NodeMarks {
    down_until: Mutex<Vec<Option<Instant>>>,
}

impl NodeMarks {
    fn new(nodes: usize) -> NodeMarks {
        assert!(nodes > 0, "a cluster has nodes");
        NodeMarks { down_until: Mutex::new(vec![None; nodes]) }
    }

    /// The node (its index) for `turn` at `now`: the turn's own node unless it is marked down,
    /// else the next one in turn order that is not; when every node is, the one whose mark
    /// ends first.
    fn pick(&self, turn: usize, now: Instant) -> usize {
        let down_until = self.down_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = down_until.len();
        let mut soonest: Option<(usize, Instant)> = None;
        for step in 0..count {
            let index = (turn + step) % count;
            let Some(until) = down_until[index].filter(|until| *until > now) else { return index };
            if soonest.is_none_or(|(_, earliest)| until < earliest) {
                soonest = Some((index, until));
            }
        }
        soonest.expect("a cluster has nodes").0
    }

    fn mark_down(&self, index: usize, now: Instant) {
        let mut down_until = self.down_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        down_until[index] = Some(now + Duration::from_millis(limits::NODE_SKIP_MS));
    }
}

/// The configuration every SDK client of a run shares, SQS's and SNS's, for `endpoint`.
fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let credentials = Credentials::new("AKIDSHOALCHAOS", "shoal-chaos-secret", None, None, "shoal-chaos");
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        // Every attempt is an operation of the history: the SDK must not retry behind it.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(limits::OPERATION_TIMEOUT)
                .connect_timeout(limits::CONNECT_TIMEOUT)
                .build(),
        )
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build()
}

/// How an SDK error ends an operation: `fail` only when the broker refused it (4xx), so it
/// definitely did not happen; anything else (timeout, reset, 5xx) is unknown.
pub(crate) fn outcome_of<E: std::fmt::Debug, R: std::fmt::Debug + HttpStatus>(
    error: &SdkError<E, R>,
) -> (Kind, String) {
    match error {
        SdkError::ConstructionFailure(_) => (Kind::Fail, format!("{error:?}")),
        SdkError::ServiceError(service) if service.raw().status_code() / 100 == 4 => {
            (Kind::Fail, format!("{:?}", service.err()))
        }
        SdkError::ServiceError(service) => (Kind::Info, format!("{:?}", service.err())),
        SdkError::TimeoutError(_) => (Kind::Info, "timeout".into()),
        other => (Kind::Info, format!("{other:?}").chars().take(300).collect()),
    }
}

/// Whether `error` says the node is not serving: a connection it refused or dropped, a connect
/// or operation timeout, or a 503 (no leader, overloaded). A 4xx or another 5xx is an answer.
fn marks_node_down<E, R: HttpStatus>(error: &SdkError<E, R>) -> bool {
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
        other => other.raw_response().is_some_and(|response| response.status_code() == 503),
    }
}

pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_sqs::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Clients {
    pub fn new(endpoints: &[(String, String)], workload: Workload) -> Clients {
        let mut nodes = Vec::new();
        let mut sns = Vec::new();
        for (name, endpoint) in endpoints {
            let config = sdk_config(endpoint);
            nodes.push((name.clone(), Client::new(&config)));
            sns.push(aws_sdk_sns::Client::new(&config));
        }
        let marks = Arc::new(NodeMarks::new(endpoints.len()));
        Clients { nodes, sns, marks, skip_marked: true, queues: Vec::new(), topic_arn: String::new(), workload }
    }

    /// These clients, sending every operation to the next node in turn, marked down or not
    /// (they still mark nodes down for the others).
    fn without_skipping(&self) -> Clients {
        Clients { skip_marked: false, ..self.clone() }
    }

    /// These clients, reading only queue `queue` (an index into `queues`).
    pub fn only_queue(&self, queue: usize) -> Clients {
        Clients { queues: vec![self.queues[queue].clone()], ..self.clone() }
    }

    /// The node for `turn`, skipping nodes marked down: its index, name and client.
    pub(crate) fn pick(&self, turn: usize) -> (usize, &str, &Client) {
        let index = if self.skip_marked { self.marks.pick(turn, Instant::now()) } else { turn % self.nodes.len() };
        let (name, client) = &self.nodes[index];
        (index, name, client)
    }

    /// The SNS client of node `index`.
    pub(crate) fn sns(&self, index: usize) -> &aws_sdk_sns::Client {
        &self.sns[index]
    }

    /// Marks node `index` down when `error` says it is not serving.
    pub(crate) fn observe<E, R: HttpStatus>(&self, index: usize, error: &SdkError<E, R>) {
        if marks_node_down(error) {
            self.marks.mark_down(index, Instant::now());
        }
    }

    /// Creates the run's queue through any node that answers, within `bound` (`queue` and
    /// `fifo`; `sns::set_up` creates the `sns` workload's queues).
    pub async fn create_queue(&mut self, bound: Duration) -> anyhow::Result<()> {
        let url = self.create_queue_named(queue_name(self.workload), self.workload == Workload::Fifo, bound).await?;
        self.queues = vec![QueueRef { label: "main".into(), url }];
        Ok(())
    }

    /// Creates queue `name` through any node that answers, within `bound`; its URL.
    pub(crate) async fn create_queue_named(&self, name: &str, fifo: bool, bound: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + bound;
        let mut turn = 0;
        loop {
            let (index, _, client) = self.pick(turn);
            turn += 1;
            let mut request = client
                .create_queue()
                .queue_name(name)
                .attributes(QueueAttributeName::VisibilityTimeout, limits::VISIBILITY_TIMEOUT_SECONDS.to_string());
            if fifo {
                request = request.attributes(QueueAttributeName::FifoQueue, "true");
            }
            match request.send().await {
                Ok(created) => return Ok(created.queue_url.unwrap_or_default()),
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    anyhow::bail!("could not create the queue {name}: {:?}", outcome_of(&error).1)
                }
                Err(error) => {
                    self.observe(index, &error);
                    tokio::time::sleep(limits::SETUP_RETRY_BACKOFF).await
                }
            }
        }
    }

    /// Sends `value` once through the node of `turn` (`sns`: publishes it to the topic); the
    /// outcome as recorded.
    async fn send(
        &self,
        recorder: &Recorder,
        process: &str,
        turn: usize,
        value: u64,
        group: Option<(&str, u64)>,
    ) -> Kind {
        if self.workload == Workload::Sns {
            return self.publish(recorder, process, turn, value).await;
        }
        let (index, node, client) = self.pick(turn);
        let mut invoke = Event::new(process, Kind::Invoke, Function::Send).node(node).value(value);
        let queue_url = &self.queues[0].url;
        let mut request = client.send_message().queue_url(queue_url).message_body(value.to_string());
        if let Some((group, sequence)) = group {
            invoke.group = Some(group.to_string());
            invoke.sequence = Some(sequence);
            request = request.message_group_id(group).message_deduplication_id(format!("v{value}"));
        }
        recorder.record(invoke);
        let mut done = match request.send().await {
            Ok(sent) => {
                let mut event = Event::new(process, Kind::Ok, Function::Send);
                event.message_id = sent.message_id;
                event
            }
            Err(error) => {
                self.observe(index, &error);
                let (kind, detail) = outcome_of(&error);
                Event::new(process, kind, Function::Send).detail(detail)
            }
        };
        done = done.node(node).value(value);
        done.group = group.map(|(name, _)| name.to_string());
        let kind = done.kind;
        recorder.record(done);
        kind
    }

    /// The queue (its index) a receive of `turn` reads: the queues in turn, each through every
    /// node in turn (a queue is not always read through the same node).
    fn queue_for(&self, turn: usize) -> usize {
        (turn / self.nodes.len()) % self.queues.len()
    }

    /// One receive through the node of `turn` from the queue of `turn`, then a delete of each
    /// message received. Returns what was received.
    async fn receive_and_delete(&self, recorder: &Recorder, process: &str, turn: usize, poll: Poll) -> (Kind, usize) {
        self.receive_and_delete_from(recorder, process, self.queue_for(turn), turn, poll).await
    }

    /// One receive through the node of `turn` from queue `queue` (an index into `queues`),
    /// then a delete of each message received, in order. FIFO: the first delete that does not
    /// succeed ends the batch, so the rest come back in order with it. Returns what was
    /// received.
    async fn receive_and_delete_from(
        &self,
        recorder: &Recorder,
        process: &str,
        queue: usize,
        turn: usize,
        poll: Poll,
    ) -> (Kind, usize) {
        let QueueRef { label, url } = &self.queues[queue];
        // Only the `sns` workload has more than one queue to tell apart in the history.
        let named = |event: Event| if self.workload == Workload::Sns { event.queue(label) } else { event };
        let (index, node, client) = self.pick(turn);
        recorder.record(named(Event::new(process, Kind::Invoke, Function::Receive).node(node)));
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(poll.max_messages)
            .wait_time_seconds(poll.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                self.observe(index, &error);
                let (kind, detail) = outcome_of(&error);
                recorder.record(named(Event::new(process, kind, Function::Receive).node(node).detail(detail)));
                return (kind, 0);
            }
        };
        let mut done = named(Event::new(process, Kind::Ok, Function::Receive).node(node));
        done.deliveries = messages
            .iter()
            .map(|message| Delivery {
                value: self.value_of(message.body().unwrap_or_default()),
                message_id: message.message_id().unwrap_or_default().to_string(),
                queue: label.clone(),
                receive_count: message
                    .attributes()
                    .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok()),
            })
            .collect();
        let count = messages.len();
        let values: Vec<u64> = done.deliveries.iter().map(|delivery| delivery.value).collect();
        recorder.record(done);
        for (index, (message, value)) in messages.iter().zip(values).enumerate() {
            let (node_index, node, client) = self.pick(turn + 1 + index);
            let mut invoke = named(Event::new(process, Kind::Invoke, Function::Delete).node(node).value(value));
            invoke.message_id = message.message_id.clone();
            recorder.record(invoke);
            let handle = message.receipt_handle().unwrap_or_default();
            let kind = match client.delete_message().queue_url(url).receipt_handle(handle).send().await {
                Ok(_) => {
                    recorder.record(named(Event::new(process, Kind::Ok, Function::Delete).node(node).value(value)));
                    Kind::Ok
                }
                Err(error) => {
                    self.observe(node_index, &error);
                    let (kind, detail) = outcome_of(&error);
                    let done = Event::new(process, kind, Function::Delete).node(node).value(value).detail(detail);
                    recorder.record(named(done));
                    kind
                }
            };
            if kind != Kind::Ok && self.workload == Workload::Fifo {
                break;
            }
        }
        (Kind::Ok, count)
    }

    /// The value a message carries: its body (`sns`: the `Message` of the notification when
    /// the subscription delivers the JSON envelope). A body that is not one of our values is
    /// recorded as a value never sent.
    fn value_of(&self, body: &str) -> u64 {
        const NOT_A_VALUE: u64 = u64::MAX;
        if self.workload == Workload::Sns && body.starts_with('{') {
            let Ok(notification) = serde_json::from_str::<serde_json::Value>(body) else { return NOT_A_VALUE };
            return notification["Message"].as_str().and_then(|message| message.parse().ok()).unwrap_or(NOT_A_VALUE);
        }
        body.parse().unwrap_or(NOT_A_VALUE)
    }

    /// Approximate visible, in-flight and delayed messages of queue `queue`, through the node
    /// of `turn`.
    async fn remaining(&self, queue: usize, turn: usize) -> Option<u64> {
        let (_, _, client) = self.pick(turn);
        let attributes = client
            .get_queue_attributes()
            .queue_url(&self.queues[queue].url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .ok()?
            .attributes?;
        let mut total = 0;
        for name in [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ] {
            total += attributes.get(&name)?.parse::<u64>().ok()?;
        }
        Some(total)
    }
}

/// Sends unique values until `stop`. Producer `number`'s values are number * 10^9 + 0, 1, ...
pub async fn produce(clients: Clients, recorder: Recorder, number: usize, seed: u64, stop: Arc<AtomicBool>) {
    let process = format!("p{number}");
    let group = format!("g{number}");
    let mut rng = StdRng::seed_from_u64(seed ^ (number as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut turn = number;
    let mut sequence = 0;
    while !stop.load(Ordering::SeqCst) {
        let value = number as u64 * 1_000_000_000 + sequence;
        match clients.workload {
            Workload::Queue | Workload::DeadLetter | Workload::Sns => {
                clients.send(&recorder, &process, turn, value, None).await;
                turn += 1;
            }
            Workload::Fifo => {
                // Retry an unknown send with the same deduplication id until it is acknowledged
                // or refused: only then does the next value of the group go out.
                loop {
                    let kind = clients.send(&recorder, &process, turn, value, Some((&group, sequence))).await;
                    turn += 1;
                    if kind == Kind::Ok && rng.gen_range(0..limits::FIFO_DUPLICATE_SEND_ONE_IN) == 0 {
                        clients.send(&recorder, &process, turn, value, Some((&group, sequence))).await;
                        turn += 1;
                    }
                    if kind != Kind::Info || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(limits::RETRY_BACKOFF).await;
                }
            }
        }
        sequence += 1;
    }
}

/// Receives and deletes until `stop`.
pub async fn consume(clients: Clients, recorder: Recorder, number: usize, stop: Arc<AtomicBool>) {
    let process = format!("c{number}");
    let mut turn = number;
    while !stop.load(Ordering::SeqCst) {
        let (kind, _) = clients.receive_and_delete(&recorder, &process, turn, LONG_POLL).await;
        turn += 1;
        if kind != Kind::Ok {
            tokio::time::sleep(limits::RETRY_BACKOFF).await;
        }
    }
}

/// Probes until `stop`: every `limits::PROBE_INTERVAL` a send and a receive (a short poll, and
/// a delete of what it got) begin, each as a process of its own (`probe-s0`, `probe-r0`, ...,
/// a free one from a pool), whatever the operations begun before are waiting for. So the
/// history has operations begun at every moment of a fault, which the recovery measurement
/// needs: the producers and consumers each wait out a timeout when a leader dies. Probes go to
/// every node in turn, marked down or not: during an election every node refuses for a while
/// and is marked, and a client that skips marked nodes tries them one at a time, so it could
/// miss the moment a node it skips serves again. The probe sends are values of producer
/// `number` (one past the last producer): checked like any other. FIFO: each send process has
/// a message group of its own.
pub async fn probe(clients: Clients, recorder: Recorder, number: usize, stop: Arc<AtomicBool>) {
    let clients = clients.without_skipping();
    let (free_send, mut free_sends) = tokio::sync::mpsc::unbounded_channel();
    let (free_receive, mut free_receives) = tokio::sync::mpsc::unbounded_channel();
    for slot in 0..limits::PROBE_PROCESSES {
        free_send.send(slot).expect("the pool is open");
        free_receive.send(slot).expect("the pool is open");
    }
    // Per send process, the next place in its FIFO group.
    let mut sequences = vec![0u64; limits::PROBE_PROCESSES];
    let mut next_value = number as u64 * 1_000_000_000;
    let mut ticker = tokio::time::interval(limits::PROBE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut running = tokio::task::JoinSet::new();
    for turn in 0.. {
        ticker.tick().await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // A tick with every process of a kind still busy goes without that kind's probe.
        if let Ok(slot) = free_sends.try_recv() {
            let (clients, recorder, free) = (clients.clone(), recorder.clone(), free_send.clone());
            let (value, sequence) = (next_value, sequences[slot]);
            next_value += 1;
            sequences[slot] += 1;
            running.spawn(async move {
                let process = format!("probe-s{slot}");
                let group = format!("probe-{slot}");
                let fifo = (clients.workload == Workload::Fifo).then_some((group.as_str(), sequence));
                clients.send(&recorder, &process, turn, value, fifo).await;
                let _ = free.send(slot);
            });
        }
        if let Ok(slot) = free_receives.try_recv() {
            let (clients, recorder, free) = (clients.clone(), recorder.clone(), free_receive.clone());
            running.spawn(async move {
                let process = format!("probe-r{slot}");
                clients.receive_and_delete(&recorder, &process, turn, SHORT_POLL).await;
                let _ = free.send(slot);
            });
        }
        // Finished probes are collected as they end, so the set stays as small as the pool.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// After every fault is healed: receives from every queue (when there are several, each by
/// `limits::SNS_DRAIN_READERS` processes of its own, `drain-0-0`, `drain-0-1`, ..., all at
/// once) until every queue reports nothing left and every acknowledged value has been received
/// (`sns`: every delivery the history owes, `checker::undelivered`), or until every queue has
/// reported nothing left several times in a row (what is missing then is gone), or the bound
/// runs out. Records whether it finished.
pub async fn drain(clients: &Clients, recorder: &Recorder) -> bool {
    let deadline = tokio::time::Instant::now() + limits::DRAIN_BOUND;
    let progress = Arc::new(DrainProgress {
        empty_in_a_row: Mutex::new(vec![0; clients.queues.len()]),
        complete: AtomicBool::new(false),
    });
    let readers_per_queue = if clients.queues.len() == 1 { 1 } else { limits::SNS_DRAIN_READERS };
    let mut readers = tokio::task::JoinSet::new();
    for queue in 0..clients.queues.len() {
        for reader in 0..readers_per_queue {
            let process = if readers_per_queue == 1 {
                DRAIN_PROCESS.to_string()
            } else {
                format!("{DRAIN_PROCESS}-{queue}-{reader}")
            };
            // Only the first reader of a queue counts empty receives, so "several in a row" still
            // spans several long polls, time for the outbox to hand over what it still holds.
            let reader = DrainReader {
                process,
                queue,
                first_turn: queue * readers_per_queue + reader,
                counts_empty: reader == 0,
            };
            let (clients, recorder, progress) = (clients.clone(), recorder.clone(), progress.clone());
            readers.spawn(async move { reader.run(&clients, &recorder, &progress, deadline).await });
        }
    }
    while readers.join_next().await.is_some() {}
    let complete = progress.complete.load(Ordering::SeqCst);
    let mut end = Event::new(DRAIN_PROCESS, Kind::Info, Function::DrainEnd);
    end.complete = Some(complete);
    recorder.record(end);
    complete
}

/// What the drain's readers share: per queue, the receives in a row that came back empty from
/// a queue that reported nothing left; and whether the drain is over.
struct DrainProgress {
    empty_in_a_row: Mutex<Vec<u32>>,
    complete: AtomicBool,
}

/// One reader of one queue in the drain.
struct DrainReader {
    process: String,
    queue: usize,
    first_turn: usize,
    /// Whether an empty receive of this reader counts towards the queue's empties in a row (any
    /// reader's non-empty one resets them).
    counts_empty: bool,
}

impl DrainReader {
    /// Receives and deletes until the whole drain is over or the deadline passes.
    async fn run(
        &self,
        clients: &Clients,
        recorder: &Recorder,
        progress: &DrainProgress,
        deadline: tokio::time::Instant,
    ) {
        let queue = self.queue;
        let mut turn = self.first_turn;
        while !progress.complete.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            let (kind, count) = clients.receive_and_delete_from(recorder, &self.process, queue, turn, LONG_POLL).await;
            turn += 1;
            if kind != Kind::Ok {
                tokio::time::sleep(limits::RETRY_BACKOFF).await;
                continue;
            }
            let empty = count == 0 && clients.remaining(queue, turn).await == Some(0);
            let (all_empty, confirmed) = {
                let mut empty_in_a_row =
                    progress.empty_in_a_row.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if !empty {
                    empty_in_a_row[queue] = 0;
                } else if self.counts_empty {
                    empty_in_a_row[queue] += 1;
                }
                let confirmations = limits::DRAIN_EMPTY_CONFIRMATIONS;
                (
                    empty_in_a_row.iter().all(|empty| *empty >= 1),
                    empty_in_a_row.iter().all(|empty| *empty >= confirmations),
                )
            };
            if all_empty && (confirmed || all_expected_received(clients.workload, &recorder.events())) {
                progress.complete.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Whether the history has seen everything the drain waits for.
fn all_expected_received(workload: Workload, events: &[Event]) -> bool {
    match workload {
        Workload::Sns => checker::undelivered(events) == 0,
        Workload::Queue | Workload::Fifo | Workload::DeadLetter => all_acknowledged_received(events),
    }
}

fn all_acknowledged_received(events: &[Event]) -> bool {
    let mut received = HashSet::new();
    for event in events {
        if event.f == Function::Receive && event.kind == Kind::Ok {
            received.extend(event.deliveries.iter().map(|delivery| delivery.value));
        }
    }
    events
        .iter()
        .filter(|event| event.f == Function::Send && event.kind == Kind::Ok)
        .all(|event| event.value.is_some_and(|value| received.contains(&value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a cluster of `nodes`, marks each (node, ms ago) down that long before `now`, and checks
    /// the node each turn 0, 1, ... picks at `now`.
    fn check_pick(nodes: usize, marked: &[(usize, u64)], expected_by_turn: &[usize]) {
        let marks = NodeMarks::new(nodes);
        let now = Instant::now() + Duration::from_secs(60);
        for &(index, marked_ms_ago) in marked {
            marks.mark_down(index, now - Duration::from_millis(marked_ms_ago));
        }
        let picked: Vec<usize> = (0..expected_by_turn.len()).map(|turn| marks.pick(turn, now)).collect();
        assert_eq!(picked, expected_by_turn, "marked {marked:?}");
    }

    #[test]
    fn test_pick_goes_round_when_no_node_is_down() {
        check_pick(3, &[], &[0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn test_pick_skips_a_node_marked_down() {
        check_pick(3, &[(1, 0)], &[0, 2, 2, 0, 2, 2]);
        check_pick(3, &[(0, 500), (1, 10)], &[2, 2, 2]);
    }

    #[test]
    fn test_pick_uses_a_node_again_once_its_mark_ends() {
        check_pick(3, &[(1, limits::NODE_SKIP_MS)], &[0, 1, 2]);
        check_pick(3, &[(1, limits::NODE_SKIP_MS - 1)], &[0, 2, 2]);
    }

    #[test]
    fn test_pick_when_every_node_is_down_takes_the_mark_that_ends_first() {
        check_pick(3, &[(0, 10), (1, 30), (2, 20)], &[1, 1, 1]);
    }

    #[test]
    fn test_pick_of_probes_goes_round_over_nodes_marked_down() {
        let endpoints: Vec<(String, String)> =
            (1..=3).map(|n| (format!("n{n}"), format!("http://127.0.0.1:{}", 9000 + n))).collect();
        let clients = Clients::new(&endpoints, Workload::Queue);
        clients.marks.mark_down(1, Instant::now());
        let probes = clients.without_skipping();
        let names = |clients: &Clients| (0..3).map(|turn| clients.pick(turn).1.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&clients), ["n1", "n3", "n3"]);
        assert_eq!(names(&probes), ["n1", "n2", "n3"]);
    }

    /// An HTTP response that is only a status, for errors made up in tests.
    #[derive(Debug)]
    struct Status(u16);

    impl HttpStatus for Status {
        fn status_code(&self) -> u16 {
            self.0
        }
    }

    #[test]
    fn test_marks_node_down_on_connect_errors_timeouts_and_503_only() {
        use aws_sdk_sqs::error::ConnectorError;
        let refused: SdkError<(), Status> = SdkError::dispatch_failure(ConnectorError::io("refused".into()));
        let timeout: SdkError<(), Status> = SdkError::timeout_error("operation timeout");
        let unavailable: SdkError<(), Status> = SdkError::service_error((), Status(503));
        assert!(marks_node_down(&refused) && marks_node_down(&timeout) && marks_node_down(&unavailable));
        let refusal: SdkError<(), Status> = SdkError::service_error((), Status(400));
        let internal: SdkError<(), Status> = SdkError::service_error((), Status(500));
        assert!(!marks_node_down(&refusal) && !marks_node_down(&internal));
    }
}
