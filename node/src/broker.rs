//! The broker: the engine behind its command log, reads against the applied state, and long
//! polling. Everything the HTTP layer needs goes through here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use shoal_engine::command::{ReceiveRequest, ReceivedMessage};
use shoal_engine::{Command, Engine, Reply};
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::limits;
use crate::log::{now_ms, CommandLog};

#[derive(Clone)]
pub struct Broker {
    engine: Arc<RwLock<Engine>>,
    log: CommandLog,
    applied: Arc<Notify>,
    /// Set at shutdown: long polls return at once instead of holding the server open.
    stopping: Arc<AtomicBool>,
    /// Receives proposed and not yet answered, per queue: a long poller proposes only while
    /// the queue has more receivable messages than that, so one new message does not make
    /// every poller write an empty receive to the log.
    pending_receives: Arc<Mutex<HashMap<String, usize>>>,
    pub account_id: String,
}

impl Broker {
    pub fn new(engine: Arc<RwLock<Engine>>, log: CommandLog, applied: Arc<Notify>) -> Broker {
        let account_id = lock(&engine).config().account_id.clone();
        Broker {
            engine,
            log,
            applied,
            stopping: Arc::new(AtomicBool::new(false)),
            pending_receives: Arc::new(Mutex::new(HashMap::new())),
            account_id,
        }
    }

    /// Ends every long poll now (with what it has) and every later one at once.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.applied.notify_waiters();
    }

    /// Runs `f` on the applied state. Keep `f` short: the log writer waits for it to apply.
    /// Reads share the lock with each other and with a snapshot being written.
    pub fn read<T>(&self, f: impl FnOnce(&Engine, u64) -> T) -> T {
        let engine = lock(&self.engine);
        f(&engine, now_ms())
    }

    /// Proposes a command and waits until it is durable and applied.
    pub async fn propose(&self, command: Command) -> Result<Reply, ApiError> {
        let outcome = self.log.propose(command).await?;
        Ok(outcome?)
    }

    /// ReceiveMessage with long polling: waits up to `wait_seconds` for a message, proposing a
    /// receive only when one is there to take, so an idle poll writes nothing to the log.
    pub async fn receive(
        &self,
        queue: &str,
        request: ReceiveRequest,
        wait_seconds: u32,
    ) -> Result<Vec<ReceivedMessage>, ApiError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait_seconds));
        let fifo = self.read(|engine, _| engine.queue(queue).map(|q| q.is_fifo()))?;
        // A retried FIFO attempt id must reach the engine once even when nothing is visible:
        // its messages are in flight and come back from the attempt record.
        let mut replay_attempt = fifo && request.receive_request_attempt_id.is_some();
        loop {
            let mut applied = Box::pin(self.applied.notified());
            applied.as_mut().enable();
            let receivable = self.read(|engine, now| {
                engine.queue(queue)?;
                Ok::<usize, ApiError>(engine.receivable_estimate(queue, now, limits::RECEIVE_ESTIMATE_CAP))
            })?;
            let limit = if replay_attempt { usize::MAX } else { receivable };
            if let Some(_slot) = self.try_receive_slot(queue, limit) {
                replay_attempt = false;
                let command = Command::ReceiveMessage { queue: queue.to_string(), request: request.clone() };
                let Reply::Received(messages) = self.propose(command).await? else {
                    return Err(ApiError::internal("unexpected reply to ReceiveMessage"));
                };
                if !messages.is_empty() {
                    return Ok(messages);
                }
                // Our own receive's batch fired `applied`; wait for a later one instead.
                applied = Box::pin(self.applied.notified());
                applied.as_mut().enable();
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || self.stopping.load(Ordering::SeqCst) {
                return Ok(Vec::new());
            }
            let recheck = now + Duration::from_millis(limits::LONG_POLL_RECHECK_MS);
            let _ = tokio::time::timeout_at(recheck.min(deadline), applied).await;
        }
    }

    /// Takes a pending-receive slot for `queue` when fewer than `receivable` are taken.
    fn try_receive_slot(&self, queue: &str, receivable: usize) -> Option<ReceiveSlot> {
        let mut pending = self.pending_receives.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let taken = pending.get(queue).copied().unwrap_or(0);
        if taken >= receivable {
            return None;
        }
        pending.insert(queue.to_string(), taken + 1);
        Some(ReceiveSlot { pending: self.pending_receives.clone(), queue: queue.to_string() })
    }

    /// Proposes a `Tick` when some timer or move task needs one.
    pub async fn tick_if_needed(&self) -> Result<(), ApiError> {
        if self.read(|engine, now| engine.needs_tick(now)) {
            self.propose(Command::Tick).await?;
        }
        Ok(())
    }
}

fn lock(engine: &RwLock<Engine>) -> RwLockReadGuard<'_, Engine> {
    engine.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One pending receive on a queue; released when dropped, whatever the outcome.
struct ReceiveSlot {
    pending: Arc<Mutex<HashMap<String, usize>>>,
    queue: String,
}

impl Drop for ReceiveSlot {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(taken) = pending.get_mut(&self.queue) {
            *taken -= 1;
            if *taken == 0 {
                pending.remove(&self.queue);
            }
        }
    }
}
