//! The engine's typed errors. Each variant is one AWS error; the mapping to wire codes,
//! HTTP status and fault side lives in `shoal-node`'s `error` module.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SqsError {
    #[error("the specified queue does not exist")]
    QueueDoesNotExist,
    #[error("a queue already exists with the same name and a different value for attribute {0}")]
    QueueAlreadyExists(String),
    #[error("you must wait 60 seconds after deleting a queue before you can create another queue with the same name")]
    QueueDeletedRecently,
    #[error("unknown attribute {0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("the request must contain the parameter {0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error("message does not exist or is not available for visibility timeout change")]
    MessageNotInflight,
    #[error("{0}")]
    OverLimit(String),
    #[error("only one PurgeQueue operation on a queue is allowed every 60 seconds")]
    PurgeQueueInProgress,
    #[error("maximum number of entries per request are {max}; you have sent {sent}", max = crate::limits::BATCH_ENTRIES_MAX)]
    TooManyEntriesInBatchRequest { sent: usize },
    #[error("there should be at least one entry in the request")]
    EmptyBatchRequest,
    #[error("id {0} repeated")]
    BatchEntryIdsNotDistinct(String),
    #[error("batch requests cannot be longer than {max_bytes} bytes; you have sent {sent_bytes} bytes")]
    BatchRequestTooLong { sent_bytes: usize, max_bytes: u32 },
    #[error("a batch entry id can only contain alphanumeric characters, hyphens and underscores, and can be at most 80 letters long")]
    InvalidBatchEntryId,
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    UnsupportedOperation(String),
}

pub type SqsResult<T> = Result<T, SqsError>;

impl SqsError {
    pub fn invalid_parameter(reason: impl Into<String>) -> SqsError {
        SqsError::InvalidParameterValue(reason.into())
    }

    pub fn invalid_attribute(name: &str, reason: &str) -> SqsError {
        SqsError::InvalidAttributeValue(format!("invalid value for the parameter {name}: {reason}"))
    }
}
