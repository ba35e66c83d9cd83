//! The front door's side of the cluster: what its requests are when they cross between nodes,
//! and how the leader of a group runs them.

use serde::{Deserialize, Serialize};
use shoal_cluster::{Broker, CallError, Cluster, ClusterError, GroupError, GroupReply, GroupRequest, GroupService};
use shoal_raft::GroupId;

use crate::error::ApiError;
use crate::sqs::peer::{self, SqsAnswer, SqsQuery};
use crate::sqs::{self, SqsReply, SqsRequest};

/// The cluster as the front door runs it.
pub type ApiCluster = Cluster<ApiService>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiRequest {
    Sqs(SqsRequest),
    /// A question about a group's queues from a request that spans groups.
    SqsQuery(SqsQuery),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiReply {
    Sqs(SqsReply),
    SqsAnswer(SqsAnswer),
}

#[derive(Debug, Default)]
pub struct ApiService;

impl GroupService for ApiService {
    type Request = ApiRequest;
    type Reply = ApiReply;
    type Error = ApiError;

    async fn execute(&self, broker: &Broker, request: ApiRequest) -> Result<ApiReply, ApiError> {
        match request {
            ApiRequest::Sqs(request) => sqs::dispatch_local(broker, request).await.map(ApiReply::Sqs),
            ApiRequest::SqsQuery(query) => peer::answer(broker, query).await.map(ApiReply::SqsAnswer),
        }
    }

    fn wait_seconds(&self, request: &ApiRequest) -> u32 {
        match request {
            ApiRequest::Sqs(request) => request.wait_seconds(),
            ApiRequest::SqsQuery(_) => 0,
        }
    }
}

/// Runs a front-door request on the leader of `group`.
pub async fn call(cluster: &ApiCluster, group: GroupId, request: ApiRequest) -> Result<ApiReply, ApiError> {
    match cluster.call(group, GroupRequest::Service(request)).await {
        Ok(GroupReply::Service(reply)) => Ok(reply),
        Ok(other) => Err(ApiError::internal(format!("unexpected reply from group {group}: {other:?}"))),
        Err(CallError::Cluster(error)) => Err(ApiError::from(error)),
        Err(CallError::Service(error)) => Err(error),
    }
}

impl From<ClusterError> for ApiError {
    fn from(error: ClusterError) -> ApiError {
        ApiError::unavailable(error.to_string())
    }
}

impl From<GroupError> for ApiError {
    fn from(error: GroupError) -> ApiError {
        match error {
            GroupError::Cluster(error) => ApiError::from(error),
            GroupError::Engine(error) => ApiError::from(error),
            GroupError::Internal(message) => ApiError::internal(message),
        }
    }
}
