//! The write level: one number naming the formats a node writes (log entries, snapshot files
//! and transfers, calls between nodes), so that a rolling upgrade never has a node write what
//! another cannot read yet.
//!
//! Every build reads every level up to its [`WRITE_LEVEL_MAX`]. A node asks each peer for its
//! build's maximum (`Groups.Hello`) at start and then every [`limits::WRITE_LEVEL_POLL_MS`]; it
//! writes at the lowest maximum of all nodes, and a peer that does not answer, or whose build
//! has no `Hello`, counts as [`WRITE_LEVEL_OLDEST`]. Once every node has been seen at a level,
//! the level is recorded in the node's store and never goes back: a build that reads less than
//! its data directory's level refuses to start, and a peer found running such a build is
//! logged as an error, since it cannot read what the others write.
//!
//! | level | proposal format | snapshot format | call format |
//! |---|---|---|---|
//! | 1 | 3 | 2 | 1 |
//! | 2 | 3 | 3 (no message contents in the file; a body section follows it in a transfer) | 1 |
//! | 3 | 3 | 4 (as 3, but a message's header, id to sent time, only in the store's record) | 1 |
//! | 4 | 4 for an entry holding an SNS action (SNS is refused below this level), 3 for the rest | 5 (as 4, then the topics) | 1 |
//! | 5 | 5 for an entry holding a subscription or publish action (FIFO topics included) or an import of published messages (those actions are refused below this level), 4 and 3 as at level 4 | 6 (as 5, the topics with their subscriptions, then FIFO topics' state) | 1 |
//!
//! A format change adds a level here, keeps writing the previous formats below it, and its
//! tests start a cluster whose peers answer the previous level.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use futures::future::BoxFuture;

/// The highest level this build reads and writes.
pub const WRITE_LEVEL_MAX: u32 = 5;
/// The level from which SNS actions are written (proposal format 4, snapshot format 5); below
/// it the front door refuses them, since a peer could not read them.
pub const SNS_LEVEL: u32 = 4;
/// The level from which SNS subscriptions and publishing are written (proposal format 5,
/// snapshot format 6); below it the front door refuses those actions.
pub const SUBSCRIPTIONS_LEVEL: u32 = 5;
/// The level of a node that has not answered, or whose build predates `Hello`.
pub const WRITE_LEVEL_OLDEST: u32 = 1;

/// What a peer answered to `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub node: u64,
    pub write_level_max: u32,
}

/// Records a level durably before it is used.
pub type PersistLevel = Box<dyn Fn(u32) -> BoxFuture<'static, std::io::Result<()>> + Send + Sync>;

/// The level this node writes at: agreed by every node, never lowered.
pub struct WriteLevel {
    /// The highest level this build reads ([`WRITE_LEVEL_MAX`] but in tests).
    max: u32,
    current: AtomicU32,
    persist: PersistLevel,
    /// Each peer's latest answer, to log a change once.
    seen: Mutex<BTreeMap<u64, Option<u32>>>,
}

impl std::fmt::Debug for WriteLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteLevel").field("current", &self.get()).finish()
    }
}

impl WriteLevel {
    /// Starts at `recorded`, the level this node's store holds (or [`WRITE_LEVEL_OLDEST`]);
    /// refused if this build cannot read it.
    pub fn new(recorded: u32, persist: PersistLevel) -> Result<WriteLevel, String> {
        WriteLevel::with_max(WRITE_LEVEL_MAX, recorded, persist)
    }

    /// As [`WriteLevel::new`], for a build whose highest level is `max`.
    pub fn with_max(max: u32, recorded: u32, persist: PersistLevel) -> Result<WriteLevel, String> {
        if recorded > max {
            return Err(format!(
                "the data directory has been written at write level {recorded}, by a newer build; \
                 this build reads up to level {max}: run a build at least as new"
            ));
        }
        Ok(WriteLevel {
            max,
            current: AtomicU32::new(recorded.max(WRITE_LEVEL_OLDEST)),
            persist,
            seen: Mutex::new(BTreeMap::new()),
        })
    }

    /// A level that is never recorded: for tests and the simulation.
    pub fn in_memory() -> WriteLevel {
        WriteLevel::new(WRITE_LEVEL_OLDEST, Box::new(|_| Box::pin(async { Ok(()) })))
            .expect("the oldest level is readable")
    }

    /// The highest level this build reads: what this node answers to `Hello`.
    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn get(&self) -> u32 {
        self.current.load(Ordering::Acquire)
    }

    /// Takes the peers' answers (`None`: no answer) and raises the level if all of them now
    /// read a higher one; the new level is recorded before it is used.
    pub async fn agree(&self, answers: &BTreeMap<u64, Option<u32>>) -> std::io::Result<u32> {
        self.log_changes(answers);
        let current = self.get();
        let agreed = agreed_level(self.max, current, answers.values().copied());
        if agreed > current {
            (self.persist)(agreed).await?;
            self.current.store(agreed, Ordering::Release);
            tracing::info!(level = agreed, "every node reads the new write level; writing it from now on");
        }
        Ok(self.get())
    }

    fn log_changes(&self, answers: &BTreeMap<u64, Option<u32>>) {
        let current = self.get();
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (&node, &answer) in answers {
            if seen.insert(node, answer) == Some(answer) {
                continue;
            }
            match answer {
                Some(level) if level < current => tracing::error!(
                    node,
                    level,
                    current,
                    "a peer runs a build that reads only up to write level {level}, below the level this cluster \
                     writes: it cannot read what the others write; run a newer build on it"
                ),
                Some(level) => tracing::debug!(node, level, "peer's write level"),
                None => tracing::debug!(node, "peer did not say its write level"),
            }
        }
    }
}

/// The level every node reads: the lowest of this build's maximum `max` and the peers' (a peer
/// without an answer counts as the oldest level), never below `floor`.
pub fn agreed_level(max: u32, floor: u32, answers: impl IntoIterator<Item = Option<u32>>) -> u32 {
    let lowest = answers.into_iter().map(|answer| answer.unwrap_or(WRITE_LEVEL_OLDEST)).fold(max, u32::min);
    lowest.max(floor)
}

/// The state machines write snapshot files of the format the level allows.
impl shoal_raft::format::WriteLevelSource for WriteLevel {
    fn write_level(&self) -> u32 {
        self.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn recorder() -> (Arc<Mutex<Vec<u32>>>, PersistLevel) {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let sink = recorded.clone();
        let persist: PersistLevel = Box::new(move |level| {
            sink.lock().unwrap().push(level);
            Box::pin(async { Ok(()) })
        });
        (recorded, persist)
    }

    #[test]
    fn test_the_level_is_the_lowest_answer_and_silence_counts_as_the_oldest() {
        assert_eq!(agreed_level(3, 1, []), 3, "alone, a node writes its own level");
        assert_eq!(agreed_level(3, 1, [Some(3), Some(4)]), 3, "never above this build's");
        assert_eq!(agreed_level(3, 1, [Some(3), Some(2)]), 2);
        assert_eq!(agreed_level(3, 1, [Some(3), None]), WRITE_LEVEL_OLDEST);
        assert_eq!(agreed_level(3, 2, [None, Some(1)]), 2, "an agreed level stays");
    }

    #[test]
    fn test_a_level_above_this_builds_is_refused_at_start() {
        let error = WriteLevel::new(WRITE_LEVEL_MAX + 1, recorder().1).unwrap_err();
        assert!(error.contains("newer build"), "{error}");
        assert_eq!(WriteLevel::new(WRITE_LEVEL_MAX, recorder().1).unwrap().get(), WRITE_LEVEL_MAX);
    }

    #[tokio::test]
    async fn test_a_raised_level_is_recorded_before_it_is_used_and_never_lowered() {
        let (recorded, persist) = recorder();
        let level = WriteLevel::with_max(2, 1, persist).unwrap();
        let one_old = BTreeMap::from([(2, Some(2)), (3, Some(1))]);
        assert_eq!(level.agree(&one_old).await.unwrap(), 1);
        let one_silent = BTreeMap::from([(2, Some(2)), (3, None)]);
        assert_eq!(level.agree(&one_silent).await.unwrap(), 1);
        assert!(recorded.lock().unwrap().is_empty());
        let all = BTreeMap::from([(2, Some(2)), (3, Some(3))]);
        assert_eq!(level.agree(&all).await.unwrap(), 2);
        assert_eq!(*recorded.lock().unwrap(), vec![2]);
        assert_eq!(level.agree(&one_silent).await.unwrap(), 2, "a silent or downgraded peer does not lower it");
        assert_eq!(level.agree(&one_old).await.unwrap(), 2);
        assert_eq!(*recorded.lock().unwrap(), vec![2]);
    }

    #[tokio::test]
    async fn test_a_level_that_cannot_be_recorded_is_not_used() {
        let persist: PersistLevel = Box::new(|_| Box::pin(async { Err(std::io::Error::other("disk full")) }));
        let level = WriteLevel::with_max(2, 1, persist).unwrap();
        let all = BTreeMap::from([(2, Some(2))]);
        assert!(level.agree(&all).await.is_err());
        assert_eq!(level.get(), 1);
    }
}
