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
//! | snapshot 1 | (before envelopes) magic `SHLSNAP1`, metadata, bincode of the group state |
//! | snapshot 2 | magic `SHLSNAPV`, the format number (u16, big endian), then as format 1 |
//! | snapshot 3 | as format 2, but messages hold no contents (an empty body): they are in the body store, and a transfer sends them after the file as a body section (`bodies.rs`); written from write level 2 |
//! | snapshot 4 | as 3, but a message's header (id, MD5, sender, sent time) is in the store's record only; written from write level 3 |
//! | snapshot 5 | as 4, followed by the bincode of the group's SNS state (topics); written from write level 4 |
//!
//! A change to the layout of a command, the engine, or openraft's types bumps the format here,
//! keeps the old layout's types in a module of their own, and adds the migration; the golden-bytes
//! tests in `raft/tests/format.rs` fail until that is done.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shoal_engine::command::FORMAT_VERSION;
use shoal_engine::LogEntry;

use crate::types::{ClusterInfo, Proposal};

/// The newest format this build writes for a log entry's application data: format 4 for an
/// entry holding an SNS action, format 3 ([`PROPOSAL_FORMAT_WITHOUT_SNS`]) for every other.
pub const PROPOSAL_FORMAT: u16 = 4;
/// The format of an entry that holds no SNS action (format 4 changed nothing for those, so a
/// node of an older build reads them).
pub const PROPOSAL_FORMAT_WITHOUT_SNS: u16 = 3;
/// The oldest proposal format this build reads.
pub const PROPOSAL_FORMAT_OLDEST: u16 = 2;

/// The layout of the RocksDB store: keys as `store.rs` describes them, values the postcard
/// encoding of openraft 0.10.0-alpha.37's entries, votes and log ids (the proposal inside an
/// entry carries its own format). Recorded in the store when it is created; a store of a newer
/// layout is refused at start.
pub const STORE_FORMAT: u16 = 1;

/// The newest format this build writes for snapshot files (at write level 4; see
/// [`snapshot_format_at`]).
pub const SNAPSHOT_FORMAT: u16 = 5;
/// Magic of snapshot format 1, which carried no format number.
pub const SNAPSHOT_MAGIC_FORMAT_1: &[u8; 8] = b"SHLSNAP1";
/// Magic of every later snapshot format; the format number follows.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SHLSNAPV";

/// The snapshot format a node writes at write `level` (agreed by the cluster layer): format 5
/// (topics after the state) needs every node to read it at level 4; format 4 (headers only in
/// the store) at level 3; format 3 (no contents, headers in line, read back from the store) at
/// level 2; below that format 2, contents in line too.
pub fn snapshot_format_at(level: u32) -> u16 {
    match level {
        4.. => 5,
        3 => 4,
        2 => 3,
        _ => 2,
    }
}

/// The snapshot format that holds topics (SNS state), first written at write level 4.
pub const SNAPSHOT_FORMAT_TOPICS: u16 = 5;

/// The snapshot format a node at write `level` writes for a state with or without topics. A
/// state holds topics only once some node agreed level 4, which it does only when every node's
/// build reads format 5; so a node that has not heard of level 4 yet (it polls its peers, or
/// cannot reach one, or has just been replaced) writes format 5 for them all the same, rather
/// than fail to snapshot.
pub fn snapshot_format_for(level: u32, has_topics: bool) -> u16 {
    let format = snapshot_format_at(level);
    if has_topics {
        format.max(SNAPSHOT_FORMAT_TOPICS)
    } else {
        format
    }
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

// The engine's own number in each entry names the command layout of format 3, which format 4
// only extends with new variants.
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

/// The body of formats 3 and 4: the proposal as it is in memory.
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
            Proposal::Engine(entry) if entry.command.is_sns() => (PROPOSAL_FORMAT, BodyRef::Engine(entry.as_ref())),
            Proposal::Engine(entry) => (PROPOSAL_FORMAT_WITHOUT_SNS, BodyRef::Engine(entry.as_ref())),
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
        3 | 4 => match postcard::from_bytes::<Body>(body) {
            // An SNS action in a format-3 envelope was never written: refused, not guessed at.
            Ok(Body::Engine(entry)) if format == 3 && entry.command.is_sns() => {
                Err(FormatError::Corrupt { format, reason: "an SNS action in format 3".to_string() })
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
