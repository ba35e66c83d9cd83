//! The peer port's bounds, judged from outside: a call larger than the cluster's call limit, a
//! call claiming an impossible length, and snapshot streams longer than announced or than the
//! snapshot limit are refused, and the node goes on serving.

mod common;

use common::Server;
use shoal_proto::cluster::groups_client::GroupsClient;
use shoal_proto::cluster::CallRequest;
use shoal_proto::raft::raft_client::RaftClient;
use shoal_proto::raft::SnapshotChunk;
use shoal_raft::TypeConfig;

/// A node's id, as every Raft message names the node it is for.
const TO_NODE: &str = "shoal-to-node";

async fn groups(server: &Server) -> GroupsClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(server.peer_endpoint()).unwrap().connect().await.unwrap();
    GroupsClient::new(channel).max_encoding_message_size(usize::MAX)
}

async fn still_serves(server: &Server) {
    let client = server.client().await;
    client.list_queues().send().await.expect("the node serves after a refused peer message");
}

#[tokio::test]
async fn test_peer_calls_over_the_limit_or_claiming_too_much_are_refused() {
    let server = Server::start().await;
    let mut client = groups(&server).await;

    let limit = shoal_cluster::limits::CALL_BYTES_MAX;
    let oversized = CallRequest { group: 1, format: shoal_cluster::call::CALL_FORMAT, request: vec![0; limit + 1] };
    let status = client.call(oversized).await.expect_err("a call over the limit is refused");
    assert!(matches!(status.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted), "{status:?}");

    // A service request (variant 0) whose string claims u64::MAX bytes.
    let mut bomb = vec![0u8, 253];
    bomb.extend_from_slice(&u64::MAX.to_le_bytes());
    let claim = CallRequest { group: 1, format: shoal_cluster::call::CALL_FORMAT, request: bomb };
    let status = client.call(claim).await.expect_err("an impossible length is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    still_serves(&server).await;
}

/// A snapshot stream for group 1 whose header announces `announced` bytes and that carries
/// `sent` bytes.
async fn send_snapshot(server: &Server, announced: u64, sent: usize) -> tonic::Status {
    let vote = openraft::type_config::alias::VoteOf::<TypeConfig>::new(1, 1);
    let meta = openraft::type_config::alias::SnapshotMetaOf::<TypeConfig>::default();
    let header = postcard::to_stdvec(&(&vote, &meta, announced)).unwrap();
    let chunks = vec![SnapshotChunk { group: 1, header, data: vec![7; sent], body_section: false }];
    let channel = tonic::transport::Endpoint::from_shared(server.peer_endpoint()).unwrap().connect().await.unwrap();
    let mut client = RaftClient::new(channel);
    let mut request = tonic::Request::new(tokio_stream::iter(chunks));
    request.metadata_mut().insert(TO_NODE, tonic::metadata::MetadataValue::from(1u64));
    client.install_snapshot(request).await.expect_err("the snapshot is refused")
}

#[tokio::test]
async fn test_peer_snapshots_longer_than_announced_or_than_the_limit_are_refused() {
    let server = Server::start().await;
    let status = send_snapshot(&server, 16, 4096).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("longer"), "{status:?}");

    let over = shoal_raft::limits::SNAPSHOT_BYTES_MAX as u64 + 1;
    let status = send_snapshot(&server, over, 16).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("at most"), "{status:?}");
    still_serves(&server).await;
}
