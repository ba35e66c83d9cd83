//! Every error a client can see, mapped in one place to its AWS code (the JSON `__type` and
//! the legacy Query code carried by `x-amzn-query-error`), HTTP status and fault side.

use std::borrow::Cow;

use shoal_cluster::{ClusterError, GroupError};
use shoal_engine::error::SnsError;
use shoal_engine::{EngineError, SqsError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// The shape name: JSON `__type` is `com.amazonaws.sqs#<code>`.
    pub code: Cow<'static, str>,
    /// The legacy Query code, sent as `<Code>` and in `x-amzn-query-error`.
    pub query_code: Cow<'static, str>,
    pub status: u16,
    pub sender_fault: bool,
    pub message: String,
}

impl ApiError {
    fn new(code: &'static str, query_code: &'static str, status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code: Cow::Borrowed(code),
            query_code: Cow::Borrowed(query_code),
            status,
            sender_fault: status < 500,
            message: message.into(),
        }
    }

    /// The cluster cannot serve this right now (no leader, leadership moved, a peer is
    /// unreachable); SDKs retry a 503.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new("ServiceUnavailable", "ServiceUnavailable", 503, message)
    }

    pub fn invalid_action(action: &str) -> ApiError {
        ApiError::new(
            "InvalidAction",
            "InvalidAction",
            400,
            format!("The action {action} is not valid for this endpoint."),
        )
    }

    pub fn missing_action() -> ApiError {
        ApiError::new(
            "MissingAction",
            "MissingAction",
            400,
            "The request is missing an action or a required parameter.",
        )
    }

    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new("MalformedQueryString", "MalformedQueryString", 400, message)
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new("SerializationException", "SerializationException", 400, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::from(SqsError::InvalidParameterValue(message.into()))
    }

    pub fn missing_parameter(name: &str) -> ApiError {
        ApiError::from(SqsError::MissingParameter(name.to_string()))
    }

    pub fn too_large(limit_bytes: usize) -> ApiError {
        ApiError::new(
            "RequestEntityTooLarge",
            "RequestEntityTooLarge",
            413,
            format!("The request body is larger than {limit_bytes} bytes."),
        )
    }

    pub fn request_timeout(limit_ms: u64) -> ApiError {
        ApiError::new(
            "RequestTimeout",
            "RequestTimeout",
            400,
            format!("The request body did not arrive within {limit_ms} ms."),
        )
    }

    pub fn unsupported_service(service: &str) -> ApiError {
        ApiError::new(
            "InvalidAction",
            "InvalidAction",
            400,
            format!("The service {service} is not available on this endpoint yet."),
        )
    }

    /// Producer flow control refused a send. SQS lists `RequestThrottled` for every action
    /// without a status; 403 is the status botocore's default (legacy) retry mode retries it
    /// with, and the code alone makes aws-sdk and botocore's standard mode retry it.
    pub fn throttled() -> ApiError {
        ApiError::new(
            "RequestThrottled",
            "RequestThrottled",
            403,
            "The request was denied due to request throttling: the queue's consumers are behind.",
        )
    }

    /// Whether the client should be told when to retry (`x-amz-retry-after`).
    pub fn is_throttling(&self) -> bool {
        self.code == "RequestThrottled"
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new("InternalError", "InternalError", 500, message)
    }

    /// The message as the Query protocol sends it: SQS says more about a missing queue there.
    pub fn query_message(&self) -> &str {
        if self.code == "QueueDoesNotExist" {
            QUERY_QUEUE_DOES_NOT_EXIST
        } else {
            &self.message
        }
    }

    pub fn json_type(&self) -> String {
        format!("com.amazonaws.sqs#{}", self.code)
    }

    /// The value of the `x-amzn-query-error` header.
    pub fn query_error_header(&self) -> String {
        let side = if self.sender_fault { "Sender" } else { "Receiver" };
        format!("{};{side}", self.query_code)
    }
}

/// SQS's text for a missing queue in the Query protocol (the JSON protocol's is the engine's).
const QUERY_QUEUE_DOES_NOT_EXIST: &str = "The specified queue does not exist for this wsdl version.";

impl From<SqsError> for ApiError {
    fn from(error: SqsError) -> ApiError {
        let message = error.to_string();
        let (code, query_code, status) = match error {
            SqsError::QueueDoesNotExist => ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400),
            SqsError::QueueAlreadyExists(_) => ("QueueNameExists", "QueueAlreadyExists", 400),
            SqsError::QueueDeletedRecently => {
                ("QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", 400)
            }
            SqsError::InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName", 400),
            SqsError::InvalidAttributeValue(_) => ("InvalidAttributeValue", "InvalidAttributeValue", 400),
            SqsError::InvalidParameterValue(_) => ("InvalidParameterValue", "InvalidParameterValue", 400),
            SqsError::MissingParameter(_) => ("MissingParameter", "MissingParameter", 400),
            SqsError::InvalidMessageContents(_) => ("InvalidMessageContents", "InvalidMessageContents", 400),
            SqsError::ReceiptHandleIsInvalid(_) => ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400),
            SqsError::OverLimit(_) => ("OverLimit", "OverLimit", 403),
            SqsError::PurgeQueueInProgress { .. } => {
                ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
            }
            SqsError::TooManyEntriesInBatchRequest { .. } => {
                ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
            }
            SqsError::EmptyBatchRequest { .. } => {
                ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400)
            }
            SqsError::BatchEntryIdsNotDistinct(_) => {
                ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
            }
            SqsError::BatchRequestTooLong { .. } => {
                ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400)
            }
            SqsError::InvalidBatchEntryId => ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400),
            SqsError::ResourceNotFound(_) => ("ResourceNotFoundException", "ResourceNotFoundException", 404),
            SqsError::UnsupportedOperation(_) => {
                ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400)
            }
        };
        ApiError::new(code, query_code, status, message)
    }
}

impl From<SnsError> for ApiError {
    /// SNS's codes: the Query code is the code itself.
    fn from(error: SnsError) -> ApiError {
        let message = error.to_string();
        let (code, status) = match error {
            SnsError::InvalidParameter(_) => ("InvalidParameter", 400),
            SnsError::NotFound(_) => ("NotFound", 404),
            SnsError::ResourceNotFound => ("ResourceNotFound", 404),
            SnsError::TagLimitExceeded => ("TagLimitExceeded", 400),
            SnsError::ParameterValueInvalid(_) => ("ParameterValueInvalid", 400),
            SnsError::EmptyBatchRequest => ("EmptyBatchRequest", 400),
            SnsError::TooManyEntriesInBatchRequest => ("TooManyEntriesInBatchRequest", 400),
            SnsError::BatchEntryIdsNotDistinct => ("BatchEntryIdsNotDistinct", 400),
            SnsError::InvalidBatchEntryId => ("InvalidBatchEntryId", 400),
            SnsError::BatchRequestTooLong => ("BatchRequestTooLong", 400),
        };
        ApiError::new(code, code, status, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::Sqs(error) => ApiError::from(error),
            EngineError::Sns(error) => ApiError::from(error),
            // A node of another build wrote an entry this one cannot read: the server's fault,
            // which the operator must hear of.
            EngineError::UnknownLogFormat { .. } | EngineError::StorageFailure(_) => {
                tracing::error!(%error, "the engine refused a log entry");
                ApiError::internal(error.to_string())
            }
        }
    }
}

/// The cluster could not run the request; every such case is worth a retry.
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
            GroupError::Throttled => ApiError::throttled(),
            GroupError::Internal(message) => ApiError::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_engine_error_sqs_is_the_client_error_and_unknown_format_the_server_fault() {
        let sqs = ApiError::from(SqsError::QueueDoesNotExist);
        assert_eq!(ApiError::from(EngineError::Sqs(SqsError::QueueDoesNotExist)), sqs);
        assert_eq!((sqs.status, sqs.sender_fault), (400, true));

        let unknown = ApiError::from(EngineError::UnknownLogFormat { found: 9, supported: 3 });
        assert_eq!((unknown.code.as_ref(), unknown.status, unknown.sender_fault), ("InternalError", 500, false));
        assert_eq!(unknown.query_error_header(), "InternalError;Receiver");
    }
}
