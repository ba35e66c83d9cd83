//! The time stamped on log entries: the cluster's time as this node estimates it, which advances
//! at the rate of the monotonic clock whatever the wall clock does.
//!
//! A leader used to stamp its wall clock, and the engine keeps `max(entry time, last time)`: a
//! wall clock stepped forward on a leader expired visibility timeouts and delays early, and one
//! stepped back (or a new leader whose clock was behind) froze every timer of the group until
//! the wall clock caught up. Now every node keeps `cluster time = monotonic time + offset`:
//!
//! - the offset starts from the wall clock when the process starts (nothing better is known);
//! - every applied entry raises it, if needed, so that cluster time is at least the entry's
//!   stamp: a follower that becomes leader continues from its predecessor's last stamp plus the
//!   time that really passed since, never from its own wall clock;
//! - it is slewed toward the wall clock by at most [`CLOCK_SLEW_PER_SECOND_MS`] per second, so a
//!   real correction of the wall clock is followed slowly and a step is never followed at once;
//! - a read never goes back (the last value read is a floor).
//!
//! So a step of the wall clock on any node moves timers by at most 0.1% of the time it lasts.
//! [`ClockState`] is the arithmetic, with the times passed in; [`ClusterClock`] reads the real
//! clocks (or a [`TimeSource`] a test moves by hand).

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::limits::{CLOCK_SLEW_PER_SECOND_MS, TIME_MS_MAX};

/// Where a node reads time.
pub trait TimeSource: Send + Sync + std::fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch by the wall clock, which may jump either way.
    fn wall_ms(&self) -> u64;
    /// Milliseconds since an arbitrary start by a clock that never jumps.
    fn monotonic_ms(&self) -> u64;
}

/// The operating system's clocks.
#[derive(Debug)]
pub struct SystemClocks {
    start: Instant,
}

impl SystemClocks {
    pub fn new() -> SystemClocks {
        SystemClocks { start: Instant::now() }
    }
}

impl Default for SystemClocks {
    fn default() -> Self {
        SystemClocks::new()
    }
}

impl TimeSource for SystemClocks {
    fn wall_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    fn monotonic_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// The estimate of cluster time, as numbers: `cluster = monotonic + offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockState {
    offset_ms: i128,
    /// Monotonic time of the last slew toward the wall clock.
    slewed_at_ms: u64,
    /// The last value read; reads never go below it.
    floor_ms: u64,
}

impl ClockState {
    /// Starts from the wall clock: at start nothing better is known.
    pub fn new(wall_ms: u64, monotonic_ms: u64) -> ClockState {
        ClockState {
            offset_ms: i128::from(wall_ms) - i128::from(monotonic_ms),
            slewed_at_ms: monotonic_ms,
            floor_ms: 0,
        }
    }

    fn estimate_ms(&self, monotonic_ms: u64) -> u64 {
        (i128::from(monotonic_ms) + self.offset_ms).clamp(0, i128::from(TIME_MS_MAX)) as u64
    }

    /// Cluster time now, after slewing toward the wall clock by what the elapsed time allows.
    pub fn now_ms(&mut self, wall_ms: u64, monotonic_ms: u64) -> u64 {
        let elapsed_ms = monotonic_ms.saturating_sub(self.slewed_at_ms);
        let step_ms = i128::from(elapsed_ms) * i128::from(CLOCK_SLEW_PER_SECOND_MS) / 1000;
        if step_ms > 0 {
            let behind_ms = i128::from(wall_ms) - i128::from(self.estimate_ms(monotonic_ms));
            self.offset_ms += behind_ms.clamp(-step_ms, step_ms);
            self.slewed_at_ms = monotonic_ms;
        }
        let now_ms = self.estimate_ms(monotonic_ms).max(self.floor_ms);
        self.floor_ms = now_ms;
        now_ms
    }

    /// An entry stamped `stamp_ms` was applied at `monotonic_ms`: cluster time is at least that.
    pub fn observe(&mut self, stamp_ms: u64, monotonic_ms: u64) {
        let stamp_ms = stamp_ms.min(TIME_MS_MAX);
        if stamp_ms > self.estimate_ms(monotonic_ms) {
            self.offset_ms = i128::from(stamp_ms) - i128::from(monotonic_ms);
        }
    }
}

/// A node's cluster clock, shared by every group it hosts.
#[derive(Debug)]
pub struct ClusterClock {
    source: Arc<dyn TimeSource>,
    state: Mutex<ClockState>,
}

impl ClusterClock {
    pub fn new(source: Arc<dyn TimeSource>) -> ClusterClock {
        let state = ClockState::new(source.wall_ms(), source.monotonic_ms());
        ClusterClock { source, state: Mutex::new(state) }
    }

    /// The operating system's clocks.
    pub fn system() -> Arc<ClusterClock> {
        Arc::new(ClusterClock::new(Arc::new(SystemClocks::new())))
    }

    /// Cluster time now, in milliseconds since the epoch: what a leader stamps on an entry and
    /// what reads of timers use.
    pub fn now_ms(&self) -> u64 {
        let (wall_ms, monotonic_ms) = (self.source.wall_ms(), self.source.monotonic_ms());
        self.lock().now_ms(wall_ms, monotonic_ms)
    }

    /// Called for every applied entry with its stamp.
    pub fn observe(&self, stamp_ms: u64) {
        let monotonic_ms = self.source.monotonic_ms();
        self.lock().observe(stamp_ms, monotonic_ms);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: u64 = 1_767_225_600_000;

    /// Wall and monotonic clocks moved by hand: `wall = monotonic + START + step`.
    struct Clocks {
        monotonic_ms: u64,
        step_ms: i64,
    }

    impl Clocks {
        fn wall_ms(&self) -> u64 {
            (START_MS as i64 + self.monotonic_ms as i64 + self.step_ms) as u64
        }
    }

    /// Reads `state` every 100 ms for `duration_ms`; returns the largest distance between cluster
    /// time and real elapsed time since `reference` (cluster time at monotonic time 0 + elapsed).
    fn run(state: &mut ClockState, clocks: &mut Clocks, duration_ms: u64, reference_ms: u64) -> u64 {
        let mut worst_ms = 0;
        let mut last_ms = 0;
        for _ in 0..duration_ms / 100 {
            clocks.monotonic_ms += 100;
            let now_ms = state.now_ms(clocks.wall_ms(), clocks.monotonic_ms);
            assert!(now_ms >= last_ms, "cluster time went back");
            last_ms = now_ms;
            worst_ms = worst_ms.max(now_ms.abs_diff(reference_ms + clocks.monotonic_ms));
        }
        worst_ms
    }

    #[test]
    fn test_clock_steps_of_five_minutes_either_way_move_time_by_the_slew_only() {
        for step_ms in [300_000, -300_000] {
            let mut clocks = Clocks { monotonic_ms: 0, step_ms: 0 };
            let mut state = ClockState::new(clocks.wall_ms(), 0);
            assert_eq!(run(&mut state, &mut clocks, 10_000, START_MS), 0);
            // The wall clock steps and stays stepped for a minute, then steps back.
            clocks.step_ms = step_ms;
            let during_ms = run(&mut state, &mut clocks, 60_000, START_MS);
            assert!(during_ms <= 60, "a minute at 0.1% slew moves at most 60 ms, moved {during_ms} ms");
            clocks.step_ms = 0;
            let after_ms = run(&mut state, &mut clocks, 120_000, START_MS);
            assert!(after_ms <= 60, "{after_ms}");
            let settled_ms = run(&mut state, &mut clocks, 1_000, START_MS);
            assert_eq!(settled_ms, 0, "back on the wall clock once the slew has undone the drift");
        }
    }

    #[test]
    fn test_clock_follows_a_lasting_correction_slowly() {
        let mut clocks = Clocks { monotonic_ms: 0, step_ms: 0 };
        let mut state = ClockState::new(clocks.wall_ms(), 0);
        clocks.step_ms = 2_000;
        run(&mut state, &mut clocks, 2_001_000, START_MS);
        let now_ms = state.now_ms(clocks.wall_ms(), clocks.monotonic_ms);
        assert_eq!(now_ms, clocks.wall_ms(), "2 s at 1 ms per second: caught up within 2,001 s");
    }

    #[test]
    fn test_clock_of_a_new_leader_continues_from_its_predecessors_stamps() {
        // The old leader's clock is right; the follower's wall clock is five minutes behind.
        let mut leader_clocks = Clocks { monotonic_ms: 0, step_ms: 0 };
        let mut leader = ClockState::new(leader_clocks.wall_ms(), 0);
        let mut follower_clocks = Clocks { monotonic_ms: 0, step_ms: -300_000 };
        let mut follower = ClockState::new(follower_clocks.wall_ms(), 0);
        let mut last_stamp_ms = 0;
        for _ in 0..100 {
            leader_clocks.monotonic_ms += 100;
            follower_clocks.monotonic_ms += 100;
            last_stamp_ms = leader.now_ms(leader_clocks.wall_ms(), leader_clocks.monotonic_ms);
            follower.observe(last_stamp_ms, follower_clocks.monotonic_ms);
        }
        // The leader dies; two seconds later the follower stamps its first entry.
        follower_clocks.monotonic_ms += 2_000;
        let first_ms = follower.now_ms(follower_clocks.wall_ms(), follower_clocks.monotonic_ms);
        // Within the slew the 12 s since its start allow (12 ms) toward its own wall clock.
        assert!(first_ms.abs_diff(last_stamp_ms + 2_000) <= 12, "{first_ms} vs {}", last_stamp_ms + 2_000);
        // And it keeps advancing at the real rate, not frozen until its wall clock catches up.
        let drift_ms = run(&mut follower, &mut follower_clocks, 60_000, START_MS);
        assert!(drift_ms <= 12 + 60, "{drift_ms}");
    }

    #[test]
    fn test_clock_observing_an_older_stamp_changes_nothing() {
        let mut state = ClockState::new(START_MS, 0);
        state.observe(START_MS - 60_000, 0);
        assert_eq!(state.now_ms(START_MS + 1_000, 1_000), START_MS + 1_000);
    }

    #[test]
    fn test_clock_reads_never_go_back_when_the_wall_clock_does() {
        let mut state = ClockState::new(START_MS, 0);
        let first_ms = state.now_ms(START_MS + 5_000, 5_000);
        let second_ms = state.now_ms(START_MS - 10_000_000, 5_000);
        assert!(second_ms >= first_ms);
    }
}
