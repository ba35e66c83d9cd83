//! Shoal's replication: every queue command goes through an openraft group.
//!
//! - [`types`]: the Raft type configuration, what a log entry carries and what applying it returns.
//! - [`store`]: one RocksDB per node holding the logs and votes of every group, keys prefixed by
//!   group id, with group commit of the fsyncs.
//! - [`bodies`]: the store of message contents the engine names by key: a column family of the
//!   node's RocksDB (in memory in the simulation), written once per applied batch.
//! - [`log_cache`]: the newest entries of each group's log in memory, so applying and
//!   replicating them reads no RocksDB and decodes nothing.
//! - [`state`]: the state machine of a group (the engine, in memory) and its snapshots, built to a
//!   file and installed from one.
//! - [`format`]: the versioned envelopes of log entries and snapshot files, and the migrations
//!   from older formats.
//! - [`pollers`]: long polls waiting on a group's queues, woken per queue after an applied batch.
//! - [`clock`]: the time leaders stamp on entries, which follows the monotonic clock.
//! - [`network`]: the gRPC transport between nodes, the group id in every message.

pub mod bodies;
pub mod clock;
pub mod format;
pub mod limits;
pub mod log_cache;
pub mod network;
pub mod pollers;
pub mod state;
pub mod store;
pub mod types;

pub use shoal_sharding::GroupId;
pub use state::ShoalRaft;
pub use types::{ClusterInfo, NodeInfo, Proposal, Response, TypeConfig};
