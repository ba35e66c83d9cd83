//! The versioned formats of what outlives one build: the application data of every log entry
//! (stored in RocksDB and sent to followers) and snapshot files. A format number comes first and
//! is read before the body; every older format has a decoder and a migration to the current one,
//! so a node of a newer build starts on an older node's data, and an entry or snapshot of a format
//! this build does not know is refused, never misread.
//!
//! | format | what changed |
//! |---|---|
//! | proposal 2 | (before envelopes) the postcard encoding of `Proposal` itself, variant 0 or 1 first |
//! | proposal 3 | envelope: variant 2, the format number, then the postcard body; body layout as format 2 |
//! | proposal 4 | as 3, and the command may be an SNS action (new `Command` variants after the others); only entries holding an SNS action are written as format 4, from write level 4, and every other is still written as format 3 |
//! | proposal 5 | as 4, and the command may be a subscription or publish action (FIFO topics included), or an import of messages published to a topic (new `Command` and `Transfer` variants after the others); only such entries are written as format 5, from write level 5 |
//! | snapshot 1 | (before envelopes) magic `SHLSNAP1`, metadata, bincode of the group state |
//! | snapshot 2 | magic `SHLSNAPV`, the format number (u16, big endian), then as format 1 |
//! | snapshot 3 | as format 2, but messages hold no contents (an empty body): they are in the body store, and a transfer sends them after the file as a body section (`bodies.rs`); written from write level 2 |
//! | snapshot 4 | as 3, but a message's header (id, MD5, sender, sent time) is in the store's record only; written from write level 3 |
//! | snapshot 5 | as 4, followed by the bincode of the group's SNS state (topics); written from write level 4 |
//! | snapshot 6 | as 5, but the SNS state holds subscriptions (each topic's after its creation time) and is followed by the bincode of FIFO topics' deduplication and sequence state, and the outbox may hold messages published to a topic; written from write level 5; format 5's SNS state is kept as `format_5` and migrated |
//!
//! A change to the layout of a command, the engine, or openraft's types bumps the format here,
//! keeps the old layout's types in a module of their own, and adds the migration; the golden-bytes
//! tests in `raft/tests/format.rs` fail until that is done.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shoal_engine::command::{Generation, FORMAT_VERSION};
use shoal_engine::LogEntry;

use crate::types::{ClusterInfo, Proposal};

/// The newest format this build writes for a log entry's application data: each entry is
/// written in the oldest format that has what it holds ([`proposal_format_of`]), so a node of
/// an older build reads every entry that holds nothing new.
pub const PROPOSAL_FORMAT: u16 = 5;
/// The format of an entry that holds no SNS action (formats 4 and 5 changed nothing for those).
pub const PROPOSAL_FORMAT_WITHOUT_SNS: u16 = 3;
/// The format of an entry holding a topic action (format 5 changed nothing for those).
pub const PROPOSAL_FORMAT_TOPICS: u16 = 4;

/// The proposal format that first had what a command of `generation` holds.
pub fn proposal_format_of(generation: Generation) -> u16 {
    match generation {
        Generation::Sqs => PROPOSAL_FORMAT_WITHOUT_SNS,
        Generation::Topics => PROPOSAL_FORMAT_TOPICS,
        Generation::Subscriptions => 5,
    }
}
/// The oldest proposal format this build reads.
pub const PROPOSAL_FORMAT_OLDEST: u16 = 2;

/// The layout of the RocksDB store: keys as `store.rs` describes them, values the postcard
/// encoding of openraft 0.10.0-alpha.37's entries, votes and log ids (the proposal inside an
/// entry carries its own format). Recorded in the store when it is created; a store of a newer
/// layout is refused at start.
pub const STORE_FORMAT: u16 = 1;

/// The newest format this build writes for snapshot files (at write level 5; see
/// [`snapshot_format_at`]).
pub const SNAPSHOT_FORMAT: u16 = 6;
/// Magic of snapshot format 1, which carried no format number.
pub const SNAPSHOT_MAGIC_FORMAT_1: &[u8; 8] = b"SHLSNAP1";
/// Magic of every later snapshot format; the format number follows.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SHLSNAPV";

/// The snapshot format a node writes at write `level` (agreed by the cluster layer): format 6
/// (subscriptions, FIFO topics' state) at level 5; format 5 (topics after the state) needs every node to read it at
/// level 4; format 4 (headers only in the store) at level 3; format 3 (no contents, headers in
/// line, read back from the store) at level 2; below that format 2, contents in line too.
pub fn snapshot_format_at(level: u32) -> u16 {
    match level {
        5.. => 6,
        4 => 5,
        3 => 4,
        2 => 3,
        _ => 2,
    }
}

/// The snapshot format that holds topics (SNS state), first written at write level 4.
pub const SNAPSHOT_FORMAT_TOPICS: u16 = 5;
/// The snapshot format that holds subscriptions, first written at write level 5.
pub const SNAPSHOT_FORMAT_SUBSCRIPTIONS: u16 = 6;

/// The snapshot format a node at write `level` writes for a state of `generation` (what it
/// holds; `Engine::generation`). A state holds topics only once some node agreed level 4, which
/// it does only when every node's build reads format 5 (and subscriptions, level 5 and format
/// 6); so a node that has not heard of that level yet (it polls its peers, or cannot reach one,
/// or has just been replaced) writes the format that holds them all the same, rather than fail
/// to snapshot.
pub fn snapshot_format_for(level: u32, generation: Generation) -> u16 {
    let needed = match generation {
        Generation::Sqs => 0,
        Generation::Topics => SNAPSHOT_FORMAT_TOPICS,
        Generation::Subscriptions => SNAPSHOT_FORMAT_SUBSCRIPTIONS,
    };
    snapshot_format_at(level).max(needed)
}

/// The write level the cluster layer has agreed (`shoal_cluster::level`), as storage reads it.
pub trait WriteLevelSource: Send + Sync + std::fmt::Debug + 'static {
    fn write_level(&self) -> u32;
}

/// A level that never changes: for tests and tools.
#[derive(Debug, Clone, Copy)]
pub struct FixedLevel(pub u32);

impl WriteLevelSource for FixedLevel {
    fn write_level(&self) -> u32 {
        self.0
    }
}

// The engine's own number in each entry names the command layout of format 3, which formats 4
// and 5 only extend with new variants.
const _: () = assert!(FORMAT_VERSION == PROPOSAL_FORMAT_WITHOUT_SNS);

/// How a proposal travels and is stored. Variants 0 and 1 are format 2, written before there was
/// an envelope (postcard puts the variant index first, so they are told apart from the envelope
/// before anything else is read); variant 2 is the envelope of every later format.
#[derive(Serialize, Deserialize)]
enum Wire<'a> {
    Format2Engine(format_2::LogEntry),
    Format2SetCluster(ClusterInfo),
    Envelope {
        format: u16,
        #[serde(borrow, with = "serde_bytes")]
        body: Cow<'a, [u8]>,
    },
}

/// The body of formats 3 to 5: the proposal as it is in memory.
#[derive(Serialize)]
enum BodyRef<'a> {
    Engine(&'a LogEntry),
    SetCluster(&'a ClusterInfo),
}

#[derive(Deserialize)]
enum Body {
    Engine(LogEntry),
    SetCluster(ClusterInfo),
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (format, body) = match self {
            Proposal::Engine(entry) => {
                (proposal_format_of(entry.command.generation()), BodyRef::Engine(entry.as_ref()))
            }
            Proposal::SetCluster(info) => (PROPOSAL_FORMAT_WITHOUT_SNS, BodyRef::SetCluster(info)),
        };
        let body = postcard::to_stdvec(&body).map_err(serde::ser::Error::custom)?;
        Wire::Envelope { format, body: Cow::Owned(body) }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Proposal, D::Error> {
        match Wire::deserialize(deserializer)? {
            // Format 2 was written before SNS: an SNS action in it is refused, not applied.
            Wire::Format2Engine(entry) if entry.command.is_sns() => {
                Err(serde::de::Error::custom(FormatError::Corrupt { format: 2, reason: "an SNS action".to_string() }))
            }
            Wire::Format2Engine(entry) => Ok(Proposal::Engine(Arc::new(entry.migrate()))),
            Wire::Format2SetCluster(info) => Ok(Proposal::SetCluster(info)),
            Wire::Envelope { format, body } => decode_envelope(format, &body).map_err(|error| {
                // Some encodings (postcard) keep only the kind of a custom error: say it here.
                tracing::error!(%error, "refusing a log entry");
                serde::de::Error::custom(error)
            }),
        }
    }
}

/// Why a stored or received entry cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("log entry format {format} is not one this build reads ({PROPOSAL_FORMAT_OLDEST} to {PROPOSAL_FORMAT}); upgrade this node")]
    UnknownProposalFormat { format: u16 },
    #[error("snapshot format {format} is not one this build reads (1 to {SNAPSHOT_FORMAT}); upgrade this node")]
    UnknownSnapshotFormat { format: u16 },
    #[error("the raft store has format {format}; this build reads format {STORE_FORMAT}; upgrade this node")]
    UnknownStoreFormat { format: u16 },
    #[error("log entry of format {format} is corrupt: {reason}")]
    Corrupt { format: u16, reason: String },
}

fn decode_envelope(format: u16, body: &[u8]) -> Result<Proposal, FormatError> {
    match format {
        3..=5 => match postcard::from_bytes::<Body>(body) {
            // A command in an envelope older than what it holds was never written: refused,
            // not guessed at.
            Ok(Body::Engine(entry)) if proposal_format_of(entry.command.generation()) > format => {
                let reason = format!("{:?} in format {format}", entry.command.generation());
                Err(FormatError::Corrupt { format, reason })
            }
            Ok(Body::Engine(entry)) => Ok(Proposal::Engine(Arc::new(entry))),
            Ok(Body::SetCluster(info)) => Ok(Proposal::SetCluster(info)),
            Err(error) => Err(FormatError::Corrupt { format, reason: error.to_string() }),
        },
        _ => Err(FormatError::UnknownProposalFormat { format }),
    }
}

/// Checks the format recorded in a store.
pub fn check_store_format(format: u16) -> Result<(), FormatError> {
    if format == STORE_FORMAT {
        Ok(())
    } else {
        Err(FormatError::UnknownStoreFormat { format })
    }
}

/// Checks the format number of a snapshot file's header.
pub fn check_snapshot_format(format: u16) -> Result<(), FormatError> {
    if (1..=SNAPSHOT_FORMAT).contains(&format) {
        Ok(())
    } else {
        Err(FormatError::UnknownSnapshotFormat { format })
    }
}

/// Format 5 of a snapshot's SNS state: topics without subscriptions.
pub mod format_5 {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SnsState {
        topics: BTreeMap<String, Topic>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Topic {
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
        created_ms: u64,
    }

    impl SnsState {
        /// The current state's topics in format 5; `None` when it holds what format 5 cannot
        /// (subscriptions, FIFO topics' state).
        pub fn of(current: &shoal_engine::sns::SnsState) -> Option<SnsState> {
            if current.has_subscriptions() || !current.fifo_topics().is_empty() {
                return None;
            }
            let topics = current.topic_parts().map(|(name, attributes, tags, created_ms)| {
                (name.clone(), Topic { attributes: attributes.clone(), tags: tags.clone(), created_ms })
            });
            Some(SnsState { topics: topics.collect() })
        }

        pub fn migrate(self) -> shoal_engine::sns::SnsState {
            let parts = self.topics.into_iter().map(|(name, t)| (name, t.attributes, t.tags, t.created_ms));
            shoal_engine::sns::SnsState::from_topic_parts(parts)
        }
    }
}

/// Format 2 of a log entry: the engine's `LogEntry` carried its own format number. Its command
/// layout is the current one (format 3 changed only the framing); when `Command` changes, a
/// frozen copy of today's `Command` goes here with its conversion.
mod format_2 {
    use serde::Deserialize;
    use shoal_engine::command::FORMAT_VERSION;
    use shoal_engine::Command;

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
    pub struct LogEntry {
        pub format_version: u16,
        pub time_ms: u64,
        pub command: Command,
    }

    impl LogEntry {
        /// The same entry in the current format. An entry that claims another engine format
        /// keeps its number, so the engine refuses it when it applies it.
        pub fn migrate(self) -> shoal_engine::LogEntry {
            let format_version = if self.format_version == 2 { FORMAT_VERSION } else { self.format_version };
            shoal_engine::LogEntry { format_version, time_ms: self.time_ms, command: self.command }
        }
    }
}
