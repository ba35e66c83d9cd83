//! Bounds of replication: clock slew, and the sizes of what a node accepts from a peer.

/// The cluster clock moves toward a node's wall clock by at most this many milliseconds per
/// second (0.1%): a step of the wall clock moves timers by at most 0.1% of the time it lasts.
pub const CLOCK_SLEW_PER_SECOND_MS: u64 = 1;
/// Latest time a stamp can carry (the engine's bound).
pub const TIME_MS_MAX: u64 = shoal_engine::limits::TIME_MS_MAX;

const _: () = assert!(CLOCK_SLEW_PER_SECOND_MS > 0 && CLOCK_SLEW_PER_SECOND_MS < 1000);

/// Largest Raft message a node decodes from a peer (appends, votes, snapshot chunks). An append
/// carries at most `RAFT_MAX_PAYLOAD_ENTRIES` (256, shoal-cluster) entries, each no larger than
/// the request it came from (an 8 MiB body at most), so 2 GiB; this leaves room, and refuses
/// anything a peer could only send by mistake or malice instead of `usize::MAX`.
pub const RAFT_MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024 * 1024 - 1;

/// Largest snapshot file a node writes, reads or takes from a peer: far above what a group's
/// state in memory reaches today, and a bound on what a decode of a damaged or hostile file may
/// claim instead of `usize::MAX`.
pub const SNAPSHOT_BYTES_MAX: usize = 64 * 1024 * 1024 * 1024;
/// Longest snapshot metadata (openraft's: last log id and membership).
pub const SNAPSHOT_META_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Encoded bytes of the newest log entries each group keeps in memory (`log_cache`): enough for
/// a follower a few thousand batches behind to be served without reading RocksDB.
pub const LOG_CACHE_BYTES_PER_GROUP: usize = 8 * 1024 * 1024;
