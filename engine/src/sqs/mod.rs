//! SQS: queues and their messages. Queue administration, send, receive, delete and visibility,
//! dead-letter queues and move tasks, each in a file of its own; one queue's state in `queue/`.

pub mod admin;
pub mod delete;
pub mod dlq;
pub mod queue;
pub mod receive;
pub mod send;
