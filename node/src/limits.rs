//! Bounds of the node: request sizes, channel capacities, batching, background intervals.
//! SQS quotas themselves live in `shoal_engine::limits`.

/// Largest HTTP request body read; a 1 MiB message with JSON escaping fits.
pub const HTTP_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Proposals waiting for the log writer; senders wait when it is full.
pub const PROPOSAL_QUEUE_CAPACITY: usize = 4096;
/// Proposals written with one fsync.
pub const PROPOSAL_BATCH_MAX: usize = 1024;
/// Bytes of log entries written with one fsync (one entry more may overshoot it).
pub const PROPOSAL_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Log entries between engine snapshots.
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 50_000;
/// Log bytes between engine snapshots, so large messages cannot grow the log without bound.
pub const SNAPSHOT_INTERVAL_BYTES: usize = 256 * 1024 * 1024;
/// Largest snapshot stored as one RocksDB value (RocksDB drops values over 4 GiB silently).
/// A larger engine keeps its whole log instead; chunked snapshots come with replication.
pub const SNAPSHOT_BYTES_MAX: usize = 3 * 1024 * 1024 * 1024;
/// After failed snapshots the intervals double, up to this many times (64x).
pub const SNAPSHOT_BACKOFF_SHIFT_MAX: u32 = 6;
/// A request body must arrive within this time.
pub const HTTP_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// After SIGTERM, connections get this long to finish before they are dropped (default of
/// `--shutdown-grace-ms`).
pub const SHUTDOWN_GRACE_MS: u64 = 25_000;
/// How often a long poll re-checks for messages whose delay or visibility timeout ended.
pub const LONG_POLL_RECHECK_MS: u64 = 100;
/// Receivable messages counted per queue when deciding whether another long poller proposes.
pub const RECEIVE_ESTIMATE_CAP: usize = 1024;
/// How often the node checks whether the engine needs a `Tick`.
pub const TICK_INTERVAL_MS: u64 = 1000;

const _: () = assert!(PROPOSAL_BATCH_MAX <= PROPOSAL_QUEUE_CAPACITY);
const _: () = assert!(HTTP_BODY_BYTES_MAX < PROPOSAL_BATCH_BYTES_MAX);
const _: () = assert!((SNAPSHOT_BYTES_MAX as u64) < u32::MAX as u64);
