//! Producer flow control on a group's leader. Unpaced producers' batched sends are cheap and a
//! consumer's round trip costs two commits (receive, delete), so without a brake producers take
//! the CPU, consumers get a fraction of what they need and the backlog grows without bound. A
//! queue whose consumers are active (a receive ended on it lately) and whose receivable backlog
//! exceeds a short time's worth of their consumption holds its sends until the backlog drains,
//! and throttles them after a bound, which SDKs retry. Queues nobody consumes are never held:
//! a backlog built on purpose is SQS's to keep.
//!
//! A departure from SQS, which never slows a send; `FlowControl::Off` restores that.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::limits;

/// Whether a leader holds sends to queues whose consumers fall behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowControl {
    #[default]
    On,
    Off,
}

/// What the consumers of each queue of a group have taken lately.
#[derive(Debug, Default)]
pub(crate) struct Consumption {
    queues: Mutex<HashMap<String, Rate>>,
}

/// An exponentially decayed count of received messages: in a steady state, messages per second.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    at: Instant,
}

impl Rate {
    fn decayed(self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.per_second * (-elapsed / limits::CONSUMPTION_RATE_WINDOW_S).exp()
    }
}

impl Consumption {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Rate>> {
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receive on `queue` ended at `now` with `messages` messages.
    pub(crate) fn received(&self, queue: &str, messages: usize, now: Instant) {
        let mut queues = self.lock();
        let added = messages as f64 / limits::CONSUMPTION_RATE_WINDOW_S;
        match queues.get_mut(queue) {
            Some(rate) => *rate = Rate { per_second: rate.decayed(now) + added, at: now },
            None => {
                queues.insert(queue.to_string(), Rate { per_second: added, at: now });
            }
        }
        // Forget queues whose consumers left long ago, so the map stays as small as the set of
        // consumed queues.
        if queues.len() > limits::CONSUMPTION_QUEUES_SWEEP {
            queues.retain(|_, rate| now.saturating_duration_since(rate.at) < limits::consumer_active());
        }
    }

    /// The receivable backlog above which sends to `queue` wait, or `None` when no receive
    /// ended on it within the last `CONSUMER_ACTIVE_MS`.
    pub(crate) fn backlog_limit(&self, queue: &str, now: Instant) -> Option<usize> {
        let rate = *self.lock().get(queue)?;
        if now.saturating_duration_since(rate.at) >= limits::consumer_active() {
            return None;
        }
        let share = rate.decayed(now) * limits::FLOW_BACKLOG_TARGET_MS as f64 / 1000.0;
        Some((share as usize).max(limits::FLOW_BACKLOG_MIN))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn test_only_queues_with_active_consumers_have_a_limit() {
        let consumption = Consumption::default();
        let start = Instant::now();
        assert_eq!(consumption.backlog_limit("q", start), None, "never consumed");
        consumption.received("q", 0, start);
        assert_eq!(consumption.backlog_limit("q", start), Some(limits::FLOW_BACKLOG_MIN), "an empty poll counts");
        let later = start + limits::consumer_active();
        assert_eq!(consumption.backlog_limit("q", later), None, "consumers gone");
        assert_eq!(consumption.backlog_limit("other", start), None);
    }

    #[test]
    fn test_the_limit_follows_the_rate_of_consumption() {
        let consumption = Consumption::default();
        let mut now = Instant::now();
        // 10 messages every millisecond: 10,000 per second.
        for _ in 0..20_000 {
            consumption.received("q", 10, now);
            now += Duration::from_millis(1);
        }
        let limit = consumption.backlog_limit("q", now).expect("active");
        let expected = 10_000 * limits::FLOW_BACKLOG_TARGET_MS as usize / 1000;
        assert!(limit.abs_diff(expected) <= expected / 20, "limit {limit}, expected about {expected}");
        assert!(expected > limits::FLOW_BACKLOG_MIN, "the test must exercise the rate, not the floor");
    }
}
