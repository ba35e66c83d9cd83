//! Typed SQS requests: the one table of action names, and one struct per action, parsed once at
//! the edge from the JSON 1.0 shape (the Query form is converted to that shape first). Nothing
//! after parsing looks a member up by name; a request crosses the cluster as its typed value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shoal_engine::limits;
use shoal_engine::message::MessageAttributes;

use shoal_engine::SqsError;

use super::input::Input;
use crate::error::ApiError;

macro_rules! actions {
    ($($action:ident: $kind:ident,)*) => {
        /// Every SQS action. `Read` actions run after a read index on the leader; `Write`
        /// actions after the leader has applied its predecessors' entries.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum SqsAction {
            $($action,)*
        }

        impl SqsAction {
            pub const ALL: &'static [SqsAction] = &[$(SqsAction::$action,)*];

            /// The action's name on the wire (`X-Amz-Target: AmazonSQS.<name>`, `Action=<name>`).
            pub fn name(self) -> &'static str {
                match self {
                    $(SqsAction::$action => stringify!($action),)*
                }
            }

            pub fn kind(self) -> ActionKind {
                match self {
                    $(SqsAction::$action => ActionKind::$kind,)*
                }
            }
        }
    };
}

actions! {
    CreateQueue: Write,
    DeleteQueue: Write,
    GetQueueUrl: Read,
    ListQueues: Read,
    GetQueueAttributes: Read,
    SetQueueAttributes: Write,
    TagQueue: Write,
    UntagQueue: Write,
    ListQueueTags: Read,
    PurgeQueue: Write,
    AddPermission: Write,
    RemovePermission: Write,
    SendMessage: Write,
    SendMessageBatch: Write,
    ReceiveMessage: Write,
    DeleteMessage: Write,
    DeleteMessageBatch: Write,
    ChangeMessageVisibility: Write,
    ChangeMessageVisibilityBatch: Write,
    ListDeadLetterSourceQueues: Read,
    StartMessageMoveTask: Write,
    CancelMessageMoveTask: Write,
    ListMessageMoveTasks: Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Read,
    Write,
}

impl SqsAction {
    pub fn from_name(name: &str) -> Option<SqsAction> {
        SqsAction::ALL.iter().copied().find(|action| action.name() == name)
    }
}

/// A queue named by a request: its name, from the `QueueUrl` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueName(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateQueue {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetQueueUrl {
    pub name: String,
    pub owner_account_id: Option<String>,
}

/// A page request of a listing: names after `start_after`, at most `max_results`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub max_results: Option<u32>,
    pub start_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQueues {
    pub prefix: String,
    pub page: Page,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeNames {
    pub queue: QueueName,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMap {
    pub queue: QueueName,
    pub map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UntagQueue {
    pub queue: QueueName,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPermission {
    pub queue: QueueName,
    pub label: String,
    pub account_ids: Vec<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovePermission {
    pub queue: QueueName,
    pub label: String,
}

/// One message of a SendMessage or SendMessageBatch, as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequestEntry {
    /// The batch entry id (empty for SendMessage).
    pub id: String,
    pub body: Option<String>,
    pub delay_seconds: Option<u32>,
    pub attributes: MessageAttributes,
    pub system_attributes: MessageAttributes,
    pub deduplication_id: Option<String>,
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub queue: QueueName,
    pub entry: SendRequestEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageBatch {
    pub queue: QueueName,
    pub entries: Vec<SendRequestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveMessage {
    pub queue: QueueName,
    pub max_messages: u32,
    pub visibility_timeout_seconds: Option<u32>,
    pub wait_time_seconds: Option<u32>,
    /// System attributes asked for (`AttributeNames` and `MessageSystemAttributeNames`).
    pub system_attribute_names: Vec<String>,
    pub message_attribute_names: Vec<String>,
    pub receive_request_attempt_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessage {
    pub queue: QueueName,
    pub receipt_handle: String,
}

/// A batch entry of DeleteMessageBatch (no timeout) or ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleEntry {
    pub id: String,
    pub receipt_handle: String,
    pub visibility_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleBatch {
    pub queue: QueueName,
    pub entries: Vec<HandleEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessageVisibility {
    pub queue: QueueName,
    pub receipt_handle: String,
    pub visibility_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDeadLetterSourceQueues {
    pub queue: QueueName,
    pub page: Page,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartMessageMoveTask {
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub rate_per_second: Option<u32>,
    /// Set by the node, never by a client: queues of other groups use the source as their
    /// dead-letter queue.
    pub sources_elsewhere: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMessageMoveTasks {
    pub source_arn: String,
    pub max_results: Option<u32>,
}

/// A parsed SQS request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqsRequest {
    CreateQueue(CreateQueue),
    DeleteQueue(QueueName),
    GetQueueUrl(GetQueueUrl),
    ListQueues(ListQueues),
    GetQueueAttributes(AttributeNames),
    SetQueueAttributes(QueueMap),
    TagQueue(QueueMap),
    UntagQueue(UntagQueue),
    ListQueueTags(QueueName),
    PurgeQueue(QueueName),
    AddPermission(AddPermission),
    RemovePermission(RemovePermission),
    SendMessage(SendMessage),
    SendMessageBatch(SendMessageBatch),
    ReceiveMessage(ReceiveMessage),
    DeleteMessage(DeleteMessage),
    DeleteMessageBatch(HandleBatch),
    ChangeMessageVisibility(ChangeMessageVisibility),
    ChangeMessageVisibilityBatch(HandleBatch),
    ListDeadLetterSourceQueues(ListDeadLetterSourceQueues),
    StartMessageMoveTask(StartMessageMoveTask),
    CancelMessageMoveTask(String),
    ListMessageMoveTasks(ListMessageMoveTasks),
}

/// Where a request runs: on the leader of one queue's group, or across every data group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing<'a> {
    Queue(&'a str),
    EveryGroup,
}

impl SqsRequest {
    /// Parses the members of `action`'s JSON 1.0 request. Types and ranges are checked here;
    /// what needs the queue's state (does it exist, is the message valid for it) is checked
    /// where the request runs.
    pub fn parse(action: SqsAction, members: &Map<String, Value>, account_id: &str) -> Result<SqsRequest, ApiError> {
        let input = Input::new(members);
        let queue = || -> Result<QueueName, ApiError> {
            let url = input.required_string("QueueUrl")?;
            Ok(QueueName(queue_name_from_url(&url, account_id)?))
        };
        let request = match action {
            SqsAction::CreateQueue => {
                let name = input.required_string("QueueName")?;
                let attributes = input.string_map("Attributes")?;
                // The JSON protocol names CreateQueue's tags `tags`; accept both spellings.
                let mut tags = input.string_map("tags")?;
                tags.extend(input.string_map("Tags")?);
                SqsRequest::CreateQueue(CreateQueue { name, attributes, tags })
            }
            SqsAction::DeleteQueue => SqsRequest::DeleteQueue(queue()?),
            SqsAction::GetQueueUrl => SqsRequest::GetQueueUrl(GetQueueUrl {
                name: input.required_string("QueueName")?,
                owner_account_id: input.string("QueueOwnerAWSAccountId")?,
            }),
            SqsAction::ListQueues => SqsRequest::ListQueues(ListQueues {
                prefix: input.string("QueueNamePrefix")?.unwrap_or_default(),
                page: page(&input)?,
            }),
            SqsAction::GetQueueAttributes => SqsRequest::GetQueueAttributes(AttributeNames {
                queue: queue()?,
                names: input.string_list("AttributeNames")?,
            }),
            SqsAction::SetQueueAttributes => {
                SqsRequest::SetQueueAttributes(QueueMap { queue: queue()?, map: input.string_map("Attributes")? })
            }
            SqsAction::TagQueue => SqsRequest::TagQueue(QueueMap { queue: queue()?, map: input.string_map("Tags")? }),
            SqsAction::UntagQueue => {
                SqsRequest::UntagQueue(UntagQueue { queue: queue()?, keys: input.string_list("TagKeys")? })
            }
            SqsAction::ListQueueTags => SqsRequest::ListQueueTags(queue()?),
            SqsAction::PurgeQueue => SqsRequest::PurgeQueue(queue()?),
            SqsAction::AddPermission => SqsRequest::AddPermission(AddPermission {
                queue: queue()?,
                label: input.required_string("Label")?,
                account_ids: input.string_list("AWSAccountIds")?,
                actions: input.string_list("Actions")?,
            }),
            SqsAction::RemovePermission => SqsRequest::RemovePermission(RemovePermission {
                queue: queue()?,
                label: input.required_string("Label")?,
            }),
            SqsAction::SendMessage => {
                SqsRequest::SendMessage(SendMessage { queue: queue()?, entry: send_entry(&input, String::new())? })
            }
            SqsAction::SendMessageBatch => {
                let queue = queue()?;
                let mut entries = Vec::new();
                for entry in input.objects("Entries")? {
                    let id = entry.string("Id")?.unwrap_or_default();
                    entries.push(send_entry(&entry, id)?);
                }
                SqsRequest::SendMessageBatch(SendMessageBatch { queue, entries })
            }
            SqsAction::ReceiveMessage => {
                let queue = queue()?;
                let max_messages =
                    input.bounded("MaxNumberOfMessages", 1, i64::from(limits::RECEIVE_MESSAGES_MAX))?.unwrap_or(1);
                let visibility_timeout_seconds = input.bounded_at_least(
                    "VisibilityTimeout",
                    0,
                    i64::from(limits::VISIBILITY_TIMEOUT_SECONDS_MAX),
                )?;
                let wait_time_seconds =
                    input.bounded_at_least("WaitTimeSeconds", 0, i64::from(limits::WAIT_TIME_SECONDS_MAX))?;
                let mut system_attribute_names = input.string_list("AttributeNames")?;
                system_attribute_names.extend(input.string_list("MessageSystemAttributeNames")?);
                SqsRequest::ReceiveMessage(ReceiveMessage {
                    queue,
                    max_messages,
                    visibility_timeout_seconds,
                    wait_time_seconds,
                    system_attribute_names,
                    message_attribute_names: input.string_list("MessageAttributeNames")?,
                    receive_request_attempt_id: input.string("ReceiveRequestAttemptId")?,
                })
            }
            SqsAction::DeleteMessage => SqsRequest::DeleteMessage(DeleteMessage {
                queue: queue()?,
                receipt_handle: input.required_string("ReceiptHandle")?,
            }),
            SqsAction::DeleteMessageBatch => {
                let queue = queue()?;
                let mut entries = Vec::new();
                for entry in input.objects("Entries")? {
                    entries.push(HandleEntry {
                        id: entry.string("Id")?.unwrap_or_default(),
                        receipt_handle: entry.required_string("ReceiptHandle")?,
                        visibility_timeout_seconds: 0,
                    });
                }
                SqsRequest::DeleteMessageBatch(HandleBatch { queue, entries })
            }
            SqsAction::ChangeMessageVisibility => SqsRequest::ChangeMessageVisibility(ChangeMessageVisibility {
                queue: queue()?,
                receipt_handle: input.required_string("ReceiptHandle")?,
                visibility_timeout_seconds: input
                    .bounded("VisibilityTimeout", 0, i64::from(limits::VISIBILITY_TIMEOUT_SECONDS_MAX))?
                    .ok_or_else(|| ApiError::missing_parameter("VisibilityTimeout"))?,
            }),
            SqsAction::ChangeMessageVisibilityBatch => {
                let queue = queue()?;
                let mut entries = Vec::new();
                for entry in input.objects("Entries")? {
                    entries.push(HandleEntry {
                        id: entry.string("Id")?.unwrap_or_default(),
                        receipt_handle: entry.required_string("ReceiptHandle")?,
                        // Only the type is checked here; the range is checked per entry by the engine.
                        visibility_timeout_seconds: entry
                            .bounded("VisibilityTimeout", 0, i64::from(u32::MAX))?
                            .ok_or_else(|| ApiError::missing_parameter("VisibilityTimeout"))?,
                    });
                }
                SqsRequest::ChangeMessageVisibilityBatch(HandleBatch { queue, entries })
            }
            SqsAction::ListDeadLetterSourceQueues => {
                SqsRequest::ListDeadLetterSourceQueues(ListDeadLetterSourceQueues {
                    queue: queue()?,
                    page: page(&input)?,
                })
            }
            SqsAction::StartMessageMoveTask => SqsRequest::StartMessageMoveTask(StartMessageMoveTask {
                source_arn: input.required_string("SourceArn")?,
                destination_arn: input.string("DestinationArn")?,
                rate_per_second: input.bounded(
                    "MaxNumberOfMessagesPerSecond",
                    1,
                    i64::from(limits::MOVE_TASK_RATE_MAX),
                )?,
                sources_elsewhere: false,
            }),
            SqsAction::CancelMessageMoveTask => SqsRequest::CancelMessageMoveTask(input.required_string("TaskHandle")?),
            SqsAction::ListMessageMoveTasks => SqsRequest::ListMessageMoveTasks(ListMessageMoveTasks {
                source_arn: input.required_string("SourceArn")?,
                max_results: input.bounded("MaxResults", 1, i64::from(limits::MOVE_TASKS_LISTED_MAX))?,
            }),
        };
        Ok(request)
    }

    pub fn action(&self) -> SqsAction {
        match self {
            SqsRequest::CreateQueue(_) => SqsAction::CreateQueue,
            SqsRequest::DeleteQueue(_) => SqsAction::DeleteQueue,
            SqsRequest::GetQueueUrl(_) => SqsAction::GetQueueUrl,
            SqsRequest::ListQueues(_) => SqsAction::ListQueues,
            SqsRequest::GetQueueAttributes(_) => SqsAction::GetQueueAttributes,
            SqsRequest::SetQueueAttributes(_) => SqsAction::SetQueueAttributes,
            SqsRequest::TagQueue(_) => SqsAction::TagQueue,
            SqsRequest::UntagQueue(_) => SqsAction::UntagQueue,
            SqsRequest::ListQueueTags(_) => SqsAction::ListQueueTags,
            SqsRequest::PurgeQueue(_) => SqsAction::PurgeQueue,
            SqsRequest::AddPermission(_) => SqsAction::AddPermission,
            SqsRequest::RemovePermission(_) => SqsAction::RemovePermission,
            SqsRequest::SendMessage(_) => SqsAction::SendMessage,
            SqsRequest::SendMessageBatch(_) => SqsAction::SendMessageBatch,
            SqsRequest::ReceiveMessage(_) => SqsAction::ReceiveMessage,
            SqsRequest::DeleteMessage(_) => SqsAction::DeleteMessage,
            SqsRequest::DeleteMessageBatch(_) => SqsAction::DeleteMessageBatch,
            SqsRequest::ChangeMessageVisibility(_) => SqsAction::ChangeMessageVisibility,
            SqsRequest::ChangeMessageVisibilityBatch(_) => SqsAction::ChangeMessageVisibilityBatch,
            SqsRequest::ListDeadLetterSourceQueues(_) => SqsAction::ListDeadLetterSourceQueues,
            SqsRequest::StartMessageMoveTask(_) => SqsAction::StartMessageMoveTask,
            SqsRequest::CancelMessageMoveTask(_) => SqsAction::CancelMessageMoveTask,
            SqsRequest::ListMessageMoveTasks(_) => SqsAction::ListMessageMoveTasks,
        }
    }

    /// The queue whose group runs the request. Move tasks are routed by their source queue
    /// (a task handle names it after its first `:`); a malformed ARN routes by the empty name
    /// and the engine refuses it there.
    pub fn routing(&self) -> Routing<'_> {
        match self {
            SqsRequest::ListQueues(_) | SqsRequest::ListDeadLetterSourceQueues(_) => Routing::EveryGroup,
            SqsRequest::CreateQueue(CreateQueue { name, .. }) | SqsRequest::GetQueueUrl(GetQueueUrl { name, .. }) => {
                Routing::Queue(name)
            }
            SqsRequest::StartMessageMoveTask(StartMessageMoveTask { source_arn, .. })
            | SqsRequest::ListMessageMoveTasks(ListMessageMoveTasks { source_arn, .. }) => {
                Routing::Queue(queue_name_from_arn(source_arn).unwrap_or_default())
            }
            SqsRequest::CancelMessageMoveTask(handle) => {
                Routing::Queue(handle.split_once(':').and_then(|(_, arn)| queue_name_from_arn(arn)).unwrap_or_default())
            }
            SqsRequest::DeleteQueue(queue)
            | SqsRequest::ListQueueTags(queue)
            | SqsRequest::PurgeQueue(queue)
            | SqsRequest::GetQueueAttributes(AttributeNames { queue, .. })
            | SqsRequest::SetQueueAttributes(QueueMap { queue, .. })
            | SqsRequest::TagQueue(QueueMap { queue, .. })
            | SqsRequest::UntagQueue(UntagQueue { queue, .. })
            | SqsRequest::AddPermission(AddPermission { queue, .. })
            | SqsRequest::RemovePermission(RemovePermission { queue, .. })
            | SqsRequest::SendMessage(SendMessage { queue, .. })
            | SqsRequest::SendMessageBatch(SendMessageBatch { queue, .. })
            | SqsRequest::ReceiveMessage(ReceiveMessage { queue, .. })
            | SqsRequest::DeleteMessage(DeleteMessage { queue, .. })
            | SqsRequest::DeleteMessageBatch(HandleBatch { queue, .. })
            | SqsRequest::ChangeMessageVisibility(ChangeMessageVisibility { queue, .. })
            | SqsRequest::ChangeMessageVisibilityBatch(HandleBatch { queue, .. }) => Routing::Queue(&queue.0),
        }
    }

    /// How long the request may wait on the leader beyond its work (a long poll).
    pub fn wait_seconds(&self) -> u32 {
        match self {
            // Without WaitTimeSeconds the queue's ReceiveMessageWaitTimeSeconds applies.
            SqsRequest::ReceiveMessage(receive) => receive.wait_time_seconds.unwrap_or(limits::WAIT_TIME_SECONDS_MAX),
            _ => 0,
        }
    }
}

/// The queue name in a queue URL `scheme://host/ACCOUNT/NAME` (or just `/ACCOUNT/NAME`).
/// A URL of another account names no queue here.
pub fn queue_name_from_url(url: &str, account_id: &str) -> Result<String, ApiError> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, path)| path).unwrap_or(""),
        None => url.trim_start_matches('/'),
    };
    let mut segments = path.trim_end_matches('/').split('/');
    let (Some(account), Some(name), None) = (segments.next(), segments.next(), segments.next()) else {
        return Err(ApiError::invalid_parameter(format!(
            "Value {url} for parameter QueueUrl is invalid. Reason: Not a queue URL."
        )));
    };
    if account != account_id || name.is_empty() {
        return Err(ApiError::from(SqsError::QueueDoesNotExist));
    }
    Ok(name.to_string())
}

/// The queue name at the end of `arn:aws:sqs:REGION:ACCOUNT:NAME`.
pub fn queue_name_from_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 6 && parts[0] == "arn" && !parts[5].is_empty()).then(|| parts[5])
}

fn page(input: &Input<'_>) -> Result<Page, ApiError> {
    Ok(Page {
        max_results: input.bounded("MaxResults", 1, i64::from(limits::LIST_QUEUES_RESULTS_MAX))?,
        start_after: decode_token(input)?,
    })
}

/// NextToken is the hex of the last name returned, so it is opaque but needs no state.
fn decode_token(input: &Input<'_>) -> Result<Option<String>, ApiError> {
    let Some(token) = input.string("NextToken")? else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_parameter("Invalid NextToken value.");
    let bytes = hex::decode(token).map_err(|_| invalid())?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

fn send_entry(input: &Input<'_>, id: String) -> Result<SendRequestEntry, ApiError> {
    let delay_seconds = match input.integer("DelaySeconds")? {
        None => None,
        Some(delay) if (0..=i64::from(u32::MAX)).contains(&delay) => Some(delay as u32),
        Some(delay) => {
            return Err(ApiError::invalid_parameter(format!(
                "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= {}.",
                limits::DELAY_SECONDS_MAX
            )))
        }
    };
    Ok(SendRequestEntry {
        id,
        body: input.string("MessageBody")?,
        delay_seconds,
        attributes: input.message_attributes("MessageAttributes")?,
        system_attributes: input.message_attributes("MessageSystemAttributes")?,
        deduplication_id: input.string("MessageDeduplicationId")?,
        group_id: input.string("MessageGroupId")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_action_name_maps_back_to_its_action() {
        for action in SqsAction::ALL {
            assert_eq!(SqsAction::from_name(action.name()), Some(*action));
        }
        assert_eq!(SqsAction::ALL.len(), 23);
        assert_eq!(SqsAction::from_name("Shoal.ImportMessages"), None);
    }

    #[test]
    fn test_queue_name_from_url_accepts_urls_and_paths() {
        let check = |url: &str| queue_name_from_url(url, "000000000000").map_err(|e| e.code.to_string());
        assert_eq!(check("http://localhost:9324/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo/"), Ok("q.fifo".to_string()));
        assert_eq!(check("/000000000000/q1"), Ok("q1".to_string()));
        assert_eq!(check("http://localhost:9324/111111111111/q1"), Err("QueueDoesNotExist".to_string()));
        assert_eq!(check("http://localhost:9324/"), Err("InvalidParameterValue".to_string()));
        assert_eq!(check("http://localhost:9324/a/b/c"), Err("InvalidParameterValue".to_string()));
    }

    #[test]
    fn test_parse_routes_by_queue_url_and_keeps_leniencies() {
        let members: Map<String, Value> = serde_json::from_str(
            r#"{"QueueUrl": "http://localhost:9324/000000000000/q1", "MaxNumberOfMessages": "5",
                "AttributeNames": ["All"], "MessageSystemAttributeNames": ["SentTimestamp"]}"#,
        )
        .unwrap();
        let request = SqsRequest::parse(SqsAction::ReceiveMessage, &members, "000000000000").unwrap();
        assert_eq!(request.routing(), Routing::Queue("q1"));
        let SqsRequest::ReceiveMessage(receive) = request else { panic!("{request:?}") };
        assert_eq!(receive.max_messages, 5, "numeric strings are integers");
        assert_eq!(receive.system_attribute_names, ["All", "SentTimestamp"]);
    }
}
