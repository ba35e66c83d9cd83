//! ReceiveMessage: choosing messages, starting their visibility timeout, taking out messages
//! that were received too often for the dead-letter queue.

use std::collections::BTreeMap;

use crate::bodies::empty_body;
use crate::command::{ReceiveRequest, ReceivedMessage};
use crate::error::{SqsError, SqsResult};
use crate::limits;

use super::queue::{Message, Queue, Seq};
use super::send::validate_fifo_id;
use super::state::{MessageHandler, SqsHandler};

impl SqsHandler<'_> {
    pub(crate) fn receive_message(
        &mut self,
        name: &str,
        request: &ReceiveRequest,
        now_ms: u64,
    ) -> SqsResult<Vec<ReceivedMessage>> {
        validate_request(request)?;
        let redrive = self.redrive_target(name);
        let max_receive_count = redrive.as_ref().map(|(_, max_receive_count)| *max_receive_count);
        let (messages, dead) = self.sqs.message_handler(name, now_ms)?.receive(request, max_receive_count)?;
        if let Some((dead_letter_queue, _)) = redrive {
            self.send_to_dead_letter_queue(name, &dead_letter_queue, dead, now_ms);
        }
        Ok(messages)
    }
}

impl MessageHandler<'_> {
    /// Receives messages, and takes out instead each one received `max_receive_count` times
    /// already, marked with this queue's ARN for its dead-letter queue. Returns both.
    fn receive(
        &mut self,
        request: &ReceiveRequest,
        max_receive_count: Option<u32>,
    ) -> SqsResult<(Vec<ReceivedMessage>, Vec<Message>)> {
        let (queue, now_ms) = (&mut *self.queue, self.now_ms);
        let timeout_seconds = request.visibility_timeout_seconds.unwrap_or(queue.config.visibility_timeout_seconds);
        let attempt_id = request.receive_request_attempt_id.as_ref().filter(|_| queue.is_fifo());
        if let Some(attempt_id) = attempt_id {
            if let Some(seqs) = queue.replay_receive_attempt(attempt_id, timeout_seconds, now_ms) {
                return Ok((seqs.iter().filter_map(|seq| received(queue, *seq)).collect(), Vec::new()));
            }
        }
        let in_flight_max = if queue.is_fifo() { limits::IN_FLIGHT_FIFO_MAX } else { limits::IN_FLIGHT_STANDARD_MAX };
        if queue.in_flight_count() >= in_flight_max {
            if queue.is_fifo() {
                return Ok((Vec::new(), Vec::new()));
            }
            return Err(SqsError::too_many_in_flight());
        }
        // Never past the in-flight limit, even by part of one receive.
        let max = (request.max_messages as usize).min(in_flight_max - queue.in_flight_count());
        let mut chosen: Vec<Seq> = Vec::new();
        let mut dead: Vec<Message> = Vec::new();
        while chosen.len() < max {
            let candidates = queue.candidates(max - chosen.len());
            if candidates.is_empty() {
                break;
            }
            for seq in candidates {
                let exhausted = max_receive_count.is_some_and(|max_receive_count| {
                    queue.message(seq).is_some_and(|m| m.receive_count >= max_receive_count)
                });
                if exhausted {
                    dead.extend(queue.remove(seq));
                    continue;
                }
                queue.mark_received(seq, timeout_seconds, now_ms);
                chosen.push(seq);
            }
        }
        let messages: Vec<ReceivedMessage> = chosen.iter().filter_map(|seq| received(queue, *seq)).collect();
        if let Some(attempt_id) = attempt_id {
            if !chosen.is_empty() {
                queue.remember_receive_attempt(attempt_id.clone(), &chosen, now_ms);
            }
        }
        for message in &mut dead {
            message.set_dead_letter_source_arn(Some(queue.arn.clone()));
        }
        Ok((messages, dead))
    }
}

fn validate_request(request: &ReceiveRequest) -> SqsResult<()> {
    if !(1..=limits::RECEIVE_MESSAGES_MAX).contains(&request.max_messages) {
        return Err(SqsError::invalid_value(
            request.max_messages,
            "MaxNumberOfMessages",
            &format!("Must be between 1 and {}, if provided.", limits::RECEIVE_MESSAGES_MAX),
        ));
    }
    if let Some(timeout) = request.visibility_timeout_seconds {
        if timeout > limits::VISIBILITY_TIMEOUT_SECONDS_MAX {
            return Err(SqsError::invalid_value(
                timeout,
                "VisibilityTimeout",
                &format!("Must be >= 0 and <= {}, if provided.", limits::VISIBILITY_TIMEOUT_SECONDS_MAX),
            ));
        }
    }
    if let Some(attempt_id) = &request.receive_request_attempt_id {
        validate_fifo_id("ReceiveRequestAttemptId", attempt_id)?;
    }
    Ok(())
}

/// The reply entry for an in-flight message, with every system attribute it has.
fn received(queue: &Queue, seq: Seq) -> Option<ReceivedMessage> {
    let message = queue.message(seq)?;
    let receipt = queue.receipt(seq, message.receive_count);
    let mut system = BTreeMap::new();
    // A message in a queue carries no header either: id, MD5, sender and sent time come from
    // the store with its contents (`ReceivedMessage::fill`).
    let header = message.header();
    if let Some(header) = header {
        system.insert("SenderId".to_string(), header.sender_id.to_string());
        system.insert("SentTimestamp".to_string(), header.sent_ms.to_string());
    }
    system.insert("ApproximateReceiveCount".to_string(), message.receive_count.to_string());
    if let Some(first) = message.first_receive_ms() {
        system.insert("ApproximateFirstReceiveTimestamp".to_string(), first.to_string());
    }
    if let Some(number) = message.sequence_number() {
        system.insert("SequenceNumber".to_string(), crate::message::format_sequence_number(number));
    }
    if queue.is_fifo() {
        if let Some(group_id) = message.group_id() {
            system.insert("MessageGroupId".to_string(), group_id.to_string());
        }
        if let Some(id) = message.deduplication_id() {
            system.insert("MessageDeduplicationId".to_string(), id.to_string());
        }
    } else if let Some(group_id) = message.group_id() {
        system.insert("MessageGroupId".to_string(), group_id.to_string());
    }
    // A message in a queue carries no contents: the state machine fills them (and the trace
    // header) in from the store under `body_key`.
    let contents = message.contents();
    if let Some(trace) = contents.and_then(|c| c.system_attributes.get("AWSTraceHeader")?.string_value.clone()) {
        system.insert("AWSTraceHeader".to_string(), trace);
    }
    if let Some(arn) = message.dead_letter_source_arn() {
        system.insert("DeadLetterQueueSourceArn".to_string(), arn.to_string());
    }
    Some(ReceivedMessage {
        message_id: header.map(|h| h.message_id.to_string()).unwrap_or_default(),
        receipt_handle: receipt.encode(),
        body: contents.map_or_else(empty_body, |c| c.body.clone()),
        md5_of_body: header.map(|h| hex::encode(h.md5_of_body)).unwrap_or_default(),
        attributes: contents.map(|c| c.attributes.clone()).unwrap_or_default(),
        system_attributes: system,
        body_key: Some(queue.body_key(seq)),
    })
}
