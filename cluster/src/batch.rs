//! Many clients' commands in one Raft entry. A command proposed on a group's leader joins a
//! queue; while fewer than `BATCHES_IN_FLIGHT_MAX` entries of the group are being written, the
//! queue is cut into one entry (`Proposal::Engines`) and written, and each command gets the
//! outcome of its own part once the entry is committed and applied. So commands that arrive
//! while earlier entries are being committed share one append, one fsync on each replica and one
//! replication round, which is what bounds a small command's cost.
//!
//! Nothing is answered before its entry is committed and applied; a failed or unknown write
//! answers every command of the entry alike. The write runs in a task of the group's runtime, so
//! a caller that goes away (a client that disconnects) takes nothing from the others.
//!
//! Only from write level [`crate::level::BATCH_LEVEL`] (proposal format 4); below it every
//! command is an entry of its own, which every build reads.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use shoal_engine::message::{attribute_size_bytes, message_size_bytes};
use shoal_engine::{Command, LogEntry, Outcome};
use shoal_raft::{Proposal, Response};
use tokio::sync::oneshot;

use crate::limits;
use crate::replica::{GroupRaft, WriteError};

/// The answer to one command of a batch.
pub(crate) type Written = Result<Outcome, WriteError>;

/// The commands of one group waiting for an entry, and how many entries are being written.
#[derive(Default)]
pub(crate) struct Batcher {
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    in_flight: usize,
}

struct Waiting {
    entry: Arc<LogEntry>,
    bytes: usize,
    reply: oneshot::Sender<Written>,
}

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Proposes `entry` in the next entry cut, and waits for its outcome.
    pub(crate) async fn propose(self: &Arc<Self>, raft: &Arc<dyn GroupRaft>, entry: Arc<LogEntry>) -> Written {
        let (reply, answer) = oneshot::channel();
        let bytes = command_bytes(&entry.command);
        self.lock().waiting.push_back(Waiting { entry, bytes, reply });
        self.cut(raft);
        answer.await.unwrap_or_else(|_| {
            Err(WriteError::Unknown("the entry carrying this command ended without an answer".to_string()))
        })
    }

    /// Cuts and writes entries while there are commands waiting and room in flight.
    fn cut(self: &Arc<Self>, raft: &Arc<dyn GroupRaft>) {
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.in_flight >= limits::BATCHES_IN_FLIGHT_MAX || queue.waiting.is_empty() {
                    return;
                }
                queue.in_flight += 1;
                take_batch(&mut queue.waiting)
            };
            let (batcher, writer) = (self.clone(), raft.clone());
            raft.spawn(Box::pin(async move {
                write(writer.as_ref(), batch).await;
                batcher.lock().in_flight -= 1;
                batcher.cut(&writer);
            }));
        }
    }
}

/// The longest prefix of `waiting` that fits one entry (at least one command).
fn take_batch(waiting: &mut VecDeque<Waiting>) -> Vec<Waiting> {
    let mut bytes = 0;
    let mut count = 0;
    for next in waiting.iter() {
        if count == limits::BATCH_COMMANDS_MAX || (count > 0 && bytes + next.bytes > limits::BATCH_BYTES_MAX) {
            break;
        }
        bytes += next.bytes;
        count += 1;
    }
    waiting.drain(..count).collect()
}

/// Writes one entry and answers each of its commands.
async fn write(raft: &dyn GroupRaft, mut batch: Vec<Waiting>) {
    if batch.len() == 1 {
        let waiting = batch.pop().expect("one command");
        let written = match raft.write(Proposal::Engine(waiting.entry)).await {
            Ok(Response::Engine(outcome)) => Ok(outcome),
            Ok(other) => Err(WriteError::Unknown(format!("unexpected reply from the state machine: {other:?}"))),
            Err(error) => Err(error),
        };
        let _ = waiting.reply.send(written);
        return;
    }
    let entries = batch.iter().map(|waiting| waiting.entry.clone()).collect();
    match raft.write(Proposal::Engines(entries)).await {
        Ok(Response::Engines(outcomes)) if outcomes.len() == batch.len() => {
            for (waiting, outcome) in batch.into_iter().zip(outcomes) {
                let _ = waiting.reply.send(Ok(outcome));
            }
        }
        Ok(other) => {
            let error = WriteError::Unknown(format!("unexpected reply from the state machine: {other:?}"));
            for waiting in batch {
                let _ = waiting.reply.send(Err(error.clone()));
            }
        }
        Err(error) => {
            for waiting in batch {
                let _ = waiting.reply.send(Err(error.clone()));
            }
        }
    }
}

/// A bound on what `command` adds to an entry, for `BATCH_BYTES_MAX`: message contents where a
/// command carries them, a generous constant for the rest.
fn command_bytes(command: &Command) -> usize {
    const PER_ITEM: usize = 1024;
    match command {
        Command::SendMessage { entry, .. } => PER_ITEM + send_bytes(entry),
        Command::SendMessageBatch { entries, .. } => entries.iter().map(|entry| PER_ITEM + send_bytes(entry)).sum(),
        Command::ImportMessages { entries, .. } => entries
            .iter()
            .map(|entry| {
                let contents = entry.delivery.message.contents();
                PER_ITEM + contents.map_or(0, |record| message_size_bytes(&record.body, &record.attributes))
            })
            .sum(),
        Command::ReceiveMessage { .. } | Command::DeleteMessage { .. } | Command::ChangeMessageVisibility { .. } => {
            PER_ITEM
        }
        Command::DeleteMessageBatch { entries, .. } => PER_ITEM * entries.len().max(1),
        Command::ChangeMessageVisibilityBatch { entries, .. } => PER_ITEM * entries.len().max(1),
        Command::AckOutbox { positions, refused } => PER_ITEM + 16 * (positions.len() + refused.len()),
        Command::Tick => PER_ITEM,
        // Queue administration: attributes, tags and policies of a few KiB at most.
        _ => 64 * PER_ITEM,
    }
}

fn send_bytes(entry: &shoal_engine::command::SendEntry) -> usize {
    let system: usize = entry.system_attributes.iter().map(|(name, value)| attribute_size_bytes(name, value)).sum();
    message_size_bytes(&entry.body, &entry.attributes) + system
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(command: Command) -> (Waiting, oneshot::Receiver<Written>) {
        let (reply, answer) = oneshot::channel();
        let bytes = command_bytes(&command);
        (Waiting { entry: Arc::new(LogEntry::new(0, command)), bytes, reply }, answer)
    }

    fn receive() -> Command {
        Command::ReceiveMessage {
            queue: "q".into(),
            request: shoal_engine::command::ReceiveRequest {
                max_messages: 10,
                visibility_timeout_seconds: None,
                receive_request_attempt_id: None,
            },
        }
    }

    fn send(body_bytes: usize) -> Command {
        Command::SendMessage {
            queue: "q".into(),
            entry: shoal_engine::command::SendEntry {
                id: String::new(),
                message_id: "m".into(),
                body: "x".repeat(body_bytes),
                delay_seconds: None,
                attributes: Default::default(),
                system_attributes: Default::default(),
                deduplication_id: None,
                group_id: None,
                sender_id: "s".into(),
            },
        }
    }

    #[test]
    fn test_a_batch_stops_at_the_command_count() {
        let mut queue: VecDeque<Waiting> = (0..limits::BATCH_COMMANDS_MAX + 3).map(|_| waiting(receive()).0).collect();
        assert_eq!(take_batch(&mut queue).len(), limits::BATCH_COMMANDS_MAX);
        assert_eq!(take_batch(&mut queue).len(), 3);
        assert!(take_batch(&mut queue).is_empty());
    }

    #[test]
    fn test_a_batch_stops_at_its_bytes_but_takes_one_large_command_alone() {
        let large = limits::BATCH_BYTES_MAX;
        let mut queue: VecDeque<Waiting> =
            [send(100), send(large / 2), send(large / 2), send(large * 2), send(100)].map(|c| waiting(c).0).into();
        assert_eq!(take_batch(&mut queue).len(), 2, "the third send would pass the bound");
        assert_eq!(take_batch(&mut queue).len(), 1, "the next half-bound send, then the large one does not fit");
        assert_eq!(take_batch(&mut queue).len(), 1, "a command larger than the bound goes alone");
        assert_eq!(take_batch(&mut queue).len(), 1);
        assert!(queue.is_empty());
    }

    #[test]
    fn test_the_estimate_covers_a_send_body() {
        assert!(command_bytes(&send(100_000)) > 100_000);
        assert!(command_bytes(&receive()) < command_bytes(&send(100_000)));
    }
}
