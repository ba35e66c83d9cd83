//! Dead-letter queues: where a queue's messages go once received too often, and which queues
//! use a queue as theirs. Move tasks, which carry messages back out, are in `move_task`.

use crate::error::SqsResult;
use crate::outbox::Transfer;

use super::admin::page_of_names;
use super::arrival::Arrival;
use super::queue::Message;
use super::state::{MessageHandler, SqsHandler, SqsState};

// Move tasks' types were first here, and other crates name them by this path.
pub use super::state::{MoveTask, MoveTaskStatus};

impl SqsState {
    /// Names of queues whose redrive policy targets `name`, in name order, after `start_after`.
    pub(crate) fn dead_letter_source_queues(
        &self,
        name: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> SqsResult<(Vec<String>, Option<String>)> {
        let arn = &self.queue(name)?.arn;
        Ok(self.dead_letter_sources_of(arn, start_after, max))
    }

    /// `Engine::dead_letter_sources_of`.
    pub(crate) fn dead_letter_sources_of(
        &self,
        arn: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> (Vec<String>, Option<String>) {
        let sources = self
            .queues
            .values()
            .filter(|queue| queue.config.redrive_policy.as_ref().is_some_and(|p| p.dead_letter_target_arn == arn))
            .map(|queue| &queue.name);
        page_of_names(sources, start_after, max)
    }
}

impl SqsHandler<'_> {
    /// The dead-letter queue and maxReceiveCount of a queue, when its target still exists (as
    /// far as this group can tell: one in another group is checked when a message gets there).
    pub(crate) fn redrive_target(&self, name: &str) -> Option<(String, u32)> {
        let queue = self.sqs.queues.get(name)?;
        let policy = queue.config.redrive_policy.as_ref()?;
        let target = self.queue_name_from_arn(&policy.dead_letter_target_arn)?;
        if target == name {
            return None;
        }
        if self.is_remote(target) {
            let refused = self.redrive_paused.contains(name);
            return (!refused).then(|| (target.to_string(), policy.max_receive_count));
        }
        let target_queue = self.sqs.queues.get(target)?;
        (target_queue.is_fifo() == queue.is_fifo()).then(|| (target.to_string(), policy.max_receive_count))
    }

    /// Puts messages received too often in `source` into its dead-letter queue `target`: here,
    /// or into the outbox when `target` is a queue of another group.
    pub(crate) fn send_to_dead_letter_queue(
        &mut self,
        source: &str,
        target: &str,
        messages: Vec<Message>,
        now_ms: u64,
    ) {
        if self.is_remote(target) {
            for message in messages {
                self.push_outbox(source, target, Transfer::DeadLetter, message);
            }
            return;
        }
        let Some(queue) = self.sqs.queues.get_mut(target) else {
            debug_assert!(messages.is_empty(), "redrive target vanished during a receive");
            return;
        };
        let mut handler = MessageHandler { queue, now_ms };
        for message in messages {
            handler.enqueue_arriving(message, Arrival::DeadLetter);
        }
    }
}
