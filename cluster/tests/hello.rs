//! `Groups.Hello` over gRPC against builds that predate it, and against no one.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shoal_cluster::grpc::GrpcTransport;
use shoal_cluster::level::{Hello, WRITE_LEVEL_OLDEST};
use shoal_cluster::Transport;
use shoal_proto::raft::raft_server::RaftServer;
use shoal_raft::network::{LocalGroups, Peers};

#[tokio::test]
async fn test_a_peer_without_hello_counts_as_the_oldest_level() {
    // A node of an older build: the Raft service, no `Groups` service at all.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let local = LocalGroups { node_id: 2, groups: Arc::new(RwLock::new(BTreeMap::new())) };
    let server = tonic::transport::Server::builder()
        .add_service(RaftServer::new(local))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    let transport = GrpcTransport { node_id: 1, channels: Peers::new() };
    let hello = transport.hello(2, &address, Duration::from_secs(5)).await;
    assert_eq!(hello, Ok(Hello { node: 2, write_level_max: WRITE_LEVEL_OLDEST }));
}

#[tokio::test]
async fn test_a_peer_that_is_not_there_gives_no_answer() {
    // A port that was just free: nothing listens on it.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let transport = GrpcTransport { node_id: 1, channels: Peers::new() };
    let hello = transport.hello(2, &address, Duration::from_secs(2)).await;
    assert!(hello.is_err(), "{hello:?}");
}
