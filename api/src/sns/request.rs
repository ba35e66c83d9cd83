//! Typed SNS requests and replies: the table of the actions Shoal serves, and one value per request, parsed
//! once from the JSON shape the Query form is converted to. Topics are named by ARN on the wire
//! and by name after parsing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shoal_engine::error::SnsError;
use shoal_engine::sns::topic_name_from_arn;

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
}

/// What the leader of a topic's group answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnsReply {
    Done,
    Attributes(BTreeMap<String, String>),
    /// One group's topic names, in order.
    TopicNames(Vec<String>),
    Tags(BTreeMap<String, String>),
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
            | SnsRequest::RemovePermission { topic, .. } => Some(topic),
            SnsRequest::ListTopics { .. } => None,
        }
    }

    /// Parses the members of `action`'s request; `account_id` and `region` are the cluster's,
    /// which every topic ARN must name.
    pub fn parse(
        action: SnsAction,
        members: &Map<String, Value>,
        account_id: &str,
        region: &str,
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
        Ok(match action {
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
