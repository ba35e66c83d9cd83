//! The engine: its parts' state, and `apply`, the one way state changes. Reads take `&self`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::command::{Command, LogEntry, Outcome, Reply, FORMAT_VERSION};
use crate::error::EngineError;
use crate::outbox::{Outbox, QueueDelivery};
use crate::placement::{Placement, Ring};
use crate::sqs::SqsState;

/// Who the engine's queues belong to: fixed when the state is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub account_id: String,
    pub region: String,
    /// Which data group this engine is, of how many.
    #[serde(default)]
    pub placement: Placement,
}

impl EngineConfig {
    /// The config of the only data group.
    pub fn new(account_id: &str, region: &str) -> EngineConfig {
        EngineConfig { account_id: account_id.to_string(), region: region.to_string(), placement: Placement::default() }
    }
}

/// Architecture invariant: a snapshot is this struct in bincode: its fields in order, nested
/// structs' fields in their place, no names. So the order of fields is part of the format;
/// `tests/snapshot.rs` holds the bytes of a few engines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    /// The time of the latest applied entry; never goes backwards.
    pub(crate) now_ms: u64,
    /// Queues and move tasks.
    pub(crate) sqs: SqsState,
    /// Messages bound for queues in other groups, and what was taken from theirs.
    #[serde(default)]
    pub(crate) outbox: Outbox<QueueDelivery>,
    /// SQS: source queues whose dead-letter queue in another group refused a message. Redrive
    /// stays off for them until their redrive policy is set again (which names the target),
    /// so messages are not bounced back and forth on every receive. After the outbox because
    /// snapshots have always held it there, as the outbox's last field.
    #[serde(default)]
    pub(crate) redrive_paused: BTreeSet<String>,
    #[serde(skip)]
    pub(crate) ring: Ring,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            now_ms: 0,
            sqs: SqsState::new(),
            outbox: Outbox::default(),
            redrive_paused: BTreeSet::new(),
            ring: Ring::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The time of the latest applied entry.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Applies one log entry. Deterministic: the same entries in the same order give the same
    /// state and the same outcomes.
    pub fn apply(&mut self, entry: &LogEntry) -> Outcome {
        if entry.format_version != FORMAT_VERSION {
            return Err(EngineError::UnknownLogFormat { found: entry.format_version, supported: FORMAT_VERSION });
        }
        let now_ms = entry.time_ms.max(self.now_ms).min(crate::limits::TIME_MS_MAX);
        self.now_ms = now_ms;
        self.advance_sqs(&entry.command, now_ms);
        let outcome = match &entry.command {
            Command::ImportMessages { source_group, entries } => self.import_messages(*source_group, entries, now_ms),
            Command::AckOutbox { positions, refused } => self.ack_outbox(positions, refused, now_ms),
            Command::Tick => {
                self.tick_sqs(now_ms);
                Ok(Reply::Done)
            }
            // Every other command is an SQS action. SNS actions will get an arm of their own.
            command => self.apply_sqs(command, now_ms),
        };
        Ok(outcome?)
    }

    /// Does some timer or task need a `Tick` at `now_ms`? Read-only.
    pub fn needs_tick(&self, now_ms: u64) -> bool {
        self.sqs_needs_tick(now_ms)
    }
}
