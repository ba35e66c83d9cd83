//! The subscription actions: Subscribe (idempotent per protocol and endpoint), confirming
//! HTTP/S subscriptions, SetSubscriptionAttributes, unsubscribing, and the listings. A
//! subscription lives in its topic (`subscription`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::arn::queue_name_from_sqs_arn;
use super::filter::FilterInput;
use super::index::FilterIndex;
use super::subscription::{
    check_attribute, check_attributes, named_dead_letter_queue, parse_filter, Action, Derived, Protocol, Subscription,
};
use super::topics::{SnsState, Topic};
use crate::command::Subscribed;
use crate::config::EngineConfig;
use crate::error::{SnsError, SnsResult};
use crate::limits;

/// One row of ListSubscriptions and ListSubscriptionsByTopic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRow {
    pub topic: String,
    pub subscription_id: String,
    pub protocol: Protocol,
    pub endpoint: String,
    pub pending: bool,
}

/// Does `endpoint` suit `protocol`?
fn check_endpoint(config: &EngineConfig, topic: &Topic, protocol: Protocol, endpoint: &str) -> SnsResult<()> {
    match protocol {
        Protocol::Sqs => {
            let Some(queue) = queue_name_from_sqs_arn(config, endpoint) else {
                return Err(SnsError::invalid_parameter("SQS endpoint ARN"));
            };
            if queue.ends_with(".fifo") && !topic.is_fifo() {
                return Err(SnsError::invalid_parameter(
                    "Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
                ));
            }
            Ok(())
        }
        Protocol::Http | Protocol::Https => {
            if topic.is_fifo() {
                return Err(SnsError::invalid_parameter("Protocol Reason: FIFO topics deliver only to SQS queues"));
            }
            let scheme = if protocol == Protocol::Http { "http://" } else { "https://" };
            let valid = endpoint.len() > scheme.len()
                && endpoint.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme))
                && endpoint.len() <= limits::SUBSCRIPTION_ENDPOINT_LENGTH_MAX;
            if valid {
                Ok(())
            } else {
                Err(SnsError::invalid_parameter("Endpoint must match the specified protocol"))
            }
        }
    }
}

impl Topic {
    /// The subscription `id`, or NotFound.
    pub fn subscription(&self, id: &str) -> SnsResult<&Subscription> {
        self.subscriptions.get(id).ok_or_else(subscription_not_found)
    }

    /// (confirmed, pending) subscriptions.
    pub(super) fn subscription_counts(&self) -> (usize, usize) {
        let pending = self.subscriptions.values().filter(|s| s.is_pending()).count();
        (self.subscriptions.len() - pending, pending)
    }

    pub(super) fn deleted_subscriptions(&self) -> u64 {
        self.deleted_subscriptions
    }

    /// Parses what decoded subscriptions keep only in text.
    pub(super) fn rebuild(&mut self) {
        self.subscriptions.values_mut().for_each(Subscription::rebuild);
        let mut index = FilterIndex::default();
        let mut endpoints = BTreeMap::new();
        for (id, subscription) in &self.subscriptions {
            index.insert(id, subscription);
            endpoints.insert((subscription.protocol, subscription.endpoint.clone()), id.clone());
        }
        self.index = Derived(index);
        self.endpoints = Derived(endpoints);
    }

    /// The subscriptions `message` may match (see `index`), in id order.
    pub fn candidates<'s>(&'s self, message: &FilterInput<'_>) -> impl Iterator<Item = (&'s str, &'s Subscription)> {
        self.index.0.candidates(message).into_iter().filter_map(|id| Some((id, self.subscriptions.get(id)?)))
    }

    fn find(&self, protocol: Protocol, endpoint: &str) -> Option<&str> {
        self.endpoints.0.get(&(protocol, endpoint.to_string())).map(String::as_str)
    }
}

fn subscription_not_found() -> SnsError {
    SnsError::NotFound("Subscription does not exist".to_string())
}

impl SnsState {
    fn topic_mut(&mut self, name: &str) -> SnsResult<&mut Topic> {
        self.topics.get_mut(name).ok_or_else(SnsError::topic_not_found)
    }

    /// Subscribe: a new subscription `id` (`sqs` confirmed at once, HTTP/S pending `token`), or
    /// the one the topic has for the same protocol and endpoint when the attributes given agree.
    #[allow(clippy::too_many_arguments)]
    pub fn subscribe(
        &mut self,
        config: &EngineConfig,
        topic_name: &str,
        id: &str,
        protocol: &str,
        endpoint: &str,
        attributes: &BTreeMap<String, String>,
        token: &str,
        now_ms: u64,
    ) -> SnsResult<Subscribed> {
        let topic = self.topic_mut(topic_name)?;
        let protocol = Protocol::parse(protocol)?;
        check_endpoint(config, topic, protocol, endpoint)?;
        check_attributes(config, protocol, endpoint, attributes, Action::Subscribe)?;
        let filter = parse_filter(attributes).map_err(|reason| Action::Subscribe.refuse("FilterPolicy", reason))?;
        if let Some(existing) = topic.find(protocol, endpoint) {
            let subscription = &topic.subscriptions[existing];
            let differs = attributes.iter().any(|(name, value)| {
                subscription.attributes.get(name).map_or(!is_default(name, value), |held| held != value)
            });
            if differs {
                return Err(SnsError::invalid_parameter("Subscription already exists with different attributes"));
            }
            return Ok(Subscribed { subscription_id: existing.to_string(), pending: subscription.is_pending() });
        }
        if id.is_empty() || id.len() > limits::SUBSCRIPTION_ID_LENGTH_MAX || id.contains(':') {
            return Err(SnsError::invalid_parameter("SubscriptionId"));
        }
        if topic.subscriptions.len() >= limits::SUBSCRIPTIONS_PER_TOPIC_MAX {
            return Err(SnsError::invalid_parameter("Topic Reason: the topic has as many subscriptions as it can"));
        }
        if filter.is_some() {
            let filtered = topic.subscriptions.values().filter(|s| s.filter().is_some()).count();
            if filtered >= limits::FILTER_POLICIES_PER_TOPIC_MAX {
                return Err(SnsError::invalid_parameter(
                    "Attributes Reason: FilterPolicy: the topic has as many filter policies as it can",
                ));
            }
        }
        let pending_until_ms = match protocol {
            Protocol::Sqs => None,
            Protocol::Http | Protocol::Https => Some(now_ms.saturating_add(limits::SUBSCRIPTION_TOKEN_VALID_MS)),
        };
        let subscription = Subscription {
            protocol,
            endpoint: endpoint.to_string(),
            attributes: attributes.clone(),
            token: token.to_string(),
            pending_until_ms,
            created_ms: now_ms,
            filter: Derived(filter),
            dead_letter_queue: Derived(named_dead_letter_queue(attributes)),
        };
        let pending = subscription.is_pending();
        topic.index.0.insert(id, &subscription);
        topic.endpoints.0.insert((protocol, endpoint.to_string()), id.to_string());
        topic.subscriptions.insert(id.to_string(), subscription);
        Ok(Subscribed { subscription_id: id.to_string(), pending })
    }

    /// ConfirmSubscription: the subscription `token` was sent to, confirmed while the token is
    /// valid (again and again: confirming twice answers the same).
    pub fn confirm_subscription(&mut self, topic_name: &str, token: &str, now_ms: u64) -> SnsResult<Subscribed> {
        let topic = self.topic_mut(topic_name)?;
        let found = topic.subscriptions.iter_mut().find(|(_, s)| !s.token.is_empty() && s.token == token);
        let Some((id, subscription)) = found else {
            return Err(SnsError::invalid_parameter("Token"));
        };
        if let Some(until) = subscription.pending_until_ms {
            if now_ms > until {
                return Err(SnsError::invalid_parameter("Token"));
            }
            subscription.pending_until_ms = None;
        }
        Ok(Subscribed { subscription_id: id.clone(), pending: false })
    }

    /// Unsubscribe: idempotent, as AWS's.
    pub fn unsubscribe(&mut self, topic_name: &str, id: &str) {
        if let Some(topic) = self.topics.get_mut(topic_name) {
            if let Some(subscription) = topic.subscriptions.remove(id) {
                topic.index.0.remove(id, &subscription);
                topic.endpoints.0.remove(&(subscription.protocol, subscription.endpoint));
                topic.deleted_subscriptions += 1;
            }
        }
    }

    pub fn set_subscription_attribute(
        &mut self,
        config: &EngineConfig,
        topic_name: &str,
        id: &str,
        attribute: &str,
        value: &str,
    ) -> SnsResult<()> {
        let topic = self.topics.get_mut(topic_name).ok_or_else(subscription_not_found)?;
        let filtered = topic.subscriptions.values().filter(|s| s.filter().is_some()).count();
        let subscription = topic.subscriptions.get_mut(id).ok_or_else(subscription_not_found)?;
        let mut attributes = subscription.attributes.clone();
        if value.is_empty() && matches!(attribute, "FilterPolicy" | "RedrivePolicy" | "DeliveryPolicy") {
            attributes.remove(attribute);
        } else {
            attributes.insert(attribute.to_string(), value.to_string());
        }
        let (protocol, endpoint) = (subscription.protocol, subscription.endpoint.as_str());
        check_attribute(config, protocol, endpoint, attribute, value, Action::SetAttributes)?;
        let filter =
            parse_filter(&attributes).map_err(|reason| Action::SetAttributes.refuse("FilterPolicy", reason))?;
        if filter.is_some() && subscription.filter().is_none() && filtered >= limits::FILTER_POLICIES_PER_TOPIC_MAX {
            return Err(SnsError::invalid_parameter("FilterPolicy: the topic has as many filter policies as it can"));
        }
        topic.index.0.remove(id, subscription);
        subscription.dead_letter_queue = Derived(named_dead_letter_queue(&attributes));
        subscription.attributes = attributes;
        subscription.filter = Derived(filter);
        topic.index.0.insert(id, subscription);
        Ok(())
    }

    /// GetSubscriptionAttributes.
    pub fn subscription_attributes(
        &self,
        config: &EngineConfig,
        topic_name: &str,
        id: &str,
    ) -> SnsResult<BTreeMap<String, String>> {
        let topic = self.topics.get(topic_name).ok_or_else(subscription_not_found)?;
        Ok(topic.subscription(id)?.all_attributes(config, topic_name, id))
    }

    /// Up to `limit` subscriptions after `after` (a topic and an id, exclusive), in order: of
    /// the topic `only` if given (ListSubscriptionsByTopic), else of every topic of the group.
    pub fn subscription_rows(
        &self,
        only: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> SnsResult<Vec<SubscriptionRow>> {
        if let Some(name) = only {
            self.topic(name)?;
        }
        let start = match (only, after) {
            (_, Some((topic, _))) => std::ops::Bound::Included(topic),
            (Some(topic), None) => std::ops::Bound::Included(topic),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let topics = self.topics.range::<str, _>((start, std::ops::Bound::Unbounded));
        // Each topic's subscriptions from just after `after`'s id when it is that topic's, so a
        // page costs what it shows, not what comes before it.
        let rows = topics
            .take_while(|(name, _)| only.is_none_or(|only| only == name.as_str()))
            .flat_map(|(name, topic)| {
                let from = match after {
                    Some((after_topic, id)) if after_topic == name.as_str() => std::ops::Bound::Excluded(id),
                    _ => std::ops::Bound::Unbounded,
                };
                let subscriptions = topic.subscriptions.range::<str, _>((from, std::ops::Bound::Unbounded));
                subscriptions.map(move |(id, s)| (name, id, s))
            })
            .take(limit)
            .map(|(name, id, s)| SubscriptionRow {
                topic: name.clone(),
                subscription_id: id.clone(),
                protocol: s.protocol,
                endpoint: s.endpoint.clone(),
                pending: s.is_pending(),
            });
        Ok(rows.collect())
    }

    /// Parses what decoded subscriptions keep only in text (after a snapshot is read).
    pub fn rebuild(&mut self) {
        self.topics.values_mut().for_each(Topic::rebuild);
    }
}

/// Is `value` what a subscription without `attribute` has (so giving it again is no change)?
fn is_default(attribute: &str, value: &str) -> bool {
    match attribute {
        "RawMessageDelivery" => value.eq_ignore_ascii_case("false"),
        "FilterPolicyScope" => value == "MessageAttributes",
        _ => value.is_empty(),
    }
}
