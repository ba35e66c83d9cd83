//! Shoal's front door: the HTTP listener and its bounds, protocol detection, the request id, and
//! one module per service (`sqs/`, `sns/`) that parses requests into types once and
//! renders typed replies and errors in the caller's protocol. The place a SigV4 check will go is
//! `http::serve`, after the body is read and before the request is parsed.
//!
//! Requests run in the cluster through `shoal-cluster`, which knows nothing of HTTP or AWS:
//! `service` says what a front-door request and reply are between nodes (one variant per
//! service) and calls a group's leader with one; `leader` implements the cluster's
//! [`GroupService`](shoal_cluster::GroupService) for [`service::ApiService`], so that leader
//! hands each request to its service.

// The futures of a request (front door, cluster call, the leader running it) nest deeply.
#![recursion_limit = "256"]

pub mod error;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod http;
mod leader;
pub mod limits;
pub mod listener;
pub mod query;
pub mod service;
pub mod sns;
pub mod sqs;

pub use error::ApiError;
pub use service::{ApiCluster, ApiService};
