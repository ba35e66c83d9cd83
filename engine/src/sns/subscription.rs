//! A subscription: where it delivers, its attributes as given and the filter policy parsed from
//! them, whether it is confirmed; and the checks of those attributes, which Subscribe and
//! SetSubscriptionAttributes (`subscriptions`) share.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::arn::{queue_name_from_sqs_arn, subscription_arn, topic_arn};
use super::filter::{FilterPolicy, FilterScope};
use crate::config::EngineConfig;
use crate::error::{SnsError, SnsResult};

/// Where a subscription delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Sqs,
    Http,
    Https,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Sqs => "sqs",
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    /// The protocol Subscribe names; the ones AWS has and Shoal does not deliver to are refused
    /// as such, anything else as AWS refuses an unknown protocol.
    pub fn parse(name: &str) -> SnsResult<Protocol> {
        match name {
            "sqs" => Ok(Protocol::Sqs),
            "http" => Ok(Protocol::Http),
            "https" => Ok(Protocol::Https),
            "email" | "email-json" | "sms" | "lambda" | "application" | "firehose" => Err(SnsError::invalid_parameter(
                format!("Protocol Reason: Shoal delivers to sqs, http and https endpoints, not {name}"),
            )),
            _ => Err(SnsError::invalid_parameter(format!("Amazon SNS does not support this protocol string: {name}"))),
        }
    }
}

/// Data worked out from a value beside it: never serialized, rebuilt after decoding, and equal
/// to any other (it is a function of what it sits beside).
#[derive(Debug, Clone, Default)]
pub struct Derived<T>(pub T);

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub(super) protocol: Protocol,
    pub(super) endpoint: String,
    /// The attributes set on it, as given (what GetSubscriptionAttributes shows).
    pub(super) attributes: BTreeMap<String, String>,
    /// The token that confirms it (HTTP/S), chosen by the node that took the Subscribe.
    pub(super) token: String,
    /// Until when an unconfirmed subscription can be confirmed; `None` once confirmed.
    pub(super) pending_until_ms: Option<u64>,
    pub(super) created_ms: u64,
    /// The filter policy parsed from `attributes`.
    #[serde(skip)]
    pub(super) filter: Derived<Option<Arc<FilterPolicy>>>,
    /// The dead-letter queue `attributes`' redrive policy names, so a delivery reads no JSON.
    #[serde(skip)]
    pub(super) dead_letter_queue: Derived<Option<String>>,
}

/// Attributes Subscribe and SetSubscriptionAttributes take.
pub(super) const SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];

pub(super) fn is_boolean(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
}

/// `reason` prefixed as the action that refuses it words it: Subscribe says "Attributes
/// Reason: ", SetSubscriptionAttributes names only the attribute.
#[derive(Clone, Copy)]
pub(super) enum Action {
    Subscribe,
    SetAttributes,
}

impl Action {
    pub(super) fn refuse(self, attribute: &str, reason: impl std::fmt::Display) -> SnsError {
        match self {
            Action::Subscribe => SnsError::invalid_parameter(format!("Attributes Reason: {attribute}: {reason}")),
            Action::SetAttributes => SnsError::invalid_parameter(format!("{attribute}: {reason}")),
        }
    }
}

/// Checks every attribute's value but the filter policy's (which `parse_filter` parses in the
/// scope of all the subscription's attributes).
pub(super) fn check_attributes(
    config: &EngineConfig,
    protocol: Protocol,
    endpoint: &str,
    attributes: &BTreeMap<String, String>,
    action: Action,
) -> SnsResult<()> {
    for (name, value) in attributes {
        check_attribute(config, protocol, endpoint, name, value, action)?;
    }
    Ok(())
}

/// Checks one attribute's value (but a filter policy's; see [`check_attributes`]).
pub(super) fn check_attribute(
    config: &EngineConfig,
    protocol: Protocol,
    endpoint: &str,
    name: &str,
    value: &str,
    action: Action,
) -> SnsResult<()> {
    if !SETTABLE.contains(&name) {
        return Err(match action {
            Action::Subscribe => SnsError::invalid_parameter(format!("Attributes Reason: Unknown attribute {name}")),
            Action::SetAttributes => SnsError::invalid_parameter("AttributeName"),
        });
    }
    match name {
        "RawMessageDelivery" if !is_boolean(value) => Err(action.refuse(name, "must be true or false")),
        "FilterPolicyScope" if !matches!(value, "MessageAttributes" | "MessageBody") => {
            Err(action.refuse(name, "must be MessageAttributes or MessageBody"))
        }
        "RedrivePolicy" if !value.is_empty() => {
            let queue = dead_letter_queue_of(config, value).map_err(|reason| action.refuse(name, reason))?;
            // A FIFO queue's messages (group and deduplication ids) need a FIFO dead-letter
            // queue, and a FIFO dead-letter queue takes nothing else.
            let fifo_endpoint = protocol == Protocol::Sqs && endpoint.ends_with(".fifo");
            if queue.ends_with(".fifo") == fifo_endpoint {
                return Ok(());
            }
            let reason = if fifo_endpoint {
                "must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic"
            } else {
                "must use a standard queue as DLQ for a subscription of a standard queue or endpoint"
            };
            Err(action.refuse(name, reason))
        }
        "DeliveryPolicy" if !value.is_empty() && !matches!(protocol, Protocol::Http | Protocol::Https) => {
            Err(action.refuse(name, "only HTTP/S subscriptions have a delivery policy"))
        }
        "DeliveryPolicy"
            if !value.is_empty() && !matches!(serde_json::from_str(value), Ok(serde_json::Value::Object(_))) =>
        {
            Err(action.refuse(name, "must be a JSON object"))
        }
        _ => Ok(()),
    }
}

fn scope_of(attributes: &BTreeMap<String, String>) -> FilterScope {
    match attributes.get("FilterPolicyScope").map(String::as_str) {
        Some("MessageBody") => FilterScope::MessageBody,
        _ => FilterScope::MessageAttributes,
    }
}

/// The filter policy `attributes` hold, parsed in their scope (`None` when there is none).
pub(super) fn parse_filter(attributes: &BTreeMap<String, String>) -> Result<Option<Arc<FilterPolicy>>, String> {
    match attributes.get("FilterPolicy").filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => {
            FilterPolicy::parse(text, scope_of(attributes)).map(|policy| Some(Arc::new(policy))).map_err(|e| e.0)
        }
    }
}

/// The dead-letter queue `attributes`' redrive policy names: the name in its ARN, which was
/// checked to be a queue of this account and region when the policy was set.
pub(super) fn named_dead_letter_queue(attributes: &BTreeMap<String, String>) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(attributes.get("RedrivePolicy")?).ok()?;
    let arn = policy.get("deadLetterTargetArn")?.as_str()?;
    arn.rsplit_once(':').map(|(_, name)| name.to_string())
}

/// The queue a redrive policy names as the dead-letter queue, or why it names none.
pub fn dead_letter_queue_of(config: &EngineConfig, policy: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(policy).map_err(|_| "failed to parse JSON".to_string())?;
    let arn = value
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| "deadLetterTargetArn is missing".to_string())?;
    queue_name_from_sqs_arn(config, arn)
        .map(str::to_string)
        .ok_or_else(|| format!("deadLetterTargetArn is not an SQS queue ARN of this account and region: {arn}"))
}

impl Subscription {
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn is_pending(&self) -> bool {
        self.pending_until_ms.is_some()
    }

    pub fn filter(&self) -> Option<&FilterPolicy> {
        self.filter.0.as_deref()
    }

    pub fn is_raw(&self) -> bool {
        self.attributes.get("RawMessageDelivery").is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    /// The dead-letter queue its redrive policy names.
    pub fn dead_letter_queue(&self) -> Option<&str> {
        self.dead_letter_queue.0.as_deref()
    }

    /// Parses what a decoded subscription keeps only in text.
    pub(super) fn rebuild(&mut self) {
        // Checked when it was set, so it parses; were it not to, nothing would be filtered out
        // rather than everything.
        self.filter = Derived(parse_filter(&self.attributes).ok().flatten());
        self.dead_letter_queue = Derived(named_dead_letter_queue(&self.attributes));
    }

    /// Every attribute GetSubscriptionAttributes returns.
    pub(super) fn all_attributes(&self, config: &EngineConfig, topic: &str, id: &str) -> BTreeMap<String, String> {
        let mut all = BTreeMap::new();
        all.insert("SubscriptionArn".to_string(), subscription_arn(&config.region, &config.account_id, topic, id));
        all.insert("TopicArn".to_string(), topic_arn(&config.region, &config.account_id, topic));
        all.insert("Owner".to_string(), config.account_id.clone());
        all.insert("Protocol".to_string(), self.protocol.name().to_string());
        all.insert("Endpoint".to_string(), self.endpoint.clone());
        all.insert("PendingConfirmation".to_string(), self.is_pending().to_string());
        all.insert("ConfirmationWasAuthenticated".to_string(), (self.protocol == Protocol::Sqs).to_string());
        all.insert("RawMessageDelivery".to_string(), "false".to_string());
        for (name, value) in &self.attributes {
            all.insert(name.clone(), value.clone());
        }
        if self.filter().is_some() && !all.contains_key("FilterPolicyScope") {
            all.insert("FilterPolicyScope".to_string(), "MessageAttributes".to_string());
        }
        if matches!(self.protocol, Protocol::Http | Protocol::Https) {
            let policy = self.attributes.get("DeliveryPolicy").filter(|policy| !policy.is_empty());
            let effective = match policy {
                Some(policy) => policy.clone(),
                None => DEFAULT_DELIVERY_POLICY.to_string(),
            };
            all.insert("EffectiveDeliveryPolicy".to_string(), effective);
        }
        all
    }
}

/// The delivery policy of a topic that sets none (AWS's default for HTTP/S).
pub const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;
