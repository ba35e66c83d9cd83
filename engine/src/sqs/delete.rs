//! DeleteMessage and ChangeMessageVisibility, single and batched, by receipt handle.

use crate::command::{BatchReply, DeleteEntry, VisibilityEntry};
use crate::engine::Engine;
use crate::error::{SqsError, SqsResult};
use crate::limits;

use super::send::validate_batch_ids;
use super::MessageHandler;

impl Engine {
    pub(crate) fn delete_message(&mut self, name: &str, receipt_handle: &str, now_ms: u64) -> SqsResult<()> {
        self.sqs.message_handler(name, now_ms)?.delete(receipt_handle)
    }

    pub(crate) fn delete_message_batch(
        &mut self,
        name: &str,
        entries: &[DeleteEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<()>> {
        let mut handler = self.sqs.message_handler(name, now_ms)?;
        validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            reply.push(entry.id.clone(), handler.delete(&entry.receipt_handle));
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
        self.sqs.message_handler(name, now_ms)?.change_visibility(receipt_handle, timeout_seconds)
    }

    pub(crate) fn change_message_visibility_batch(
        &mut self,
        name: &str,
        entries: &[VisibilityEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<()>> {
        let mut handler = self.sqs.message_handler(name, now_ms)?;
        validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            let result = handler.change_visibility(&entry.receipt_handle, entry.visibility_timeout_seconds);
            reply.push(entry.id.clone(), result);
        }
        Ok(reply)
    }
}

impl MessageHandler<'_> {
    /// Deleting a message that is already gone succeeds, as in SQS.
    fn delete(&mut self, receipt_handle: &str) -> SqsResult<()> {
        if let Some(seq) = self.queue.resolve(receipt_handle)? {
            self.queue.remove(seq);
        }
        Ok(())
    }

    fn change_visibility(&mut self, receipt_handle: &str, timeout_seconds: u32) -> SqsResult<()> {
        if timeout_seconds > limits::VISIBILITY_TIMEOUT_SECONDS_MAX {
            return Err(SqsError::invalid_parameter(format!(
                "value {timeout_seconds} for parameter VisibilityTimeout is invalid: must be >= 0 and <= {}",
                limits::VISIBILITY_TIMEOUT_SECONDS_MAX
            )));
        }
        let Some(seq) = self.queue.resolve(receipt_handle)? else {
            return Err(SqsError::MessageNotInflight);
        };
        self.queue.change_visibility(seq, timeout_seconds, self.now_ms)
    }
}
