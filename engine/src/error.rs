//! The engine's typed errors. `EngineError` is what applying a log entry can fail with: a
//! service's refusal of the action, or the engine's own refusal of an entry it cannot read.
//! The mapping to wire codes, HTTP status and fault side lives in `shoal-api`'s `error` module.
//!
//! Each `SqsError` variant is one AWS error code, and its Display is the message SQS sends for
//! it, word for word, capitals and full stop included: SDK users' tests and tools compare it.
//! A variant whose text AWS words differently case by case carries the whole message; the
//! constructors below spell each text that more than one place sends, so it is written once.
//! Errors are never persisted: they travel in replies, which only the leader hands back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits;

/// Why the engine did not apply a log entry. SQS code returns `SqsError` and SNS code
/// `SnsError`; each converts here, at the engine's boundary (`Engine::apply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum EngineError {
    /// SQS refused the action: the client's error, with AWS's text.
    #[error(transparent)]
    Sqs(#[from] SqsError),
    /// The entry is of a format this build does not read. Not the client's fault: a node of
    /// another build wrote it, and nothing was applied.
    #[error("log entry format {found} is not supported; this engine reads format {supported}")]
    UnknownLogFormat { found: u16, supported: u16 },
    /// Never the engine's own answer: the node's store could not give the contents of a
    /// message the engine answered with, so the answer is withheld (the message comes back
    /// when its visibility timeout ends). Not the client's fault.
    #[error("the contents of a message could not be read: {0}")]
    StorageFailure(String),
    /// SNS refused the action: the client's error, with AWS's text.
    #[error(transparent)]
    Sns(#[from] SnsError),
}

/// SNS's refusals. As for `SqsError`, each variant is one AWS error code and its Display the
/// message SNS sends, which for SNS always carries its whole text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SnsError {
    /// "Invalid parameter: ..." (the whole message).
    #[error("{0}")]
    InvalidParameter(String),
    /// The topic (or subscription) named does not exist (the whole message).
    #[error("{0}")]
    NotFound(String),
    /// A tagging call named a resource that does not exist.
    #[error("Resource does not exist")]
    ResourceNotFound,
    #[error("Could not complete request: tag quota of per resource exceeded")]
    TagLimitExceeded,
    /// A message attribute's name, type or value is not one SNS takes (the whole message).
    #[error("{0}")]
    ParameterValueInvalid(String),
    #[error("The batch request doesn't contain any entries")]
    EmptyBatchRequest,
    #[error("The batch request contains more entries than permissible.")]
    TooManyEntriesInBatchRequest,
    #[error("Two or more batch entries in the request have the same Id.")]
    BatchEntryIdsNotDistinct,
    #[error("A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")]
    InvalidBatchEntryId,
    #[error("The length of all the messages put together is more than the limit.")]
    BatchRequestTooLong,
}

pub type SnsResult<T> = Result<T, SnsError>;

impl SnsError {
    /// "Invalid parameter: `what`".
    pub fn invalid_parameter(what: impl fmt::Display) -> SnsError {
        SnsError::InvalidParameter(format!("Invalid parameter: {what}"))
    }

    pub fn topic_not_found() -> SnsError {
        SnsError::NotFound("Topic does not exist".to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    /// The attribute whose value differs. AWS's text has no full stop.
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueAlreadyExists(String),
    #[error("You must wait 60 seconds after deleting a queue before you can create another with the same name.")]
    QueueDeletedRecently,
    /// The whole message: `unknown_attribute` or `fifo_only_attribute`.
    #[error("{0}")]
    InvalidAttributeName(String),
    /// The whole message: `invalid_attribute` or `invalid_attribute_because`.
    #[error("{0}")]
    InvalidAttributeValue(String),
    /// The whole message; most are `invalid_value`'s "Value X for parameter Y is invalid. ...".
    #[error("{0}")]
    InvalidParameterValue(String),
    /// The parameter that is missing.
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    /// The whole message: see the receipt handle constructors.
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("Only one PurgeQueue operation on {queue} is allowed every 60 seconds.")]
    PurgeQueueInProgress { queue: String },
    #[error("Maximum number of entries per request are {max}. You have sent {sent}.")]
    TooManyEntriesInBatchRequest { sent: usize, max: usize },
    #[error("There should be at least one {entry} in the request.")]
    EmptyBatchRequest { entry: BatchEntryType },
    /// The id that is repeated.
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error("Batch requests cannot be longer than {max_bytes} bytes. You have sent {sent_bytes} bytes.")]
    BatchRequestTooLong { sent_bytes: usize, max_bytes: u32 },
    #[error("A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")]
    InvalidBatchEntryId,
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    UnsupportedOperation(String),
}

// Numbers AWS spells out in the fixed texts above.
const _: () = assert!(limits::QUEUE_RECREATE_DELAY_MS == 60_000);
const _: () = assert!(limits::PURGE_INTERVAL_MS == 60_000);
const _: () = assert!(limits::BATCH_ENTRY_ID_LENGTH_MAX == 80);

pub type SqsResult<T> = Result<T, SqsError>;

/// How an item came in a request: alone, or as an entry of a batch. AWS words a few refusals
/// differently for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Single,
    BatchEntry,
}

/// The entry type of a batch action, as EmptyBatchRequest names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchEntryType {
    SendMessage,
    DeleteMessage,
    ChangeMessageVisibility,
}

impl fmt::Display for BatchEntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BatchEntryType::SendMessage => "SendMessageBatchRequestEntry",
            BatchEntryType::DeleteMessage => "DeleteMessageBatchRequestEntry",
            BatchEntryType::ChangeMessageVisibility => "ChangeMessageVisibilityBatchRequestEntry",
        })
    }
}

impl SqsError {
    pub fn invalid_parameter(message: impl Into<String>) -> SqsError {
        SqsError::InvalidParameterValue(message.into())
    }

    /// "Value {value} for parameter {parameter} is invalid. Reason: {reason}", AWS's usual form;
    /// `reason` carries its own full stop.
    pub fn invalid_value(value: impl fmt::Display, parameter: &str, reason: &str) -> SqsError {
        SqsError::InvalidParameterValue(format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}"))
    }

    /// A queue attribute with a value out of its range or of the wrong kind.
    pub fn invalid_attribute(name: &str) -> SqsError {
        SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
    }

    /// A queue attribute refused for a reason AWS states; `reason` carries its own full stop.
    pub fn invalid_attribute_because(name: &str, reason: &str) -> SqsError {
        SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}. Reason: {reason}"))
    }

    pub fn unknown_attribute(name: &str) -> SqsError {
        SqsError::InvalidAttributeName(format!("Unknown Attribute {name}."))
    }

    /// DeduplicationScope or FifoThroughputLimit on a standard queue.
    pub fn fifo_only_attribute(name: &str) -> SqsError {
        SqsError::InvalidAttributeName(format!("You can specify the {name} only when FifoQueue is set to true."))
    }

    /// A receipt handle that is not one: malformed, or (outside a batch) of another queue.
    pub fn invalid_receipt_handle(handle: &str) -> SqsError {
        SqsError::ReceiptHandleIsInvalid(format!(
            "The input receipt handle \"{handle}\" is not a valid receipt handle."
        ))
    }

    /// A batch entry's receipt handle of another queue (or of an earlier queue of this name).
    pub fn receipt_handle_of_other_queue(handle: &str) -> SqsError {
        SqsError::ReceiptHandleIsInvalid(format!("The receipt handle \"{handle}\" is not valid for this queue."))
    }

    /// FIFO: a handle whose receive's visibility timeout has passed.
    pub fn receipt_handle_expired(handle: &str) -> SqsError {
        SqsError::invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
    }

    /// FIFO: the same, for a batch entry. AWS's text has no full stop.
    pub fn receipt_handle_expired_in_batch() -> SqsError {
        SqsError::ReceiptHandleIsInvalid("The receipt handle has expired".to_string())
    }

    /// ChangeMessageVisibility of a message that is gone.
    pub fn message_not_available(handle: &str) -> SqsError {
        SqsError::invalid_value(
            handle,
            "ReceiptHandle",
            "Message does not exist or is not available for visibility timeout change.",
        )
    }

    /// A message longer than its queue's MaximumMessageSize, alone or as a batch entry.
    pub fn message_too_long(max_bytes: usize, form: Form) -> SqsError {
        let problem = match form {
            Form::Single => "are invalid",
            Form::BatchEntry => "cannot be validated",
        };
        SqsError::InvalidParameterValue(format!(
            "One or more parameters {problem}. Reason: Message must be shorter than {max_bytes} bytes."
        ))
    }

    /// A receive while as many messages are in flight as a queue may have. AWS's text has a
    /// line break in it.
    pub fn too_many_in_flight() -> SqsError {
        SqsError::OverLimit(
            "Too many messages have been received without being deleted.\nPlease delete your received messages or let them timeout before receiving more."
                .to_string(),
        )
    }
}
