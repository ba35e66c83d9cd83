//! Topics: creating them (idempotent for equal attributes and tags), their attributes and tags,
//! deleting them, and the reads GetTopicAttributes and ListTopics make.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::EngineConfig;
use crate::error::{SnsError, SnsResult};
use crate::limits;
use crate::policy::{self, PolicyShape};

use super::arn::topic_arn;
use super::fifo::FifoTopics;
use super::index::FilterIndex;
use super::subscription::{Derived, Protocol, Subscription, DEFAULT_DELIVERY_POLICY};

/// The topics of one data group. Written to snapshots after the rest of the engine (snapshot
/// format 5; see `shoal_raft::format`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnsState {
    pub(super) topics: BTreeMap<String, Topic>,
    /// FIFO topics' deduplication and sequence numbers. Not in this struct's bincode: snapshot
    /// format 7 writes it after the rest (see `shoal_raft::format`).
    #[serde(skip)]
    pub(super) fifo: FifoTopics,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The attributes set on it, by name, as given (the defaults are not stored).
    attributes: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    created_ms: u64,
    /// By id.
    pub(super) subscriptions: BTreeMap<String, Subscription>,
    /// How many were unsubscribed (`SubscriptionsDeleted`).
    pub(super) deleted_subscriptions: u64,
    /// The subscriptions by what their filter policies require.
    #[serde(skip)]
    pub(super) index: Derived<FilterIndex>,
    /// The subscriptions by protocol and endpoint (Subscribe's idempotence).
    #[serde(skip)]
    pub(super) endpoints: Derived<BTreeMap<(Protocol, String), String>>,
}

/// Attributes CreateTopic and SetTopicAttributes take.
const SETTABLE: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "FifoTopic",
    "ContentBasedDeduplication",
    "ArchivePolicy",
    "FifoThroughputScope",
    // Delivery status logging: stored and shown (nothing is logged to CloudWatch).
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "SQSFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "LambdaFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "FirehoseFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ApplicationFailureFeedbackRoleArn",
];

/// Attributes whose empty value means "back to the default" rather than an empty value.
const EMPTY_RESETS: &[&str] = &["Policy", "DeliveryPolicy", "ArchivePolicy"];

/// Attributes only CreateTopic takes.
const CREATE_ONLY: &[&str] = &["FifoTopic"];

fn is_true(attributes: &BTreeMap<String, String>, name: &str) -> bool {
    attributes.get(name).is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// A topic's name: 1 to 256 of `A-Z a-z 0-9 _ -`, and for a FIFO topic (and only for one) the
/// suffix `.fifo` within those 256.
fn check_name(name: &str, fifo: bool) -> SnsResult<()> {
    let stem = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    let valid = stem.is_some_and(|stem| {
        !stem.is_empty()
            && name.len() <= limits::TOPIC_NAME_LENGTH_MAX
            && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err(SnsError::invalid_parameter("Topic Name"))
    }
}

/// One attribute's value, as CreateTopic and SetTopicAttributes check it.
fn check_attribute(name: &str, value: &str, fifo: bool) -> SnsResult<()> {
    let reason = |reason: &str| Err(SnsError::invalid_parameter(format!("Attributes Reason: {name}: {reason}")));
    match name {
        "SignatureVersion" if !matches!(value, "1" | "2") => reason("must be 1 or 2"),
        "TracingConfig" if !matches!(value, "PassThrough" | "Active") => reason("must be PassThrough or Active"),
        "FifoTopic" | "ContentBasedDeduplication"
            if !matches!(value.to_ascii_lowercase().as_str(), "true" | "false") =>
        {
            reason("must be true or false")
        }
        "ContentBasedDeduplication" if !fifo && value.eq_ignore_ascii_case("true") => {
            reason("content-based deduplication is only for FIFO topics")
        }
        "FifoThroughputScope" if !fifo => reason("only FIFO topics have a throughput scope"),
        "FifoThroughputScope" if !matches!(value, "Topic" | "MessageGroup") => reason("must be Topic or MessageGroup"),
        "ArchivePolicy" if !fifo => reason("only FIFO topics can be archived"),
        "Policy" if value.len() > limits::TOPIC_POLICY_BYTES_MAX => reason("is too long"),
        "Policy" | "DeliveryPolicy" | "ArchivePolicy" if !value.is_empty() => {
            match serde_json::from_str::<serde_json::Value>(value) {
                Ok(serde_json::Value::Object(_)) => Ok(()),
                _ => reason("must be a JSON object"),
            }
        }
        "DisplayName" if value.chars().count() > limits::TOPIC_DISPLAY_NAME_LENGTH_MAX => reason("is too long"),
        _ if name.ends_with("SampleRate") && !value.parse::<u8>().is_ok_and(|rate| rate <= 100) => {
            reason("must be an integer from 0 to 100")
        }
        _ => Ok(()),
    }
}

fn check_tags(tags: &BTreeMap<String, String>) -> SnsResult<()> {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > limits::TAG_KEY_LENGTH_MAX {
            return Err(SnsError::invalid_parameter("Tags Reason: a tag key must be 1 to 128 characters"));
        }
        if value.chars().count() > limits::TAG_VALUE_LENGTH_MAX {
            return Err(SnsError::invalid_parameter("Tags Reason: a tag value must be at most 256 characters"));
        }
    }
    Ok(())
}

impl SnsState {
    pub fn new() -> SnsState {
        SnsState::default()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Does it hold subscriptions (which snapshot format 5 cannot keep)?
    pub fn has_subscriptions(&self) -> bool {
        self.topics.values().any(|topic| !topic.subscriptions.is_empty() || topic.deleted_subscriptions > 0)
    }

    /// Topics without subscriptions, from what snapshot format 5 kept of each: its name,
    /// attributes, tags and creation time.
    pub fn from_topic_parts(
        parts: impl IntoIterator<Item = (String, BTreeMap<String, String>, BTreeMap<String, String>, u64)>,
    ) -> SnsState {
        let topics = parts.into_iter().map(|(name, attributes, tags, created_ms)| {
            let topic = Topic {
                attributes,
                tags,
                created_ms,
                subscriptions: BTreeMap::new(),
                deleted_subscriptions: 0,
                index: Derived::default(),
                endpoints: Derived::default(),
            };
            (name, topic)
        });
        SnsState { topics: topics.collect(), fifo: FifoTopics::default() }
    }

    /// What snapshot format 5 keeps of each topic (see [`SnsState::from_topic_parts`]).
    #[allow(clippy::type_complexity)]
    pub fn topic_parts(
        &self,
    ) -> impl Iterator<Item = (&String, &BTreeMap<String, String>, &BTreeMap<String, String>, u64)> {
        self.topics.iter().map(|(name, topic)| (name, &topic.attributes, &topic.tags, topic.created_ms))
    }

    pub fn topic(&self, name: &str) -> SnsResult<&Topic> {
        self.topics.get(name).ok_or_else(SnsError::topic_not_found)
    }

    /// The names of the topics, in order, from `after` (exclusive).
    pub fn topic_names_after<'a>(&'a self, after: Option<&'a str>) -> impl Iterator<Item = &'a str> + 'a {
        let start = match after {
            Some(name) => std::ops::Bound::Excluded(name),
            None => std::ops::Bound::Unbounded,
        };
        self.topics.range::<str, _>((start, std::ops::Bound::Unbounded)).map(|(name, _)| name.as_str())
    }

    /// CreateTopic: a new topic, or the existing one when nothing given differs from it.
    pub fn create_topic(
        &mut self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> SnsResult<()> {
        let fifo = is_true(attributes, "FifoTopic");
        check_name(name, fifo || name.ends_with(".fifo"))?;
        if fifo != name.ends_with(".fifo") {
            return Err(SnsError::invalid_parameter("Topic Name"));
        }
        for (attribute, value) in attributes {
            if !SETTABLE.contains(&attribute.as_str()) {
                return Err(SnsError::invalid_parameter(format!("Attributes Reason: Unknown attribute {attribute}")));
            }
            check_attribute(attribute, value, fifo)?;
        }
        check_tags(tags)?;
        if let Some(existing) = self.topics.get(name) {
            if attributes.iter().any(|(attribute, value)| !existing.holds(attribute, value)) {
                return Err(SnsError::invalid_parameter(
                    "Attributes Reason: Topic already exists with different attributes",
                ));
            }
            if tags.iter().any(|(key, value)| existing.tags.get(key).is_some_and(|held| held != value)) {
                return Err(SnsError::invalid_parameter("Tags Reason: Topic already exists with different tags"));
            }
            let merged = existing.with_tags(tags)?;
            self.topics.get_mut(name).expect("checked above").tags = merged;
            return Ok(());
        }
        if tags.len() > limits::TOPIC_TAGS_MAX {
            return Err(SnsError::TagLimitExceeded);
        }
        if self.topics.len() >= limits::TOPICS_PER_GROUP_MAX {
            return Err(SnsError::invalid_parameter("Topic Reason: the group holds as many topics as it can"));
        }
        let topic = Topic {
            attributes: attributes.clone(),
            tags: tags.clone(),
            created_ms: now_ms,
            subscriptions: BTreeMap::new(),
            deleted_subscriptions: 0,
            index: Derived::default(),
            endpoints: Derived::default(),
        };
        self.topics.insert(name.to_string(), topic);
        Ok(())
    }

    /// DeleteTopic: idempotent, a missing topic is not an error.
    pub fn delete_topic(&mut self, name: &str) {
        self.topics.remove(name);
        self.fifo.forget(name);
    }

    /// FIFO topics' deduplication and sequence state, for snapshots (written after the rest).
    pub fn fifo_topics(&self) -> &FifoTopics {
        &self.fifo
    }

    /// Puts FIFO topics' state read from a snapshot in place.
    pub fn set_fifo_topics(&mut self, fifo: FifoTopics) {
        self.fifo = fifo;
    }

    pub fn set_topic_attribute(&mut self, name: &str, attribute: &str, value: &str) -> SnsResult<()> {
        let topic = self.topics.get_mut(name).ok_or_else(SnsError::topic_not_found)?;
        if !SETTABLE.contains(&attribute) || CREATE_ONLY.contains(&attribute) {
            return Err(SnsError::invalid_parameter("AttributeName"));
        }
        check_attribute(attribute, value, topic.is_fifo())?;
        if value.is_empty() && EMPTY_RESETS.contains(&attribute) {
            topic.attributes.remove(attribute);
        } else {
            topic.attributes.insert(attribute.to_string(), value.to_string());
        }
        Ok(())
    }

    pub fn tag_topic(&mut self, name: &str, tags: &BTreeMap<String, String>) -> SnsResult<()> {
        let topic = self.topics.get_mut(name).ok_or(SnsError::ResourceNotFound)?;
        check_tags(tags)?;
        topic.tags = topic.with_tags(tags)?;
        Ok(())
    }

    /// AddPermission: a statement allowing `account_ids` the SNS `actions` on the topic, under
    /// `label` (its `Sid`), added to the topic's policy (the default policy if it has none).
    pub fn add_permission(
        &mut self,
        config: &EngineConfig,
        name: &str,
        label: &str,
        account_ids: &[String],
        actions: &[String],
    ) -> SnsResult<()> {
        let topic = self.topics.get_mut(name).ok_or_else(SnsError::topic_not_found)?;
        if !policy::is_permission_label(label) {
            return Err(SnsError::invalid_parameter("Label"));
        }
        if account_ids.is_empty() || account_ids.iter().any(|id| id.is_empty()) {
            return Err(SnsError::invalid_parameter("AWSAccountId"));
        }
        if actions.is_empty() || actions.iter().any(|action| !is_sns_action(action)) {
            return Err(SnsError::invalid_parameter("ActionName"));
        }
        let arn = topic_arn(&config.region, &config.account_id, name);
        let mut policy = topic.policy(config, &arn)?;
        let statements = statements_of(&mut policy)?;
        if policy::has_statement(statements, label) {
            return Err(SnsError::invalid_parameter("Statement already exists"));
        }
        statements.push(policy::allow_statement(label, account_ids, "SNS", actions, &arn));
        let text = policy.to_string();
        if text.len() > limits::TOPIC_POLICY_BYTES_MAX {
            return Err(SnsError::invalid_parameter("Policy Reason: the policy would be too long"));
        }
        topic.attributes.insert("Policy".to_string(), text);
        Ok(())
    }

    /// RemovePermission: the statement `label` out of the topic's policy.
    pub fn remove_permission(&mut self, config: &EngineConfig, name: &str, label: &str) -> SnsResult<()> {
        let topic = self.topics.get_mut(name).ok_or_else(SnsError::topic_not_found)?;
        let arn = topic_arn(&config.region, &config.account_id, name);
        let mut policy = topic.policy(config, &arn)?;
        let statements = statements_of(&mut policy)?;
        if !policy::remove_statement(statements, label) {
            return Err(SnsError::invalid_parameter(format!("Label Reason: no statement is labelled {label}")));
        }
        topic.attributes.insert("Policy".to_string(), policy.to_string());
        Ok(())
    }

    pub fn untag_topic(&mut self, name: &str, keys: &[String]) -> SnsResult<()> {
        let topic = self.topics.get_mut(name).ok_or(SnsError::ResourceNotFound)?;
        for key in keys {
            topic.tags.remove(key);
        }
        Ok(())
    }
}

impl Topic {
    pub fn is_fifo(&self) -> bool {
        is_true(&self.attributes, "FifoTopic")
    }

    pub fn deduplicates_by_content(&self) -> bool {
        is_true(&self.attributes, "ContentBasedDeduplication")
    }

    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// Its tags with `tags` added (replacing equal keys), within the limit.
    fn with_tags(&self, tags: &BTreeMap<String, String>) -> SnsResult<BTreeMap<String, String>> {
        let mut merged = self.tags.clone();
        merged.extend(tags.iter().map(|(key, value)| (key.clone(), value.clone())));
        if merged.len() > limits::TOPIC_TAGS_MAX {
            return Err(SnsError::TagLimitExceeded);
        }
        Ok(merged)
    }

    pub(super) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// The topic's policy as JSON: the one set, or the default.
    fn policy(&self, config: &EngineConfig, arn: &str) -> SnsResult<serde_json::Value> {
        let text = match self.attribute("Policy") {
            Some(text) => text.to_string(),
            None => default_policy(config, arn),
        };
        serde_json::from_str(&text)
            .map_err(|_| SnsError::invalid_parameter("Policy Reason: the stored policy is not JSON"))
    }

    /// Does the topic have `value` for `attribute`, set or by default (booleans in any case)?
    /// What a repeated CreateTopic compares.
    fn holds(&self, attribute: &str, value: &str) -> bool {
        let default = match attribute {
            "FifoTopic" | "ContentBasedDeduplication" => "false",
            "SignatureVersion" => "1",
            _ => "",
        };
        let held = self.attribute(attribute).unwrap_or(default);
        match attribute {
            "FifoTopic" | "ContentBasedDeduplication" => held.eq_ignore_ascii_case(value),
            _ => held == value,
        }
    }

    /// Every attribute GetTopicAttributes returns: those set, the defaults of those not set,
    /// and the computed ones.
    pub fn attributes(&self, config: &EngineConfig, name: &str) -> BTreeMap<String, String> {
        let arn = topic_arn(&config.region, &config.account_id, name);
        let mut all = BTreeMap::new();
        all.insert("TopicArn".to_string(), arn.clone());
        all.insert("Owner".to_string(), config.account_id.clone());
        all.insert("DisplayName".to_string(), String::new());
        all.insert("Policy".to_string(), default_policy(config, &arn));
        all.insert("EffectiveDeliveryPolicy".to_string(), DEFAULT_DELIVERY_POLICY.to_string());
        let (confirmed, pending) = self.subscription_counts();
        all.insert("SubscriptionsConfirmed".to_string(), confirmed.to_string());
        all.insert("SubscriptionsPending".to_string(), pending.to_string());
        all.insert("SubscriptionsDeleted".to_string(), self.deleted_subscriptions().to_string());
        if self.is_fifo() {
            all.insert("FifoTopic".to_string(), "true".to_string());
            all.insert("ContentBasedDeduplication".to_string(), "false".to_string());
        }
        for (attribute, value) in &self.attributes {
            all.insert(attribute.clone(), value.clone());
        }
        if let Some(policy) = self.attribute("DeliveryPolicy").filter(|policy| !policy.is_empty()) {
            all.insert("EffectiveDeliveryPolicy".to_string(), policy.to_string());
        }
        all
    }
}

fn statements_of(policy: &mut serde_json::Value) -> SnsResult<&mut Vec<serde_json::Value>> {
    crate::policy::statements(policy).map_err(|shape| match shape {
        PolicyShape::NotAnObject => SnsError::invalid_parameter("Policy"),
        PolicyShape::NoStatementList => SnsError::invalid_parameter("Policy Reason: Statement is not a list"),
    })
}

/// SNS's action names, as AddPermission takes them.
fn is_sns_action(name: &str) -> bool {
    const ACTIONS: &[&str] = &[
        "Publish",
        "Subscribe",
        "Receive",
        "GetTopicAttributes",
        "SetTopicAttributes",
        "AddPermission",
        "RemovePermission",
        "DeleteTopic",
        "ListSubscriptionsByTopic",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ];
    ACTIONS.contains(&name)
}

/// The access policy of a topic that sets none: its owner may do everything to it.
fn default_policy(config: &EngineConfig, arn: &str) -> String {
    let actions = [
        "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes",
        "SNS:AddPermission",
        "SNS:RemovePermission",
        "SNS:DeleteTopic",
        "SNS:Subscribe",
        "SNS:ListSubscriptionsByTopic",
        "SNS:Publish",
    ];
    serde_json::json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": actions,
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": config.account_id}},
        }],
    })
    .to_string()
}
