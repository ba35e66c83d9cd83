//! Resource policies as both services keep them: a JSON document whose `Statement` list
//! AddPermission and RemovePermission edit by label (`Sid`). Each service words its own
//! refusals; what is shared is the document's shape.

use serde_json::Value;

use crate::limits;

/// Why a stored policy's statements could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyShape {
    NotAnObject,
    NoStatementList,
}

/// The statements of `policy`: a single statement object becomes a list of one, a missing
/// list an empty one.
pub(crate) fn statements(policy: &mut Value) -> Result<&mut Vec<Value>, PolicyShape> {
    let document = policy.as_object_mut().ok_or(PolicyShape::NotAnObject)?;
    let statements = document.entry("Statement").or_insert_with(|| Value::Array(Vec::new()));
    if statements.is_object() {
        let single = statements.take();
        *statements = Value::Array(vec![single]);
    }
    statements.as_array_mut().ok_or(PolicyShape::NoStatementList)
}

pub(crate) fn has_statement(statements: &[Value], label: &str) -> bool {
    statements.iter().any(|statement| statement.get("Sid").and_then(Value::as_str) == Some(label))
}

/// Removes the statement labelled `label`; whether there was one.
pub(crate) fn remove_statement(statements: &mut Vec<Value>, label: &str) -> bool {
    let before = statements.len();
    statements.retain(|statement| statement.get("Sid").and_then(Value::as_str) != Some(label));
    statements.len() != before
}

/// An AddPermission label: 1 to 80 of `A-Z a-z 0-9 _ -`.
pub(crate) fn is_permission_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= limits::PERMISSION_LABEL_LENGTH_MAX
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The statement AddPermission adds: the accounts (as their root principals) allowed the
/// actions of `service` (`SQS`, `SNS`) on `resource`.
pub(crate) fn allow_statement(
    label: &str,
    account_ids: &[String],
    service: &str,
    actions: &[String],
    resource: &str,
) -> Value {
    let principals: Vec<String> = account_ids.iter().map(|id| format!("arn:aws:iam::{id}:root")).collect();
    let actions: Vec<String> = actions.iter().map(|action| format!("{service}:{action}")).collect();
    serde_json::json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": { "AWS": principals },
        "Action": actions,
        "Resource": resource,
    })
}
