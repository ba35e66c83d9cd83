//! Message move tasks: carrying the messages of a dead-letter queue, at a bounded rate, back to
//! their source queues or to one destination, in this group or (through the outbox) another.

use crate::config::EngineConfig;
use crate::error::{SqsError, SqsResult};
use crate::limits;
use crate::outbox::Transfer;

use super::arrival::Arrival;
use super::state::{queue_name_from_arn, MessageHandler, MoveTask, MoveTaskStatus, SqsHandler, SqsState};

fn source_not_found() -> SqsError {
    SqsError::ResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.".to_string())
}

impl SqsHandler<'_> {
    pub(crate) fn start_message_move_task(
        &mut self,
        source_arn: &str,
        destination_arn: Option<&str>,
        rate_per_second: Option<u32>,
        sources_elsewhere: bool,
        now_ms: u64,
    ) -> SqsResult<String> {
        let Some(source) = self.queue_name_from_arn(source_arn).filter(|n| self.sqs.queues.contains_key(n)) else {
            return Err(source_not_found());
        };
        let source = source.to_string();
        let (is_dead_letter_queue, _) = self.sqs.dead_letter_source_queues(&source, None, Some(1))?;
        if is_dead_letter_queue.is_empty() && !sources_elsewhere {
            return Err(SqsError::invalid_parameter("Source queue must be configured as a Dead Letter Queue."));
        }
        // A destination in another group was checked by the node against that group's state.
        let remote_destination =
            destination_arn.and_then(|arn| self.queue_name_from_arn(arn)).is_some_and(|name| self.is_remote(name));
        if let Some(destination) = destination_arn.filter(|_| !remote_destination) {
            let Some(destination_queue) = self.queue_name_from_arn(destination).and_then(|n| self.sqs.queues.get(n))
            else {
                return Err(SqsError::ResourceNotFound(
                    "The resource that you specified for the DestinationArn parameter doesn't exist.".to_string(),
                ));
            };
            if destination_queue.is_fifo() != self.sqs.queue(&source)?.is_fifo() {
                return Err(SqsError::invalid_parameter(
                    "The source queue and destination queue must be of the same queue type.",
                ));
            }
        }
        if let Some(rate) = rate_per_second {
            if !(1..=limits::MOVE_TASK_RATE_MAX).contains(&rate) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and {}.",
                    limits::MOVE_TASK_RATE_MAX
                )));
            }
        }
        let running =
            self.sqs.move_tasks.values().any(|t| t.source_arn == source_arn && t.status == MoveTaskStatus::Running);
        if running {
            return Err(SqsError::invalid_parameter(
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
            ));
        }
        let queue = self.sqs.queue(&source)?;
        let to_move = queue.counts(now_ms).visible as u64;
        let last_seq = queue.last_seq();
        let number = self.sqs.next_move_task;
        self.sqs.next_move_task += 1;
        let task_handle = format!("{number}:{source_arn}");
        let task = MoveTask {
            task_handle: task_handle.clone(),
            source_arn: source_arn.to_string(),
            destination_arn: destination_arn.map(str::to_string),
            rate_per_second,
            status: MoveTaskStatus::Running,
            started_ms: now_ms,
            moved: 0,
            to_move,
            failure_reason: None,
            in_transit: 0,
            last_seq,
            number,
        };
        self.sqs.move_tasks.insert(task_handle.clone(), task);
        self.prune_move_tasks(source_arn);
        self.advance_move_tasks(now_ms);
        Ok(task_handle)
    }

    pub(crate) fn cancel_message_move_task(&mut self, task_handle: &str) -> SqsResult<u64> {
        // Handles are "{number}:{source ARN}" (see `start_message_move_task`).
        let well_formed = task_handle
            .split_once(':')
            .is_some_and(|(number, source_arn)| number.parse::<u64>().is_ok() && !source_arn.is_empty());
        if !well_formed {
            return Err(SqsError::invalid_parameter("Value for parameter TaskHandle is invalid."));
        }
        let Some(task) = self.sqs.move_tasks.get_mut(task_handle) else {
            return Err(SqsError::ResourceNotFound("Task does not exist.".to_string()));
        };
        if task.status != MoveTaskStatus::Running {
            return Err(SqsError::UnsupportedOperation(
                "Only a running message move task can be cancelled.".to_string(),
            ));
        }
        task.status = MoveTaskStatus::Cancelled;
        Ok(task.moved)
    }

    pub(crate) fn cancel_move_tasks_of(&mut self, queue_arn: &str) {
        for task in self.sqs.move_tasks.values_mut() {
            let involved = task.source_arn == queue_arn || task.destination_arn.as_deref() == Some(queue_arn);
            if involved && task.status == MoveTaskStatus::Running {
                task.status = MoveTaskStatus::Failed;
                task.failure_reason = Some("a queue of the task was deleted".to_string());
            }
        }
    }

    fn prune_move_tasks(&mut self, source_arn: &str) {
        let mut finished: Vec<(u64, String)> = self
            .sqs
            .move_tasks
            .values()
            .filter(|t| t.source_arn == source_arn && t.status != MoveTaskStatus::Running)
            .map(|t| (t.number, t.task_handle.clone()))
            .collect();
        finished.sort();
        while finished.len() > limits::MOVE_TASKS_KEPT {
            let (_, handle) = finished.remove(0);
            self.sqs.move_tasks.remove(&handle);
        }
    }

    /// Moves as many messages as each running task's rate allows by `now_ms`.
    pub(crate) fn advance_move_tasks(&mut self, now_ms: u64) {
        let running: Vec<String> = self
            .sqs
            .move_tasks
            .values()
            .filter(|t| t.status == MoveTaskStatus::Running)
            .map(|t| t.task_handle.clone())
            .collect();
        for handle in running {
            self.advance_move_task(&handle, now_ms);
        }
    }

    fn advance_move_task(&mut self, handle: &str, now_ms: u64) {
        let Some(task) = self.sqs.move_tasks.get(handle).cloned() else {
            return;
        };
        let rate = u64::from(task.rate_per_second.unwrap_or(limits::MOVE_TASK_RATE_DEFAULT));
        let elapsed_ms = now_ms.saturating_sub(task.started_ms);
        let allowed_total = rate + rate * elapsed_ms / 1000;
        let budget = allowed_total.saturating_sub(task.moved) as usize;
        let Some(source) = self.queue_name_from_arn(&task.source_arn).map(str::to_string) else {
            return;
        };
        let Some(source_queue) = self.sqs.queues.get_mut(&source) else {
            return;
        };
        // Messages whose visibility timeout ended are movable now, not at the next command.
        source_queue.advance(now_ms);
        let seqs = source_queue.visible_up_to(task.last_seq, budget);
        let mut moved = 0u64;
        let mut sent_away = 0u64;
        let mut failure = None;
        for seq in seqs {
            let Some(message) = self.sqs.queues.get(&source).and_then(|q| q.message(seq)) else {
                continue;
            };
            let destination_arn =
                task.destination_arn.clone().or_else(|| message.dead_letter_source_arn().map(str::to_string));
            let destination_name = destination_arn.as_deref().and_then(|arn| self.queue_name_from_arn(arn));
            if let Some(remote) = destination_name.filter(|name| self.is_remote(name)).map(str::to_string) {
                if let Some(message) = self.sqs.queues.get_mut(&source).and_then(|q| q.remove(seq)) {
                    let transfer = Transfer::Move { task_handle: handle.to_string() };
                    self.push_outbox(&source, &remote, transfer, message);
                    sent_away += 1;
                }
                continue;
            }
            let destination = destination_name.filter(|name| self.sqs.queues.contains_key(name)).map(str::to_string);
            let Some(destination) = destination else {
                failure = Some("the destination queue of a message does not exist".to_string());
                break;
            };
            let source_fifo = self.sqs.queues.get(&source).is_some_and(|q| q.is_fifo());
            if self.sqs.queues.get(&destination).is_some_and(|q| q.is_fifo() != source_fifo) {
                failure = Some("the destination queue of a message is not of the source queue's type".to_string());
                break;
            }
            let Some(message) = self.sqs.queues.get_mut(&source).and_then(|q| q.remove(seq)) else {
                continue;
            };
            if let Some(queue) = self.sqs.queues.get_mut(&destination) {
                MessageHandler { queue, now_ms }.enqueue_arriving(message, Arrival::Moved);
                moved += 1;
            }
        }
        let Some(task) = self.sqs.move_tasks.get_mut(handle) else {
            return;
        };
        task.moved += moved;
        task.in_transit += sent_away;
        if let Some(reason) = failure {
            task.status = MoveTaskStatus::Failed;
            task.failure_reason = Some(reason);
        } else if task.in_transit == 0
            && self.sqs.queues.get(&source).is_some_and(|q| q.visible_up_to(task.last_seq, 1).is_empty())
        {
            // Complete only when nothing it sent to another group can still come back.
            task.status = MoveTaskStatus::Completed;
        }
    }
}

impl SqsState {
    /// Up to 10 most recent tasks of a source queue, newest first.
    pub(crate) fn list_message_move_tasks(
        &self,
        config: &EngineConfig,
        source_arn: &str,
        max: Option<u32>,
    ) -> SqsResult<Vec<MoveTask>> {
        let exists = queue_name_from_arn(config, source_arn).is_some_and(|n| self.queues.contains_key(n));
        if !exists {
            return Err(source_not_found());
        }
        let max = max.unwrap_or(1);
        if !(1..=limits::MOVE_TASKS_LISTED_MAX).contains(&max) {
            return Err(SqsError::invalid_parameter(format!(
                "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and {}.",
                limits::MOVE_TASKS_LISTED_MAX
            )));
        }
        let mut tasks: Vec<MoveTask> =
            self.move_tasks.values().filter(|t| t.source_arn == source_arn).cloned().collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.number));
        tasks.truncate(max as usize);
        Ok(tasks)
    }

    pub(crate) fn has_running_move_task(&self) -> bool {
        self.move_tasks.values().any(|t| t.status == MoveTaskStatus::Running)
    }
}
