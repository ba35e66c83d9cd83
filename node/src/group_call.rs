//! What one node asks the leader of a group to do, and what it answers: typed values that cross
//! the cluster in a versioned binary encoding (a format number, then bincode), never as JSON. A
//! failure says whether it is the cluster's (no leader, unreachable, ...; the request may be
//! retried) or the service's (an AWS error, the client's to see).

use serde::{Deserialize, Serialize};
use shoal_engine::outbox::OutboxEntry;
use shoal_raft::GroupId;

use crate::error::ApiError;
use crate::limits;
use crate::sqs::peer::{SqsAnswer, SqsQuery};
use crate::sqs::{SqsReply, SqsRequest};

/// The encoding of a forwarded request and its reply. A node refuses another number, so nodes
/// of builds that encode differently fail loudly instead of misreading each other.
pub const FORWARD_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRequest {
    Sqs(SqsRequest),
    /// A question about the group's queues from a request that spans groups.
    SqsQuery(SqsQuery),
    /// Takes a batch of another group's outbox (node to node only).
    Import {
        source_group: GroupId,
        entries: Vec<OutboxEntry>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupReply {
    Sqs(SqsReply),
    SqsAnswer(SqsAnswer),
    /// Outbox positions the importing group refused.
    Imported {
        refused: Vec<u64>,
    },
}

impl GroupRequest {
    /// How long the request may wait on the leader beyond its work (a long poll).
    pub fn wait_seconds(&self) -> u32 {
        match self {
            GroupRequest::Sqs(request) => request.wait_seconds(),
            GroupRequest::SqsQuery(_) | GroupRequest::Import { .. } => 0,
        }
    }
}

/// Why the cluster could not run a request; every case is worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ClusterError {
    #[error("node {node} no longer leads group {group} (leader: {leader:?}); retry")]
    NotLeader { group: GroupId, node: u64, leader: Option<Leader> },
    #[error("raft group {group} has no leader right now; retry")]
    NoLeader { group: GroupId },
    #[error("node {node} cannot be reached for group {group}: {reason}")]
    Unreachable { group: GroupId, node: u64, reason: String },
    #[error("node {node} did not answer for group {group} in time")]
    Timeout { group: GroupId, node: u64 },
    #[error("group {group}: the request may or may not have taken effect: {reason}")]
    OutcomeUnknown { group: GroupId, reason: String },
}

/// A group's leader as a node knows it: its id and the address of its cluster service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    pub node: u64,
    pub address: String,
}

/// A forwarded call's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallError {
    Cluster(ClusterError),
    Service(ApiError),
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        match error {
            CallError::Cluster(error) => ApiError::from(error),
            CallError::Service(error) => error,
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(error: ClusterError) -> ApiError {
        ApiError::unavailable(error.to_string())
    }
}

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::FORWARD_BYTES_MAX }>,
> {
    bincode::config::standard().with_limit::<{ limits::FORWARD_BYTES_MAX }>()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| ApiError::internal(format!("encoding a call: {e}")))
}

/// Decodes a peer's message of format `format`, refusing other formats and anything larger
/// than `FORWARD_BYTES_MAX`.
pub fn decode<T: serde::de::DeserializeOwned>(format: u32, bytes: &[u8]) -> Result<T, String> {
    if format != FORWARD_FORMAT {
        return Err(format!("forwarded call of format {format}; this node reads format {FORWARD_FORMAT}"));
    }
    let (value, _) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_calls_round_trip_and_other_formats_are_refused() {
        let request = GroupRequest::Import { source_group: 2, entries: Vec::new() };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<GroupRequest>(FORWARD_FORMAT, &bytes), Ok(request));
        assert!(decode::<GroupRequest>(FORWARD_FORMAT + 1, &bytes).unwrap_err().contains("format 2"));
    }

    #[test]
    fn test_a_length_beyond_the_limit_is_refused_before_allocating() {
        // A vector claiming u64::MAX elements: bincode's limit refuses it.
        let mut bytes = vec![1u8]; // variant Import
        bytes.push(2); // source group
        bytes.extend_from_slice(&[0xFF; 9]); // varint length marker + u64::MAX
        assert!(decode::<GroupRequest>(FORWARD_FORMAT, &bytes).is_err());
    }
}
