//! The Raft type configuration shared by every group.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shoal_engine::{LogEntry, Outcome};

/// How to reach a node: the address of its gRPC service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeInfo {
    pub addr: String,
}

/// What the metadata group records when the cluster is created; every node checks its own
/// configuration against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub data_groups: u32,
    pub account_id: String,
    pub region: String,
}

/// The application data of a log entry. Stored and sent in a versioned envelope (`format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// A command for the engine of a data group, stamped with the leader's clock. Shared, so
    /// the log cache, the state machine and every follower's stream hold one copy.
    Engine(Arc<LogEntry>),
    /// Records the cluster's configuration in the metadata group; the first one wins.
    SetCluster(ClusterInfo),
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::Engine(entry) => write!(f, "engine command at {} ms", entry.time_ms),
            Proposal::SetCluster(info) => write!(f, "cluster of {} data groups", info.data_groups),
        }
    }
}

/// What applying an entry returned to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Engine(Outcome),
    /// The cluster configuration in force after a `SetCluster`.
    Cluster(ClusterInfo),
    /// Membership changes and entries a group does not take.
    Nothing,
}

openraft::declare_raft_types!(
    /// Shoal's Raft types: node ids are `u64`, a node is its gRPC address.
    pub TypeConfig:
        D = Proposal,
        R = Response,
        NodeId = u64,
        Node = NodeInfo,
);
