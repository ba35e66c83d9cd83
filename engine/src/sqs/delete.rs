//! DeleteMessage and ChangeMessageVisibility, single and batched, by receipt handle.
//!
//! As in SQS, a standard queue takes the handle of any receive of a message: an earlier
//! receive's handle deletes the message, or changes its visibility while it is in flight under
//! a newer receive. A FIFO queue takes only the handle of the receive the message is in flight
//! under; any other handle has expired, so a consumer whose timeout passed cannot act on a
//! message another consumer now holds, and a group's order holds.

use crate::command::{BatchReply, DeleteEntry, VisibilityEntry};
use crate::error::{BatchEntryType, Form, SqsError, SqsResult};
use crate::limits;

use super::queue::{HandleTarget, ReceiptHandle, Seq};
use super::send::validate_batch_ids;
use super::state::{MessageHandler, SqsHandler};

impl SqsHandler<'_> {
    pub(crate) fn delete_message(&mut self, name: &str, receipt_handle: &str, now_ms: u64) -> SqsResult<()> {
        self.sqs.message_handler(name, now_ms)?.delete(receipt_handle, Form::Single)
    }

    pub(crate) fn delete_message_batch(
        &mut self,
        name: &str,
        entries: &[DeleteEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<()>> {
        let mut handler = self.sqs.message_handler(name, now_ms)?;
        validate_batch_ids(BatchEntryType::DeleteMessage, entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            reply.push(entry.id.clone(), handler.delete(&entry.receipt_handle, Form::BatchEntry));
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
        self.sqs.message_handler(name, now_ms)?.change_visibility(receipt_handle, timeout_seconds, Form::Single)
    }

    pub(crate) fn change_message_visibility_batch(
        &mut self,
        name: &str,
        entries: &[VisibilityEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<()>> {
        let mut handler = self.sqs.message_handler(name, now_ms)?;
        validate_batch_ids(BatchEntryType::ChangeMessageVisibility, entries.iter().map(|e| e.id.as_str()))?;
        let mut reply = BatchReply::default();
        for entry in entries {
            let result =
                handler.change_visibility(&entry.receipt_handle, entry.visibility_timeout_seconds, Form::BatchEntry);
            reply.push(entry.id.clone(), result);
        }
        Ok(reply)
    }
}

/// A message a receipt handle names, as far as an action may use it.
enum Target {
    /// Deleted, expired or moved away.
    Gone,
    /// The message, and whether it is in flight now.
    Message { seq: Seq, in_flight: bool },
}

impl MessageHandler<'_> {
    /// Deleting a message that is already gone succeeds, as in SQS.
    fn delete(&mut self, receipt_handle: &str, form: Form) -> SqsResult<()> {
        if let Target::Message { seq, .. } = self.target(receipt_handle, form)? {
            // Leaves every index: in flight, the FIFO group (which unblocks), the retention timer.
            self.queue.remove(seq);
        }
        Ok(())
    }

    /// A message that is not in flight (it became visible again) is left as it is, and the
    /// change succeeds, as in SQS.
    fn change_visibility(&mut self, receipt_handle: &str, timeout_seconds: u32, form: Form) -> SqsResult<()> {
        if timeout_seconds > limits::VISIBILITY_TIMEOUT_SECONDS_MAX {
            return Err(SqsError::invalid_value(
                timeout_seconds,
                "VisibilityTimeout",
                &format!("Must be between 0 and {}.", limits::VISIBILITY_TIMEOUT_SECONDS_MAX),
            ));
        }
        match self.target(receipt_handle, form)? {
            Target::Gone => Err(SqsError::message_not_available(receipt_handle)),
            Target::Message { in_flight: false, .. } => Ok(()),
            Target::Message { seq, in_flight: true } => self.queue.change_visibility(seq, timeout_seconds, self.now_ms),
        }
    }

    /// The message `receipt_handle` lets an action use, or why it names none.
    fn target(&self, receipt_handle: &str, form: Form) -> SqsResult<Target> {
        let receipt = ReceiptHandle::decode(receipt_handle)?;
        match self.queue.lookup(receipt, self.now_ms) {
            HandleTarget::OtherQueue => match form {
                Form::Single => Err(SqsError::invalid_receipt_handle(receipt_handle)),
                Form::BatchEntry => Err(SqsError::receipt_handle_of_other_queue(receipt_handle)),
            },
            HandleTarget::Gone => Ok(Target::Gone),
            HandleTarget::Message { seq, latest_receive, in_flight } => {
                let current = latest_receive && in_flight;
                if self.queue.is_fifo() && !current {
                    return Err(match form {
                        Form::Single => SqsError::receipt_handle_expired(receipt_handle),
                        Form::BatchEntry => SqsError::receipt_handle_expired_in_batch(),
                    });
                }
                Ok(Target::Message { seq, in_flight })
            }
        }
    }
}
