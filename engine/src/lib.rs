//! Shoal's state machine: deterministic and IO-free. Commands come in with their time and
//! ids; replies and state changes come out. No clock, no randomness, no disk.
//!
//! `Engine::apply` is the one way state changes. SQS (queues and their messages) lives in
//! `sqs/`, which never names the engine: `engine/` lends its handlers the state they use and
//! turns its errors into `EngineError`. SNS (topics and subscriptions) will live beside it in
//! `sns/`, dispatched from the same `apply`. What is not either's own is here: commands and
//! replies, errors, limits, message contents, who the engine is (`config`), which data group
//! holds a name (`placement`), and the outbox that carries deliveries to other groups
//! (`outbox`, generic over what it delivers), and the keys under which message contents are
//! stored outside the engine (`bodies`).

pub mod bodies;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod limits;
pub mod message;
pub mod outbox;
pub mod placement;
mod policy;
pub mod sns;
pub mod sqs;

// The paths these modules had before SQS moved into `sqs/`; other crates use them.
pub use sqs::{admin, dlq, queue, send};

pub use command::{Command, LogEntry, Outcome, Reply};
pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{BatchEntryType, EngineError, Form, SqsError, SqsResult};
