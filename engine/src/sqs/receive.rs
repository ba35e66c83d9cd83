//! ReceiveMessage: choosing messages, starting their visibility timeout, moving messages that
//! were received too often to the dead-letter queue.

use std::collections::BTreeMap;

use crate::command::{ReceiveRequest, ReceivedMessage};
use crate::engine::Engine;
use crate::error::{SqsError, SqsResult};
use crate::limits;
use crate::outbox::Transfer;
use crate::sqs::queue::{Message, Queue, ReceiptHandle, Seq};
use crate::sqs::send::validate_fifo_id;

impl Engine {
    pub(crate) fn receive_message(
        &mut self,
        name: &str,
        request: &ReceiveRequest,
        now_ms: u64,
    ) -> SqsResult<Vec<ReceivedMessage>> {
        validate_request(request)?;
        let redrive = self.redrive_target(name);
        let queue = self.sqs.queue_mut(name)?;
        let timeout_seconds = request.visibility_timeout_seconds.unwrap_or(queue.config.visibility_timeout_seconds);
        let attempt_id = request.receive_request_attempt_id.as_ref().filter(|_| queue.is_fifo());
        if let Some(attempt_id) = attempt_id {
            if let Some(seqs) = queue.replay_receive_attempt(attempt_id, timeout_seconds, now_ms) {
                return Ok(seqs.iter().filter_map(|seq| received(queue, *seq)).collect());
            }
        }
        let in_flight_max = if queue.is_fifo() { limits::IN_FLIGHT_FIFO_MAX } else { limits::IN_FLIGHT_STANDARD_MAX };
        if queue.in_flight_count() >= in_flight_max {
            if queue.is_fifo() {
                return Ok(Vec::new());
            }
            return Err(SqsError::OverLimit(format!("too many messages in flight: the limit is {in_flight_max}")));
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
                let exhausted = redrive.as_ref().is_some_and(|(_, max_receive_count)| {
                    queue.message(seq).is_some_and(|m| m.receive_count >= *max_receive_count)
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
        let source_arn = queue.arn.clone();
        if let Some((dead_letter_queue, _)) = redrive {
            if self.is_remote(&dead_letter_queue) {
                for mut message in dead {
                    message.dead_letter_source_arn = Some(source_arn.clone());
                    self.push_outbox(name, &dead_letter_queue, Transfer::DeadLetter, message);
                }
            } else {
                self.move_to_dead_letter_queue(&dead_letter_queue, &source_arn, dead, now_ms);
            }
        }
        Ok(messages)
    }

    /// The dead-letter queue and maxReceiveCount of a queue, when its target still exists (as
    /// far as this group can tell: one in another group is checked when a message gets there).
    fn redrive_target(&self, name: &str) -> Option<(String, u32)> {
        let queue = self.sqs.queues.get(name)?;
        let policy = queue.config.redrive_policy.as_ref()?;
        let target = self.queue_name_from_arn(&policy.dead_letter_target_arn)?;
        if target == name {
            return None;
        }
        if self.is_remote(target) {
            let refused = self.outbox.redrive_paused.contains(name);
            return (!refused).then(|| (target.to_string(), policy.max_receive_count));
        }
        let target_queue = self.sqs.queues.get(target)?;
        (target_queue.is_fifo() == queue.is_fifo()).then(|| (target.to_string(), policy.max_receive_count))
    }

    fn move_to_dead_letter_queue(&mut self, target: &str, source_arn: &str, messages: Vec<Message>, now_ms: u64) {
        let Some(queue) = self.sqs.queues.get_mut(target) else {
            debug_assert!(messages.is_empty(), "redrive target vanished during a receive");
            return;
        };
        for mut message in messages {
            message.restart_receives();
            message.dead_letter_source_arn = Some(source_arn.to_string());
            // As in SQS: a standard dead-letter queue keeps the original enqueue time for
            // retention; a FIFO one starts it anew.
            if queue.is_fifo() {
                message.enqueued_ms = now_ms;
            }
            queue.enqueue(message, 0, now_ms);
        }
    }
}

fn validate_request(request: &ReceiveRequest) -> SqsResult<()> {
    if !(1..=limits::RECEIVE_MESSAGES_MAX).contains(&request.max_messages) {
        return Err(SqsError::invalid_parameter(format!(
            "value {} for parameter MaxNumberOfMessages is invalid: must be between 1 and {}, if provided",
            request.max_messages,
            limits::RECEIVE_MESSAGES_MAX
        )));
    }
    if let Some(timeout) = request.visibility_timeout_seconds {
        if timeout > limits::VISIBILITY_TIMEOUT_SECONDS_MAX {
            return Err(SqsError::invalid_parameter(format!(
                "value {timeout} for parameter VisibilityTimeout is invalid: must be >= 0 and <= {}",
                limits::VISIBILITY_TIMEOUT_SECONDS_MAX
            )));
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
    let receipt = ReceiptHandle { incarnation: queue.incarnation, seq, receive_count: message.receive_count };
    let mut system = BTreeMap::new();
    system.insert("SenderId".to_string(), message.sender_id.to_string());
    system.insert("SentTimestamp".to_string(), message.sent_ms.to_string());
    system.insert("ApproximateReceiveCount".to_string(), message.receive_count.to_string());
    if let Some(first) = message.first_receive_ms {
        system.insert("ApproximateFirstReceiveTimestamp".to_string(), first.to_string());
    }
    if let Some(number) = message.sequence_number {
        system.insert("SequenceNumber".to_string(), format!("{number:020}"));
    }
    if queue.is_fifo() {
        if let Some(group_id) = &message.group_id {
            system.insert("MessageGroupId".to_string(), group_id.clone());
        }
        if let Some(id) = &message.deduplication_id {
            system.insert("MessageDeduplicationId".to_string(), id.clone());
        }
    } else if let Some(group_id) = &message.group_id {
        system.insert("MessageGroupId".to_string(), group_id.clone());
    }
    if let Some(trace) = message.system_attributes.get("AWSTraceHeader").and_then(|v| v.string_value.clone()) {
        system.insert("AWSTraceHeader".to_string(), trace);
    }
    if let Some(arn) = &message.dead_letter_source_arn {
        system.insert("DeadLetterQueueSourceArn".to_string(), arn.clone());
    }
    Some(ReceivedMessage {
        message_id: message.message_id.to_string(),
        receipt_handle: receipt.encode(),
        body: message.body.clone(),
        md5_of_body: hex::encode(message.md5_of_body),
        attributes: message.attributes.clone(),
        system_attributes: system,
    })
}
