//! The simulated network: one request per turmoil TCP connection, a length-prefixed postcard
//! frame each way. Carries Raft's messages between nodes and the clients' SQS operations.

use std::future::Future;
use std::io::Cursor;
use std::time::Duration;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shoal_raft::NodeInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::SimTypes;

/// Every simulated node listens here.
pub const PORT: u16 = 9000;
/// A frame larger than this is refused.
const FRAME_BYTES_MAX: u32 = 64 << 20;

/// An SQS operation of a simulated client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClientOp {
    CreateQueue,
    Send {
        value: u64,
        message_id: String,
    },
    Receive,
    Delete {
        receipt_handle: String,
    },
    /// Messages left in the queue (visible, in flight, delayed), read at the leader's read index.
    Remaining,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    Append(AppendEntriesRequest<SimTypes>),
    Vote(VoteRequest<SimTypes>),
    Snapshot {
        vote: VoteOf<SimTypes>,
        meta: SnapshotMetaOf<SimTypes>,
        data: Vec<u8>,
    },
    /// An SQS operation; `forwarded` when a node passed it on to the leader (never twice).
    Client {
        op: ClientOp,
        forwarded: bool,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    Append(AppendEntriesResponse<SimTypes>),
    Vote(VoteResponse<SimTypes>),
    Snapshot(SnapshotResponse<SimTypes>),
    Client(ClientAnswer),
    /// The receiving Raft failed the request.
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

#[derive(Debug, Clone, Default)]
pub struct Network;

#[derive(Debug)]
pub struct Connection {
    host: String,
}

impl RaftNetworkFactory<SimTypes> for Network {
    type Network = Connection;

    async fn new_client(&mut self, _target: u64, node: &NodeInfo) -> Connection {
        Connection { host: node.addr.clone() }
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
        match self.rpc(Request::Append(rpc), &option).await? {
            Answer::Append(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<SimTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<SimTypes>, RPCError<SimTypes>> {
        match self.rpc(Request::Vote(rpc), &option).await? {
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
        let request = Request::Snapshot { vote, meta: snapshot.meta, data: snapshot.snapshot.into_inner() };
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
