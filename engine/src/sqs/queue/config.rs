//! Queue attributes: parsing and validating the settable ones, and rendering them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{SqsError, SqsResult};
use crate::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeduplicationScope {
    Queue,
    MessageGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThroughputLimit {
    PerQueue,
    PerMessageGroupId,
}

/// Where messages go after `max_receive_count` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// Which source queues may use this queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedriveAllowPolicy {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

/// Every settable attribute of a queue, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub fifo: bool,
    pub delay_seconds: u32,
    pub maximum_message_size_bytes: u32,
    pub retention_seconds: u32,
    pub wait_time_seconds: u32,
    pub visibility_timeout_seconds: u32,
    pub redrive_policy: Option<RedrivePolicy>,
    pub redrive_allow_policy: Option<RedriveAllowPolicy>,
    pub policy: Option<String>,
    pub kms_master_key_id: Option<String>,
    pub kms_data_key_reuse_seconds: u32,
    pub sqs_managed_sse: bool,
    pub content_based_deduplication: bool,
    pub deduplication_scope: DeduplicationScope,
    pub throughput_limit: ThroughputLimit,
}

/// Attributes only a FIFO queue has.
const FIFO_ONLY: [&str; 3] = ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

/// Attribute names that GetQueueAttributes knows but nobody can set.
pub const READ_ONLY_ATTRIBUTES: [&str; 6] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

pub const SETTABLE_ATTRIBUTES: [&str; 15] = [
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

impl QueueConfig {
    pub fn defaults(fifo: bool) -> QueueConfig {
        QueueConfig {
            fifo,
            delay_seconds: limits::DELAY_SECONDS_DEFAULT,
            maximum_message_size_bytes: limits::MESSAGE_SIZE_BYTES_DEFAULT,
            retention_seconds: limits::RETENTION_SECONDS_DEFAULT,
            wait_time_seconds: limits::WAIT_TIME_SECONDS_DEFAULT,
            visibility_timeout_seconds: limits::VISIBILITY_TIMEOUT_SECONDS_DEFAULT,
            redrive_policy: None,
            redrive_allow_policy: None,
            policy: None,
            kms_master_key_id: None,
            kms_data_key_reuse_seconds: limits::KMS_DATA_KEY_REUSE_SECONDS_DEFAULT,
            sqs_managed_sse: true,
            content_based_deduplication: false,
            deduplication_scope: DeduplicationScope::Queue,
            throughput_limit: ThroughputLimit::PerQueue,
        }
    }

    /// Applies `attributes` on top of this config. All attributes are checked before any is
    /// applied. `FifoQueue` may only repeat the kind of queue this is, which never changes.
    pub fn apply(&mut self, attributes: &BTreeMap<String, String>) -> SqsResult<()> {
        let mut next = self.clone();
        for (name, value) in attributes {
            next.set(name, value)?;
        }
        // Checked on the request: applying SqsManagedSseEnabled=true has already cleared the key.
        let kms_requested = attributes.get("KmsMasterKeyId").is_some_and(|v| !v.is_empty());
        let sse_requested = attributes.get("SqsManagedSseEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if kms_requested && sse_requested {
            return Err(SqsError::InvalidAttributeValue(
                "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."
                    .to_string(),
            ));
        }
        if next.kms_master_key_id.is_some() {
            next.sqs_managed_sse = false;
        }
        *self = next;
        Ok(())
    }

    fn set(&mut self, name: &str, value: &str) -> SqsResult<()> {
        if !self.fifo && FIFO_ONLY.contains(&name) {
            // AWS words the first of these unlike the other two.
            if name == "ContentBasedDeduplication" {
                return Err(SqsError::unknown_attribute(name));
            }
            return Err(SqsError::fifo_only_attribute(name));
        }
        match name {
            "DelaySeconds" => self.delay_seconds = parse_seconds(name, value, 0, limits::DELAY_SECONDS_MAX)?,
            "MaximumMessageSize" => {
                self.maximum_message_size_bytes =
                    parse_seconds(name, value, limits::MESSAGE_SIZE_BYTES_MIN, limits::MESSAGE_SIZE_BYTES_MAX)?
            }
            "MessageRetentionPeriod" => {
                self.retention_seconds =
                    parse_seconds(name, value, limits::RETENTION_SECONDS_MIN, limits::RETENTION_SECONDS_MAX)?
            }
            "ReceiveMessageWaitTimeSeconds" => {
                self.wait_time_seconds = parse_seconds(name, value, 0, limits::WAIT_TIME_SECONDS_MAX)?
            }
            "VisibilityTimeout" => {
                self.visibility_timeout_seconds = parse_seconds(name, value, 0, limits::VISIBILITY_TIMEOUT_SECONDS_MAX)?
            }
            "RedrivePolicy" => self.redrive_policy = parse_redrive_policy(value)?,
            "RedriveAllowPolicy" => self.redrive_allow_policy = parse_redrive_allow_policy(value)?,
            "Policy" => {
                if value.len() > limits::POLICY_BYTES_MAX {
                    return Err(SqsError::invalid_attribute(name));
                }
                if !value.is_empty() && serde_json::from_str::<serde_json::Value>(value).is_err() {
                    return Err(SqsError::invalid_attribute(name));
                }
                self.policy = (!value.is_empty()).then(|| value.to_string());
            }
            "KmsMasterKeyId" => self.kms_master_key_id = (!value.is_empty()).then(|| value.to_string()),
            "KmsDataKeyReusePeriodSeconds" => {
                self.kms_data_key_reuse_seconds = parse_seconds(
                    name,
                    value,
                    limits::KMS_DATA_KEY_REUSE_SECONDS_MIN,
                    limits::KMS_DATA_KEY_REUSE_SECONDS_MAX,
                )?
            }
            "SqsManagedSseEnabled" => {
                self.sqs_managed_sse = parse_bool(name, value)?;
                if self.sqs_managed_sse {
                    self.kms_master_key_id = None;
                }
            }
            "FifoQueue" => {
                let fifo = parse_bool(name, value)?;
                if !self.fifo {
                    // A standard queue knows no FifoQueue attribute, not even `false`.
                    return Err(SqsError::unknown_attribute(name));
                }
                if !fifo {
                    return Err(SqsError::invalid_attribute_because(name, "Modifying queue type is not supported."));
                }
            }
            "ContentBasedDeduplication" => self.content_based_deduplication = parse_bool(name, value)?,
            "DeduplicationScope" => {
                self.deduplication_scope = match value {
                    "queue" => DeduplicationScope::Queue,
                    "messageGroup" => DeduplicationScope::MessageGroup,
                    _ => return Err(SqsError::invalid_attribute(name)),
                }
            }
            "FifoThroughputLimit" => {
                self.throughput_limit = match value {
                    "perQueue" => ThroughputLimit::PerQueue,
                    "perMessageGroupId" => ThroughputLimit::PerMessageGroupId,
                    _ => return Err(SqsError::invalid_attribute(name)),
                }
            }
            // Read-only attributes too: SetQueueAttributes knows none of them.
            _ => return Err(SqsError::unknown_attribute(name)),
        }
        Ok(())
    }

    /// The wire value of a settable attribute, or `None` when it is unset (and not listed).
    pub fn render(&self, name: &str) -> Option<String> {
        let value = match name {
            "DelaySeconds" => self.delay_seconds.to_string(),
            "MaximumMessageSize" => self.maximum_message_size_bytes.to_string(),
            "MessageRetentionPeriod" => self.retention_seconds.to_string(),
            "ReceiveMessageWaitTimeSeconds" => self.wait_time_seconds.to_string(),
            "VisibilityTimeout" => self.visibility_timeout_seconds.to_string(),
            "RedrivePolicy" => {
                let policy = self.redrive_policy.as_ref()?;
                serde_json::json!({
                    "deadLetterTargetArn": policy.dead_letter_target_arn,
                    "maxReceiveCount": policy.max_receive_count,
                })
                .to_string()
            }
            "RedriveAllowPolicy" => match self.redrive_allow_policy.as_ref()? {
                RedriveAllowPolicy::AllowAll => r#"{"redrivePermission":"allowAll"}"#.to_string(),
                RedriveAllowPolicy::DenyAll => r#"{"redrivePermission":"denyAll"}"#.to_string(),
                RedriveAllowPolicy::ByQueue(arns) => {
                    serde_json::json!({"redrivePermission": "byQueue", "sourceQueueArns": arns}).to_string()
                }
            },
            "Policy" => self.policy.clone()?,
            "KmsMasterKeyId" => self.kms_master_key_id.clone()?,
            "KmsDataKeyReusePeriodSeconds" => {
                self.kms_master_key_id.as_ref()?;
                self.kms_data_key_reuse_seconds.to_string()
            }
            "SqsManagedSseEnabled" => self.sqs_managed_sse.to_string(),
            "FifoQueue" if self.fifo => "true".to_string(),
            "ContentBasedDeduplication" if self.fifo => self.content_based_deduplication.to_string(),
            "DeduplicationScope" if self.fifo => match self.deduplication_scope {
                DeduplicationScope::Queue => "queue".to_string(),
                DeduplicationScope::MessageGroup => "messageGroup".to_string(),
            },
            "FifoThroughputLimit" if self.fifo => match self.throughput_limit {
                ThroughputLimit::PerQueue => "perQueue".to_string(),
                ThroughputLimit::PerMessageGroupId => "perMessageGroupId".to_string(),
            },
            _ => return None,
        };
        Some(value)
    }
}

fn parse_seconds(name: &str, value: &str, min: u32, max: u32) -> SqsResult<u32> {
    match value.trim().parse::<u32>() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(SqsError::invalid_attribute(name)),
    }
}

fn parse_bool(name: &str, value: &str) -> SqsResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SqsError::invalid_attribute(name)),
    }
}

/// A RedrivePolicy refused for `reason`, quoting the policy as the request gave it.
pub fn invalid_redrive_policy(text: &str, reason: &str) -> SqsError {
    SqsError::invalid_value(text, "RedrivePolicy", reason)
}

fn parse_redrive_policy(value: &str) -> SqsResult<Option<RedrivePolicy>> {
    if value.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| invalid_redrive_policy(value, reason);
    let json = serde_json::from_str::<serde_json::Value>(value).ok().filter(serde_json::Value::is_object);
    let Some(json) = json else {
        return Err(SqsError::invalid_attribute_because("RedrivePolicy", "Redrive policy is not a valid JSON map."));
    };
    let Some(arn) = json.get("deadLetterTargetArn").and_then(|v| v.as_str()) else {
        return Err(invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."));
    };
    let (count, shown) = match json.get("maxReceiveCount") {
        None => return Err(invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        Some(serde_json::Value::String(text)) => (text.parse::<u64>().ok(), text.clone()),
        Some(other) => (other.as_u64(), other.to_string()),
    };
    let range = u64::from(limits::MAX_RECEIVE_COUNT_MIN)..=u64::from(limits::MAX_RECEIVE_COUNT_MAX);
    let Some(count) = count.filter(|c| range.contains(c)) else {
        return Err(invalid(&format!(
            "Invalid value for maxReceiveCount: {shown}, valid values are from {} to {} both inclusive.",
            limits::MAX_RECEIVE_COUNT_MIN,
            limits::MAX_RECEIVE_COUNT_MAX
        )));
    };
    Ok(Some(RedrivePolicy { dead_letter_target_arn: arn.to_string(), max_receive_count: count as u32 }))
}

fn parse_redrive_allow_policy(value: &str) -> SqsResult<Option<RedriveAllowPolicy>> {
    if value.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| SqsError::invalid_value(value, "RedriveAllowPolicy", reason);
    // AWS's text, with a typographic apostrophe in "it’s".
    let unsupported = || {
        SqsError::invalid_attribute_because(
            "RedriveAllowPolicy",
            "Amazon SQS can't create the redrive allow policy, as it\u{2019}s in an unsupported format.",
        )
    };
    let json: serde_json::Value = serde_json::from_str(value).map_err(|_| unsupported())?;
    let arns = json.get("sourceQueueArns");
    let policy = match json.get("redrivePermission").and_then(|v| v.as_str()) {
        Some("allowAll") => RedriveAllowPolicy::AllowAll,
        Some("denyAll") => RedriveAllowPolicy::DenyAll,
        Some("byQueue") => {
            let no_arns = || {
                invalid(
                    "Amazon SQS can't create the redrive allow policy. When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.",
                )
            };
            let Some(arns) = arns.and_then(|v| v.as_array()) else {
                return Err(no_arns());
            };
            let arns: Vec<String> = arns.iter().filter_map(|a| a.as_str().map(str::to_string)).collect();
            if arns.is_empty() {
                return Err(no_arns());
            }
            if arns.len() > limits::REDRIVE_ALLOW_SOURCE_QUEUES_MAX {
                return Err(invalid(&format!(
                    "Amazon SQS can't create the redrive allow policy. The maximum number of source queue ARNs you can specify is {}.",
                    limits::REDRIVE_ALLOW_SOURCE_QUEUES_MAX
                )));
            }
            RedriveAllowPolicy::ByQueue(arns)
        }
        _ => return Err(unsupported()),
    };
    Ok(Some(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fifo: bool, attributes: &[(&str, &str)]) -> SqsResult<QueueConfig> {
        let mut config = QueueConfig::defaults(fifo);
        let map = attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        config.apply(&map).map(|()| config)
    }

    #[test]
    fn test_config_ranges_are_enforced() {
        assert_eq!(check(false, &[("VisibilityTimeout", "43200")]).unwrap().visibility_timeout_seconds, 43200);
        assert!(matches!(check(false, &[("VisibilityTimeout", "43201")]), Err(SqsError::InvalidAttributeValue(_))));
        assert!(matches!(check(false, &[("DelaySeconds", "-1")]), Err(SqsError::InvalidAttributeValue(_))));
        assert!(matches!(check(false, &[("MaximumMessageSize", "1023")]), Err(SqsError::InvalidAttributeValue(_))));
        assert!(matches!(check(false, &[("MessageRetentionPeriod", "59")]), Err(SqsError::InvalidAttributeValue(_))));
    }

    #[test]
    fn test_config_fifo_attributes_only_on_fifo_queues() {
        assert!(matches!(
            check(false, &[("ContentBasedDeduplication", "true")]),
            Err(SqsError::InvalidAttributeName(_))
        ));
        let config =
            check(true, &[("ContentBasedDeduplication", "true"), ("DeduplicationScope", "messageGroup")]).unwrap();
        assert!(config.content_based_deduplication);
        assert_eq!(config.render("DeduplicationScope").as_deref(), Some("messageGroup"));
    }

    #[test]
    fn test_config_redrive_policy_round_trips() {
        let config = check(
            false,
            &[("RedrivePolicy", r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":"3"}"#)],
        )
        .unwrap();
        assert_eq!(config.redrive_policy.as_ref().unwrap().max_receive_count, 3);
        assert_eq!(
            config.render("RedrivePolicy").unwrap(),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":3}"#
        );
        assert!(check(false, &[("RedrivePolicy", r#"{"deadLetterTargetArn":"x","maxReceiveCount":0}"#)]).is_err());
        assert!(check(false, &[("RedrivePolicy", "not json")]).is_err());
    }

    #[test]
    fn test_config_unknown_and_read_only_names_are_rejected() {
        assert!(matches!(check(false, &[("Nope", "1")]), Err(SqsError::InvalidAttributeName(_))));
        assert!(matches!(check(false, &[("QueueArn", "x")]), Err(SqsError::InvalidAttributeName(_))));
    }
}
