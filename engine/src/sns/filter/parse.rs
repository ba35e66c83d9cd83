//! Reading a filter policy's JSON into a [`FilterPolicy`], refusing what AWS refuses with the
//! reason AWS gives. The caller puts the reason after its own prefix ("Invalid parameter:
//! FilterPolicy: " for SetSubscriptionAttributes, "Invalid parameter: Attributes Reason:
//! FilterPolicy: " for Subscribe).
//!
//! Limits: at most [`limits::FILTER_POLICY_KEYS_MAX`] keys holding conditions (nested keys
//! count where their conditions are; each branch of an `$or` counts with the keys beside it, the
//! largest branch counting), at most [`limits::FILTER_POLICY_COMBINATIONS_MAX`] combinations
//! (the product of each key's number of conditions; the branches of an `$or` add up).

// An address as a value (parsed from text): no socket, no IO.
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{
    AnythingBut, Bound, Condition, Conjunction, Exact, FilterPolicy, FilterScope, Network, NumericRange, Rule,
};
use crate::limits;

/// Why a filter policy was refused, in AWS's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterPolicyError(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, FilterPolicyError> {
    Err(FilterPolicyError(reason.into()))
}

const TOO_COMPLEX: &str = "Filter policy is too complex";
const EMPTY_ARRAY: &str = "Empty arrays are not allowed";
const MATCH_VALUE: &str = "Match value must be String, number, true, false, or null";

pub(super) fn parse(json: &str, scope: FilterScope) -> Result<FilterPolicy, FilterPolicyError> {
    if json.len() > limits::FILTER_POLICY_BYTES_MAX {
        return refuse(format!("Filter policy can not be larger than {} bytes", limits::FILTER_POLICY_BYTES_MAX));
    }
    let value: Value = match serde_json::from_str(json) {
        Ok(value) => value,
        Err(error) => return refuse(format!("failed to parse JSON. {error}")),
    };
    let Value::Object(object) = value else {
        return refuse("Filter policy must be a JSON object");
    };
    let root = conjunction(&object, scope, 0)?;
    let (keys, combinations) = measure(&root);
    if keys > limits::FILTER_POLICY_KEYS_MAX {
        return refuse(format!("Filter policy can not have more than {} keys", limits::FILTER_POLICY_KEYS_MAX));
    }
    if combinations > limits::FILTER_POLICY_COMBINATIONS_MAX {
        return refuse(TOO_COMPLEX);
    }
    Ok(FilterPolicy { scope, root })
}

fn conjunction(
    object: &Map<String, Value>,
    scope: FilterScope,
    depth: usize,
) -> Result<Conjunction, FilterPolicyError> {
    if depth > limits::FILTER_POLICY_DEPTH_MAX {
        return refuse(TOO_COMPLEX);
    }
    let mut parsed = Conjunction::default();
    for (key, value) in object {
        if key == "$or" {
            let Value::Array(branches) = value else {
                return refuse("\"$or\" must be an array of objects");
            };
            if branches.is_empty() {
                return refuse(EMPTY_ARRAY);
            }
            let mut alternatives = Vec::with_capacity(branches.len());
            for branch in branches {
                let Value::Object(branch) = branch else {
                    return refuse("\"$or\" must be an array of objects");
                };
                alternatives.push(conjunction(branch, scope, depth + 1)?);
            }
            parsed.any_of.push(alternatives);
            continue;
        }
        let rule = match value {
            Value::Array(items) if items.is_empty() => return refuse(EMPTY_ARRAY),
            Value::Array(items) => Rule::Conditions(items.iter().map(condition).collect::<Result<_, _>>()?),
            Value::Object(_) if scope == FilterScope::MessageAttributes => {
                return refuse("Filter policy scope MessageAttributes does not support nested filter policy");
            }
            Value::Object(inner) if inner.is_empty() => {
                return refuse(format!("\"{key}\" must not be an empty object"))
            }
            Value::Object(inner) => Rule::Nested(conjunction(inner, scope, depth + 1)?),
            _ => return refuse(format!("\"{key}\" must be an object or an array")),
        };
        parsed.keys.push((key.clone(), rule));
    }
    Ok(parsed)
}

fn condition(item: &Value) -> Result<Condition, FilterPolicyError> {
    match item {
        Value::Object(operator) => {
            let mut entries = operator.iter();
            let (Some((name, operand)), None) = (entries.next(), entries.next()) else {
                return refuse("Only one key allowed in match expression");
            };
            operation(name, operand)
        }
        Value::Array(_) => refuse(MATCH_VALUE),
        value => Ok(Condition::Exact(exact(value, "match")?)),
    }
}

fn exact(value: &Value, operator: &str) -> Result<Exact, FilterPolicyError> {
    match value {
        Value::String(text) => Ok(Exact::String(text.clone())),
        Value::Number(_) => Ok(Exact::Number(number(value, operator)?)),
        Value::Bool(flag) => Ok(Exact::Bool(*flag)),
        Value::Null => Ok(Exact::Null),
        Value::Array(_) | Value::Object(_) => refuse(MATCH_VALUE),
    }
}

/// A number within AWS's range.
fn number(value: &Value, operator: &str) -> Result<f64, FilterPolicyError> {
    match value.as_f64() {
        Some(number) if number.abs() <= limits::FILTER_POLICY_NUMBER_ABS_MAX => Ok(number),
        Some(_) => refuse(format!("Value of {operator} must be between -1000000000 and 1000000000")),
        None => refuse(format!("Value of {operator} must be numeric")),
    }
}

fn string<'v>(operand: &'v Value, operator: &str) -> Result<&'v str, FilterPolicyError> {
    match operand {
        Value::String(text) => Ok(text),
        _ => refuse(format!("{operator} match pattern must be a string")),
    }
}

fn operation(name: &str, operand: &Value) -> Result<Condition, FilterPolicyError> {
    match name {
        "prefix" => Ok(Condition::Prefix(string(operand, name)?.to_string())),
        "suffix" => Ok(Condition::Suffix(string(operand, name)?.to_string())),
        "equals-ignore-case" => Ok(Condition::EqualsIgnoreCase(string(operand, name)?.to_lowercase())),
        "anything-but" => anything_but(operand).map(Condition::AnythingBut),
        "numeric" => numeric(operand).map(Condition::Numeric),
        "exists" => match operand {
            Value::Bool(flag) => Ok(Condition::Exists(*flag)),
            _ => refuse("exists match pattern must be either true or false."),
        },
        "cidr" => cidr(string(operand, name)?).map(Condition::Cidr),
        other => refuse(format!("Unrecognized match type {other}")),
    }
}

fn anything_but(operand: &Value) -> Result<AnythingBut, FilterPolicyError> {
    match operand {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![exact(operand, "anything-but")?])),
        Value::Array(items) if items.is_empty() => refuse(EMPTY_ARRAY),
        Value::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(_) | Value::Number(_) => values.push(exact(item, "anything-but")?),
                    _ => return refuse("Inside anything but list, start|null|boolean is not supported."),
                }
            }
            Ok(AnythingBut::Values(values))
        }
        Value::Object(operator) => {
            let mut entries = operator.iter();
            let (Some((name, inner)), None) = (entries.next(), entries.next()) else {
                return refuse("Only one key allowed in match expression");
            };
            match name.as_str() {
                "prefix" => Ok(AnythingBut::Prefix(string(inner, "prefix")?.to_string())),
                other => refuse(format!("Unsupported anything-but pattern: {other}")),
            }
        }
        _ => refuse("Value of anything-but must be an array or single string/number value."),
    }
}

fn numeric(operand: &Value) -> Result<NumericRange, FilterPolicyError> {
    let Value::Array(items) = operand else {
        return refuse("Value of numeric must be an array.");
    };
    if items.is_empty() {
        return refuse(EMPTY_ARRAY);
    }
    if items.len() > 4 {
        return refuse("Too many elements in numeric expression");
    }
    let mut range = NumericRange { lower: None, upper: None };
    for pair in items.chunks(2) {
        let Some(operator) = pair[0].as_str() else {
            return refuse(format!("Invalid member in numeric match: {}", pair[0]));
        };
        let Some(value) = pair.get(1) else {
            return refuse(format!("Value of {operator} must be numeric"));
        };
        let value = number(value, operator)?;
        let first = range.lower.is_none() && range.upper.is_none();
        match operator {
            "=" if first && items.len() == 2 => {
                let exactly = Some(Bound { value, inclusive: true });
                range = NumericRange { lower: exactly, upper: exactly };
            }
            ">" | ">=" if first => range.lower = Some(Bound { value, inclusive: operator == ">=" }),
            "<" | "<=" if range.upper.is_none() && (first || range.lower.is_some()) => {
                range.upper = Some(Bound { value, inclusive: operator == "<=" });
            }
            "=" | ">" | ">=" | "<" | "<=" => return refuse("Bad numeric range operator"),
            other => return refuse(format!("Unrecognized numeric range operator: {other}")),
        }
    }
    if let (Some(lower), Some(upper)) = (range.lower, range.upper) {
        if items.len() == 4 && lower.value >= upper.value {
            return refuse("Bottom must be less than top");
        }
    }
    Ok(range)
}

fn cidr(text: &str) -> Result<Network, FilterPolicyError> {
    let mut parts = text.split('/');
    let (Some(address), Some(bits), None) = (parts.next(), parts.next(), parts.next()) else {
        return refuse("Malformed CIDR, one '/' required");
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return refuse(format!("Nonstandard IP address: {address}"));
    };
    let width = if address.is_ipv4() { 32 } else { 128 };
    match bits.parse::<u8>() {
        Ok(prefix_bits) if u32::from(prefix_bits) <= width => Ok(Network { address, prefix_bits }),
        _ => refuse(format!("Malformed CIDR, mask bits must be an integer between 0 and {width}")),
    }
}

/// The most keys holding conditions on any one path through the `$or`s, and the number of
/// combinations; both saturate rather than overflow.
fn measure(conjunction: &Conjunction) -> (usize, usize) {
    let mut keys = 0usize;
    let mut combinations = 1usize;
    for (_, rule) in &conjunction.keys {
        let (rule_keys, rule_combinations) = match rule {
            Rule::Conditions(conditions) => (1, conditions.len()),
            Rule::Nested(inner) => measure(inner),
        };
        keys = keys.saturating_add(rule_keys);
        combinations = combinations.saturating_mul(rule_combinations);
    }
    for alternatives in &conjunction.any_of {
        let measured: Vec<(usize, usize)> = alternatives.iter().map(measure).collect();
        keys = keys.saturating_add(measured.iter().map(|(k, _)| *k).max().unwrap_or(0));
        combinations = combinations.saturating_mul(measured.iter().fold(0usize, |sum, (_, c)| sum.saturating_add(*c)));
    }
    (keys, combinations)
}
