//! Bounds of the node: request sizes, Raft timing, forwarding, background intervals.
//! SQS quotas themselves live in `shoal_engine::limits`.

/// Largest HTTP request body read; a 1 MiB message with JSON escaping fits.
pub const HTTP_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Largest forwarded request or reply between nodes (a request body plus its reply).
pub const FORWARD_BYTES_MAX: usize = 4 * HTTP_BODY_BYTES_MAX;
/// A forwarded request may take this long, plus its long-poll wait.
pub const FORWARD_TIMEOUT_MS: u64 = 10_000;
/// How long a request waits for its group to elect a leader before it gets a 503.
pub const LEADER_WAIT_MS: u64 = 3_000;
/// Default of `--http-connections-max`: open client connections at once; one more is answered
/// 503 and closed.
pub const HTTP_CONNECTIONS_MAX: usize = 4096;
/// Default of `--http-header-timeout-ms`: a request's headers must arrive within this time, and
/// a kept-alive connection idle this long is closed. Longer than SDKs keep idle connections
/// pooled in practice, so a pooled connection is rarely closed under a client.
pub const HTTP_HEADER_TIMEOUT_MS: u64 = 60_000;
/// After a failed accept (e.g. out of file descriptors), wait this long before the next.
pub const HTTP_ACCEPT_RETRY_MS: u64 = 50;
/// Most values (members, array elements, scalars) a JSON request may hold. A full
/// SendMessageBatch with ten attributes on each of its ten entries holds about 500.
pub const JSON_VALUES_MAX: usize = 10_000;
/// A request body must arrive within this time.
pub const HTTP_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// After SIGTERM, connections get this long to finish before they are dropped (default of
/// `--shutdown-grace-ms`).
pub const SHUTDOWN_GRACE_MS: u64 = 25_000;
/// How often a long poll re-checks for messages whose delay or visibility timeout ended.
pub const LONG_POLL_RECHECK_MS: u64 = 100;
/// Receivable messages counted per queue when deciding whether another long poller proposes.
pub const RECEIVE_ESTIMATE_CAP: usize = 1024;
/// How often the node checks whether a group it leads needs a `Tick`.
pub const TICK_INTERVAL_MS: u64 = 1000;

/// Raft leaders heartbeat this often.
pub const RAFT_HEARTBEAT_MS: u64 = 100;
/// A follower that hears no leader for a random time in this range starts an election.
pub const RAFT_ELECTION_TIMEOUT_MIN_MS: u64 = 800;
pub const RAFT_ELECTION_TIMEOUT_MAX_MS: u64 = 1600;
/// Default of `--snapshot-entries`: log entries of a group between its snapshots.
pub const RAFT_SNAPSHOT_ENTRIES: u64 = 20_000;
/// Entries kept in the log after a snapshot, so a briefly lagging follower needs no snapshot.
pub const RAFT_LOG_KEPT_AFTER_SNAPSHOT: u64 = 1_000;
/// Log entries deleted at once when purging.
pub const RAFT_PURGE_BATCH: u64 = 1_024;
/// Entries per append-entries message.
pub const RAFT_MAX_PAYLOAD_ENTRIES: u64 = 256;
/// Bytes per snapshot chunk on the wire.
pub const RAFT_SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;
/// How long a snapshot install may stall.
pub const RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 30_000;
/// Requests queued to one group's Raft core.
pub const RAFT_API_CHANNEL: u64 = 4_096;

const _: () = assert!(RAFT_ELECTION_TIMEOUT_MIN_MS > 4 * RAFT_HEARTBEAT_MS);
const _: () = assert!(RAFT_ELECTION_TIMEOUT_MIN_MS < RAFT_ELECTION_TIMEOUT_MAX_MS);

/// Most messages handed from one group's outbox to another group at once.
pub const OUTBOX_BATCH_ENTRIES: usize = 64;
/// About how many body bytes one outbox hand-over carries (at least one message); well under
/// FORWARD_BYTES_MAX even when JSON escapes every byte of the bodies.
pub const OUTBOX_BATCH_BYTES: usize = 512 * 1024;
/// How often a leader looks at its outbox when nothing is applied, and waits after a failure.
pub const OUTBOX_RETRY_MS: u64 = 500;
