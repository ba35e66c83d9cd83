//! DeleteMessage and ChangeMessageVisibility, single and batched, by receipt handle.

use crate::command::{BatchReply, DeleteEntry, VisibilityEntry};
use crate::engine::Engine;
use crate::error::{SqsError, SqsResult};
use crate::limits;
use crate::sqs::queue::Queue;
use crate::sqs::send::validate_batch_ids;

impl Engine {
    pub(crate) fn delete_message(&mut self, name: &str, receipt_handle: &str) -> SqsResult<()> {
        delete_in_queue(self.sqs.queue_mut(name)?, receipt_handle)
    }

    pub(crate) fn delete_message_batch(&mut self, name: &str, entries: &[DeleteEntry]) -> SqsResult<BatchReply<()>> {
        let queue = self.sqs.queue_mut(name)?;
        validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            reply.push(entry.id.clone(), delete_in_queue(queue, &entry.receipt_handle));
        }
        Ok(reply)
    }

    pub(crate) fn change_message_visibility(
        &mut self,
        name: &str,
        receipt_handle: &str,
        timeout_seconds: u32,
        now_ms: u64,
    ) -> SqsResult<()> {
        change_in_queue(self.sqs.queue_mut(name)?, receipt_handle, timeout_seconds, now_ms)
    }

    pub(crate) fn change_message_visibility_batch(
        &mut self,
        name: &str,
        entries: &[VisibilityEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<()>> {
        let queue = self.sqs.queue_mut(name)?;
        validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            let result = change_in_queue(queue, &entry.receipt_handle, entry.visibility_timeout_seconds, now_ms);
            reply.push(entry.id.clone(), result);
        }
        Ok(reply)
    }
}

/// Deleting a message that is already gone succeeds, as in SQS.
fn delete_in_queue(queue: &mut Queue, receipt_handle: &str) -> SqsResult<()> {
    if let Some(seq) = queue.resolve(receipt_handle)? {
        queue.remove(seq);
    }
    Ok(())
}

fn change_in_queue(queue: &mut Queue, receipt_handle: &str, timeout_seconds: u32, now_ms: u64) -> SqsResult<()> {
    if timeout_seconds > limits::VISIBILITY_TIMEOUT_SECONDS_MAX {
        return Err(SqsError::invalid_parameter(format!(
            "value {timeout_seconds} for parameter VisibilityTimeout is invalid: must be >= 0 and <= {}",
            limits::VISIBILITY_TIMEOUT_SECONDS_MAX
        )));
    }
    let Some(seq) = queue.resolve(receipt_handle)? else {
        return Err(SqsError::MessageNotInflight);
    };
    queue.change_visibility(seq, timeout_seconds, now_ms)
}
