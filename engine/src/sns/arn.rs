//! The ARNs SNS names things by: topics, subscriptions (a topic's ARN and the subscription's
//! id), and the SQS queues subscriptions deliver to.

use crate::config::EngineConfig;

pub fn topic_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{account_id}:{name}")
}

/// The topic an ARN of the engine's account and region names, if it is one.
pub fn topic_name_from_arn<'a>(region: &str, account_id: &str, arn: &'a str) -> Option<&'a str> {
    let prefix = format!("arn:aws:sns:{region}:{account_id}:");
    arn.strip_prefix(prefix.as_str()).filter(|name| !name.is_empty() && !name.contains(':'))
}

/// A subscription's ARN: its topic's and its id.
pub fn subscription_arn(region: &str, account_id: &str, topic: &str, id: &str) -> String {
    format!("{}:{id}", topic_arn(region, account_id, topic))
}

/// The topic and id a subscription ARN of this account and region names, if it is one.
pub fn subscription_from_arn<'a>(region: &str, account_id: &str, arn: &'a str) -> Option<(&'a str, &'a str)> {
    let (topic, id) = arn.rsplit_once(':')?;
    let topic = topic_name_from_arn(region, account_id, topic)?;
    (!id.is_empty()).then_some((topic, id))
}

/// The queue an SQS ARN of this account and region names.
pub fn queue_name_from_sqs_arn<'a>(config: &EngineConfig, arn: &'a str) -> Option<&'a str> {
    let prefix = format!("arn:aws:sqs:{}:{}:", config.region, config.account_id);
    arn.strip_prefix(prefix.as_str()).filter(|name| !name.is_empty() && !name.contains(':'))
}
