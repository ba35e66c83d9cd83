//! What one node asks the leader of a group to do, and what it answers: typed values that cross
//! the cluster in a versioned binary encoding (a format number, then bincode with a size limit),
//! never as JSON, over a peer [`Transport`]. The cluster runs outbox imports itself; everything
//! else is a front door's request, run by its [`GroupService`] on the leader.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shoal_engine::outbox::OutboxEntry;
use shoal_raft::GroupId;

use crate::broker::Broker;
use crate::error::{ClusterError, GroupError};
use crate::level::{Hello, WRITE_LEVEL_MAX};
use crate::limits;

/// The encoding of a call and its reply. A node refuses another number, so nodes of builds that
/// encode differently fail loudly instead of misreading each other.
pub const CALL_FORMAT: u32 = 1;

/// A front door's requests, run on the leader of their group.
pub trait GroupService: Send + Sync + 'static {
    type Request: Serialize + DeserializeOwned + Debug + Send + Sync + 'static;
    type Reply: Serialize + DeserializeOwned + Debug + Send + 'static;
    /// The service's own error; a cluster or group failure converts into it.
    type Error: Serialize + DeserializeOwned + Debug + Send + From<GroupError> + 'static;

    /// Runs `request` on this node, which leads `broker`'s group.
    fn execute(
        &self,
        broker: &Broker,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Reply, Self::Error>> + Send;

    /// How long `request` may wait on the leader beyond its work (a long poll), in seconds.
    fn wait_seconds(&self, request: &Self::Request) -> u32;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRequest<R> {
    Service(R),
    /// Takes a batch of another group's outbox (node to node only).
    Import {
        source_group: GroupId,
        entries: Vec<OutboxEntry>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupReply<P> {
    Service(P),
    /// Outbox positions the importing group refused.
    Imported {
        refused: Vec<u64>,
    },
}

/// A call or its reply as it crosses between nodes: its format number and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedCall {
    pub format: u32,
    pub bytes: Vec<u8>,
}

impl EncodedCall {
    pub fn encode<T: Serialize>(value: &T) -> Result<EncodedCall, String> {
        Ok(EncodedCall { format: CALL_FORMAT, bytes: encode(value)? })
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        decode(self.format, &self.bytes)
    }
}

/// How a call reaches another node: gRPC between real nodes, the simulated network in the
/// simulation.
pub trait Transport: Send + Sync + 'static {
    /// Sends `call` for `group` to node `node` at `address` and waits up to `timeout` for
    /// the reply. Fails with `Unreachable` when nothing was sent, `Timeout` or
    /// `OutcomeUnknown` when the call may have run.
    fn send(
        &self,
        node: u64,
        address: &str,
        group: GroupId,
        call: EncodedCall,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<EncodedCall, ClusterError>>;

    /// Asks node `node` at `address` who it is and which write level its build reads, waiting
    /// up to `timeout`. The default answers for a peer of this very build, as in the
    /// simulation, where every node runs one build.
    fn hello(&self, node: u64, _address: &str, _timeout: Duration) -> BoxFuture<'static, Result<Hello, String>> {
        Box::pin(async move { Ok(Hello { node, write_level_max: WRITE_LEVEL_MAX }) })
    }
}

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::CALL_BYTES_MAX }>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<{ limits::CALL_BYTES_MAX }>()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| format!("encoding a call: {e}"))
}

/// Decodes a peer's message of format `format`, refusing other formats and anything larger
/// than `CALL_BYTES_MAX`.
pub fn decode<T: DeserializeOwned>(format: u32, bytes: &[u8]) -> Result<T, String> {
    if format != CALL_FORMAT {
        return Err(format!("a call of format {format}; this node reads format {CALL_FORMAT}"));
    }
    let (value, _) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Request = GroupRequest<String>;

    #[test]
    fn test_calls_round_trip_and_other_formats_are_refused() {
        let request: Request = GroupRequest::Import { source_group: 2, entries: Vec::new() };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<Request>(CALL_FORMAT, &bytes), Ok(request));
        assert!(decode::<Request>(CALL_FORMAT + 1, &bytes).unwrap_err().contains("format 2"));
    }

    #[test]
    fn test_a_length_beyond_the_limit_is_refused_before_allocating() {
        // A service request claiming a string of u64::MAX bytes: bincode's limit refuses it.
        let mut bytes = vec![0u8]; // variant Service
        bytes.push(253); // bincode's varint marker: a u64 follows
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let error = decode::<Request>(CALL_FORMAT, &bytes).unwrap_err();
        assert!(error.to_lowercase().contains("limit"), "{error}");
    }
}
