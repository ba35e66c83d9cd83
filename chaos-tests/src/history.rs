//! The history of a chaos run: every client operation as an `invoke` event followed by exactly
//! one completion (`ok`, `fail` = definitely did not happen, `info` = unknown), plus the
//! nemesis's fault windows. Written as JSON lines, one event per line, in the order observed.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What an event says about its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    Ok,
    Fail,
    /// Unknown outcome: a timeout, a reset connection, a leader change mid-call.
    Info,
}

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    /// A send, or in the `sns` workload a publish to the topic.
    Send,
    Receive,
    Delete,
    /// A fault begins (the nemesis's `info` event), logged before the nemesis acts.
    FaultStart,
    /// The nemesis's action (signal, packet filters) returned: the fault is in force from here.
    /// Absent when the action failed, and in the simulation, where faults act at once.
    FaultInForce,
    /// A fault is healed.
    FaultEnd,
    /// The final drain ended; `complete` says whether every queue was seen empty.
    DrainEnd,
    /// The `sns` workload's setup (process `setup`, before any client starts): `queue`
    /// subscribes to the topic, taking what `filter` accepts. A fact about the run, not an
    /// operation: it has no invocation.
    Subscribed,
}

impl Function {
    /// Whether events of this function are a client operation's (an invocation and its
    /// completion), rather than facts the nemesis, the drain or the setup record.
    pub fn is_operation(self) -> bool {
        matches!(self, Function::Send | Function::Receive | Function::Delete)
    }
}

/// One message seen by a receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub value: u64,
    pub message_id: String,
    /// The queue it came from (`main` or `dead-letter`; in the `sns` workload the queue's name).
    pub queue: String,
    /// `ApproximateReceiveCount`: how many receives of this message, this one included, the
    /// broker counted. A second message of one value in one queue shows up as a count seen
    /// twice. Absent in histories recorded before it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_count: Option<u32>,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    /// Nanoseconds since the run began.
    pub time_ns: u64,
    /// The client (`p0`, `c3`, `drain`) or `nemesis`.
    pub process: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: Function,
    /// The node the operation went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The value sent or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
    /// FIFO: the message group and the value's place in it (0, 1, 2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The SQS message id a send returned or a delete refers to (the SNS message id a publish
    /// returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `sns`: the queue a receive or delete went to, or a subscription delivers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// `sns`: the string message attributes a publish carried.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// `sns`: a subscription's filter policy, per attribute the values it accepts (a message
    /// matches when each named attribute is present with one of its values); empty: no filter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, Vec<String>>,
    /// What a receive returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
    /// Faults: the fault's name and the nodes it hits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Drain: whether it saw every queue empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// Why an operation failed or is unknown, or what a fault did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    /// An event with only the required fields set; callers fill in the rest.
    pub fn new(process: &str, kind: Kind, f: Function) -> Event {
        Event {
            index: 0,
            time_ns: 0,
            process: process.to_string(),
            kind,
            f,
            node: None,
            value: None,
            group: None,
            sequence: None,
            message_id: None,
            queue: None,
            attributes: BTreeMap::new(),
            filter: BTreeMap::new(),
            deliveries: Vec::new(),
            fault: None,
            nodes: Vec::new(),
            complete: None,
            detail: None,
        }
    }

    pub fn node(mut self, node: &str) -> Event {
        self.node = Some(node.to_string());
        self
    }

    pub fn value(mut self, value: u64) -> Event {
        self.value = Some(value);
        self
    }

    pub fn queue(mut self, queue: &str) -> Event {
        self.queue = Some(queue.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    pub fn time_s(&self) -> f64 {
        self.time_ns as f64 / 1e9
    }
}

/// A history being recorded by many tasks at once: events get their index and time here, so
/// the order of indices is the order in which the recorder saw them.
#[derive(Clone)]
pub struct Recorder {
    /// Nanoseconds since the run began.
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    /// A recorder on the real monotonic clock.
    pub fn new() -> Recorder {
        let started = Instant::now();
        Recorder::with_clock(move || started.elapsed().as_nanos() as u64)
    }

    /// A recorder on another clock (the simulation's).
    pub fn with_clock(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Recorder {
        Recorder { clock: Arc::new(clock), events: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Stamps and records `event`; returns its index.
    pub fn record(&self, mut event: Event) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        event.index = events.len() as u64;
        event.time_ns = (self.clock)();
        events.push(event);
        events.len() as u64 - 1
    }

    pub fn elapsed_s(&self) -> f64 {
        (self.clock)() as f64 / 1e9
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

/// The process of the final drain; when it reads several queues at once, several per queue:
/// `drain-0-0`, `drain-0-1`, ...
pub const DRAIN_PROCESS: &str = "drain";

pub fn is_drain(process: &str) -> bool {
    process.strip_prefix(DRAIN_PROCESS).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The first event of the final drain: where it began.
pub fn drain_start(events: &[Event]) -> Option<&Event> {
    events.iter().find(|event| is_drain(&event.process))
}

pub fn write(path: &Path, events: &[Event]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub fn read(path: &Path) -> anyhow::Result<Vec<Event>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut events = Vec::new();
    for (number, line) in file.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line)
            .map_err(|error| anyhow::anyhow!("{}:{}: {error}", path.display(), number + 1))?;
        events.push(event);
    }
    Ok(events)
}

/// An operation: its invocation and its completion (none when the history ends first, which
/// counts as unknown).
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    pub invoke: &'a Event,
    pub completion: Option<&'a Event>,
}

impl Operation<'_> {
    pub fn outcome(&self) -> Kind {
        self.completion.map_or(Kind::Info, |event| event.kind)
    }

    pub fn latency_s(&self) -> Option<f64> {
        self.completion.map(|done| (done.time_ns.saturating_sub(self.invoke.time_ns)) as f64 / 1e9)
    }
}

/// Pairs every invocation with the next completion of the same process, in history order.
/// A process has at most one operation open at a time.
pub fn operations(events: &[Event]) -> Vec<Operation<'_>> {
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    let mut operations: Vec<Operation<'_>> = Vec::new();
    for event in events {
        if !event.f.is_operation() {
            continue;
        }
        if event.kind == Kind::Invoke {
            open.insert(&event.process, operations.len());
            operations.push(Operation { invoke: event, completion: None });
        } else if let Some(at) = open.remove(event.process.as_str()) {
            operations[at].completion = Some(event);
        }
    }
    operations
}
