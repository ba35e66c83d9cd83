//! The gRPC transport of Raft messages between nodes (`proto/shoal_cluster.proto`).
//!
//! One channel per peer, created lazily and shared by every group, with HTTP/2 keepalive; every
//! message carries the group id, and unary calls a deadline. Payloads are openraft's own types in postcard. A
//! snapshot is streamed from its file in chunks and written to a file on the receiving side
//! before it is installed, so neither side holds it in memory; a snapshot of format 3 is
//! followed by its body section, read from the store as it is sent (`bodies.rs`), which the
//! receiving side writes to a file of its own.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};

use crate::bodies::BodyStore;
use crate::state::{ShoalRaft, SnapshotDir, SnapshotFile};
use crate::types::{NodeInfo, TypeConfig};
use crate::GroupId;
use shoal_proto::raft::raft_client::RaftClient;
use shoal_proto::raft::{RaftMessage, SnapshotChunk};

/// How long a connection attempt to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 pings on every peer connection, so a dead peer is noticed without traffic.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 flow control: one stream (a group's replication to a follower whose Raft stalls) may
/// hold this much unread, and a connection many times that, so one stalled stream cannot stop
/// the other groups, heartbeats, votes and forwarded requests sharing the connection.
pub const STREAM_WINDOW_BYTES: u32 = 1 << 20;
pub const CONNECTION_WINDOW_BYTES: u32 = 64 << 20;
/// A snapshot chunk when openraft does not say.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// A snapshot transfer may take this long plus one second per MiB.
pub const SNAPSHOT_TRANSFER_BASE: Duration = Duration::from_secs(30);

/// A failure on the remote side, carried back as text.
#[derive(Debug, Serialize, Deserialize)]
struct RemoteFailure(String);

type Remote<T> = Result<T, RemoteFailure>;

/// The cached channels to every peer, shared by all groups of a node.
#[derive(Debug, Default)]
pub struct Peers {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Peers {
    pub fn new() -> Arc<Peers> {
        Arc::new(Peers::default())
    }

    /// The channel to `addr` (`host:port`), connected on first use and kept.
    pub fn channel(&self, addr: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address {addr}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES);
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Makes the connections of one group.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    group: GroupId,
    peers: Arc<Peers>,
    /// Where the body sections of snapshots sent are read from.
    bodies: Arc<dyn BodyStore>,
}

impl NetworkFactory {
    pub fn new(group: GroupId, peers: Arc<Peers>, bodies: Arc<dyn BodyStore>) -> NetworkFactory {
        NetworkFactory { group, peers, bodies }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> Connection {
        Connection { group: self.group, target, channel: self.peers.channel(&node.addr), bodies: self.bodies.clone() }
    }
}

/// One group's connection to one peer.
#[derive(Debug)]
pub struct Connection {
    group: GroupId,
    target: u64,
    channel: Result<Channel, String>,
    bodies: Arc<dyn BodyStore>,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

fn status_to_rpc_error(target: u64, status: &tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::from_string(format!("node {target}: {}", status.message())))
        }
        _ => RPCError::Network(NetworkError::from_string(format!("node {target}: {status}"))),
    }
}

/// The answer of node `target`: the value, or the failure it reported, as an RPC error.
fn decode_answer<T: DeserializeOwned>(target: u64, answer: &RaftMessage) -> Result<T, RPCError<TypeConfig>> {
    let remote: Remote<T> = postcard::from_bytes(&answer.payload)
        .map_err(|e| RPCError::Network(NetworkError::from_string(format!("node {target}: {e}"))))?;
    remote.map_err(|RemoteFailure(message)| {
        RPCError::Network(NetworkError::from_string(format!("node {target}: {message}")))
    })
}

impl Connection {
    fn client(&self) -> Result<RaftClient<Channel>, RPCError<TypeConfig>> {
        match &self.channel {
            Ok(channel) => {
                Ok(RaftClient::new(channel.clone()).max_decoding_message_size(crate::limits::RAFT_MESSAGE_BYTES_MAX))
            }
            Err(error) => Err(RPCError::Unreachable(Unreachable::from_string(error.clone()))),
        }
    }

    fn decode<T: DeserializeOwned>(&self, reply: &RaftMessage) -> Result<T, RPCError<TypeConfig>> {
        decode_answer(self.target, reply)
    }

    fn request<T: Serialize>(
        &self,
        value: &T,
        option: &RPCOption,
    ) -> Result<tonic::Request<RaftMessage>, RPCError<TypeConfig>> {
        let payload = encode(value).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(RaftMessage { group: self.group, payload });
        request.set_timeout(option.hard_ttl());
        address_to(&mut request, self.target);
        Ok(request)
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = self.request(&rpc, &option)?;
        let reply = self.client()?.append_entries(request).await.map_err(|s| status_to_rpc_error(self.target, &s))?;
        self.decode(reply.get_ref())
    }

    /// Replication (and heartbeats) over one bidirectional gRPC stream per openraft session:
    /// openraft sends the next batch without waiting for the answer to the previous one (the
    /// default sends one at a time). No deadline spans the stream, which lasts one session;
    /// heartbeats are bounded by openraft's own timeout, and a dead or stopped peer ends a
    /// replication stream through the connection's HTTP/2 keepalive (a follower whose Raft is
    /// stuck but whose process answers pings is not detected here).
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        _option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>, RPCError<TypeConfig>>,
    >
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let (group, target) = (self.group, self.target);
        Box::pin(async move {
            let mut client = self.client()?;
            // A request that cannot be encoded ends the stream, so answers stay in step.
            let encoded = futures::StreamExt::scan(input, (), move |_, request| {
                let message = match encode(&request) {
                    Ok(payload) => Some(RaftMessage { group, payload }),
                    Err(error) => {
                        tracing::warn!(group, target, %error, "an append request could not be encoded; ending the stream");
                        None
                    }
                };
                std::future::ready(message)
            });
            // The request side runs in the transport's own task: once openraft drops the answers
            // (the session ended), end the requests too, or they would hold openraft's request
            // source and take the next session's first batch into a dead stream.
            let (session_over, over) = futures::channel::oneshot::channel::<()>();
            let mut requests = tonic::Request::new(futures::StreamExt::take_until(encoded, over));
            address_to(&mut requests, target);
            let answers =
                client.stream_append(requests).await.map_err(|s| status_to_rpc_error(target, &s))?.into_inner();
            let results = answers.map(move |answer| {
                let _session = &session_over;
                let answer = answer.map_err(|s| status_to_rpc_error(target, &s))?;
                decode_answer::<StreamAppendResult<TypeConfig>>(target, &answer)
            });
            Ok(Box::pin(results) as BoxStream<'s, _>)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = self.request(&rpc, &option)?;
        let reply = self.client()?.vote(request).await.map_err(|s| status_to_rpc_error(self.target, &s))?;
        self.decode(reply.get_ref())
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let network = |message: String| StreamingError::Network(NetworkError::from_string(message));
        let len = snapshot.snapshot.len;
        let header = encode(&(&vote, &snapshot.meta, len)).map_err(|e| network(e.to_string()))?;
        let chunk_bytes = option.snapshot_chunk_size().unwrap_or(SNAPSHOT_CHUNK_BYTES).max(4096);
        let (chunks, stream) = tokio::sync::mpsc::channel::<SnapshotChunk>(4);
        let group = self.group;
        let mut file = snapshot.snapshot.file;
        let body_section = snapshot.snapshot.format >= 3;
        let bodies = self.bodies.clone();
        let reader = tokio::task::spawn_blocking(move || {
            file.seek(SeekFrom::Start(0))?;
            let mut out =
                ChunkWriter { group, header: Some(header), body_section, chunk_bytes, data: Vec::new(), chunks };
            io::copy(&mut file, &mut out)?;
            if body_section {
                crate::bodies::write_section(&*bodies, group, &mut out)?;
            }
            out.finish()
        });
        let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(stream));
        // The body section's length is not known before it is read: a transfer with one is
        // bounded by the connection's keepalive and openraft's cancellation instead.
        if !body_section {
            request.set_timeout(SNAPSHOT_TRANSFER_BASE + Duration::from_secs(len >> 20));
        }
        address_to(&mut request, self.target);
        let mut client = match self.client() {
            Ok(client) => client,
            Err(error) => return Err(StreamingError::from(error)),
        };
        let call = client.install_snapshot(request);
        let reply = tokio::select! {
            reply = call => reply,
            closed = cancel => return Err(StreamingError::Closed(closed)),
        };
        match reader.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(network(format!("reading the snapshot file: {error}"))),
            Err(error) => return Err(network(format!("reading the snapshot file: {error}"))),
        }
        let reply = reply.map_err(|s| StreamingError::from(status_to_rpc_error(self.target, &s)))?;
        self.decode(reply.get_ref()).map_err(StreamingError::from)
    }
}

/// Cuts what is written into snapshot chunks of `chunk_bytes` and sends them; the first carries
/// the header. Sending stops with an error once the receiving side is gone.
struct ChunkWriter {
    group: GroupId,
    header: Option<Vec<u8>>,
    body_section: bool,
    chunk_bytes: usize,
    data: Vec<u8>,
    chunks: tokio::sync::mpsc::Sender<SnapshotChunk>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        let data = std::mem::take(&mut self.data);
        let (header, body_section) = match self.header.take() {
            Some(header) => (header, self.body_section),
            None => (Vec::new(), false),
        };
        let chunk = SnapshotChunk { group: self.group, header, data, body_section };
        self.chunks.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "transfer ended"))
    }

    /// Sends what is left (the header at least).
    fn finish(mut self) -> io::Result<()> {
        if !self.data.is_empty() || self.header.is_some() {
            self.send()?;
        }
        Ok(())
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = self.chunk_bytes - self.data.len();
        let taken = bytes.len().min(room);
        self.data.extend_from_slice(&bytes[..taken]);
        if self.data.len() == self.chunk_bytes {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The gRPC metadata naming the node a Raft message is for.
const TO_NODE: &str = "shoal-to-node";

/// Names the node a request is for, so a node reached at a wrong address (misconfigured peers,
/// two nodes given one port) refuses it instead of taking another node's messages as its own.
fn address_to<T>(request: &mut tonic::Request<T>, node: u64) {
    request.metadata_mut().insert(TO_NODE, tonic::metadata::MetadataValue::from(node));
}

/// The groups a node hosts, by id: its Raft and the state it applies. Shared with the node,
/// which adds and removes groups while it runs.
pub type HostedRafts = Arc<std::sync::RwLock<std::collections::BTreeMap<GroupId, (ShoalRaft, Arc<SnapshotDir>)>>>;

/// The groups this node serves, by group id, for the receiving side.
#[derive(Debug, Clone)]
pub struct LocalGroups {
    pub node_id: u64,
    pub groups: HostedRafts,
}

impl LocalGroups {
    /// Refuses a request meant for another node.
    fn check_addressee<T>(&self, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let to = request.metadata().get(TO_NODE).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        match to {
            Some(node) if node == self.node_id => Ok(()),
            Some(node) => Err(tonic::Status::failed_precondition(format!(
                "this is node {}, not node {node}: check --peers",
                self.node_id
            ))),
            None => Err(tonic::Status::invalid_argument(format!("a raft message without {TO_NODE}"))),
        }
    }

    fn get(&self, group: GroupId) -> Result<(ShoalRaft, Arc<SnapshotDir>), tonic::Status> {
        let groups = self.groups.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        groups
            .get(&group)
            .cloned()
            .ok_or_else(|| tonic::Status::not_found(format!("this node has no raft group {group}")))
    }
}

fn reply<T: Serialize>(group: GroupId, value: &Remote<T>) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
    let payload = encode(value).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(tonic::Response::new(RaftMessage { group, payload }))
}

fn decode_request<T: DeserializeOwned>(message: &RaftMessage) -> Result<T, tonic::Status> {
    postcard::from_bytes(&message.payload).map_err(|e| tonic::Status::invalid_argument(e.to_string()))
}

static NEXT_INCOMING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[tonic::async_trait]
impl shoal_proto::raft::raft_server::Raft for LocalGroups {
    async fn append_entries(
        &self,
        request: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_addressee(&request)?;
        let message = request.into_inner();
        let (raft, _) = self.get(message.group)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode_request(&message)?;
        let result = raft.append_entries(rpc).await.map_err(|e| RemoteFailure(e.to_string()));
        reply(message.group, &result)
    }

    type StreamAppendStream = BoxStream<'static, Result<RaftMessage, tonic::Status>>;

    /// Every message of one stream is for the group of its first message; one that is not, or
    /// cannot be decoded, ends the stream (openraft then starts a new one).
    async fn stream_append(
        &self,
        request: tonic::Request<tonic::Streaming<RaftMessage>>,
    ) -> Result<tonic::Response<Self::StreamAppendStream>, tonic::Status> {
        self.check_addressee(&request)?;
        let mut incoming = request.into_inner();
        let first = incoming.message().await?.ok_or_else(|| tonic::Status::invalid_argument("empty append stream"))?;
        let group = first.group;
        let (raft, _) = self.get(group)?;
        let requests = futures::StreamExt::scan(
            futures::StreamExt::chain(futures::stream::once(std::future::ready(Ok(first))), incoming),
            (),
            move |_, message: Result<RaftMessage, tonic::Status>| {
                let request = match message {
                    Ok(message) if message.group == group => {
                        postcard::from_bytes::<AppendEntriesRequest<TypeConfig>>(&message.payload)
                            .map_err(|error| tracing::warn!(group, %error, "an append request could not be decoded"))
                            .ok()
                    }
                    Ok(message) => {
                        tracing::warn!(group, other = message.group, "an append stream mixed groups");
                        None
                    }
                    Err(_) => None,
                };
                std::future::ready(request)
            },
        );
        let answers = raft.stream_append(requests).map(move |result| {
            let remote: Remote<StreamAppendResult<TypeConfig>> =
                result.map_err(|fatal| RemoteFailure(fatal.to_string()));
            let payload = encode(&remote).map_err(|e| tonic::Status::internal(e.to_string()))?;
            Ok(RaftMessage { group, payload })
        });
        Ok(tonic::Response::new(Box::pin(answers)))
    }

    async fn vote(&self, request: tonic::Request<RaftMessage>) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_addressee(&request)?;
        let message = request.into_inner();
        let (raft, _) = self.get(message.group)?;
        let rpc: VoteRequest<TypeConfig> = decode_request(&message)?;
        let result = raft.vote(rpc).await.map_err(|e| RemoteFailure(e.to_string()));
        reply(message.group, &result)
    }

    async fn install_snapshot(
        &self,
        request: tonic::Request<tonic::Streaming<SnapshotChunk>>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_addressee(&request)?;
        let mut chunks = request.into_inner();
        let first = chunks.next().await.ok_or_else(|| tonic::Status::invalid_argument("empty snapshot stream"))??;
        let group = first.group;
        let (raft, snapshots) = self.get(group)?;
        let (vote, meta, len): (VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>, u64) =
            postcard::from_bytes(&first.header)
                .map_err(|e| tonic::Status::invalid_argument(format!("snapshot header: {e}")))?;
        if len > crate::limits::SNAPSHOT_BYTES_MAX as u64 {
            return Err(tonic::Status::invalid_argument(format!(
                "a snapshot of {len} bytes; this node takes at most {}",
                crate::limits::SNAPSHOT_BYTES_MAX
            )));
        }
        let path = snapshots.incoming_path(NEXT_INCOMING.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let section_path = path.with_extension("bodies.tmp");
        let body_section = first.body_section;
        let io_status = |e: io::Error| tonic::Status::internal(format!("writing the incoming snapshot: {e}"));
        let received = async {
            let mut file = tokio::fs::File::create(&path).await.map_err(io_status)?;
            let mut section = match body_section {
                true => Some(tokio::fs::File::create(&section_path).await.map_err(io_status)?),
                false => None,
            };
            let mut written = 0u64;
            let mut data = first.data;
            loop {
                // The file's bytes up to its announced length; the body section after it.
                let in_file = data.len().min((len - written.min(len)) as usize);
                written += data.len() as u64;
                // More than announced and no section: refused before it reaches the disk.
                if written > len && section.is_none() {
                    return Err(tonic::Status::invalid_argument(format!(
                        "a snapshot announced as {len} bytes is longer"
                    )));
                }
                file.write_all(&data[..in_file]).await.map_err(io_status)?;
                if let Some(section) = section.as_mut() {
                    section.write_all(&data[in_file..]).await.map_err(io_status)?;
                }
                match chunks.next().await {
                    Some(chunk) => data = chunk?.data,
                    None => break,
                }
            }
            file.sync_all().await.map_err(io_status)?;
            let mut snapshot = SnapshotFile::open(&path).map_err(io_status)?;
            // A transfer cut short must not reach the state machine, where a bad file is fatal.
            if snapshot.len != len {
                return Err(tonic::Status::data_loss(format!("snapshot of {len} bytes arrived with {}", snapshot.len)));
            }
            if snapshot.format >= 3 && section.is_none() {
                return Err(tonic::Status::invalid_argument("a snapshot of format 3 without its body section"));
            }
            if let Some(section) = section {
                // Its end is checked as it is read: a section cut short is refused there.
                section.sync_all().await.map_err(io_status)?;
                snapshot.bodies = Some(std::fs::File::open(&section_path).map_err(io_status)?);
            }
            Ok(snapshot)
        }
        .await;
        let remove = || async {
            let _ = tokio::fs::remove_file(&path).await;
            let _ = tokio::fs::remove_file(&section_path).await;
        };
        let snapshot = match received {
            Ok(snapshot) => snapshot,
            Err(status) => {
                remove().await;
                return Err(status);
            }
        };
        let snapshot = SnapshotOf::<TypeConfig, SnapshotFile> { meta, snapshot };
        let result = raft.install_full_snapshot(vote, snapshot).await.map_err(|e| RemoteFailure(e.to_string()));
        remove().await;
        reply(group, &result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_node_refuses_raft_messages_for_another_node() {
        let local = LocalGroups { node_id: 1, groups: Arc::default() };
        let to = |node: Option<u64>| {
            let mut request = tonic::Request::new(RaftMessage { group: 1, payload: Vec::new() });
            if let Some(node) = node {
                address_to(&mut request, node);
            }
            local.check_addressee(&request).map_err(|status| status.code())
        };
        assert_eq!(to(Some(1)), Ok(()));
        assert_eq!(to(Some(2)), Err(tonic::Code::FailedPrecondition));
        assert_eq!(to(None), Err(tonic::Code::InvalidArgument));
    }
}
