//! Shoal's SQS state machine: deterministic and IO-free. Commands come in with their time and
//! ids; replies and state changes come out. No clock, no randomness, no disk.

pub mod admin;
pub mod command;
pub mod delete;
pub mod dlq;
pub mod engine;
pub mod error;
pub mod limits;
pub mod message;
pub mod outbox;
pub mod queue;
pub mod receive;
pub mod send;

pub use command::{Command, LogEntry, Outcome, Reply};
pub use engine::{Engine, EngineConfig};
pub use error::{SqsError, SqsResult};
