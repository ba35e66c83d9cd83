//! SNS at the engine's boundary: each SNS action applied to SNS's state, and the reads other
//! crates make of topics.

use std::collections::BTreeMap;

use super::Engine;
use crate::command::{Command, Reply};
use crate::error::{SnsError, SnsResult};
use crate::sns::SnsState;

impl Engine {
    /// Applies one SNS action.
    pub(super) fn apply_sns(&mut self, command: &Command, now_ms: u64) -> SnsResult<Reply> {
        let sns = &mut self.sns;
        match command {
            Command::CreateTopic { name, attributes, tags } => {
                sns.create_topic(name, attributes, tags, now_ms).map(|()| Reply::Done)
            }
            Command::DeleteTopic { topic } => {
                sns.delete_topic(topic);
                Ok(Reply::Done)
            }
            Command::SetTopicAttributes { topic, attribute, value } => {
                sns.set_topic_attribute(topic, attribute, value).map(|()| Reply::Done)
            }
            Command::TagTopic { topic, tags } => sns.tag_topic(topic, tags).map(|()| Reply::Done),
            Command::UntagTopic { topic, keys } => sns.untag_topic(topic, keys).map(|()| Reply::Done),
            Command::AddTopicPermission { topic, label, account_ids, actions } => {
                sns.add_permission(&self.config, topic, label, account_ids, actions).map(|()| Reply::Done)
            }
            Command::RemoveTopicPermission { topic, label } => {
                sns.remove_permission(&self.config, topic, label).map(|()| Reply::Done)
            }
            other => {
                debug_assert!(false, "not an SNS action: {other:?}");
                Err(SnsError::InvalidParameter("The command is not an SNS action.".to_string()))
            }
        }
    }

    /// The topics of this group, for snapshots (written after the rest of the engine).
    pub fn sns_state(&self) -> &SnsState {
        &self.sns
    }

    /// Puts the topics read from a snapshot in place.
    pub fn set_sns_state(&mut self, sns: SnsState) {
        self.sns = sns;
    }

    /// GetTopicAttributes.
    pub fn topic_attributes(&self, name: &str) -> SnsResult<BTreeMap<String, String>> {
        Ok(self.sns.topic(name)?.attributes(&self.config, name))
    }

    /// ListTagsForResource of a topic.
    pub fn topic_tags(&self, name: &str) -> SnsResult<BTreeMap<String, String>> {
        self.sns.topic(name).map(|topic| topic.tags().clone()).map_err(|_| SnsError::ResourceNotFound)
    }

    /// Up to `limit` topic names after `after`, in order (ListTopics, one group's part).
    pub fn topic_names(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        self.sns.topic_names_after(after).take(limit).map(str::to_string).collect()
    }
}
