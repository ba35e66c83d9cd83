//! The cluster layer's errors. A `ClusterError` is the cluster's: the request may be retried
//! (a front door answers 503). A `GroupError` is what running something on a group can give: a
//! cluster error, or the engine's refusal.

use serde::{Deserialize, Serialize};
use shoal_engine::{EngineError, SqsError};
use shoal_raft::GroupId;

/// Why the cluster could not run a request; every case is worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ClusterError {
    #[error("node {node} does not lead group {group} (leader: {leader:?}); retry")]
    NotLeader { group: GroupId, node: u64, leader: Option<Leader> },
    #[error("raft group {group} has no leader right now; retry")]
    NoLeader { group: GroupId },
    #[error("node {node} cannot be reached for group {group}: {reason}")]
    Unreachable { group: GroupId, node: u64, reason: String },
    #[error("node {node} did not answer for group {group} in time")]
    Timeout { group: GroupId, node: u64 },
    #[error("group {group}: the request may or may not have taken effect: {reason}")]
    OutcomeUnknown { group: GroupId, reason: String },
    #[error("this node does not host group {group}")]
    NotHosted { group: GroupId },
    /// The group cannot serve right now (e.g. a read index found no quorum).
    #[error("group {group} cannot serve right now: {reason}; retry")]
    Unavailable { group: GroupId, reason: String },
}

/// A group's leader as a node knows it: its id and the address of its cluster service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    pub node: u64,
    pub address: String,
}

/// What running something on a group can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A send waited the longest it may for its queue's consumers to catch up (see `flow`).
    #[error("the queue's consumers are behind; the send was not taken; retry later")]
    Throttled,
    /// A bug: e.g. the state machine answered a command with the reply of another.
    #[error("{0}")]
    Internal(String),
}

/// An SQS refusal read from the engine's state (a check before proposing).
impl From<SqsError> for GroupError {
    fn from(error: SqsError) -> GroupError {
        GroupError::Engine(EngineError::Sqs(error))
    }
}

/// A call's failure: the cluster's, or the service's own error (the client's to see).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallError<E> {
    Cluster(ClusterError),
    Service(E),
}
