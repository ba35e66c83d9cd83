//! The command log writer: proposals are stamped with the time, written to RocksDB in batches
//! with one fsync per batch, then applied to the engine in log order. A proposer hears back
//! only after its entry is on disk and applied.

use std::sync::{Arc, Mutex};
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

/// The handle proposers use; cheap to clone.
#[derive(Clone)]
pub struct CommandLog {
    sender: mpsc::Sender<Proposal>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl CommandLog {
    /// Starts the writer thread. `next_index` is the index the next entry gets; `applied` is
    /// notified after every applied batch.
    pub fn start(
        store: Store,
        engine: Arc<Mutex<Engine>>,
        next_index: u64,
        snapshot_index: u64,
        applied: Arc<Notify>,
    ) -> std::io::Result<(CommandLog, JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel(limits::PROPOSAL_QUEUE_CAPACITY);
        let mut writer = Writer {
            store,
            engine,
            next_index,
            snapshot_index,
            next_snapshot_attempt_index: snapshot_index + limits::SNAPSHOT_INTERVAL_ENTRIES,
            bytes_since_snapshot: 0,
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
        self.sender.send(Proposal { command, reply }).await.map_err(|_| LogError::Stopped)?;
        answer.await.map_err(|_| LogError::Stopped)
    }
}

struct Writer {
    store: Store,
    engine: Arc<Mutex<Engine>>,
    next_index: u64,
    snapshot_index: u64,
    /// A failed snapshot is retried only after this many more entries, not after every batch.
    next_snapshot_attempt_index: u64,
    bytes_since_snapshot: usize,
    applied: Arc<Notify>,
    receiver: mpsc::Receiver<Proposal>,
}

impl Writer {
    fn run(&mut self) {
        while let Some(first) = self.receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < limits::PROPOSAL_BATCH_MAX {
                match self.receiver.try_recv() {
                    Ok(proposal) => batch.push(proposal),
                    Err(_) => break,
                }
            }
            self.write_and_apply(batch);
            let last_index = self.next_index - 1;
            let due_by_entries = last_index >= self.next_snapshot_attempt_index;
            let due_by_bytes = self.bytes_since_snapshot >= limits::SNAPSHOT_INTERVAL_BYTES;
            if due_by_entries || due_by_bytes {
                self.snapshot();
            }
        }
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
        let mut engine = self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (entry, reply) in entries.iter().zip(replies) {
            let outcome = engine.apply(entry);
            let _ = reply.send(outcome);
        }
        drop(engine);
        self.applied.notify_waiters();
    }

    fn snapshot(&mut self) {
        let last_index = self.next_index - 1;
        self.next_snapshot_attempt_index = last_index + limits::SNAPSHOT_INTERVAL_ENTRIES;
        self.bytes_since_snapshot = 0;
        let engine = self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.store.save_snapshot(&engine, last_index, limits::SNAPSHOT_BYTES_MAX) {
            Ok(()) => self.snapshot_index = last_index,
            Err(error) => tracing::error!(%error, "saving a snapshot failed; the log is kept"),
        }
    }
}

/// Rebuilds the engine from the store's snapshot and the log after it. Returns the engine,
/// the index the next entry gets, and the snapshot's index.
pub fn recover(store: &Store, fresh: impl FnOnce() -> Engine) -> Result<(Engine, u64, u64), StoreError> {
    let (mut engine, snapshot_index) = match store.load_snapshot()? {
        Some((engine, index)) => (engine, index),
        None => (fresh(), 0),
    };
    let mut replayed = 0u64;
    let last_index = store.replay_after(snapshot_index, |entry| {
        // Outcomes were answered before the crash; replay only rebuilds the state.
        let _ = engine.apply(entry);
        replayed += 1;
    })?;
    tracing::info!(snapshot_index, replayed, "recovered");
    Ok((engine, last_index + 1, snapshot_index))
}
