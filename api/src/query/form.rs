//! SQS Query protocol requests: turns the flattened form parameters into the JSON 1.0 request object.
//!
//! The server parses both SQS wire protocols into one representation: the JSON object that current
//! SDKs send with `X-Amz-Target: AmazonSQS.<Action>`, following the per-action shapes in
//! `query_model.rs`:
//!
//! - a flattened list `AttributeNames` is sent as `AttributeName.1`, `AttributeName.2`, ...;
//! - a flattened map `Attributes` is sent as `Attribute.N.Name` / `Attribute.N.Value` (tag maps use
//!   `Tag.N.Key` / `Tag.N.Value`, message attributes `MessageAttribute.N.Name` / `.N.Value.*`);
//! - a list of structures `Entries` is sent as `SendMessageBatchRequestEntry.N.<Member>`.
//!
//! Behaviour choices:
//!
//! - `Action`, `Version` and signing parameters (`AWSAccessKeyId`, `Signature*`, `Timestamp`,
//!   `Expires`, `SecurityToken`, `X-Amz-*`) are ignored.
//! - Parameters the model does not know are passed through unchanged as JSON strings under their
//!   own name (inside a list entry, under the name relative to the entry), so the typed parser
//!   decides whether to ignore or reject them. A name that starts like a known list or map but
//!   does not fit its shape (`Attribute.x.Name`, `Attribute.1.Foo`) is an error.
//! - List indexes are 1-based decimal numbers without leading zeros, at most [`MAX_LIST_INDEX`];
//!   elements are ordered by index and gaps are allowed. A bare list name with a value
//!   (`AttributeName=All`, as in the AWS ReceiveMessage example) counts as the first element.
//! - A list or map sent under its JSON member name with an empty value (`AttributeNames=`) is an
//!   empty collection: that is how botocore's query serializer sends an empty list.
//! - Integer members become JSON numbers; anything that is not a decimal `i64` is an error.
//! - Base64 members (`BinaryValue`) stay base64 strings, as in the JSON protocol.
//! - A parameter given twice and a map key given twice are errors.
//! - The queue URL of a Query request may be the request path instead of a `QueueUrl` parameter;
//!   adding it is the caller's job.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{Member, ModelAction, ServiceModel, Shape};

/// Most form parameters one request may carry (ignored ones included). A full SendMessageBatch
/// with ten attributes on each of its ten entries needs about 400.
pub const MAX_QUERY_PARAMS: usize = 4096;
/// Largest index accepted in a flattened list or map (`Entry.N`).
pub const MAX_LIST_INDEX: u32 = 1000;
/// Longest parameter name accepted, in bytes. The longest SQS name is under 80 bytes.
pub const MAX_NAME_LENGTH_BYTES: usize = 256;

/// Why a Query request could not be turned into a JSON request object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("The requested action is not valid for this endpoint.")]
    UnknownAction(String),
    #[error("Too many parameters: {count} given, at most {max} allowed.")]
    TooManyParameters { count: usize, max: usize },
    #[error("A parameter name is longer than {max} bytes.")]
    NameTooLong { max: usize },
    #[error("Parameter {name} is given more than once.")]
    DuplicateParameter { name: String },
    #[error("Value for parameter {name} is not a valid integer.")]
    InvalidInteger { name: String },
    #[error("Parameter {name} has an invalid index: indexes run from 1 to {max}.")]
    InvalidIndex { name: String, max: u32 },
    #[error("The request must contain the parameter {name}.")]
    MissingParameter { name: String },
    #[error("Parameter {name} is not valid here.")]
    UnexpectedParameter { name: String },
    #[error("Parameter {name} repeats a key given earlier.")]
    DuplicateKey { name: String },
}

/// Converts the url-decoded form parameters of a Query request for `action` into the JSON 1.0
/// request object of that action.
pub fn form_to_json<A: ModelAction>(
    model: &ServiceModel<A>,
    action: A,
    params: &[(String, String)],
) -> Result<Value, QueryError> {
    let members = model.operation(action).ok_or_else(|| QueryError::UnknownAction(action.name().to_string()))?.input;
    if params.len() > MAX_QUERY_PARAMS {
        return Err(QueryError::TooManyParameters { count: params.len(), max: MAX_QUERY_PARAMS });
    }
    let mut relevant = Vec::with_capacity(params.len());
    for (name, value) in params {
        if name.len() > MAX_NAME_LENGTH_BYTES {
            return Err(QueryError::NameTooLong { max: MAX_NAME_LENGTH_BYTES });
        }
        if !is_ignored(name) {
            relevant.push(Param { name, rest: Some(name), value });
        }
    }
    structure(members, "", relevant).map(Value::Object)
}

fn is_ignored(name: &str) -> bool {
    const IGNORED: [&str; 9] = [
        "Action",
        "Version",
        "AWSAccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "Timestamp",
        "Expires",
        "SecurityToken",
    ];
    let is_amz = name.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-amz-"));
    is_amz || IGNORED.contains(&name)
}

/// One form parameter on its way down the shape tree: `rest` is the part of `name` not yet
/// consumed, `None` once the name has ended at the current shape.
#[derive(Debug, Clone, Copy)]
struct Param<'a> {
    name: &'a str,
    rest: Option<&'a str>,
    value: &'a str,
}

/// Groups parameters by the next part of their names. Every parameter must still have a rest.
fn group_by_next_part<'a>(params: Vec<Param<'a>>) -> BTreeMap<&'a str, Vec<Param<'a>>> {
    let mut groups: BTreeMap<&str, Vec<Param>> = BTreeMap::new();
    for param in params {
        let Some(rest) = param.rest else {
            debug_assert!(false, "grouped a parameter whose name has ended");
            continue;
        };
        let (head, tail) = match rest.split_once('.') {
            Some((head, tail)) => (head, Some(tail)),
            None => (rest, None),
        };
        groups.entry(head).or_default().push(Param { rest: tail, ..param });
    }
    groups
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_string()
    } else {
        format!("{path}.{part}")
    }
}

/// Splits `params` into the parameters that end here and the ones that go deeper.
fn split_leaves<'a>(params: Vec<Param<'a>>) -> (Vec<Param<'a>>, Vec<Param<'a>>) {
    params.into_iter().partition(|param| param.rest.is_none())
}

fn convert(shape: &Shape, path: &str, params: Vec<Param>) -> Result<Value, QueryError> {
    match shape {
        Shape::String => scalar(path, params).map(|value| Value::String(value.to_string())),
        Shape::Integer => {
            let value = scalar(path, params)?;
            let number: i64 = value.parse().map_err(|_| QueryError::InvalidInteger { name: path.to_string() })?;
            Ok(Value::from(number))
        }
        Shape::List { member, .. } => list(member, path, params),
        Shape::Map { key, value, value_shape, .. } => map(key, value, value_shape, path, params),
        Shape::Structure(members) => {
            let (leaves, deeper) = split_leaves(params);
            if let Some(leaf) = leaves.first() {
                return Err(QueryError::UnexpectedParameter { name: leaf.name.to_string() });
            }
            structure(members, path, deeper).map(Value::Object)
        }
        Shape::Wrapped(inner) => wrapped(inner, path, params),
    }
}

/// A list or map inside its wrapper: `Tags.member.N.Key`, `Attributes.entry.N.key`. The
/// member's name alone with an empty value is an empty collection.
fn wrapped(inner: &Shape, path: &str, params: Vec<Param>) -> Result<Value, QueryError> {
    let (item, empty) = match inner {
        Shape::List { item, .. } => (*item, Value::Array(Vec::new())),
        Shape::Map { item, .. } => (*item, Value::Object(Map::new())),
        _ => return Err(QueryError::UnexpectedParameter { name: path.to_string() }),
    };
    let (leaves, deeper) = split_leaves(params);
    match leaves.as_slice() {
        [] => {}
        [leaf] if leaf.value.is_empty() && deeper.is_empty() => return Ok(empty),
        [leaf, ..] => return Err(QueryError::UnexpectedParameter { name: leaf.name.to_string() }),
    }
    let mut value = empty;
    for (part, group) in group_by_next_part(deeper) {
        if part != item {
            let name = group.first().map_or_else(|| join(path, part), |param| param.name.to_string());
            return Err(QueryError::UnexpectedParameter { name });
        }
        value = convert(inner, &join(path, part), group)?;
    }
    Ok(value)
}

/// The single value of a scalar member.
fn scalar<'a>(path: &str, params: Vec<Param<'a>>) -> Result<&'a str, QueryError> {
    let (leaves, deeper) = split_leaves(params);
    if let Some(param) = deeper.first() {
        return Err(QueryError::UnexpectedParameter { name: param.name.to_string() });
    }
    match leaves.as_slice() {
        [] => Err(QueryError::MissingParameter { name: path.to_string() }),
        [param] => Ok(param.value),
        [param, ..] => Err(QueryError::DuplicateParameter { name: param.name.to_string() }),
    }
}

fn structure(members: &[Member], path: &str, params: Vec<Param>) -> Result<Map<String, Value>, QueryError> {
    let mut object = Map::new();
    for (part, group) in group_by_next_part(params) {
        let json_name_of_empty_collection = members.iter().find(|member| {
            member.json == part
                && matches!(member.shape, Shape::List { .. } | Shape::Map { .. })
                && matches!(group.as_slice(), [param] if param.rest.is_none() && param.value.is_empty())
        });
        let (key, value) = if let Some(member) = members.iter().find(|member| member.query_name() == part) {
            (member.json.to_string(), convert(member.shape, &join(path, part), group)?)
        } else if let Some(member) = json_name_of_empty_collection {
            let empty = match member.shape {
                Shape::List { .. } => Value::Array(Vec::new()),
                _ => Value::Object(Map::new()),
            };
            (member.json.to_string(), empty)
        } else {
            pass_through(&mut object, path, part, group)?;
            continue;
        };
        if object.insert(key, value).is_some() {
            return Err(QueryError::DuplicateParameter { name: join(path, part) });
        }
    }
    Ok(object)
}

/// Copies parameters the model does not know into `object` as strings, under their name relative
/// to the enclosing structure.
fn pass_through(object: &mut Map<String, Value>, path: &str, part: &str, group: Vec<Param>) -> Result<(), QueryError> {
    for param in group {
        let relative = match param.rest {
            Some(tail) => format!("{part}.{tail}"),
            None => part.to_string(),
        };
        if object.insert(relative.clone(), Value::String(param.value.to_string())).is_some() {
            return Err(QueryError::DuplicateParameter { name: join(path, &relative) });
        }
    }
    Ok(())
}

/// Parses a 1-based list index: decimal digits, no leading zero, at most [`MAX_LIST_INDEX`].
fn parse_index(part: &str, path: &str) -> Result<u32, QueryError> {
    let invalid = || QueryError::InvalidIndex { name: join(path, part), max: MAX_LIST_INDEX };
    let is_canonical =
        !part.is_empty() && part.len() <= 4 && part.bytes().all(|byte| byte.is_ascii_digit()) && !part.starts_with('0');
    if !is_canonical {
        return Err(invalid());
    }
    let index: u32 = part.parse().map_err(|_| invalid())?;
    if index > MAX_LIST_INDEX {
        return Err(invalid());
    }
    Ok(index)
}

/// Groups the parameters below a list or map by index, in index order.
fn group_by_index<'a>(path: &str, params: Vec<Param<'a>>) -> Result<BTreeMap<u32, Vec<Param<'a>>>, QueryError> {
    let mut by_index = BTreeMap::new();
    for (part, group) in group_by_next_part(params) {
        by_index.insert(parse_index(part, path)?, group);
    }
    Ok(by_index)
}

fn list(member: &Shape, path: &str, params: Vec<Param>) -> Result<Value, QueryError> {
    let (leaves, deeper) = split_leaves(params);
    let mut elements = Vec::new();
    match leaves.as_slice() {
        [] => {}
        [leaf] if leaf.value.is_empty() && deeper.is_empty() => return Ok(Value::Array(elements)),
        [leaf] if matches!(member, Shape::String) => elements.push(Value::String(leaf.value.to_string())),
        [leaf] => return Err(QueryError::UnexpectedParameter { name: leaf.name.to_string() }),
        [leaf, ..] => return Err(QueryError::DuplicateParameter { name: leaf.name.to_string() }),
    }
    for (index, group) in group_by_index(path, deeper)? {
        elements.push(convert(member, &join(path, &index.to_string()), group)?);
    }
    Ok(Value::Array(elements))
}

fn map(key: &str, value: &str, value_shape: &Shape, path: &str, params: Vec<Param>) -> Result<Value, QueryError> {
    let (leaves, deeper) = split_leaves(params);
    match leaves.as_slice() {
        [] => {}
        [leaf] if leaf.value.is_empty() && deeper.is_empty() => return Ok(Value::Object(Map::new())),
        [leaf, ..] => return Err(QueryError::UnexpectedParameter { name: leaf.name.to_string() }),
    }
    let mut object = Map::new();
    for (index, group) in group_by_index(path, deeper)? {
        let entry_path = join(path, &index.to_string());
        let (entry_leaves, entry_params) = split_leaves(group);
        if let Some(leaf) = entry_leaves.first() {
            return Err(QueryError::UnexpectedParameter { name: leaf.name.to_string() });
        }
        let mut key_params = Vec::new();
        let mut value_params = Vec::new();
        for (part, part_group) in group_by_next_part(entry_params) {
            if part == key {
                key_params = part_group;
            } else if part == value {
                value_params = part_group;
            } else {
                let name = part_group.first().map_or_else(|| join(&entry_path, part), |param| param.name.to_string());
                return Err(QueryError::UnexpectedParameter { name });
            }
        }
        let key_path = join(&entry_path, key);
        let entry_key = scalar(&key_path, key_params)?;
        let entry_value = convert(value_shape, &join(&entry_path, value), value_params)?;
        if object.insert(entry_key.to_string(), entry_value).is_some() {
            return Err(QueryError::DuplicateKey { name: key_path });
        }
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sqs::query_model::MODEL;
    use crate::sqs::SqsAction;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    fn check(action: &str, pairs: &[(&str, &str)], expected: Value) {
        assert_eq!(form_to_json(&MODEL, SqsAction::from_name(action).unwrap(), &params(pairs)), Ok(expected));
    }

    fn check_error(action: &str, pairs: &[(&str, &str)], expected: QueryError) {
        assert_eq!(form_to_json(&MODEL, SqsAction::from_name(action).unwrap(), &params(pairs)), Err(expected));
    }

    const URL: &str = "http://localhost:9324/000000000000/q";

    #[test]
    fn test_create_queue_attributes_and_lowercase_tags() {
        check(
            "CreateQueue",
            &[
                ("Action", "CreateQueue"),
                ("Version", "2012-11-05"),
                ("QueueName", "q.fifo"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "30"),
                ("Attribute.2.Name", "FifoQueue"),
                ("Attribute.2.Value", "true"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", ""),
            ],
            json!({
                "QueueName": "q.fifo",
                "Attributes": {"VisibilityTimeout": "30", "FifoQueue": "true"},
                "tags": {"team": ""},
            }),
        );
    }

    #[test]
    fn test_list_indexes_ordered_numerically_with_gaps() {
        let pairs: Vec<(String, String)> = [10, 2, 1, 7]
            .iter()
            .map(|index| (format!("AttributeName.{index}"), format!("name{index}")))
            .chain([("QueueUrl".to_string(), URL.to_string())])
            .collect();
        let expected = json!({"QueueUrl": URL, "AttributeNames": ["name1", "name2", "name7", "name10"]});
        assert_eq!(form_to_json(&MODEL, SqsAction::GetQueueAttributes, &pairs), Ok(expected));
    }

    #[test]
    fn test_receive_message_numbers_and_name_lists() {
        check(
            "ReceiveMessage",
            &[
                ("QueueUrl", URL),
                ("AttributeName.1", "All"),
                ("MessageSystemAttributeName.1", "SentTimestamp"),
                ("MessageSystemAttributeName.2", "MessageGroupId"),
                ("MessageAttributeName.1", "color.*"),
                ("MaxNumberOfMessages", "10"),
                ("VisibilityTimeout", "0"),
                ("WaitTimeSeconds", "20"),
                ("ReceiveRequestAttemptId", "attempt"),
            ],
            json!({
                "QueueUrl": URL,
                "AttributeNames": ["All"],
                "MessageSystemAttributeNames": ["SentTimestamp", "MessageGroupId"],
                "MessageAttributeNames": ["color.*"],
                "MaxNumberOfMessages": 10,
                "VisibilityTimeout": 0,
                "WaitTimeSeconds": 20,
                "ReceiveRequestAttemptId": "attempt",
            }),
        );
    }

    #[test]
    fn test_receive_message_bare_list_name_is_first_element() {
        check(
            "ReceiveMessage",
            &[("AttributeName", "All"), ("AttributeName.1", "SentTimestamp")],
            json!({"AttributeNames": ["All", "SentTimestamp"]}),
        );
    }

    #[test]
    fn test_empty_list_under_json_name_is_empty() {
        check(
            "GetQueueAttributes",
            &[("QueueUrl", URL), ("AttributeNames", "")],
            json!({"QueueUrl": URL, "AttributeNames": []}),
        );
        check("ReceiveMessage", &[("MessageAttributeName", "")], json!({"MessageAttributeNames": []}));
    }

    #[test]
    fn test_send_message_attributes_of_every_kind() {
        check(
            "SendMessage",
            &[
                ("QueueUrl", URL),
                ("MessageBody", "a.b=c&d"),
                ("DelaySeconds", "5"),
                ("MessageAttribute.1.Name", "color"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "blue"),
                ("MessageAttribute.2.Name", "blob"),
                ("MessageAttribute.2.Value.DataType", "Binary"),
                ("MessageAttribute.2.Value.BinaryValue", "AAEC"),
                ("MessageAttribute.3.Name", "list"),
                ("MessageAttribute.3.Value.DataType", "String"),
                ("MessageAttribute.3.Value.StringListValue.2", "y"),
                ("MessageAttribute.3.Value.StringListValue.1", "x"),
                ("MessageSystemAttribute.1.Name", "AWSTraceHeader"),
                ("MessageSystemAttribute.1.Value.DataType", "String"),
                ("MessageSystemAttribute.1.Value.StringValue", "Root=1"),
                ("MessageDeduplicationId", "dedup"),
                ("MessageGroupId", "group"),
            ],
            json!({
                "QueueUrl": URL,
                "MessageBody": "a.b=c&d",
                "DelaySeconds": 5,
                "MessageAttributes": {
                    "color": {"DataType": "String", "StringValue": "blue"},
                    "blob": {"DataType": "Binary", "BinaryValue": "AAEC"},
                    "list": {"DataType": "String", "StringListValues": ["x", "y"]},
                },
                "MessageSystemAttributes": {
                    "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"},
                },
                "MessageDeduplicationId": "dedup",
                "MessageGroupId": "group",
            }),
        );
    }

    #[test]
    fn test_send_message_batch_entries_in_index_order() {
        check(
            "SendMessageBatch",
            &[
                ("QueueUrl", URL),
                ("SendMessageBatchRequestEntry.10.Id", "ten"),
                ("SendMessageBatchRequestEntry.10.MessageBody", "body ten"),
                ("SendMessageBatchRequestEntry.2.Id", "two"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "body two"),
                ("SendMessageBatchRequestEntry.2.DelaySeconds", "3"),
                ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Name", "n"),
                ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType", "Number"),
                ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue", "1"),
                ("SendMessageBatchRequestEntry.2.MessageGroupId", "g"),
            ],
            json!({
                "QueueUrl": URL,
                "Entries": [
                    {
                        "Id": "two",
                        "MessageBody": "body two",
                        "DelaySeconds": 3,
                        "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}},
                        "MessageGroupId": "g",
                    },
                    {"Id": "ten", "MessageBody": "body ten"},
                ],
            }),
        );
    }

    #[test]
    fn test_delete_and_change_visibility_batch_entries() {
        check(
            "DeleteMessageBatch",
            &[
                ("QueueUrl", URL),
                ("DeleteMessageBatchRequestEntry.1.Id", "a"),
                ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", "r1"),
            ],
            json!({"QueueUrl": URL, "Entries": [{"Id": "a", "ReceiptHandle": "r1"}]}),
        );
        check(
            "ChangeMessageVisibilityBatch",
            &[
                ("ChangeMessageVisibilityBatchRequestEntry.1.Id", "a"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", "r1"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "60"),
            ],
            json!({"Entries": [{"Id": "a", "ReceiptHandle": "r1", "VisibilityTimeout": 60}]}),
        );
    }

    #[test]
    fn test_queue_admin_actions() {
        check("TagQueue", &[("Tag.1.Key", "k"), ("Tag.1.Value", "v")], json!({"Tags": {"k": "v"}}));
        check("UntagQueue", &[("TagKey.1", "k"), ("TagKey.2", "l")], json!({"TagKeys": ["k", "l"]}));
        check(
            "AddPermission",
            &[("Label", "l"), ("AWSAccountId.1", "111"), ("ActionName.1", "SendMessage")],
            json!({"Label": "l", "AWSAccountIds": ["111"], "Actions": ["SendMessage"]}),
        );
        check(
            "ListQueues",
            &[("QueueNamePrefix", "q"), ("MaxResults", "1000"), ("NextToken", "t")],
            json!({"QueueNamePrefix": "q", "MaxResults": 1000, "NextToken": "t"}),
        );
        check(
            "GetQueueUrl",
            &[("QueueName", "q"), ("QueueOwnerAWSAccountId", "000000000000")],
            json!({"QueueName": "q", "QueueOwnerAWSAccountId": "000000000000"}),
        );
        check("ListDeadLetterSourceQueues", &[("MaxResults", "-1")], json!({"MaxResults": -1}));
    }

    #[test]
    fn test_message_move_task_actions() {
        check(
            "StartMessageMoveTask",
            &[("SourceArn", "arn:s"), ("DestinationArn", "arn:d"), ("MaxNumberOfMessagesPerSecond", "50")],
            json!({"SourceArn": "arn:s", "DestinationArn": "arn:d", "MaxNumberOfMessagesPerSecond": 50}),
        );
        check("CancelMessageMoveTask", &[("TaskHandle", "h")], json!({"TaskHandle": "h"}));
        check(
            "ListMessageMoveTasks",
            &[("SourceArn", "arn:s"), ("MaxResults", "10")],
            json!({"SourceArn": "arn:s", "MaxResults": 10}),
        );
    }

    #[test]
    fn test_every_action_accepts_an_empty_request() {
        for operation in MODEL.operations {
            check(operation.action.name(), &[("Action", operation.action.name())], json!({}));
        }
        assert_eq!(MODEL.operations.len(), 23);
    }

    #[test]
    fn test_signing_parameters_ignored() {
        check(
            "PurgeQueue",
            &[
                ("QueueUrl", URL),
                ("AWSAccessKeyId", "AKID"),
                ("Signature", "sig"),
                ("SignatureMethod", "HmacSHA256"),
                ("SignatureVersion", "2"),
                ("Timestamp", "2024-01-01T00:00:00Z"),
                ("Expires", "2024-01-01T00:00:00Z"),
                ("SecurityToken", "token"),
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("x-amz-date", "20240101T000000Z"),
            ],
            json!({"QueueUrl": URL}),
        );
    }

    #[test]
    fn test_unknown_parameters_passed_through_as_strings() {
        check(
            "SendMessageBatch",
            &[
                ("Unknown", "1"),
                ("Other.1.Thing", "x"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.Future.1", "f"),
            ],
            json!({"Unknown": "1", "Other.1.Thing": "x", "Entries": [{"Id": "a", "Future.1": "f"}]}),
        );
    }

    #[test]
    fn test_non_numeric_integer_rejected() {
        let invalid = |name: &str| QueryError::InvalidInteger { name: name.to_string() };
        check_error("SendMessage", &[("DelaySeconds", "five")], invalid("DelaySeconds"));
        check_error("ReceiveMessage", &[("WaitTimeSeconds", "")], invalid("WaitTimeSeconds"));
        check_error("ReceiveMessage", &[("MaxNumberOfMessages", "1.5")], invalid("MaxNumberOfMessages"));
        check_error(
            "ChangeMessageVisibilityBatch",
            &[("ChangeMessageVisibilityBatchRequestEntry.3.VisibilityTimeout", "99999999999999999999")],
            invalid("ChangeMessageVisibilityBatchRequestEntry.3.VisibilityTimeout"),
        );
    }

    #[test]
    fn test_bad_indexes_rejected() {
        let invalid = |name: &str| QueryError::InvalidIndex { name: name.to_string(), max: MAX_LIST_INDEX };
        for index in ["0", "01", "1001", "x", "", "-1", "+1", "99999999999"] {
            let name = format!("AttributeName.{index}");
            check_error("GetQueueAttributes", &[(&name, "All")], invalid(&name));
        }
        check_error("CreateQueue", &[("Attribute.a.Name", "x")], invalid("Attribute.a"));
        check("GetQueueAttributes", &[("AttributeName.1000", "All")], json!({"AttributeNames": ["All"]}));
    }

    #[test]
    fn test_malformed_map_entries_rejected() {
        let missing = |name: &str| QueryError::MissingParameter { name: name.to_string() };
        let unexpected = |name: &str| QueryError::UnexpectedParameter { name: name.to_string() };
        check_error("CreateQueue", &[("Attribute.1.Value", "30")], missing("Attribute.1.Name"));
        check_error("SetQueueAttributes", &[("Attribute.1.Name", "Policy")], missing("Attribute.1.Value"));
        check_error("TagQueue", &[("Tag.1.Key", "k"), ("Tag.1.Name", "v")], unexpected("Tag.1.Name"));
        check_error("TagQueue", &[("Tag.1", "k")], unexpected("Tag.1"));
        check_error("CreateQueue", &[("Attribute", "x")], unexpected("Attribute"));
        check_error("CreateQueue", &[("QueueName.1", "q")], unexpected("QueueName.1"));
        check_error(
            "SendMessageBatch",
            &[("SendMessageBatchRequestEntry.1", "x")],
            unexpected("SendMessageBatchRequestEntry.1"),
        );
        check_error(
            "SendMessage",
            &[("MessageAttribute.1.Name", "a"), ("MessageAttribute.1.Value", "x")],
            unexpected("MessageAttribute.1.Value"),
        );
    }

    #[test]
    fn test_message_attribute_without_value_is_empty_object() {
        check("SendMessage", &[("MessageAttribute.1.Name", "a")], json!({"MessageAttributes": {"a": {}}}));
    }

    #[test]
    fn test_duplicates_rejected() {
        check_error(
            "DeleteMessage",
            &[("QueueUrl", URL), ("QueueUrl", URL)],
            QueryError::DuplicateParameter { name: "QueueUrl".to_string() },
        );
        check_error(
            "SendMessage",
            &[("Unknown", "a"), ("Unknown", "b")],
            QueryError::DuplicateParameter { name: "Unknown".to_string() },
        );
        check_error(
            "CreateQueue",
            &[
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "1"),
                ("Attribute.2.Name", "DelaySeconds"),
                ("Attribute.2.Value", "2"),
            ],
            QueryError::DuplicateKey { name: "Attribute.2.Name".to_string() },
        );
        check_error(
            "CreateQueue",
            &[("Attributes", ""), ("Attribute.1.Name", "DelaySeconds"), ("Attribute.1.Value", "1")],
            QueryError::DuplicateParameter { name: "Attributes".to_string() },
        );
    }

    #[test]
    fn test_bounds_enforced() {
        let many: Vec<(String, String)> =
            (0..=MAX_QUERY_PARAMS).map(|index| (format!("P{index}"), String::new())).collect();
        assert_eq!(
            form_to_json(&MODEL, SqsAction::ListQueues, &many),
            Err(QueryError::TooManyParameters { count: MAX_QUERY_PARAMS + 1, max: MAX_QUERY_PARAMS })
        );
        let long = "a.".repeat(MAX_NAME_LENGTH_BYTES);
        check_error("ListQueues", &[(&long, "")], QueryError::NameTooLong { max: MAX_NAME_LENGTH_BYTES });
    }

    #[test]
    fn test_unknown_action_rejected() {
        assert_eq!(SqsAction::from_name("SendMessages"), None, "an unknown action never reaches the model");
        assert_eq!(
            QueryError::InvalidInteger { name: "DelaySeconds".to_string() }.to_string(),
            "Value for parameter DelaySeconds is not a valid integer."
        );
    }

    #[test]
    fn test_wrapped_lists_and_maps_of_sns() {
        use crate::sns::query_model::MODEL as SNS_MODEL;
        use crate::sns::SnsAction;
        let pairs = params(&[
            ("Action", "CreateTopic"),
            ("Version", "2010-03-31"),
            ("Name", "t"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "d"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.2.Value", "2"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "1"),
        ]);
        let expected = json!({
            "Name": "t",
            "Attributes": {"DisplayName": "d"},
            "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
        });
        assert_eq!(form_to_json(&SNS_MODEL, SnsAction::CreateTopic, &pairs), Ok(expected));
        // The wrapper's name must be the list's or map's item name.
        let wrong = params(&[("Name", "t"), ("Tags.entry.1.Key", "a")]);
        assert_eq!(
            form_to_json(&SNS_MODEL, SnsAction::CreateTopic, &wrong),
            Err(QueryError::UnexpectedParameter { name: "Tags.entry.1.Key".to_string() })
        );
        // The member alone with an empty value is an empty collection.
        let empty = params(&[("ResourceArn", "arn"), ("TagKeys", "")]);
        assert_eq!(
            form_to_json(&SNS_MODEL, SnsAction::UntagResource, &empty),
            Ok(json!({"ResourceArn": "arn", "TagKeys": []}))
        );
    }
}
