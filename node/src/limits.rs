//! Bounds of the node: request sizes, channel capacities, batching, background intervals.
//! SQS quotas themselves live in `shoal_engine::limits`.

/// Largest HTTP request body read; a 1 MiB message with JSON escaping fits.
pub const HTTP_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Proposals waiting for the log writer; senders wait when it is full.
pub const PROPOSAL_QUEUE_CAPACITY: usize = 4096;
/// Proposals written with one fsync.
pub const PROPOSAL_BATCH_MAX: usize = 1024;
/// Log entries between engine snapshots.
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 50_000;
/// How often a long poll re-checks for messages whose delay or visibility timeout ended.
pub const LONG_POLL_RECHECK_MS: u64 = 100;
/// How often the node checks whether the engine needs a `Tick`.
pub const TICK_INTERVAL_MS: u64 = 1000;

const _: () = assert!(PROPOSAL_BATCH_MAX <= PROPOSAL_QUEUE_CAPACITY);
