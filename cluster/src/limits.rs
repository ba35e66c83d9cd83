//! Bounds of the cluster layer: Raft timing, calls between nodes, long polling, background
//! intervals. SQS quotas live in `shoal_engine::limits`, the front door's in `shoal_api::limits`.

/// Largest encoded group call or reply between nodes. The front door asserts that its largest
/// request, with its reply, fits.
pub const CALL_BYTES_MAX: usize = 32 * 1024 * 1024;
/// A call to another node may take this long, plus its long-poll wait.
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// How long a request waits for its group to elect a leader before it gets a 503.
pub const LEADER_WAIT_MS: u64 = 3_000;
/// How often a long poll re-checks for messages whose delay or visibility timeout ended.
pub const LONG_POLL_RECHECK_MS: u64 = 100;
/// Receivable messages counted per queue when deciding whether another long poller proposes.
pub const RECEIVE_ESTIMATE_CAP: usize = 1024;
/// How often a node asks its peers which write level their builds read.
pub const WRITE_LEVEL_POLL_MS: u64 = 5_000;
/// How long a node waits for a peer's answer to `Hello`.
pub const HELLO_TIMEOUT_MS: u64 = 1_000;
/// How often the node checks whether a group it leads needs a `Tick`.
pub const TICK_INTERVAL_MS: u64 = 1000;

/// Raft leaders heartbeat this often.
pub const RAFT_HEARTBEAT_MS: u64 = 100;
/// openraft's election timeout range. A follower keeps the leader's lease for the largest
/// timeout after it last heard from it (refusing votes meanwhile), then waits a random timeout
/// from this range before it stands: a dead leader is replaced after 0.8-1.0 s of silence, the
/// lease and the timeout together. (At 800-1,600 ms it took 2.4-3.2 s.)
pub const RAFT_ELECTION_TIMEOUT_MIN_MS: u64 = 300;
pub const RAFT_ELECTION_TIMEOUT_MAX_MS: u64 = 500;
/// How long a read index waits for a quorum to acknowledge a heartbeat before the read fails
/// (503). openraft's default is the leader lease, `RAFT_ELECTION_TIMEOUT_MAX_MS`.
pub const READ_INDEX_WAIT_MS: u64 = 1_600;
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

// A follower stands only after missing at least eight heartbeats.
const _: () = assert!(RAFT_ELECTION_TIMEOUT_MAX_MS + RAFT_ELECTION_TIMEOUT_MIN_MS >= 8 * RAFT_HEARTBEAT_MS);
const _: () = assert!(RAFT_ELECTION_TIMEOUT_MIN_MS > 2 * RAFT_HEARTBEAT_MS);
const _: () = assert!(RAFT_ELECTION_TIMEOUT_MIN_MS < RAFT_ELECTION_TIMEOUT_MAX_MS);

/// Most messages handed from one group's outbox to another group at once.
pub const OUTBOX_BATCH_ENTRIES: usize = 64;
/// About how many body bytes one outbox hand-over carries (at least one message); well under
/// CALL_BYTES_MAX.
pub const OUTBOX_BATCH_BYTES: usize = 512 * 1024;
/// How often a leader looks at its outbox when nothing is applied, and waits after a failure.
pub const OUTBOX_RETRY_MS: u64 = 500;

const _: () = assert!(OUTBOX_BATCH_BYTES * 4 < CALL_BYTES_MAX);

// An append of the most entries, each as large as the largest request a front door takes (a
// quarter of a call), fits in one Raft message.
const _: () =
    assert!(RAFT_MAX_PAYLOAD_ENTRIES as usize * (CALL_BYTES_MAX / 4) <= shoal_raft::limits::RAFT_MESSAGE_BYTES_MAX);

/// Producer flow control (see `flow`): a queue counts as consumed while a receive on it ended
/// within this long.
pub const CONSUMER_ACTIVE_MS: u64 = 2_000;
/// The window over which a queue's rate of consumption is averaged (exponential decay).
pub const CONSUMPTION_RATE_WINDOW_S: f64 = 1.0;
/// A consumed queue holds sends while its receivable backlog exceeds this many milliseconds of
/// its consumption ... (20 ms and 100 messages halved the end-to-end latency of 50 ms and 200
/// at the same throughput; 10 ms and 50 cost 3.5% of it: docs/benchmarks.md)
pub const FLOW_BACKLOG_TARGET_MS: u64 = 20;
/// ... or this many messages, whichever is more (enough that consumers' receives come back full).
pub const FLOW_BACKLOG_MIN: usize = 100;
/// A held send is re-checked at least this often (and whenever its queue changes).
pub const FLOW_RECHECK_MS: u64 = 20;
/// A send held this long is refused as throttled; the client retries it.
pub const SEND_ADMISSION_WAIT_MS: u64 = 2_000;
/// The consumption table is swept of departed consumers when it has more queues than this.
pub const CONSUMPTION_QUEUES_SWEEP: usize = 10_000;

const _: () = assert!(FLOW_BACKLOG_MIN <= RECEIVE_ESTIMATE_CAP);
const _: () = assert!(SEND_ADMISSION_WAIT_MS < CALL_TIMEOUT_MS);

/// `CONSUMER_ACTIVE_MS` as a duration.
pub fn consumer_active() -> std::time::Duration {
    std::time::Duration::from_millis(CONSUMER_ACTIVE_MS)
}
