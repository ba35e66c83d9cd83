//! Typed SNS requests and replies: the table of the actions Shoal serves, and one value per request, parsed
//! once from the JSON shape the Query form is converted to. Topics are named by ARN on the wire
//! and by name after parsing.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shoal_engine::command::PublishResult;
use shoal_engine::error::SnsError;
use shoal_engine::message::{AttributeValue, MessageAttributes};
use shoal_engine::sns::{subscription_from_arn, topic_name_from_arn, Subscribed, SubscriptionRow};

use crate::error::ApiError;

macro_rules! actions {
    ($($action:ident,)*) => {
        /// Every SNS action Shoal serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum SnsAction {
            $($action,)*
        }

        impl SnsAction {
            pub const ALL: &'static [SnsAction] = &[$(SnsAction::$action,)*];

            /// The action's name on the wire (`Action=<name>`).
            pub fn name(self) -> &'static str {
                match self {
                    $(SnsAction::$action => stringify!($action),)*
                }
            }
        }
    };
}

actions! {
    CreateTopic,
    DeleteTopic,
    GetTopicAttributes,
    SetTopicAttributes,
    ListTopics,
    TagResource,
    UntagResource,
    ListTagsForResource,
    AddPermission,
    RemovePermission,
    Subscribe,
    ConfirmSubscription,
    Unsubscribe,
    GetSubscriptionAttributes,
    SetSubscriptionAttributes,
    ListSubscriptions,
    ListSubscriptionsByTopic,
    Publish,
    PublishBatch,
}

impl SnsAction {
    pub fn from_name(name: &str) -> Option<SnsAction> {
        SnsAction::ALL.iter().copied().find(|action| action.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnsRequest {
    CreateTopic {
        name: String,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    },
    DeleteTopic {
        topic: String,
    },
    GetTopicAttributes {
        topic: String,
    },
    SetTopicAttributes {
        topic: String,
        attribute: String,
        value: String,
    },
    /// One group's part of ListTopics: its topic names after `after`.
    ListTopics {
        after: Option<String>,
    },
    TagResource {
        topic: String,
        tags: BTreeMap<String, String>,
    },
    UntagResource {
        topic: String,
        keys: Vec<String>,
    },
    ListTagsForResource {
        topic: String,
    },
    AddPermission {
        topic: String,
        label: String,
        account_ids: Vec<String>,
        actions: Vec<String>,
    },
    RemovePermission {
        topic: String,
        label: String,
    },
    Subscribe {
        topic: String,
        protocol: String,
        endpoint: String,
        attributes: BTreeMap<String, String>,
    },
    ConfirmSubscription {
        topic: String,
        token: String,
    },
    Unsubscribe {
        topic: String,
        subscription_id: String,
    },
    GetSubscriptionAttributes {
        topic: String,
        subscription_id: String,
    },
    SetSubscriptionAttributes {
        topic: String,
        subscription_id: String,
        attribute: String,
        value: String,
    },
    /// One group's part of ListSubscriptions: its subscriptions after (topic, id).
    ListSubscriptions {
        after: Option<(String, String)>,
    },
    ListSubscriptionsByTopic {
        topic: String,
        after: Option<String>,
    },
    /// Publish (`batch` false, one entry) or PublishBatch. Message ids are chosen by the leader.
    Publish {
        topic: String,
        batch: bool,
        entries: Vec<PublishInput>,
        /// The node's address as the client reached it, for the links in notifications.
        base_url: String,
    },
}

/// One message of a Publish or PublishBatch request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishInput {
    pub id: String,
    pub message: String,
    pub subject: Option<String>,
    pub attributes: MessageAttributes,
    pub json_structure: bool,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

/// What the leader of a topic's group answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnsReply {
    Done,
    Attributes(BTreeMap<String, String>),
    /// One group's topic names, in order.
    TopicNames(Vec<String>),
    Tags(BTreeMap<String, String>),
    Subscribed(Subscribed),
    Subscriptions(Vec<SubscriptionRow>),
    Published(Vec<(String, Result<PublishResult, SnsError>)>),
}

impl SnsRequest {
    /// The topic the request is about (`None`: ListTopics, which asks every group).
    pub fn topic(&self) -> Option<&str> {
        match self {
            SnsRequest::CreateTopic { name, .. } => Some(name),
            SnsRequest::DeleteTopic { topic }
            | SnsRequest::GetTopicAttributes { topic }
            | SnsRequest::SetTopicAttributes { topic, .. }
            | SnsRequest::TagResource { topic, .. }
            | SnsRequest::UntagResource { topic, .. }
            | SnsRequest::ListTagsForResource { topic }
            | SnsRequest::AddPermission { topic, .. }
            | SnsRequest::RemovePermission { topic, .. }
            | SnsRequest::Subscribe { topic, .. }
            | SnsRequest::ConfirmSubscription { topic, .. }
            | SnsRequest::Unsubscribe { topic, .. }
            | SnsRequest::GetSubscriptionAttributes { topic, .. }
            | SnsRequest::SetSubscriptionAttributes { topic, .. }
            | SnsRequest::ListSubscriptionsByTopic { topic, .. }
            | SnsRequest::Publish { topic, .. } => Some(topic),
            SnsRequest::ListTopics { .. } | SnsRequest::ListSubscriptions { .. } => None,
        }
    }

    /// Parses the members of `action`'s request; `account_id` and `region` are the cluster's,
    /// which every topic ARN must name; `base_url` is the node's address as the client reached
    /// it.
    pub fn parse(
        action: SnsAction,
        members: &Map<String, Value>,
        account_id: &str,
        region: &str,
        base_url: &str,
    ) -> Result<SnsRequest, ApiError> {
        let input = Input { members };
        let topic_of = |member: &str| -> Result<String, ApiError> {
            let arn = input.required(member)?;
            match topic_name_from_arn(region, account_id, arn) {
                Some(name) => Ok(name.to_string()),
                None if arn.starts_with("arn:aws:sns:") => Err(SnsError::topic_not_found().into()),
                _ => Err(SnsError::invalid_parameter(format!("{member}: {arn} is not a topic ARN")).into()),
            }
        };
        let subscription_of = |member: &str| -> Result<(String, String), ApiError> {
            let arn = input.required(member)?;
            match subscription_from_arn(region, account_id, arn) {
                Some((topic, id)) => Ok((topic.to_string(), id.to_string())),
                None => Err(SnsError::invalid_parameter(format!("{member}: {arn} is not a subscription ARN")).into()),
            }
        };
        Ok(match action {
            SnsAction::Subscribe => SnsRequest::Subscribe {
                topic: topic_of("TopicArn")?,
                protocol: input.required("Protocol")?.to_string(),
                endpoint: input.optional("Endpoint")?.unwrap_or_default().to_string(),
                attributes: input.string_map("Attributes")?,
            },
            SnsAction::ConfirmSubscription => SnsRequest::ConfirmSubscription {
                topic: topic_of("TopicArn")?,
                token: input.required("Token")?.to_string(),
            },
            SnsAction::Unsubscribe => {
                let (topic, subscription_id) = subscription_of("SubscriptionArn")?;
                SnsRequest::Unsubscribe { topic, subscription_id }
            }
            SnsAction::GetSubscriptionAttributes => {
                let (topic, subscription_id) = subscription_of("SubscriptionArn")?;
                SnsRequest::GetSubscriptionAttributes { topic, subscription_id }
            }
            SnsAction::SetSubscriptionAttributes => {
                let (topic, subscription_id) = subscription_of("SubscriptionArn")?;
                SnsRequest::SetSubscriptionAttributes {
                    topic,
                    subscription_id,
                    attribute: input.required("AttributeName")?.to_string(),
                    value: input.optional("AttributeValue")?.unwrap_or_default().to_string(),
                }
            }
            SnsAction::ListSubscriptions => {
                let after = match input.optional("NextToken")? {
                    None => None,
                    Some(token) => match token.split_once(':') {
                        Some((topic, id)) => Some((topic.to_string(), id.to_string())),
                        None => return Err(SnsError::invalid_parameter("NextToken").into()),
                    },
                };
                SnsRequest::ListSubscriptions { after }
            }
            SnsAction::ListSubscriptionsByTopic => SnsRequest::ListSubscriptionsByTopic {
                topic: topic_of("TopicArn")?,
                after: input.optional("NextToken")?.map(str::to_string),
            },
            SnsAction::Publish => {
                if input.optional("PhoneNumber")?.is_some() {
                    return Err(SnsError::invalid_parameter("PhoneNumber Reason: Shoal does not send SMS").into());
                }
                let member = if input.optional("TopicArn")?.is_some() { "TopicArn" } else { "TargetArn" };
                SnsRequest::Publish {
                    topic: topic_of(member)?,
                    batch: false,
                    entries: vec![input.publish_input(String::new())?],
                    base_url: base_url.to_string(),
                }
            }
            SnsAction::PublishBatch => {
                let entries = input
                    .structures("PublishBatchRequestEntries")?
                    .iter()
                    .map(|entry| entry.publish_input(entry.optional("Id")?.unwrap_or_default().to_string()))
                    .collect::<Result<Vec<_>, ApiError>>()?;
                SnsRequest::Publish {
                    topic: topic_of("TopicArn")?,
                    batch: true,
                    entries,
                    base_url: base_url.to_string(),
                }
            }
            SnsAction::CreateTopic => SnsRequest::CreateTopic {
                name: input.required("Name")?.to_string(),
                attributes: input.string_map("Attributes")?,
                tags: input.tags("Tags")?,
            },
            SnsAction::DeleteTopic => SnsRequest::DeleteTopic { topic: topic_of("TopicArn")? },
            SnsAction::GetTopicAttributes => SnsRequest::GetTopicAttributes { topic: topic_of("TopicArn")? },
            SnsAction::SetTopicAttributes => SnsRequest::SetTopicAttributes {
                topic: topic_of("TopicArn")?,
                attribute: input.required("AttributeName")?.to_string(),
                value: input.optional("AttributeValue")?.unwrap_or_default().to_string(),
            },
            SnsAction::ListTopics => SnsRequest::ListTopics { after: input.optional("NextToken")?.map(str::to_string) },
            SnsAction::TagResource => {
                SnsRequest::TagResource { topic: topic_of("ResourceArn")?, tags: input.tags("Tags")? }
            }
            SnsAction::UntagResource => {
                SnsRequest::UntagResource { topic: topic_of("ResourceArn")?, keys: input.strings("TagKeys")? }
            }
            SnsAction::ListTagsForResource => SnsRequest::ListTagsForResource { topic: topic_of("ResourceArn")? },
            SnsAction::AddPermission => SnsRequest::AddPermission {
                topic: topic_of("TopicArn")?,
                label: input.required("Label")?.to_string(),
                account_ids: input.strings("AWSAccountId")?,
                actions: input.strings("ActionName")?,
            },
            SnsAction::RemovePermission => SnsRequest::RemovePermission {
                topic: topic_of("TopicArn")?,
                label: input.required("Label")?.to_string(),
            },
        })
    }
}

/// The members of one request, read with SNS's errors.
struct Input<'a> {
    members: &'a Map<String, Value>,
}

impl<'a> Input<'a> {
    /// A list of structures (PublishBatch's entries), each read as an `Input`.
    fn structures(&self, name: &str) -> Result<Vec<Input<'a>>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Object(members) => Ok(Input { members }),
                    _ => Err(SnsError::invalid_parameter(name).into()),
                })
                .collect(),
            Some(_) => Err(SnsError::invalid_parameter(name).into()),
        }
    }

    /// One message to publish, from the members Publish and a PublishBatch entry share.
    fn publish_input(&self, id: String) -> Result<PublishInput, ApiError> {
        let json_structure = match self.optional("MessageStructure")? {
            None => false,
            Some("json") => true,
            Some(_) => return Err(SnsError::invalid_parameter("MessageStructure").into()),
        };
        Ok(PublishInput {
            id,
            message: self.required("Message")?.to_string(),
            subject: self.optional("Subject")?.map(str::to_string),
            attributes: self.message_attributes("MessageAttributes")?,
            json_structure,
            group_id: self.optional("MessageGroupId")?.map(str::to_string),
            deduplication_id: self.optional("MessageDeduplicationId")?.map(str::to_string),
        })
    }

    /// `MessageAttributes`: name -> {DataType, StringValue | BinaryValue (base64)}.
    fn message_attributes(&self, name: &str) -> Result<MessageAttributes, ApiError> {
        let refuse = |reason: String| -> ApiError { SnsError::ParameterValueInvalid(reason).into() };
        let entries = match self.members.get(name) {
            None | Some(Value::Null) => return Ok(MessageAttributes::new()),
            Some(Value::Object(entries)) => entries,
            Some(_) => return Err(SnsError::invalid_parameter(name).into()),
        };
        let mut attributes = MessageAttributes::new();
        for (attribute, value) in entries {
            let field = |field: &str| value.get(field).and_then(Value::as_str);
            let binary_value = match field("BinaryValue") {
                None => None,
                Some(encoded) => Some(base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
                    refuse(format!("The binary value of message attribute '{attribute}' is not valid base64."))
                })?),
            };
            let data_type = field("DataType").ok_or_else(|| {
                refuse(format!("The message attribute '{attribute}' must contain a non-empty message attribute type."))
            })?;
            let string_value = field("StringValue").map(str::to_string);
            attributes.insert(
                attribute.clone(),
                AttributeValue { data_type: data_type.to_string(), string_value, binary_value },
            );
        }
        Ok(attributes)
    }

    fn optional(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(SnsError::invalid_parameter(name).into()),
        }
    }

    fn required(&self, name: &str) -> Result<&'a str, ApiError> {
        self.optional(name)?.ok_or_else(|| ApiError::missing_parameter(name))
    }

    fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key.clone(), text.clone())),
                    _ => Err(SnsError::invalid_parameter(name).into()),
                })
                .collect(),
            Some(_) => Err(SnsError::invalid_parameter(name).into()),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(|| SnsError::invalid_parameter(name).into()))
                .collect(),
            Some(_) => Err(SnsError::invalid_parameter(name).into()),
        }
    }

    /// A list of `{Key, Value}`; a key given twice is refused.
    fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let items = match self.members.get(name) {
            None | Some(Value::Null) => return Ok(BTreeMap::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(SnsError::invalid_parameter(name).into()),
        };
        let mut tags = BTreeMap::new();
        for item in items {
            let key = item.get("Key").and_then(Value::as_str);
            let value = item.get("Value").and_then(Value::as_str).unwrap_or("");
            let Some(key) = key else {
                return Err(SnsError::invalid_parameter("Tags Reason: a tag has no key").into());
            };
            if tags.insert(key.to_string(), value.to_string()).is_some() {
                return Err(SnsError::invalid_parameter("Tags Reason: duplicate tag keys").into());
            }
        }
        Ok(tags)
    }
}
