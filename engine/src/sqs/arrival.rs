//! A message entering a queue from elsewhere: into a dead-letter queue, out of one by a move
//! task, or back into the queue it left. Every such path, in this group or through the outbox,
//! enqueues through `enqueue_arriving`, so they cannot drift apart.

use super::queue::Message;
use super::MessageHandler;

/// How a message came into a queue from elsewhere, which decides what it keeps of its past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Received too often in a queue whose redrive policy names this one. It starts
    /// unreceived; as in SQS, a FIFO dead-letter queue restarts its retention period and a
    /// standard one keeps it. It already carries its source queue's ARN.
    DeadLetter,
    /// Carried out of a dead-letter queue by a move task: it starts unreceived, with a new
    /// retention period, and no longer names a dead-letter source.
    Moved,
    /// Back in the queue it left, because the queue it was bound for refused it: it keeps its
    /// receives and its retention period.
    Returned,
}

impl MessageHandler<'_> {
    /// Enqueues a message from elsewhere: visible at once, at the end of the queue, and in a
    /// FIFO queue at the end of its group with a new sequence number.
    pub(crate) fn enqueue_arriving(&mut self, mut message: Message, arrival: Arrival) {
        match arrival {
            Arrival::DeadLetter => {
                message.restart_receives();
                if self.queue.is_fifo() {
                    message.enqueued_ms = self.now_ms;
                }
            }
            Arrival::Moved => {
                message.restart_receives();
                message.dead_letter_source_arn = None;
                message.enqueued_ms = self.now_ms;
            }
            Arrival::Returned => {}
        }
        message.sequence_number = None;
        self.queue.enqueue(message, 0, self.now_ms);
    }
}
