//! Every bound of a chaos run in one place.

use std::time::Duration;

/// A client operation that takes longer is abandoned and recorded as unknown.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A node that refused or dropped a connection, timed out, or answered 503 is skipped by every
/// client for this long (unless every node is), as a real client would; then it is tried again.
pub const NODE_SKIP_MS: u64 = 2_000;
/// A probe send and a probe receive begin this often, whatever earlier ones wait for: the
/// resolution of the recovery measured per fault.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Probe processes per kind (send, receive): enough that one is free at every tick while the
/// others wait out their timeouts (a probe receive may wait for its receive and its delete).
pub const PROBE_PROCESSES: usize = 64;
/// Long-poll wait of a receive; below OPERATION_TIMEOUT so an idle poll is not a timeout.
pub const RECEIVE_WAIT_SECONDS: i32 = 1;
/// The queue's visibility timeout: a message whose delete went astray comes back after it.
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 10;
/// How long a fresh cluster gets to elect its leaders and create the queue.
pub const STARTUP_BOUND: Duration = Duration::from_secs(90);
/// How long a healed cluster gets to agree on leaders again before the drain starts anyway.
pub const HEAL_BOUND: Duration = Duration::from_secs(60);
/// The final drain stops after this even if values are still missing (the verdict is then
/// unknown, not valid).
pub const DRAIN_BOUND: Duration = Duration::from_secs(120);
/// The drain is over, values missing or not, once the queue has reported no message (visible,
/// in flight or delayed) after this many empty receives in a row.
pub const DRAIN_EMPTY_CONFIRMATIONS: u32 = 3;
/// Pause between a FIFO producer's retries of an unknown send.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Pause between attempts of a call that sets a run up (creating queues, the topic,
/// subscriptions), each retried until STARTUP_BOUND.
pub const SETUP_RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// The `sns` workload's topic, and how many queues subscribe to it.
pub const SNS_TOPIC: &str = "chaos-topic";
pub const SNS_QUEUES: usize = 6;
/// Drain processes per queue in the `sns` workload: a fault can leave hundreds of deliveries
/// queued in each queue, and one reader takes 10 at a time, deleting each.
pub const SNS_DRAIN_READERS: usize = 4;
/// One in this many acknowledged FIFO sends is sent again with the same deduplication id.
pub const FIFO_DUPLICATE_SEND_ONE_IN: u32 = 8;
/// A node that does not come back within this during a rolling restart is left to catch up.
pub const RESTART_READY_BOUND: Duration = Duration::from_secs(30);
/// Graceful stop: seconds between SIGTERM and SIGKILL.
pub const STOP_GRACE_SECONDS: u32 = 10;
/// Between faults, and how long each fault holds (uniform in the range), in milliseconds.
pub const FAULT_GAP_MS: std::ops::Range<u64> = 2_000..5_000;
pub const FAULT_HOLD_MS: std::ops::Range<u64> = 3_000..9_000;
/// Clock step of the clock fault, in seconds either way (up to five minutes). Entries are stamped
/// with the cluster clock, which follows the monotonic clock, so a step moves no timer by more
/// than the 0.1% slew (before it did, and the step had to stay below DRAIN_BOUND).
pub const CLOCK_SKEW_SECONDS: std::ops::RangeInclusive<i64> = 5..=300;
/// The HTTP status endpoint answers within this or counts as down.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Container network of a run.
pub const SUBNET: &str = "10.213.0.0/24";
pub const ADDRESS_PREFIX: &str = "10.213.0.";
/// Node n gets address ADDRESS_PREFIX + (ADDRESS_BASE + n).
pub const ADDRESS_BASE: u32 = 10;
pub const HTTP_PORT: u16 = 9324;
pub const RAFT_PORT: u16 = 9325;

const _: () = assert!(RECEIVE_WAIT_SECONDS as u64 * 2 < OPERATION_TIMEOUT.as_secs());
const _: () = assert!(PROBE_PROCESSES as u128 * PROBE_INTERVAL.as_millis() > 2 * OPERATION_TIMEOUT.as_millis());
const _: () = assert!(VISIBILITY_TIMEOUT_SECONDS as u64 * 3 < DRAIN_BOUND.as_secs());
