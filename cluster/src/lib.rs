//! Shoal's cluster layer: the Raft groups this node hosts, and running a typed request on the
//! leader of its group, here or one hop away.
//!
//! - [`cluster`]: starts and hosts the group replicas, bootstraps, routes a [`call`] to a
//!   group's leader, runs the outbox workers, reports status.
//! - [`broker`]: one hosted group: proposals stamped with the cluster clock, reads of its
//!   applied state, read index, long polling.
//! - [`call`]: what crosses between nodes: a group request (a service's request, or an outbox
//!   import) and its reply, versioned and bounded; the [`GroupService`] a front door implements
//!   to run its requests on a leader.
//! - [`error`]: cluster failures (not leader, no leader, unreachable, timeout, outcome
//!   unknown) and a group's failures (cluster or engine).
//!
//! Architecture invariant: this crate knows nothing of a wire protocol (HTTP, AWS JSON or XML);
//! a front door such as `shoal-api` depends on it, never the other way.

pub mod broker;
pub mod call;
pub mod cluster;
pub mod error;
pub mod limits;

pub use broker::Broker;
pub use call::{GroupReply, GroupRequest, GroupService};
pub use cluster::{parse_peers, Cluster, ClusterConfig};
pub use error::{CallError, ClusterError, GroupError, Leader};
