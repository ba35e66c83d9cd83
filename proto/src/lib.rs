//! Shoal's protobuf services, generated from `shoal/**/*.proto`: `raft` (openraft's messages
//! between the nodes, for every group) and `cluster` (a typed request run on a group's leader).

/// `shoal.raft.v1`: Raft between nodes.
pub mod raft {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("shoal.raft.v1");
}

/// `shoal.cluster.v1`: group calls between nodes.
pub mod cluster {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("shoal.cluster.v1");
}
