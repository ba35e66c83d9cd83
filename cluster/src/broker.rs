//! The broker of one hosted Raft group: proposals through the group's Raft, stamped with the
//! cluster clock; reads against its applied state; read index; long polling. A front door's
//! handlers run against it on the node that leads the group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_engine::command::{ReceiveRequest, ReceivedMessage};
use shoal_engine::{Command, Engine, LogEntry, Reply};
use shoal_raft::clock::ClusterClock;
use shoal_raft::state::Shared;
use shoal_raft::{GroupId, Proposal, Response};

use crate::error::{ClusterError, GroupError, Leader};
use crate::flow::{Consumption, FlowControl};
use crate::limits;
use crate::replica::{GroupRaft, WriteError};

#[derive(Clone)]
pub struct Broker {
    pub group: GroupId,
    node_id: u64,
    raft: Arc<dyn GroupRaft>,
    shared: Arc<Shared>,
    /// Set at shutdown: long polls return at once instead of holding the server open.
    stopping: Arc<AtomicBool>,
    /// Messages claimed by receives proposed and not yet answered, per queue: a long poller
    /// proposes only while the queue has more receivable messages than that, so one new
    /// message does not make every poller write an empty receive to the log.
    pending_receives: Arc<Mutex<HashMap<String, usize>>>,
    /// The leadership term in which this node last confirmed, as leader, that its state is
    /// current.
    linearized_term: Arc<AtomicU64>,
    pub account_id: String,
    /// The node's cluster clock: what entries are stamped with and timers are read at.
    clock: Arc<ClusterClock>,
    flow_control: FlowControl,
    /// What each queue's consumers took lately, for flow control.
    consumption: Arc<Consumption>,
}

impl Broker {
    pub fn new(
        node_id: u64,
        group: GroupId,
        raft: Arc<dyn GroupRaft>,
        shared: Arc<Shared>,
        stopping: Arc<AtomicBool>,
        clock: Arc<ClusterClock>,
    ) -> Broker {
        let account_id = shared.read().engine.config().account_id.clone();
        Broker {
            group,
            node_id,
            raft,
            shared,
            stopping,
            pending_receives: Arc::new(Mutex::new(HashMap::new())),
            linearized_term: Arc::new(AtomicU64::new(u64::MAX)),
            account_id,
            clock,
            flow_control: FlowControl::default(),
            consumption: Arc::new(Consumption::default()),
        }
    }

    /// The same broker with producer flow control on or off (on by default).
    pub fn with_flow_control(mut self, flow_control: FlowControl) -> Broker {
        self.flow_control = flow_control;
        self
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn raft(&self) -> &dyn GroupRaft {
        self.raft.as_ref()
    }

    /// Ends every long poll now (with what it has) and every later one at once.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.shared.pollers.wake_everyone();
        self.shared.applied.notify_waiters();
    }

    /// Runs `f` on the applied state of this replica. Keep `f` short: applying waits for it.
    pub fn read<T>(&self, f: impl FnOnce(&Engine, u64) -> T) -> T {
        let now_ms = self.clock.now_ms();
        let state = self.shared.read();
        f(&state.engine, now_ms)
    }

    /// Waits until this replica has applied everything committed when the call began, as
    /// confirmed by a quorum: a read after this sees every write acknowledged before it.
    /// Only the leader can do that; elsewhere it fails with a retryable error.
    pub async fn linearize(&self) -> Result<(), ClusterError> {
        let group = self.group;
        self.raft.linearize().await.map_err(|reason| ClusterError::Unavailable { group, reason })
    }

    /// `linearize` once after each change of leadership term (cheap afterwards).
    pub async fn linearize_once_per_term(&self) -> Result<(), ClusterError> {
        let term = self.raft.status().term;
        if self.linearized_term.load(Ordering::Acquire) == term {
            return Ok(());
        }
        self.linearize().await?;
        self.linearized_term.store(term, Ordering::Release);
        Ok(())
    }

    /// Proposes a command, stamped with the cluster clock, and waits until a majority has it
    /// and this replica has applied it.
    pub async fn propose(&self, command: Command) -> Result<Reply, GroupError> {
        let proposal = Proposal::Engine(Arc::new(LogEntry::new(self.clock.now_ms(), command)));
        let group = self.group;
        match self.raft.write(proposal).await {
            Ok(Response::Engine(outcome)) => Ok(outcome?),
            Ok(other) => Err(GroupError::Internal(format!("unexpected reply from the state machine: {other:?}"))),
            Err(WriteError::NotLeader(leader)) => {
                let leader = leader.map(|(node, info)| Leader { node, address: info.addr });
                Err(GroupError::Cluster(ClusterError::NotLeader { group, node: self.node_id(), leader }))
            }
            // Whether it was committed is unknown: the client retries, as it would after a timeout.
            Err(WriteError::Unknown(reason)) => {
                Err(GroupError::Cluster(ClusterError::OutcomeUnknown { group, reason }))
            }
        }
    }

    /// This node's id in the group.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// ReceiveMessage with long polling: waits up to `wait_seconds` for a message, proposing a
    /// receive only when one is there to take, so an idle poll writes nothing to the log. It
    /// wakes when a batch applied something to its queue (see `shoal_raft::pollers`) and at
    /// least every `LONG_POLL_RECHECK_MS`, for delays and visibility timeouts that end.
    pub async fn receive(
        &self,
        queue: &str,
        request: ReceiveRequest,
        wait_seconds: u32,
    ) -> Result<Vec<ReceivedMessage>, GroupError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait_seconds));
        let fifo = self.read(|engine, _| engine.queue(queue).map(|q| q.is_fifo()))?;
        // A standard receive claims up to its maximum of the receivable messages; a FIFO one
        // takes the messages of one group at most (the estimate counts groups).
        let claim = if fifo { 1 } else { usize::try_from(request.max_messages.max(1)).unwrap_or(usize::MAX) };
        // A retried FIFO attempt id must reach the engine once even when nothing is visible:
        // its messages are in flight and come back from the attempt record.
        let mut replay_attempt = fifo && request.receive_request_attempt_id.is_some();
        let watch = self.shared.pollers.watch(queue);
        loop {
            let mut fed = Box::pin(watch.notified());
            fed.as_mut().enable();
            let receivable = self.read(|engine, now| {
                engine.queue(queue)?;
                Ok::<usize, GroupError>(engine.receivable_estimate(queue, now, limits::RECEIVE_ESTIMATE_CAP))
            })?;
            let limit = if replay_attempt { usize::MAX } else { receivable };
            if let Some(_slot) = self.try_receive_slot(queue, claim, limit) {
                replay_attempt = false;
                let command = Command::ReceiveMessage { queue: queue.to_string(), request: request.clone() };
                let Reply::Received(messages) = self.propose(command).await? else {
                    return Err(GroupError::Internal("unexpected reply to ReceiveMessage".to_string()));
                };
                if !messages.is_empty() {
                    self.consumption.received(queue, messages.len(), tokio::time::Instant::now());
                    return Ok(messages);
                }
                // Our own receive's batch fired the signal; wait for a later one instead.
                fed = Box::pin(watch.notified());
                fed.as_mut().enable();
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || self.stopping.load(Ordering::SeqCst) {
                self.consumption.received(queue, 0, now);
                return Ok(Vec::new());
            }
            let recheck = now + Duration::from_millis(limits::LONG_POLL_RECHECK_MS);
            let _ = tokio::time::timeout_at(recheck.min(deadline), fed).await;
        }
    }

    /// Claims `claim` of `queue`'s receivable messages for a receive about to be proposed, when
    /// the receives already pending claim fewer than `receivable`: ten pollers of a queue with
    /// ten visible messages commit one receive that takes them all, not one and nine empty ones.
    fn try_receive_slot(&self, queue: &str, claim: usize, receivable: usize) -> Option<ReceiveSlot> {
        let mut pending = self.pending_receives.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let claimed = pending.get(queue).copied().unwrap_or(0);
        if claimed >= receivable {
            return None;
        }
        pending.insert(queue.to_string(), claimed.saturating_add(claim));
        Some(ReceiveSlot { pending: self.pending_receives.clone(), queue: queue.to_string(), claim })
    }

    /// Waits, on the leader, until a send to `queue` may be proposed: at once unless flow
    /// control holds the queue's sends because its consumers fall behind (see `flow`); then
    /// until the backlog drains, or fails with `Throttled` after `SEND_ADMISSION_WAIT_MS`.
    pub async fn admit_send(&self, queue: &str) -> Result<(), GroupError> {
        if self.flow_control == FlowControl::Off || !self.over_backlog_limit(queue) {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(limits::SEND_ADMISSION_WAIT_MS);
        let watch = self.shared.pollers.watch(queue);
        loop {
            // Registered before the check, so a change in between is not missed.
            let mut changed = Box::pin(watch.notified());
            changed.as_mut().enable();
            if !self.over_backlog_limit(queue) {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || self.stopping.load(Ordering::SeqCst) {
                return Err(GroupError::Throttled);
            }
            let recheck = now + Duration::from_millis(limits::FLOW_RECHECK_MS);
            let _ = tokio::time::timeout_at(recheck.min(deadline), changed).await;
        }
    }

    /// Whether `queue` has active consumers and more receivable messages than flow control
    /// lets its backlog hold.
    fn over_backlog_limit(&self, queue: &str) -> bool {
        let Some(limit) = self.consumption.backlog_limit(queue, tokio::time::Instant::now()) else {
            return false;
        };
        self.read(|engine, now| engine.receivable_estimate(queue, now, limit.saturating_add(1))) > limit
    }

    /// On the leader, proposes a `Tick` when some timer or move task needs one.
    pub async fn tick_if_needed(&self) -> Result<(), GroupError> {
        if self.raft.is_leader() && self.read(|engine, now| engine.needs_tick(now)) {
            self.propose(Command::Tick).await?;
        }
        Ok(())
    }
}

/// One pending receive's claim on a queue; released when dropped, whatever the outcome.
struct ReceiveSlot {
    pending: Arc<Mutex<HashMap<String, usize>>>,
    queue: String,
    claim: usize,
}

impl Drop for ReceiveSlot {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(claimed) = pending.get_mut(&self.queue) {
            *claimed = claimed.saturating_sub(self.claim);
            if *claimed == 0 {
                pending.remove(&self.queue);
            }
        }
    }
}
