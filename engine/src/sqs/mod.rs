//! SQS: queues and their messages. The engine hands every SQS action to an `SqsHandler`, which
//! borrows SQS's state and what else of the engine SQS uses; nothing here names the engine.
//!
//! Code map: the state and the handlers (`state`); queue administration (`admin`); send,
//! receive, delete and visibility changes (`send`, `receive`, `delete`), each a method of
//! `MessageHandler`, which borrows one queue; messages entering a queue from elsewhere
//! (`arrival`); dead-letter queues (`dlq`) and move tasks (`move_task`); messages bound for
//! queues of other groups (`transfer`, SQS's side of the outbox); one queue's state and
//! indexes (`queue/`, which uses nothing else here); a group's queues with the index of their
//! timers (`queues`). This file only declares and re-exports:
//! the modules use each other directly, never through it.

pub mod admin;
mod arrival;
mod delete;
pub mod dlq;
mod move_task;
pub mod queue;
mod queues;
mod receive;
pub mod send;
mod state;
mod transfer;

pub use state::queue_arn;
pub(crate) use state::{queue_name_from_arn, SqsHandler, SqsState};
