//! Publish: checking a message as SNS does, matching it against every subscription's filter
//! policy, and what each matching queue subscription receives (the JSON notification, or with
//! raw delivery the message itself and its attributes). Read-only: the engine hands each
//! `QueueNotice` to SQS, in this group or through the outbox.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::arn::{queue_name_from_sqs_arn, subscription_arn, topic_arn};
use super::fifo::{self, Admission};
use super::filter::FilterInput;
use super::subscription::Protocol;
use super::topics::SnsState;
use crate::command::PublishEntry;
use crate::config::EngineConfig;
use crate::error::{SnsError, SnsResult};
use crate::limits;
use crate::message::{
    batch_id_problem, format_sequence_number, md5_digest, AttributeValue, BatchIdProblem, MessageAttributes,
};

/// What a publish is, beyond its entries: when and through which node it came.
#[derive(Debug, Clone, Copy)]
pub struct PublishContext<'a> {
    pub published_ms: u64,
    pub base_url: &'a str,
}

/// A message one publish owes one queue subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNotice {
    pub subscription_id: String,
    /// The subscribed queue, by name.
    pub queue: String,
    /// Where the message goes if the queue cannot take it (the subscription's redrive policy).
    pub dead_letter_queue: Option<String>,
    /// The id of the message in the queue (not the publish's: each copy has its own).
    pub message_id: String,
    /// Shared by every raw copy of one message.
    pub body: Arc<str>,
    /// The MD5 of `body`.
    pub body_md5: [u8; 16],
    pub attributes: MessageAttributes,
    /// The queue cannot take it as it is (raw delivery of more attributes than SQS carries):
    /// it goes to the dead-letter queue, or nowhere.
    pub undeliverable: bool,
    /// From a FIFO topic: its message group and deduplication id, which a FIFO queue takes.
    pub fifo: Option<(String, String)>,
}

/// What one message of a publish came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub message_id: String,
    /// A FIFO topic's sequence number for the message.
    pub sequence: Option<u128>,
    /// What each matching queue subscription receives (none for a repeat within a FIFO
    /// topic's deduplication window).
    pub notices: Vec<QueueNotice>,
}

/// The sender SQS shows for what SNS delivers.
pub const SNS_SENDER_ID: &str = "AIDAIT2UOQQY3AUEKVGXU";

/// Checks what PublishBatch asks as a whole: 1 to 10 entries, distinct valid ids, at most
/// 256 KiB together.
pub fn check_batch(entries: &[PublishEntry]) -> SnsResult<()> {
    match batch_id_problem(entries.iter().map(|entry| entry.id.as_str())) {
        None => {}
        Some(BatchIdProblem::Empty) => return Err(SnsError::EmptyBatchRequest),
        Some(BatchIdProblem::TooMany(_)) => return Err(SnsError::TooManyEntriesInBatchRequest),
        Some(BatchIdProblem::Invalid) => return Err(SnsError::InvalidBatchEntryId),
        Some(BatchIdProblem::Repeated(_)) => return Err(SnsError::BatchEntryIdsNotDistinct),
    }
    if entries.iter().map(size_bytes).sum::<usize>() > limits::PUBLISH_SIZE_BYTES_MAX {
        return Err(SnsError::BatchRequestTooLong);
    }
    Ok(())
}

/// The bytes a message counts towards the limit: its text and its attributes' names, types
/// and values.
fn size_bytes(entry: &PublishEntry) -> usize {
    let attributes: usize = entry
        .attributes
        .iter()
        .map(|(name, value)| {
            let data =
                value.string_value.as_ref().map_or(0, String::len) + value.binary_value.as_ref().map_or(0, Vec::len);
            name.len() + value.data_type.len() + data
        })
        .sum();
    entry.message.len() + attributes
}

fn check_subject(subject: &str) -> SnsResult<()> {
    let valid = !subject.is_empty()
        && subject.chars().count() <= limits::SUBJECT_LENGTH_MAX
        && subject.chars().all(|c| c.is_ascii() && !c.is_ascii_control())
        && !subject.starts_with(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(SnsError::invalid_parameter("Subject"))
    }
}

fn check_attribute(name: &str, value: &AttributeValue) -> SnsResult<()> {
    let refuse = |reason: String| Err(SnsError::ParameterValueInvalid(reason));
    let name_valid = !name.is_empty()
        && name.len() < 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..");
    if !name_valid {
        return refuse(format!("The message attribute name '{name}' is invalid: it must be 1 to 255 of A-Z a-z 0-9 _ - ., not start or end with '.' nor hold '..'."));
    }
    let data_type = value.data_type.as_str();
    let prefix = data_type.split('.').next().unwrap_or_default();
    if data_type == "String.Array" {
        let valid = value.string_value.as_deref().is_some_and(|text| {
            matches!(serde_json::from_str::<Value>(text), Ok(Value::Array(items))
                if items.iter().all(|item| !matches!(item, Value::Array(_) | Value::Object(_))))
        });
        return if valid {
            Ok(())
        } else {
            refuse(format!("The message attribute '{name}' with type 'String.Array' has an invalid value: it must be a JSON array of strings, numbers, true, false or null."))
        };
    }
    match prefix {
        "String" | "Number" => {
            let Some(text) = value.string_value.as_deref().filter(|text| !text.is_empty()) else {
                return refuse(format!("The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{prefix}'."));
            };
            if prefix == "Number" && text.trim().parse::<f64>().map_or(true, |n| !n.is_finite()) {
                return refuse(format!("Could not cast message attribute '{name}' value to number."));
            }
            Ok(())
        }
        "Binary" if value.binary_value.as_ref().is_some_and(|bytes| !bytes.is_empty()) => Ok(()),
        "Binary" => refuse(format!("The message attribute '{name}' must contain non-empty message attribute value for message attribute type 'Binary'.")),
        _ => refuse(format!("The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")),
    }
}

/// The message of each protocol: one text, or with `MessageStructure=json` a JSON object with
/// a `default` and any per-protocol ones.
enum Messages {
    One,
    PerProtocol(serde_json::Map<String, Value>),
}

impl Messages {
    fn of(entry: &PublishEntry) -> SnsResult<Messages> {
        if !entry.json_structure {
            return Ok(Messages::One);
        }
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&entry.message) else {
            return Err(SnsError::invalid_parameter("Message Structure - JSON message body failed to parse"));
        };
        if !object.get("default").is_some_and(Value::is_string) {
            return Err(SnsError::invalid_parameter("Message Structure - No default entry in JSON message body"));
        }
        Ok(Messages::PerProtocol(object))
    }

    /// The message for `protocol`, and the key it was found under (which names its signature).
    fn for_protocol<'a>(&'a self, entry: &'a PublishEntry, protocol: Protocol) -> (&'a str, &'a str) {
        match self {
            Messages::One => (entry.message.as_str(), "default"),
            Messages::PerProtocol(object) => match object.get(protocol.name()).and_then(Value::as_str) {
                Some(message) => (message, protocol.name()),
                None => (object.get("default").and_then(Value::as_str).unwrap_or_default(), "default"),
            },
        }
    }
}

impl SnsState {
    /// Checks one message of a publish to `topic_name` and works out what each matching queue
    /// subscription receives; a FIFO topic's message is given its sequence number, or found to
    /// repeat one within the deduplication window. Pending (HTTP/S) subscriptions receive
    /// nothing; HTTP/S delivery is not yet served (docs/design/sns-plan.md, step 6).
    pub fn publish(
        &mut self,
        config: &EngineConfig,
        topic_name: &str,
        context: PublishContext<'_>,
        entry: &PublishEntry,
        now_ms: u64,
    ) -> SnsResult<Publication> {
        let topic = self.topics.get(topic_name).ok_or_else(SnsError::topic_not_found)?;
        let fifo_ids = if topic.is_fifo() {
            Some(fifo::check_entry(entry, topic.deduplicates_by_content())?)
        } else if entry.deduplication_id.is_some() {
            return Err(SnsError::invalid_parameter(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
            ));
        } else {
            None
        };
        if entry.message.is_empty() {
            return Err(SnsError::invalid_parameter("Empty message"));
        }
        if let Some(subject) = &entry.subject {
            check_subject(subject)?;
        }
        for (name, value) in &entry.attributes {
            check_attribute(name, value)?;
        }
        if size_bytes(entry) > limits::PUBLISH_SIZE_BYTES_MAX {
            return Err(SnsError::invalid_parameter("Message too long"));
        }
        let messages = Messages::of(entry)?;
        let (sequence, fifo) = match fifo_ids {
            None => (None, None),
            Some(ids) => {
                let per_group = topic.attribute("FifoThroughputScope") == Some("MessageGroup");
                match self.fifo.admit(topic_name, &entry.message_id, ids, per_group, now_ms) {
                    Admission::Repeat { message_id, sequence } => {
                        return Ok(Publication { message_id, sequence: Some(sequence), notices: Vec::new() });
                    }
                    Admission::New { sequence, group_id, deduplication_id } => {
                        (Some(sequence), Some((group_id, deduplication_id)))
                    }
                }
            }
        };
        let arn = topic_arn(&config.region, &config.account_id, topic_name);
        let signature_version = topic.attribute("SignatureVersion").unwrap_or("1");
        // AWS sends no attributes with a message of per-protocol texts.
        let no_attributes = MessageAttributes::new();
        let attributes = if entry.json_structure { &no_attributes } else { &entry.attributes };
        // Policies see the attributes as published, whether or not they are delivered.
        let input = FilterInput::new(&entry.attributes, &entry.message);
        let mut notices = Vec::new();
        // What a queue receives of the message: the same for every subscription (a raw copy
        // shares its text, worked out by the first raw subscription).
        let (message, variant) = messages.for_protocol(entry, Protocol::Sqs);
        let mut raw: Option<(Arc<str>, [u8; 16])> = None;
        for (id, subscription) in topic.candidates(&input) {
            if subscription.protocol() != Protocol::Sqs || subscription.is_pending() {
                continue;
            }
            if subscription.filter().is_some_and(|filter| !filter.matches(&input)) {
                continue;
            }
            let Some(queue) = queue_name_from_sqs_arn(config, subscription.endpoint()) else {
                continue;
            };
            let ((body, body_md5), queue_attributes, undeliverable) = if subscription.is_raw() {
                let shared = raw.get_or_insert_with(|| (Arc::from(message), md5_digest(message.as_bytes()))).clone();
                (shared, attributes.clone(), attributes.len() > limits::RAW_DELIVERY_ATTRIBUTES_MAX)
            } else {
                let notification = Notification {
                    message_id: &entry.message_id,
                    sequence,
                    topic_arn: &arn,
                    subject: entry.subject.as_deref(),
                    message,
                    timestamp_ms: context.published_ms,
                    signature_version,
                    signature: entry.signatures.get(variant).map_or("", String::as_str),
                    base_url: context.base_url,
                    subscription_arn: &subscription_arn(&config.region, &config.account_id, topic_name, id),
                    attributes,
                };
                let text = notification.to_json();
                let digest = md5_digest(text.as_bytes());
                ((Arc::from(text), digest), MessageAttributes::new(), false)
            };
            notices.push(QueueNotice {
                subscription_id: id.to_string(),
                queue: queue.to_string(),
                dead_letter_queue: subscription.dead_letter_queue().map(str::to_string),
                message_id: delivery_message_id(&entry.message_id, id),
                body,
                body_md5,
                attributes: queue_attributes,
                undeliverable,
                fifo: fifo.clone(),
            });
        }
        Ok(Publication { message_id: entry.message_id.clone(), sequence, notices })
    }
}

/// The id of the copy of message `message_id` delivered to subscription `subscription_id`: a
/// UUID worked out from both, so every replica gives the same.
fn delivery_message_id(message_id: &str, subscription_id: &str) -> String {
    let digest = Sha256::new().chain_update(message_id).chain_update([0]).chain_update(subscription_id).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // A version-8 (custom) UUID of the RFC 9562 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The JSON document SNS delivers a notification as, to queues and HTTP/S endpoints.
pub struct Notification<'a> {
    pub message_id: &'a str,
    /// A FIFO topic's sequence number for the message.
    pub sequence: Option<u128>,
    pub topic_arn: &'a str,
    pub subject: Option<&'a str>,
    pub message: &'a str,
    pub timestamp_ms: u64,
    pub signature_version: &'a str,
    pub signature: &'a str,
    pub base_url: &'a str,
    pub subscription_arn: &'a str,
    pub attributes: &'a MessageAttributes,
}

impl Notification<'_> {
    /// The notification in AWS's layout: its fields in AWS's order, one per line, `" : "`
    /// between name and value.
    pub fn to_json(&self) -> String {
        let text = |value: &str| Value::String(value.to_string()).to_string();
        let mut fields = vec![("Type", text("Notification")), ("MessageId", text(self.message_id))];
        if let Some(sequence) = self.sequence {
            fields.push(("SequenceNumber", text(&format_sequence_number(sequence))));
        }
        fields.push(("TopicArn", text(self.topic_arn)));
        if let Some(subject) = self.subject {
            fields.push(("Subject", text(subject)));
        }
        fields.extend([
            ("Message", text(self.message)),
            ("Timestamp", text(&iso8601_ms(self.timestamp_ms))),
            ("SignatureVersion", text(self.signature_version)),
            ("Signature", text(self.signature)),
            ("SigningCertURL", text(&format!("{}SimpleNotificationService-shoal.pem", self.base_url))),
            (
                "UnsubscribeURL",
                text(&format!(
                    "{}?Action=Unsubscribe&SubscriptionArn={}",
                    self.base_url,
                    percent_encode(self.subscription_arn)
                )),
            ),
        ]);
        if !self.attributes.is_empty() {
            let rows: Vec<String> = self
                .attributes
                .iter()
                .map(|(name, value)| {
                    let shown = match &value.binary_value {
                        Some(bytes) if value.data_type.starts_with("Binary") => {
                            base64::engine::general_purpose::STANDARD.encode(bytes)
                        }
                        _ => value.string_value.clone().unwrap_or_default(),
                    };
                    let attribute = serde_json::json!({ "Type": value.data_type, "Value": shown });
                    format!("    {} : {}", text(name), attribute)
                })
                .collect();
            fields.push(("MessageAttributes", format!("{{\n{}\n  }}", rows.join(",\n"))));
        }
        let lines: Vec<String> = fields.iter().map(|(name, value)| format!("  \"{name}\" : {value}")).collect();
        format!("{{\n{}\n}}", lines.join(",\n"))
    }
}

/// `2021-02-16T21:41:19.978Z`.
pub fn iso8601_ms(ms: u64) -> String {
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute, second, milli) =
        (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `text` with everything but unreserved characters percent-encoded (for a query string).
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_iso8601_ms_matches_known_instants() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_613_511_679_978), "2021-02-16T21:41:19.978Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn test_delivery_message_ids_are_uuids_distinct_per_subscription() {
        let a = delivery_message_id("m", "s1");
        let b = delivery_message_id("m", "s2");
        assert_ne!(a, b);
        assert_eq!(a, delivery_message_id("m", "s1"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'8');
    }
}
