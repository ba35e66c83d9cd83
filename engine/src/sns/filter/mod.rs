//! Subscription filter policies: which publishes a subscription takes. A policy is parsed once,
//! when a subscription sets it (`parse`, with AWS's refusals), into a [`FilterPolicy`], and
//! matched against every publish to its topic here.
//!
//! A policy is a JSON object. Each key names a message attribute (scope `MessageAttributes`,
//! the default) or a key of the JSON body (scope `MessageBody`, where a key may hold an object
//! of nested keys); its array lists conditions, any of which may match; every key must match
//! (AND across keys, OR within a key). `$or` holds alternative policies, one of which must match
//! besides the keys beside it. Conditions: an exact string, number, `true`, `false` or `null`;
//! `prefix`, `suffix`, `equals-ignore-case`; `anything-but` (values, or a prefix); `numeric`
//! comparisons and ranges; `exists`; `cidr` (IPv4 and IPv6 networks).
//!
//! Values a key is matched against: a `String` attribute is one string, a `Number` attribute one
//! number, a `String.Array` attribute each element of its JSON array; `Binary` attributes are
//! ignored (as absent). In a body, the values at a key's path are every leaf reached, walking
//! into arrays at any level (arrays of objects included), so one condition may be met by one
//! element and another by another, as AWS flattens them. A key matches when any of its values
//! meets any of its conditions; `exists: false` when it has no value; `anything-but` only when
//! it has one.
//!
//! Architecture invariant: matching reads the policy and the message only. The attributes'
//! values and the body are worked out once per publish, not once per subscription.

mod parse;

use std::cell::OnceCell;
use std::collections::BTreeMap;
// An address as a value (parsed from text, compared by bits): no socket, no IO.
use std::net::IpAddr;

use serde_json::Value;

use crate::message::{AttributeValue, MessageAttributes};

pub use parse::FilterPolicyError;

/// What a policy is matched against, as the subscription's `FilterPolicyScope` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterScope {
    #[default]
    MessageAttributes,
    MessageBody,
}

/// A parsed filter policy.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy {
    scope: FilterScope,
    root: Conjunction,
}

/// Every key must match, and one branch of every `$or`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Conjunction {
    keys: Vec<(String, Rule)>,
    any_of: Vec<Vec<Conjunction>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// Conditions on the key's values, any of which may match.
    Conditions(Vec<Condition>),
    /// Keys within the object at this key (body scope only).
    Nested(Conjunction),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exact(Exact),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(AnythingBut),
    Numeric(NumericRange),
    Exists(bool),
    Cidr(Network),
}

#[derive(Debug, Clone, PartialEq)]
enum Exact {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    /// Strings and numbers the value must not equal.
    Values(Vec<Exact>),
    /// A prefix a string value must not start with.
    Prefix(String),
}

/// Bounds a number must lie within; `=` is both bounds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
struct NumericRange {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    value: f64,
    inclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Network {
    address: IpAddr,
    prefix_bits: u8,
}

/// One value a key is matched against.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaf<'a> {
    String(&'a str),
    Number(f64),
    Bool(bool),
    Null,
}

/// A published message as policies see it: its attributes' values and its body are worked
/// out at most once, by the first policy that looks at them.
pub struct FilterInput<'a> {
    attributes: &'a MessageAttributes,
    body: &'a str,
    attribute_values: OnceCell<BTreeMap<&'a str, Vec<Value>>>,
    parsed_body: OnceCell<Option<Value>>,
}

impl<'a> FilterInput<'a> {
    pub fn new(attributes: &'a MessageAttributes, body: &'a str) -> FilterInput<'a> {
        FilterInput { attributes, body, attribute_values: OnceCell::new(), parsed_body: OnceCell::new() }
    }

    /// Each attribute's values as JSON values: a `String` one string, a `Number` one number
    /// (none if it does not parse), a `String.Array` its elements (none if it is not a JSON
    /// array); `Binary` attributes are left out.
    fn attribute_values(&self) -> &BTreeMap<&'a str, Vec<Value>> {
        self.attribute_values.get_or_init(|| {
            self.attributes
                .iter()
                .filter_map(|(name, attribute)| Some((name.as_str(), values_of(attribute)?)))
                .collect()
        })
    }

    /// Every (attribute, string value) the message carries: a `String` attribute's value and
    /// each string of a `String.Array`'s. What an index of exact requirements looks up.
    pub fn string_values(&self) -> impl Iterator<Item = (&'a str, &str)> + '_ {
        self.attribute_values()
            .iter()
            .flat_map(|(name, values)| values.iter().filter_map(Value::as_str).map(move |value| (*name, value)))
    }

    /// The body as a JSON object, or `None` when it is not one (such a message matches no
    /// policy of scope `MessageBody`).
    fn body_object(&self) -> Option<&Value> {
        self.parsed_body.get_or_init(|| serde_json::from_str::<Value>(self.body).ok().filter(Value::is_object)).as_ref()
    }
}

fn values_of(attribute: &AttributeValue) -> Option<Vec<Value>> {
    let text = attribute.string_value.as_deref()?;
    if attribute.data_type == "String.Array" {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(elements)) => Some(elements),
            _ => Some(Vec::new()),
        };
    }
    match attribute.data_type.split('.').next() {
        Some("String") => Some(vec![Value::String(text.to_string())]),
        Some("Number") => {
            let number = text.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64);
            Some(number.map(Value::Number).into_iter().collect())
        }
        _ => None,
    }
}

impl FilterPolicy {
    /// Parses a policy as `Subscribe` and `SetSubscriptionAttributes` receive it.
    pub fn parse(json: &str, scope: FilterScope) -> Result<FilterPolicy, FilterPolicyError> {
        parse::parse(json, scope)
    }

    pub fn scope(&self) -> FilterScope {
        self.scope
    }

    /// An attribute and strings, one of which a message must carry as that attribute's value
    /// for the policy to match: a key of the policy's top level (which every match must meet,
    /// whatever its `$or`s) whose conditions are all exact strings. `None` in the body's scope
    /// or when no key is of that kind. What lets a topic look up the subscriptions a message
    /// may match instead of trying every one.
    pub fn required_strings(&self) -> Option<(&str, Vec<&str>)> {
        if self.scope != FilterScope::MessageAttributes {
            return None;
        }
        self.root.keys.iter().find_map(|(key, rule)| {
            let Rule::Conditions(conditions) = rule else {
                return None;
            };
            let strings: Option<Vec<&str>> = conditions
                .iter()
                .map(|condition| match condition {
                    Condition::Exact(Exact::String(text)) => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            strings.filter(|strings| !strings.is_empty()).map(|strings| (key.as_str(), strings))
        })
    }

    /// Does the subscription take `message`?
    pub fn matches(&self, message: &FilterInput<'_>) -> bool {
        match self.scope {
            FilterScope::MessageAttributes => {
                // AWS: `exists: false` never matches a message that has no attributes at all.
                (!message.attributes.is_empty() || !self.root.has_exists_false())
                    && self.root.matches(&attribute_lookup(message.attribute_values()), &mut Vec::new())
            }
            FilterScope::MessageBody => match message.body_object() {
                Some(body) => self.root.matches(&body_lookup(body), &mut Vec::new()),
                None => false,
            },
        }
    }
}

/// The values of an attribute (a path of one key: attribute policies are flat).
fn attribute_lookup<'m>(values: &'m BTreeMap<&str, Vec<Value>>) -> impl Fn(&[&str], &mut Vec<Leaf<'m>>) + 'm {
    move |path, out| {
        if let [name] = path {
            out.extend(values.get(*name).into_iter().flatten().filter_map(leaf_of));
        }
    }
}

/// The values at a path of keys in a body.
fn body_lookup<'m>(body: &'m Value) -> impl Fn(&[&str], &mut Vec<Leaf<'m>>) + 'm {
    move |path, out| body_leaves(body, path, out)
}

impl Conjunction {
    /// `lookup` collects the values at a path of keys; `path` is the path to this conjunction,
    /// one buffer for the whole walk, left as it was found.
    fn matches<'m, 'p, F>(&'p self, lookup: &F, path: &mut Vec<&'p str>) -> bool
    where
        F: Fn(&[&str], &mut Vec<Leaf<'m>>),
    {
        let mut values = Vec::new();
        for (key, rule) in &self.keys {
            path.push(key);
            let matched = match rule {
                Rule::Nested(inner) => inner.matches(lookup, path),
                Rule::Conditions(conditions) => {
                    values.clear();
                    lookup(path, &mut values);
                    conditions.iter().any(|condition| condition.matches(&values))
                }
            };
            path.pop();
            if !matched {
                return false;
            }
        }
        self.any_of.iter().all(|branches| branches.iter().any(|branch| branch.matches(lookup, path)))
    }

    fn has_exists_false(&self) -> bool {
        let here = self.keys.iter().any(|(_, rule)| match rule {
            Rule::Conditions(conditions) => conditions.contains(&Condition::Exists(false)),
            Rule::Nested(inner) => inner.has_exists_false(),
        });
        here || self.any_of.iter().flatten().any(Conjunction::has_exists_false)
    }
}

impl Condition {
    /// Does this condition hold for a key with `values` (none: the key is absent)?
    fn matches(&self, values: &[Leaf<'_>]) -> bool {
        match self {
            Condition::Exists(wanted) => values.iter().any(|value| *value != Leaf::Null) == *wanted,
            Condition::AnythingBut(but) => !values.is_empty() && values.iter().any(|value| but.admits(*value)),
            _ => values.iter().any(|value| self.matches_value(*value)),
        }
    }

    fn matches_value(&self, value: Leaf<'_>) -> bool {
        match (self, value) {
            (Condition::Exact(exact), value) => exact.equals(value),
            (Condition::Prefix(prefix), Leaf::String(text)) => text.starts_with(prefix.as_str()),
            (Condition::Suffix(suffix), Leaf::String(text)) => text.ends_with(suffix.as_str()),
            (Condition::EqualsIgnoreCase(wanted), Leaf::String(text)) => text.to_lowercase() == *wanted,
            (Condition::Numeric(range), Leaf::Number(number)) => range.contains(number),
            (Condition::Cidr(network), Leaf::String(text)) => {
                text.parse::<IpAddr>().is_ok_and(|address| network.contains(address))
            }
            _ => false,
        }
    }
}

impl Exact {
    fn equals(&self, value: Leaf<'_>) -> bool {
        match (self, value) {
            (Exact::String(wanted), Leaf::String(text)) => wanted == text,
            (Exact::Number(wanted), Leaf::Number(number)) => same_number(*wanted, number),
            (Exact::Bool(wanted), Leaf::Bool(flag)) => *wanted == flag,
            (Exact::Null, Leaf::Null) => true,
            _ => false,
        }
    }
}

/// Numbers compare with five decimals of precision, as AWS documents.
fn same_number(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.000_005
}

impl AnythingBut {
    fn admits(&self, value: Leaf<'_>) -> bool {
        match self {
            AnythingBut::Values(excluded) => !excluded.iter().any(|exact| exact.equals(value)),
            AnythingBut::Prefix(prefix) => !matches!(value, Leaf::String(text) if text.starts_with(prefix.as_str())),
        }
    }
}

impl NumericRange {
    fn contains(&self, number: f64) -> bool {
        let above = self.lower.is_none_or(|bound| {
            if bound.inclusive {
                number >= bound.value || same_number(number, bound.value)
            } else {
                number > bound.value && !same_number(number, bound.value)
            }
        });
        let below = self.upper.is_none_or(|bound| {
            if bound.inclusive {
                number <= bound.value || same_number(number, bound.value)
            } else {
                number < bound.value && !same_number(number, bound.value)
            }
        });
        above && below
    }
}

impl Network {
    fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                masked(u128::from(network.to_bits()), 32, self.prefix_bits)
                    == masked(u128::from(address.to_bits()), 32, self.prefix_bits)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                masked(network.to_bits(), 128, self.prefix_bits) == masked(address.to_bits(), 128, self.prefix_bits)
            }
            _ => false,
        }
    }
}

/// The top `prefix_bits` of an address `width` bits wide.
fn masked(bits: u128, width: u32, prefix_bits: u8) -> u128 {
    let kept = u32::from(prefix_bits).min(width);
    if kept == 0 {
        return 0;
    }
    bits >> (width - kept)
}

/// A JSON value as one value to match; arrays and objects are not one.
fn leaf_of(value: &Value) -> Option<Leaf<'_>> {
    match value {
        Value::String(text) => Some(Leaf::String(text)),
        Value::Number(number) => number.as_f64().map(Leaf::Number),
        Value::Bool(flag) => Some(Leaf::Bool(*flag)),
        Value::Null => Some(Leaf::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Every leaf value at `path` in `value`, walking into arrays at any level.
fn body_leaves<'m>(value: &'m Value, path: &[&str], out: &mut Vec<Leaf<'m>>) {
    match value {
        Value::Array(elements) => {
            for element in elements {
                body_leaves(element, path, out);
            }
        }
        Value::Object(object) => {
            if let Some((first, rest)) = path.split_first() {
                if let Some(inner) = object.get(*first) {
                    body_leaves(inner, rest, out);
                }
            }
        }
        leaf if path.is_empty() => out.extend(leaf_of(leaf)),
        _ => {}
    }
}
