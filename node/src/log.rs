//! The command log writer: proposals are stamped with the time, written to RocksDB in batches
//! with one fsync per batch, then applied to the engine in log order. A proposer hears back
//! only after its entry is on disk and applied.

use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use shoal_engine::{Command, Engine, LogEntry, Outcome};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::limits;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the command log is stopped")]
    Stopped,
}

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Outcome>,
}

// Nearly every request is a proposal, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Request {
    Propose(Proposal),
    /// Write what came before, snapshot, and stop; later proposals get `LogError::Stopped`.
    Stop,
}

/// The handle proposers use; cheap to clone.
#[derive(Clone)]
pub struct CommandLog {
    sender: mpsc::Sender<Request>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl CommandLog {
    /// Starts the writer thread. `next_index` is the index the next entry gets; `applied` is
    /// notified after every applied batch.
    pub fn start(
        store: Store,
        engine: Arc<RwLock<Engine>>,
        recovered: &Recovered,
        applied: Arc<Notify>,
    ) -> std::io::Result<(CommandLog, JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel(limits::PROPOSAL_QUEUE_CAPACITY);
        let mut writer = Writer {
            store,
            engine,
            next_index: recovered.next_index,
            snapshot_index: recovered.snapshot_index,
            next_snapshot_attempt_index: recovered.snapshot_index + limits::SNAPSHOT_INTERVAL_ENTRIES,
            bytes_since_snapshot: recovered.replayed_bytes,
            snapshot_backoff: 0,
            applied,
            receiver,
        };
        let handle = std::thread::Builder::new().name("shoal-log-writer".into()).spawn(move || {
            // Crash-only: a panic while writing or applying leaves the engine in doubt, so the
            // process stops and recovers from the log on restart. Nothing acknowledged is lost:
            // replies go out only after their entries are synced.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run())).is_err() {
                tracing::error!("the command log writer panicked; aborting so a restart recovers from the log");
                std::process::abort();
            }
        })?;
        Ok((CommandLog { sender }, handle))
    }

    /// Proposes a command; resolves once it is durable and applied.
    pub async fn propose(&self, command: Command) -> Result<Outcome, LogError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Request::Propose(Proposal { command, reply })).await.map_err(|_| LogError::Stopped)?;
        answer.await.map_err(|_| LogError::Stopped)
    }

    /// Asks the writer to finish what it has, snapshot and stop.
    pub async fn stop(&self) {
        let _ = self.sender.send(Request::Stop).await;
    }
}

struct Writer {
    store: Store,
    engine: Arc<RwLock<Engine>>,
    next_index: u64,
    snapshot_index: u64,
    /// A failed snapshot is retried only after this many more entries, not after every batch.
    next_snapshot_attempt_index: u64,
    bytes_since_snapshot: usize,
    /// Doubles the snapshot intervals after each failed snapshot (up to a bound), so an engine
    /// too large to snapshot is not encoded again and again.
    snapshot_backoff: u32,
    applied: Arc<Notify>,
    receiver: mpsc::Receiver<Request>,
}

impl Writer {
    fn run(&mut self) {
        let mut stopping = false;
        while !stopping {
            let Some(Request::Propose(first)) = self.receiver.blocking_recv() else {
                break;
            };
            let mut batch = vec![first];
            while batch.len() < limits::PROPOSAL_BATCH_MAX {
                match self.receiver.try_recv() {
                    Ok(Request::Propose(proposal)) => batch.push(proposal),
                    Ok(Request::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write_and_apply(batch);
            let last_index = self.next_index - 1;
            let due_by_entries = last_index >= self.next_snapshot_attempt_index;
            let due_by_bytes = self.bytes_since_snapshot >= limits::SNAPSHOT_INTERVAL_BYTES << self.snapshot_backoff;
            if due_by_entries || due_by_bytes {
                self.snapshot();
            }
        }
        self.receiver.close();
        if self.next_index - 1 > self.snapshot_index {
            self.snapshot();
        }
        tracing::info!(last_index = self.next_index - 1, "command log writer stopped");
    }

    /// Writes one batch with one fsync, then applies it. Batches are bounded in count by
    /// `PROPOSAL_BATCH_MAX` and in bytes by `PROPOSAL_BATCH_BYTES_MAX` (plus one entry).
    fn write_and_apply(&mut self, batch: Vec<Proposal>) {
        let time_ms = now_ms();
        let mut entries = Vec::with_capacity(batch.len());
        let mut encoded = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut batch_bytes = 0;
        for proposal in batch {
            let entry = LogEntry::new(time_ms, proposal.command);
            let bytes = match postcard::to_stdvec(&entry) {
                Ok(bytes) => bytes,
                Err(error) => panic!("a log entry could not be encoded: {error}"),
            };
            batch_bytes += bytes.len();
            entries.push(entry);
            encoded.push(bytes);
            replies.push(proposal.reply);
            if batch_bytes >= limits::PROPOSAL_BATCH_BYTES_MAX {
                self.append_and_apply(&entries, &encoded, replies);
                (entries, encoded, replies, batch_bytes) = (Vec::new(), Vec::new(), Vec::new(), 0);
            }
        }
        if !entries.is_empty() {
            self.append_and_apply(&entries, &encoded, replies);
        }
    }

    fn append_and_apply(&mut self, entries: &[LogEntry], encoded: &[Vec<u8>], replies: Vec<oneshot::Sender<Outcome>>) {
        // Crash-only: after a failed synced write, what reached the disk is unknown (see the
        // fsync failures of other databases); answering and going on could acknowledge a
        // later entry at an index whose earlier content resurfaces on restart.
        if let Err(error) = self.store.append_synced(self.next_index, encoded) {
            tracing::error!(%error, "appending to the command log failed; aborting");
            std::process::abort();
        }
        self.next_index += entries.len() as u64;
        self.bytes_since_snapshot += encoded.iter().map(Vec::len).sum::<usize>();
        let mut engine = self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (entry, reply) in entries.iter().zip(replies) {
            let outcome = engine.apply(entry);
            let _ = reply.send(outcome);
        }
        drop(engine);
        self.applied.notify_waiters();
    }

    fn snapshot(&mut self) {
        let last_index = self.next_index - 1;
        self.bytes_since_snapshot = 0;
        // A read lock: requests keep reading while the snapshot is encoded and written.
        let engine = self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.store.save_snapshot(&engine, last_index, limits::SNAPSHOT_BYTES_MAX) {
            Ok(size_bytes) => {
                tracing::info!(last_index, size_bytes, "snapshot saved");
                self.snapshot_index = last_index;
                self.snapshot_backoff = 0;
            }
            Err(error) => {
                self.snapshot_backoff = (self.snapshot_backoff + 1).min(limits::SNAPSHOT_BACKOFF_SHIFT_MAX);
                tracing::error!(%error, backoff = self.snapshot_backoff, "saving a snapshot failed; the log is kept");
            }
        }
        self.next_snapshot_attempt_index = last_index + (limits::SNAPSHOT_INTERVAL_ENTRIES << self.snapshot_backoff);
    }
}

/// Where recovery left the log: the writer continues from here.
pub struct Recovered {
    pub next_index: u64,
    pub snapshot_index: u64,
    /// Log bytes after the snapshot, so the next snapshot is not put off by restarts.
    pub replayed_bytes: usize,
}

/// Rebuilds the engine from the store's snapshot and the log after it.
pub fn recover(store: &Store, fresh: impl FnOnce() -> Engine) -> Result<(Engine, Recovered), StoreError> {
    let (mut engine, snapshot_index) = match store.load_snapshot()? {
        Some((engine, index)) => (engine, index),
        None => (fresh(), 0),
    };
    let mut replayed = 0u64;
    let mut replayed_bytes = 0usize;
    let last_index = store.replay_after(snapshot_index, |entry, size_bytes| {
        // Outcomes were answered before the crash; replay only rebuilds the state.
        let _ = engine.apply(entry);
        replayed += 1;
        replayed_bytes += size_bytes;
    })?;
    tracing::info!(snapshot_index, replayed, "recovered");
    Ok((engine, Recovered { next_index: last_index + 1, snapshot_index, replayed_bytes }))
}
