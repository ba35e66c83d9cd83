//! Shoal's cluster layer: the Raft groups this node hosts, and running a typed request on the
//! leader of its group, here or one hop away.
//!
//! - [`cluster`]: hosts the group replicas (a map that gains and loses groups), bootstraps,
//!   routes a [`call`] to a group's leader over a peer transport, runs the outbox and tick
//!   workers, reports status. Generic over the transport and, through [`replica`], the Raft
//!   type configuration, so the simulation runs it as the node does.
//! - [`grpc`]: the node's wiring: RocksDB, snapshot files, the gRPC service and transport.
//! - [`replica`]: a hosted group's Raft as the cluster uses it (propose, read index, leader).
//! - [`broker`]: one hosted group: proposals stamped with the cluster clock, reads of its
//!   applied state, read index, long polling.
//! - [`flow`]: producer flow control, holding sends to queues whose consumers fall behind.
//! - [`call`]: what crosses between nodes: a group request (a service's request, or an outbox
//!   import) and its reply, versioned and bounded; the [`GroupService`] a front door implements
//!   to run its requests on a leader.
//! - [`level`]: the write level every node reads, agreed over `Hello`, so a rolling upgrade
//!   writes a new format only once every node reads it.
//! - [`error`]: cluster failures (not leader, no leader, unreachable, timeout, outcome
//!   unknown) and a group's failures (cluster or engine).
//!
//! Architecture invariant: this crate knows nothing of a wire protocol (HTTP, AWS JSON or XML);
//! a front door such as `shoal-api` depends on it, never the other way.

pub mod broker;
pub mod call;
pub mod cluster;
pub mod error;
pub mod flow;
pub mod grpc;
pub mod level;
pub mod limits;
pub mod replica;

pub use broker::Broker;
pub use call::{EncodedCall, GroupReply, GroupRequest, GroupService, Transport};
pub use cluster::{Cluster, ClusterParts};
pub use error::{CallError, ClusterError, GroupError, Leader};
pub use flow::FlowControl;
pub use grpc::{parse_peers, ClusterConfig};
pub use level::WriteLevel;
pub use replica::GroupRaft;
