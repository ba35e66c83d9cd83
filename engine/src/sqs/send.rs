//! SendMessage and SendMessageBatch: validation, FIFO deduplication, enqueueing.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::queue::{DeduplicationEntry, Message, MessageExtra, Queue};
use super::state::{MessageHandler, SqsHandler, SqsState};
use crate::bodies::BodyRecord;
use crate::command::{BatchReply, SendEntry, SendResult};
use crate::error::{BatchEntryType, Form, SqsError, SqsResult};
use crate::limits;
use crate::message::{self, format_sequence_number, BatchIdProblem, MessageId};

/// Checks the shape shared by every batch request: 1 to 10 entries with distinct, valid ids.
pub fn validate_batch_ids<'a>(entry: BatchEntryType, ids: impl ExactSizeIterator<Item = &'a str>) -> SqsResult<()> {
    match message::batch_id_problem(ids) {
        None => Ok(()),
        Some(BatchIdProblem::Empty) => Err(SqsError::EmptyBatchRequest { entry }),
        Some(BatchIdProblem::TooMany(sent)) => {
            Err(SqsError::TooManyEntriesInBatchRequest { sent, max: limits::BATCH_ENTRIES_MAX })
        }
        Some(BatchIdProblem::Invalid) => Err(SqsError::InvalidBatchEntryId),
        Some(BatchIdProblem::Repeated(id)) => Err(SqsError::BatchEntryIdsNotDistinct(id.to_string())),
    }
}

/// FIFO ids (group, deduplication, receive attempt): 1 to 128 of alphanumerics and punctuation.
pub fn validate_fifo_id(parameter: &str, id: &str) -> SqsResult<()> {
    if message::is_valid_fifo_id(id) {
        return Ok(());
    }
    Err(SqsError::invalid_value(
        id,
        parameter,
        &format!(
            "{parameter} can only include alphanumeric and punctuation characters. 1 to {} in length.",
            limits::FIFO_ID_LENGTH_MAX
        ),
    ))
}

/// AWS's reason for a parameter the queue's type does not take, its grammar included.
const NOT_FOR_THIS_QUEUE_TYPE: &str = "The request include parameter that is not valid for this queue type.";

impl SqsHandler<'_> {
    pub(crate) fn send_message(&mut self, name: &str, entry: &SendEntry, now_ms: u64) -> SqsResult<SendResult> {
        self.sqs.message_handler(name, now_ms)?.send(entry, Form::Single)
    }

    pub(crate) fn send_message_batch(
        &mut self,
        name: &str,
        entries: &[SendEntry],
        now_ms: u64,
    ) -> SqsResult<BatchReply<SendResult>> {
        self.sqs.check_send_batch(name, entries)?;
        let mut handler = self.sqs.message_handler(name, now_ms)?;
        let mut reply = BatchReply::default();
        for entry in entries {
            reply.push(entry.id.clone(), handler.send(entry, Form::BatchEntry));
        }
        Ok(reply)
    }
}

impl SqsState {
    /// `Engine::check_send`.
    pub(crate) fn check_send(&self, name: &str, entry: &SendEntry) -> SqsResult<()> {
        validate_entry(self.queue(name)?, entry, Form::Single)
    }

    /// Read-only: the whole-request checks of SendMessageBatch (entry failures are per entry).
    pub(crate) fn check_send_batch(&self, name: &str, entries: &[SendEntry]) -> SqsResult<()> {
        self.queue(name)?;
        validate_batch_ids(BatchEntryType::SendMessage, entries.iter().map(|e| e.id.as_str()))?;
        let total_bytes: usize = entries.iter().map(|e| message::message_size_bytes(&e.body, &e.attributes)).sum();
        if total_bytes > limits::MESSAGE_SIZE_BYTES_MAX as usize {
            return Err(SqsError::BatchRequestTooLong {
                sent_bytes: total_bytes,
                max_bytes: limits::MESSAGE_SIZE_BYTES_MAX,
            });
        }
        Ok(())
    }
}

impl MessageHandler<'_> {
    /// Enqueues one message, or for FIFO finds the one it repeats inside the deduplication window.
    pub(crate) fn send(&mut self, entry: &SendEntry, form: Form) -> SqsResult<SendResult> {
        let (queue, now_ms) = (&mut *self.queue, self.now_ms);
        validate_entry(queue, entry, form)?;
        let body_digest = message::md5_digest(entry.body.as_bytes());
        let md5_of_body = hex::encode(body_digest);
        let md5_of_attributes = message::md5_of_attributes(&entry.attributes);
        let md5_of_system_attributes = message::md5_of_attributes(&entry.system_attributes);
        let mut deduplication_key = None;
        if queue.is_fifo() {
            let group_id = entry.group_id.as_deref().unwrap_or_default();
            let deduplication_id = match &entry.deduplication_id {
                Some(id) => id.clone(),
                None => hex::encode(Sha256::digest(entry.body.as_bytes())),
            };
            let key = queue.deduplication_key(group_id, &deduplication_id);
            if let Some(original) = queue.find_duplicate(&key, now_ms) {
                return Ok(SendResult {
                    message_id: original.message_id.clone(),
                    md5_of_body,
                    md5_of_attributes,
                    md5_of_system_attributes,
                    sequence_number: original.sequence_number.map(format_sequence_number),
                });
            }
            deduplication_key = Some((key, deduplication_id));
        }
        let delay_seconds = match entry.delay_seconds {
            Some(delay) if !queue.is_fifo() => delay,
            _ => queue.config.delay_seconds,
        };
        let contents = BodyRecord {
            body: Arc::from(entry.body.as_str()),
            attributes: entry.attributes.clone(),
            system_attributes: entry.system_attributes.clone(),
            header: None,
        };
        let extra = MessageExtra {
            group_id: entry.group_id.clone(),
            deduplication_id: deduplication_key.as_ref().map(|(_, id)| id.clone()),
            ..MessageExtra::default()
        };
        let message =
            Message::new(MessageId::new(&entry.message_id), body_digest, queue.sender_id(&entry.sender_id), now_ms)
                .with_contents(contents)
                .with_extra(extra);
        let seq = queue.enqueue(message, delay_seconds, now_ms);
        let sequence_number = queue.message(seq).and_then(Message::sequence_number);
        if let Some((key, _)) = deduplication_key {
            let remembered = DeduplicationEntry {
                message_id: entry.message_id.clone(),
                sequence_number,
                expires_ms: now_ms + limits::DEDUPLICATION_WINDOW_MS,
            };
            queue.remember_deduplication(key, remembered);
        }
        Ok(SendResult {
            message_id: entry.message_id.clone(),
            md5_of_body,
            md5_of_attributes,
            md5_of_system_attributes,
            sequence_number: sequence_number.map(format_sequence_number),
        })
    }
}

fn validate_entry(queue: &Queue, entry: &SendEntry, form: Form) -> SqsResult<()> {
    if entry.body.is_empty() {
        return Err(SqsError::MissingParameter("MessageBody".to_string()));
    }
    message::validate_text("the message body", &entry.body)?;
    message::validate_attributes(&entry.attributes)?;
    for (name, value) in &entry.system_attributes {
        if name != "AWSTraceHeader" {
            return Err(SqsError::invalid_parameter(format!("Message system attribute name '{name}' is invalid.")));
        }
        if value.data_type != "String" || value.string_value.is_none() {
            return Err(SqsError::invalid_parameter(format!(
                "Message system attribute '{name}' must contain a non-empty value of type 'String'."
            )));
        }
    }
    let size_bytes = message::message_size_bytes(&entry.body, &entry.attributes);
    let max_bytes = queue.config.maximum_message_size_bytes as usize;
    if size_bytes > max_bytes {
        return Err(SqsError::message_too_long(max_bytes, form));
    }
    if let Some(delay) = entry.delay_seconds {
        // As SQS: a FIFO send may say DelaySeconds=0 (the queue's delay applies), nothing else.
        if queue.is_fifo() && delay != 0 {
            return Err(SqsError::invalid_value(delay, "DelaySeconds", NOT_FOR_THIS_QUEUE_TYPE));
        }
        if delay > limits::DELAY_SECONDS_MAX {
            return Err(SqsError::invalid_value(
                delay,
                "DelaySeconds",
                &format!("DelaySeconds must be >= 0 and <= {}.", limits::DELAY_SECONDS_MAX),
            ));
        }
    }
    if !queue.is_fifo() {
        if let Some(id) = &entry.deduplication_id {
            return Err(SqsError::invalid_value(id, "MessageDeduplicationId", NOT_FOR_THIS_QUEUE_TYPE));
        }
        if let Some(group_id) = &entry.group_id {
            validate_fifo_id("MessageGroupId", group_id)?;
        }
        return Ok(());
    }
    let Some(group_id) = &entry.group_id else {
        return Err(SqsError::MissingParameter("MessageGroupId".to_string()));
    };
    validate_fifo_id("MessageGroupId", group_id)?;
    match &entry.deduplication_id {
        Some(id) => validate_fifo_id("MessageDeduplicationId", id),
        None if queue.config.content_based_deduplication => Ok(()),
        // AWS's text has no full stop.
        None => Err(SqsError::invalid_parameter(
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        )),
    }
}
