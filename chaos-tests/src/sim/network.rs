//! The simulated network: one request per turmoil TCP connection, a length-prefixed postcard
//! frame each way. Carries Raft's messages (each for one group) and the cluster layer's calls
//! between nodes, and the clients' SQS operations to nodes.

use std::future::Future;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shoal_cluster::{ClusterError, EncodedCall, Transport};
use shoal_raft::bodies::MemoryBodies;
use shoal_raft::{GroupId, NodeInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{storage, SimTypes};

/// Every simulated node listens here.
pub const PORT: u16 = 9000;
/// A frame larger than this is refused.
const FRAME_BYTES_MAX: u32 = 64 << 20;

/// The simulation's two queues: the main queue, and its dead-letter queue in another group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimQueue {
    Main,
    Dead,
}

/// An SQS operation of a simulated client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOp {
    /// Creates one queue (the dead-letter queue first, then the main queue naming it).
    CreateQueue(SimQueue),
    Send {
        value: u64,
        message_id: String,
    },
    /// A long poll of up to [`super::limits::RECEIVE_WAIT_SECONDS`].
    Receive(SimQueue),
    Delete {
        queue: SimQueue,
        receipt_handle: String,
    },
    /// Messages left in the queue (visible, in flight, delayed), read at the leader's read index.
    Remaining(SimQueue),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAnswer {
    Sent {
        message_id: String,
    },
    /// (value, message id, receipt handle)
    Received(Vec<(u64, String, String)>),
    /// Created or deleted.
    Done,
    Remaining(u64),
    /// Definitely not done (not the leader, or refused by the engine).
    Refused(String),
    /// May or may not have happened.
    Unknown(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(GroupId, AppendEntriesRequest<SimTypes>),
    Vote(GroupId, VoteRequest<SimTypes>),
    Snapshot {
        group: GroupId,
        vote: VoteOf<SimTypes>,
        meta: SnapshotMetaOf<SimTypes>,
        data: Vec<u8>,
    },
    /// A call of the cluster layer, forwarded to the group's leader.
    Call {
        group: GroupId,
        format: u32,
        bytes: Vec<u8>,
    },
    /// A client's SQS operation, to whichever node the client picked.
    Client(ClientOp),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    Append(AppendEntriesResponse<SimTypes>),
    Vote(VoteResponse<SimTypes>),
    Snapshot(SnapshotResponse<SimTypes>),
    Call {
        format: u32,
        bytes: Vec<u8>,
    },
    Client(ClientAnswer),
    /// The receiving node failed the request.
    Failed(String),
}

pub async fn write_frame<T: Serialize>(stream: &mut turmoil::net::TcpStream, value: &T) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(std::io::Error::other)?;
    stream.write_u32(bytes.len() as u32).await?;
    stream.write_all(&bytes).await?;
    stream.flush().await
}

pub async fn read_frame<T: DeserializeOwned>(stream: &mut turmoil::net::TcpStream) -> std::io::Result<T> {
    let len = stream.read_u32().await?;
    if len > FRAME_BYTES_MAX {
        return Err(std::io::Error::other("frame too long"));
    }
    let mut bytes = vec![0u8; len as usize];
    stream.read_exact(&mut bytes).await?;
    postcard::from_bytes(&bytes).map_err(std::io::Error::other)
}

/// Why a call got no answer: the peer could not be reached at all (nothing was sent), or the
/// connection failed or timed out after the request may have been sent.
#[derive(Debug)]
pub enum CallError {
    Unreachable(String),
    Lost(String),
}

/// Sends one request to `host` and waits at most `timeout` for its answer.
pub async fn call(host: &str, request: &Request, timeout: Duration) -> Result<Answer, CallError> {
    let exchange = async {
        let mut stream = turmoil::net::TcpStream::connect((host, PORT))
            .await
            .map_err(|error| CallError::Unreachable(error.to_string()))?;
        write_frame(&mut stream, request).await.map_err(|error| CallError::Lost(error.to_string()))?;
        read_frame::<Answer>(&mut stream).await.map_err(|error| CallError::Lost(error.to_string()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Lost("timeout".into())),
    }
}

/// The cluster layer's calls over the simulated network.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimTransport;

impl Transport for SimTransport {
    fn send(
        &self,
        node: u64,
        address: &str,
        group: GroupId,
        call: EncodedCall,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'static, Result<EncodedCall, ClusterError>> {
        let host = address.to_string();
        Box::pin(async move {
            let request = Request::Call { group, format: call.format, bytes: call.bytes };
            match self::call(&host, &request, timeout).await {
                Ok(Answer::Call { format, bytes }) => Ok(EncodedCall { format, bytes }),
                Ok(other) => {
                    Err(ClusterError::OutcomeUnknown { group, reason: format!("node {node} answered {other:?}") })
                }
                Err(CallError::Unreachable(reason)) => Err(ClusterError::Unreachable { group, node, reason }),
                Err(CallError::Lost(reason)) => Err(ClusterError::OutcomeUnknown { group, reason }),
            }
        })
    }
}

/// Makes the connections of one group.
#[derive(Debug, Clone)]
pub struct Network {
    pub group: GroupId,
    /// This node's store, whose contents follow every snapshot sent.
    pub bodies: Arc<MemoryBodies>,
}

#[derive(Debug)]
pub struct Connection {
    group: GroupId,
    host: String,
    bodies: Arc<MemoryBodies>,
}

impl RaftNetworkFactory<SimTypes> for Network {
    type Network = Connection;

    async fn new_client(&mut self, _target: u64, node: &NodeInfo) -> Connection {
        Connection { group: self.group, host: node.addr.clone(), bodies: self.bodies.clone() }
    }
}

fn rpc_error(error: CallError) -> RPCError<SimTypes> {
    match error {
        CallError::Unreachable(message) => RPCError::Unreachable(Unreachable::from_string(message)),
        CallError::Lost(message) => RPCError::Network(NetworkError::from_string(message)),
    }
}

fn unexpected(answer: Answer) -> RPCError<SimTypes> {
    RPCError::Network(NetworkError::from_string(format!("unexpected answer {answer:?}")))
}

impl Connection {
    async fn rpc(&self, request: Request, option: &RPCOption) -> Result<Answer, RPCError<SimTypes>> {
        match call(&self.host, &request, option.hard_ttl()).await.map_err(rpc_error)? {
            Answer::Failed(message) => Err(RPCError::Network(NetworkError::from_string(message))),
            answer => Ok(answer),
        }
    }
}

impl RaftNetworkV2<SimTypes> for Connection {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<SimTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<SimTypes>, RPCError<SimTypes>> {
        match self.rpc(Request::Append(self.group, rpc), &option).await? {
            Answer::Append(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<SimTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<SimTypes>, RPCError<SimTypes>> {
        match self.rpc(Request::Vote(self.group, rpc), &option).await? {
            Answer::Vote(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<SimTypes>,
        snapshot: SnapshotOf<SimTypes, Cursor<Vec<u8>>>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<SimTypes>, StreamingError<SimTypes>> {
        // As a node does: the state, then the body section read from the store as it is sent.
        let data = storage::with_section(snapshot.snapshot.into_inner(), &*self.bodies, self.group)
            .map_err(|error| StreamingError::Network(NetworkError::new(&error)))?;
        let request = Request::Snapshot { group: self.group, vote, meta: snapshot.meta, data };
        let answer = tokio::select! {
            biased;
            closed = cancel => return Err(StreamingError::Closed(closed)),
            answer = self.rpc(request, &option) => answer,
        };
        match answer.map_err(StreamingError::from)? {
            Answer::Snapshot(response) => Ok(response),
            other => Err(StreamingError::from(unexpected(other))),
        }
    }
}
