//! The command log writer: proposals are stamped with the time, written to RocksDB in batches
//! with one fsync per batch, then applied to the engine in log order. A proposer hears back
//! only after its entry is on disk and applied.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use shoal_engine::{Command, Engine, LogEntry, Outcome};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::limits;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the command log is stopped")]
    Stopped,
    #[error("the command log could not be written: {0}")]
    Storage(String),
}

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<Outcome, LogError>>,
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
        let mut writer = Writer { store, engine, next_index, snapshot_index, applied, receiver };
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
        answer.await.map_err(|_| LogError::Stopped)?
    }
}

struct Writer {
    store: Store,
    engine: Arc<Mutex<Engine>>,
    next_index: u64,
    snapshot_index: u64,
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
            if self.next_index - 1 - self.snapshot_index >= limits::SNAPSHOT_INTERVAL_ENTRIES {
                self.snapshot();
            }
        }
        if self.next_index - 1 > self.snapshot_index {
            self.snapshot();
        }
        tracing::info!(last_index = self.next_index - 1, "command log writer stopped");
    }

    fn write_and_apply(&mut self, batch: Vec<Proposal>) {
        let time_ms = now_ms();
        let (entries, replies): (Vec<LogEntry>, Vec<_>) =
            batch.into_iter().map(|p| (LogEntry::new(time_ms, p.command), p.reply)).unzip();
        if let Err(error) = self.store.append_synced(self.next_index, &entries) {
            tracing::error!(%error, "appending to the command log failed");
            for reply in replies {
                let _ = reply.send(Err(LogError::Storage(error.to_string())));
            }
            return;
        }
        self.next_index += entries.len() as u64;
        let mut engine = self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (entry, reply) in entries.iter().zip(replies) {
            let outcome = engine.apply(entry);
            let _ = reply.send(Ok(outcome));
        }
        drop(engine);
        self.applied.notify_waiters();
    }

    fn snapshot(&mut self) {
        let last_index = self.next_index - 1;
        let engine = self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.store.save_snapshot(&engine, last_index) {
            Ok(()) => self.snapshot_index = last_index,
            Err(error) => tracing::error!(%error, "saving a snapshot failed; the log is kept"),
        }
    }
}

/// Opens the store and rebuilds the engine from its snapshot and log.
pub fn recover(store: &Store, fresh: impl FnOnce() -> Engine) -> Result<(Engine, u64, u64), crate::store::StoreError> {
    let recovered = store.recover()?;
    let mut engine = recovered.engine.unwrap_or_else(fresh);
    let mut last_index = recovered.snapshot_index;
    for (index, entry) in &recovered.entries {
        debug_assert_eq!(*index, last_index + 1, "log has a hole");
        let _ = engine.apply(entry);
        last_index = *index;
    }
    tracing::info!(snapshot_index = recovered.snapshot_index, replayed = recovered.entries.len(), "recovered");
    Ok((engine, last_index + 1, recovered.snapshot_index))
}
