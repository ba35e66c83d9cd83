//! The front door as a service of the cluster: what its requests and replies are when they
//! cross between nodes (one variant per service: `sqs` now, `sns` next), the cluster that
//! carries them, and `call`, which runs one on the leader of a group. How that leader runs a
//! request is `leader`.

use serde::{Deserialize, Serialize};
use shoal_cluster::{CallError, Cluster, GroupReply, GroupRequest};
use shoal_raft::GroupId;

use crate::error::ApiError;
use crate::sns::request::{SnsReply, SnsRequest};
use crate::sqs::peer::{SqsAnswer, SqsQuery};
use crate::sqs::reply::SqsReply;
use crate::sqs::request::SqsRequest;

/// The cluster as the front door runs it.
pub type ApiCluster = Cluster<ApiService>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiRequest {
    Sqs(SqsRequest),
    /// A question about a group's queues from a request that spans groups.
    SqsQuery(SqsQuery),
    /// Sent only at write level 4 (`shoal_cluster::level::SNS_LEVEL`), when every peer reads it.
    Sns(SnsRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiReply {
    Sqs(SqsReply),
    SqsAnswer(SqsAnswer),
    Sns(SnsReply),
}

/// The front door's `GroupService` (implemented in `leader`).
#[derive(Debug, Default)]
pub struct ApiService;

/// Runs a front-door request on the leader of `group`.
pub async fn call(cluster: &ApiCluster, group: GroupId, request: ApiRequest) -> Result<ApiReply, ApiError> {
    match cluster.call(group, GroupRequest::Service(request)).await {
        Ok(GroupReply::Service(reply)) => Ok(reply),
        Ok(other) => Err(ApiError::internal(format!("unexpected reply from group {group}: {other:?}"))),
        Err(CallError::Cluster(error)) => Err(ApiError::from(error)),
        Err(CallError::Service(error)) => Err(error),
    }
}
