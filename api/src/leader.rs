//! How the leader of a group runs a front-door request: `ApiService`'s `GroupService`, handing
//! each service's requests to that service (`sqs`, `sns`).

use shoal_cluster::{Broker, GroupService};

use crate::error::ApiError;
use crate::service::{ApiReply, ApiRequest, ApiService};
use crate::sns;
use crate::sqs::{self, peer};

impl GroupService for ApiService {
    type Request = ApiRequest;
    type Reply = ApiReply;
    type Error = ApiError;

    async fn execute(&self, broker: &Broker, request: ApiRequest) -> Result<ApiReply, ApiError> {
        match request {
            ApiRequest::Sqs(request) => sqs::dispatch_local(broker, request).await.map(ApiReply::Sqs),
            ApiRequest::SqsQuery(query) => peer::answer(broker, query).await.map(ApiReply::SqsAnswer),
            ApiRequest::Sns(request) => sns::dispatch_local(broker, request).await.map(ApiReply::Sns),
        }
    }

    fn wait_seconds(&self, request: &ApiRequest) -> u32 {
        match request {
            ApiRequest::Sqs(request) => request.wait_seconds(),
            ApiRequest::SqsQuery(_) | ApiRequest::Sns(_) => 0,
        }
    }
}
