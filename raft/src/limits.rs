//! Bounds of replication: clock slew, and the sizes of what a node accepts from a peer.

/// The cluster clock moves toward a node's wall clock by at most this many milliseconds per
/// second (0.1%): a step of the wall clock moves timers by at most 0.1% of the time it lasts.
pub const CLOCK_SLEW_PER_SECOND_MS: u64 = 1;
/// Latest time a stamp can carry (the engine's bound).
pub const TIME_MS_MAX: u64 = shoal_engine::limits::TIME_MS_MAX;

const _: () = assert!(CLOCK_SLEW_PER_SECOND_MS > 0 && CLOCK_SLEW_PER_SECOND_MS < 1000);
