//! A message entering a queue from elsewhere: into a dead-letter queue, out of one by a move
//! task, or back into the queue it left. Every such path, in this group or through the outbox,
//! enqueues through `enqueue_arriving`, so they cannot drift apart.

use super::queue::{Message, Seq};
use super::state::MessageHandler;

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
    /// Published to a topic the queue subscribes to: new to the queue, and delayed by the
    /// queue's delay, as if it had been sent.
    Published,
}

impl MessageHandler<'_> {
    /// Enqueues a message from elsewhere: visible at once (a published one after the queue's
    /// delay), at the end of the queue, and in a FIFO queue at the end of its group with a new
    /// sequence number.
    pub(crate) fn enqueue_arriving(&mut self, mut message: Message, arrival: Arrival) -> Seq {
        match arrival {
            Arrival::DeadLetter => {
                message.restart_receives();
                if self.queue.is_fifo() {
                    message.enqueued_ms = self.now_ms;
                }
            }
            Arrival::Moved => {
                message.restart_receives();
                message.set_dead_letter_source_arn(None);
                message.enqueued_ms = self.now_ms;
            }
            Arrival::Returned => {}
            Arrival::Published => message.enqueued_ms = self.now_ms,
        }
        let delay_seconds = match arrival {
            Arrival::Published => self.queue.config.delay_seconds,
            _ => 0,
        };
        message.set_sequence_number(None);
        self.queue.enqueue(message, delay_seconds, self.now_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bodies::BodyRecord;
    use crate::message::{MessageAttributes, MessageId};
    use crate::sqs::queue::{MessageExtra, MessageState, Queue, QueueConfig};

    const SENT_MS: u64 = 1_000;
    const NOW_MS: u64 = 9_000;

    /// A message that was received twice in a FIFO queue and then left it for a dead-letter queue.
    fn travelled() -> Message {
        let extra = MessageExtra {
            group_id: Some("g".to_string()),
            deduplication_id: Some("d".to_string()),
            sequence_number: Some(7),
            dead_letter_source_arn: Some("arn:source".to_string()),
        };
        let contents = BodyRecord {
            body: Arc::from("body"),
            attributes: MessageAttributes::new(),
            system_attributes: MessageAttributes::new(),
            header: None,
        };
        let mut message = Message::new(MessageId::new("m"), [0; 16], Arc::from("sender"), SENT_MS)
            .with_contents(contents)
            .with_extra(extra);
        message.note_receive(2_000);
        message.receive_count = 2;
        message.received_ms = 3_000;
        message.state = MessageState::InFlight { visible_at_ms: 4_000 };
        message
    }

    /// (receive count, first receive, enqueued at, dead-letter source, sequence number) of
    /// the message after it arrives in a new queue of the kind `fifo`.
    fn check(fifo: bool, arrival: Arrival) -> (u32, Option<u64>, u64, Option<String>, Option<u128>) {
        let mut queue = Queue::new("q".to_string(), "arn:q".to_string(), 1, QueueConfig::defaults(fifo), 0);
        MessageHandler { queue: &mut queue, now_ms: NOW_MS }.enqueue_arriving(travelled(), arrival);
        let (_, message) = queue.messages().next().unwrap();
        assert_eq!(message.state, MessageState::Visible, "an arrival is visible at once");
        (
            message.receive_count,
            message.first_receive_ms(),
            message.enqueued_ms,
            message.dead_letter_source_arn().map(str::to_string),
            message.sequence_number(),
        )
    }

    #[test]
    fn test_arrival_keeps_what_each_kind_of_arrival_keeps() {
        let source = Some("arn:source".to_string());
        assert_eq!(check(false, Arrival::DeadLetter), (0, None, SENT_MS, source.clone(), None));
        assert_eq!(check(true, Arrival::DeadLetter), (0, None, NOW_MS, source.clone(), Some(1)));
        assert_eq!(check(false, Arrival::Moved), (0, None, NOW_MS, None, None));
        assert_eq!(check(true, Arrival::Moved), (0, None, NOW_MS, None, Some(1)));
        assert_eq!(check(false, Arrival::Returned), (2, Some(2_000), SENT_MS, source.clone(), None));
        assert_eq!(check(true, Arrival::Returned), (2, Some(2_000), SENT_MS, source, Some(1)));
    }
}
