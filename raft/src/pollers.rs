//! Long polls waiting on the queues of one group. Applying a batch notes which queues its commands
//! may have given something to receive ([`Command::wakes`]); after the batch only their pollers
//! wake, so a send to one queue does not wake the pollers of every other queue of the group.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use shoal_engine::command::Wakes;
use shoal_engine::Command;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// The pollers of a group's queues, by queue.
#[derive(Debug, Default)]
pub struct Pollers {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// One signal per queue that has pollers; removed with its last poller.
    queues: HashMap<String, Arc<Notify>>,
    /// Queues whose pollers wake when the batch being applied is done.
    woken: HashSet<String>,
    /// The batch being applied may have fed any queue.
    everyone: bool,
}

impl Pollers {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a poller of `queue` until the returned watch is dropped.
    pub fn watch(&self, queue: &str) -> Watch<'_> {
        let mut inner = self.lock();
        let signal = inner.queues.entry(queue.to_string()).or_default().clone();
        Watch { pollers: self, queue: queue.to_string(), signal }
    }

    /// Notes whose pollers `command`, just applied, may have fed.
    pub fn note(&self, command: &Command) {
        let mut inner = self.lock();
        match command.wakes() {
            Wakes::Nobody => {}
            Wakes::Everyone => inner.everyone = true,
            Wakes::Queue(queue) => {
                if inner.queues.contains_key(queue) && !inner.woken.contains(queue) {
                    inner.woken.insert(queue.to_string());
                }
            }
        }
    }

    /// Wakes the pollers noted since the last call (after a batch is applied).
    pub fn wake_noted(&self) {
        let mut inner = self.lock();
        let woken = std::mem::take(&mut inner.woken);
        if std::mem::take(&mut inner.everyone) {
            inner.queues.values().for_each(|signal| signal.notify_waiters());
        } else {
            woken.iter().filter_map(|queue| inner.queues.get(queue)).for_each(|signal| signal.notify_waiters());
        }
    }

    /// Wakes every poller (a snapshot was installed, the node is stopping).
    pub fn wake_everyone(&self) {
        let mut inner = self.lock();
        inner.everyone = true;
        drop(inner);
        self.wake_noted();
    }

    /// Queues with pollers now.
    pub fn watched(&self) -> usize {
        self.lock().queues.len()
    }
}

/// One poller's registration on a queue.
#[derive(Debug)]
pub struct Watch<'a> {
    pollers: &'a Pollers,
    queue: String,
    signal: Arc<Notify>,
}

impl Watch<'_> {
    /// Completes at the next wake of this queue's pollers after it is enabled (or first polled).
    pub fn notified(&self) -> Notified<'_> {
        self.signal.notified()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut inner = self.pollers.lock();
        // The map's reference and ours: no other poller holds the signal (clones are made
        // under this lock).
        if Arc::strong_count(&self.signal) == 2 {
            inner.queues.remove(&self.queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    fn delete_on(queue: &str) -> Command {
        Command::DeleteMessage { queue: queue.to_string(), receipt_handle: String::new() }
    }

    #[test]
    fn test_a_batch_wakes_only_the_pollers_of_the_queues_it_fed() {
        let pollers = Pollers::default();
        let (a, b) = (pollers.watch("a"), pollers.watch("b"));
        let mut fed_a = Box::pin(a.notified());
        let mut fed_b = Box::pin(b.notified());
        fed_a.as_mut().enable();
        fed_b.as_mut().enable();
        pollers.note(&delete_on("a"));
        pollers.note(&delete_on("nobody-polls-this"));
        assert!(fed_a.as_mut().now_or_never().is_none(), "nobody wakes before the batch is applied");
        pollers.wake_noted();
        assert!(fed_a.as_mut().now_or_never().is_some());
        assert!(fed_b.as_mut().now_or_never().is_none(), "b was not fed");

        let mut again_b = Box::pin(b.notified());
        again_b.as_mut().enable();
        pollers.note(&Command::Tick);
        pollers.wake_noted();
        assert!(again_b.now_or_never().is_some(), "a tick may feed any queue");
    }

    #[test]
    fn test_a_queue_leaves_the_table_with_its_last_poller() {
        let pollers = Pollers::default();
        let first = pollers.watch("q");
        let second = pollers.watch("q");
        pollers.note(&delete_on("q"));
        assert_eq!(pollers.watched(), 1);
        drop(first);
        assert_eq!(pollers.watched(), 1, "one poller remains");
        drop(second);
        assert_eq!(pollers.watched(), 0);
        pollers.wake_noted();
        pollers.note(&Command::CreateQueue {
            name: "q".into(),
            attributes: Default::default(),
            tags: Default::default(),
        });
        assert_eq!(pollers.watched(), 0, "noting never registers a queue");
    }
}
