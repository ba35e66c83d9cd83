//! The Raft of one hosted group as the cluster layer uses it: propose, read index, who leads,
//! bootstrap. An object-safe trait over `openraft::Raft` of any Shoal type configuration, so
//! the node's Raft (tokio, RocksDB, gRPC) and the simulation's (seeded runtime, in-memory
//! storage, simulated network) run the same cluster code.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::errors::{ClientWriteError, InitializeError, RaftError};
use openraft::storage::RaftStateMachine;
use openraft::{LinearizerOption, RaftTypeConfig};
use shoal_raft::{NodeInfo, Proposal, Response};

use crate::limits;

/// Why a proposal did not give a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// This replica does not lead; the leader it knows, with its address.
    NotLeader(Option<(u64, NodeInfo)>),
    /// Whether the entry was committed is unknown.
    Unknown(String),
}

/// One replica's view of its group, for status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    pub state: String,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot: Option<u64>,
    pub purged: Option<u64>,
}

/// What the cluster layer asks of a group's Raft on this node.
pub trait GroupRaft: Send + Sync + 'static {
    /// Proposes `proposal` and waits until it is committed and applied here.
    fn write(&self, proposal: Proposal) -> BoxFuture<'_, Result<Response, WriteError>>;
    /// Waits until this replica has applied everything committed when the call began, as
    /// confirmed by a quorum (leader only).
    fn linearize(&self) -> BoxFuture<'_, Result<(), String>>;
    fn is_leader(&self) -> bool;
    fn status(&self) -> RaftStatus;
    /// The leader, waiting up to `wait` while there is none.
    fn leader(&self, wait: Duration) -> BoxFuture<'_, Option<u64>>;
    /// Resolves with the leader once this replica knows one other than `from` (the group has
    /// elected someone else) or, given `after_term`, any leader of a later term (`from` may have
    /// been elected again). Never resolves while `from` leads in that term (or none is known).
    fn leader_change(&self, from: u64, after_term: Option<u64>) -> BoxFuture<'_, u64>;
    /// Starts the group with `members` unless it has a vote or log already.
    fn initialize(&self, members: BTreeMap<u64, NodeInfo>) -> BoxFuture<'_, Result<bool, String>>;
    fn shutdown(&self) -> BoxFuture<'_, Result<(), String>>;
    /// openraft's statistics since the replica started, as text: batch sizes, and how long the
    /// entries took from each stage of their life to the next (proposed, received by the core,
    /// submitted to the log, persisted, committed, applied).
    fn raft_stats(&self) -> BoxFuture<'_, Result<String, String>>;
}

impl<C, SM> GroupRaft for openraft::Raft<C, SM>
where
    C: RaftTypeConfig<D = Proposal, R = Response, NodeId = u64, Node = NodeInfo, Term = u64>,
    SM: RaftStateMachine<C>,
{
    fn write(&self, proposal: Proposal) -> BoxFuture<'_, Result<Response, WriteError>> {
        Box::pin(async move {
            match self.client_write(proposal).await {
                Ok(written) => Ok(written.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                    Err(WriteError::NotLeader(forward.leader_id.zip(forward.leader_node)))
                }
                Err(error) => Err(WriteError::Unknown(error.to_string())),
            }
        })
    }

    fn linearize(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            // A read index (a quorum acknowledges a heartbeat sent after the call), waiting
            // longer for it than openraft's default, the leader lease (500 ms), on a busy node.
            let read_index = LinearizerOption::new(Some(Duration::ZERO), true)
                .with_wait_timeout(Duration::from_millis(limits::READ_INDEX_WAIT_MS));
            self.ensure_linearizable(read_index).await.map(|_| ()).map_err(|error| match error {
                RaftError::APIError(error) => error.to_string(),
                RaftError::Fatal(fatal) => fatal.to_string(),
            })
        })
    }

    fn is_leader(&self) -> bool {
        openraft::Raft::is_leader(self)
    }

    fn status(&self) -> RaftStatus {
        let metrics = self.metrics().borrow_watched().clone();
        RaftStatus {
            state: format!("{:?}", metrics.state),
            leader: metrics.current_leader,
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            last_applied: metrics.last_applied.as_ref().map(|id| id.index()),
            snapshot: metrics.snapshot.as_ref().map(|id| id.index()),
            purged: metrics.purged.as_ref().map(|id| id.index()),
        }
    }

    fn leader(&self, wait: Duration) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move {
            if let Some(leader) = self.metrics().borrow_watched().current_leader {
                return Some(leader);
            }
            let metrics = self.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader").await;
            metrics.ok().and_then(|metrics| metrics.current_leader)
        })
    }

    fn leader_change(&self, from: u64, after_term: Option<u64>) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            // The server metrics change with votes and roles only, not with every apply.
            let mut server = self.server_metrics();
            loop {
                let changed = {
                    let metrics = server.borrow_watched();
                    // The term from the full metrics, published with the server metrics.
                    let later = after_term.is_some_and(|term| self.metrics().borrow_watched().current_term > term);
                    metrics.current_leader.filter(|&leader| leader != from || later)
                };
                if let Some(leader) = changed {
                    return leader;
                }
                if server.changed().await.is_err() {
                    // The group shut down: no leader will come.
                    return futures::future::pending().await;
                }
            }
        })
    }

    fn initialize(&self, members: BTreeMap<u64, NodeInfo>) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async move {
            if self.is_initialized().await.map_err(|fatal| fatal.to_string())? {
                return Ok(false);
            }
            match openraft::Raft::initialize(self, members).await {
                Ok(()) => Ok(true),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(false),
                Err(error) => Err(error.to_string()),
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { openraft::Raft::shutdown(self).await.map_err(|error| error.to_string()) })
    }

    fn raft_stats(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let mut stats = openraft::Raft::runtime_stats(self).await.map_err(|fatal| fatal.to_string())?;
            stats.build_log_stage_histograms();
            Ok(stats.display().human_readable().to_string())
        })
    }
}
