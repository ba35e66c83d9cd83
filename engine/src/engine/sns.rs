//! SNS at the engine's boundary: each SNS action applied to SNS's state, and the reads other
//! crates make of topics.

use std::collections::BTreeMap;

use super::Engine;
use crate::command::{Command, PublishEntry, PublishResult, Reply};
use crate::error::{SnsError, SnsResult};
use crate::message::format_sequence_number;
use crate::sns::publish::check_batch;
use crate::sns::{PublishContext, SnsState, SubscriptionRow};

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
            Command::Subscribe { topic, subscription_id, protocol, endpoint, attributes, token } => sns
                .subscribe(&self.config, topic, subscription_id, protocol, endpoint, attributes, token, now_ms)
                .map(Reply::Subscribed),
            Command::ConfirmSubscription { topic, token } => {
                sns.confirm_subscription(topic, token, now_ms).map(Reply::Subscribed)
            }
            Command::Unsubscribe { topic, subscription_id } => {
                sns.unsubscribe(topic, subscription_id);
                Ok(Reply::Done)
            }
            Command::SetSubscriptionAttributes { topic, subscription_id, attribute, value } => sns
                .set_subscription_attribute(&self.config, topic, subscription_id, attribute, value)
                .map(|()| Reply::Done),
            Command::Publish { topic, batch, entries, published_ms, base_url } => {
                let context = PublishContext { published_ms: *published_ms, base_url };
                self.publish(topic, *batch, entries, context, now_ms)
            }
            other => {
                debug_assert!(false, "not an SNS action: {other:?}");
                Err(SnsError::InvalidParameter("The command is not an SNS action.".to_string()))
            }
        }
    }

    /// Publish and PublishBatch: each entry checked and delivered to the queues whose
    /// subscriptions take it. A single Publish answers its entry's refusal as the request's.
    fn publish(
        &mut self,
        topic: &str,
        batch: bool,
        entries: &[PublishEntry],
        context: PublishContext<'_>,
        now_ms: u64,
    ) -> SnsResult<Reply> {
        let fifo = self.sns.topic(topic)?.is_fifo();
        if batch {
            check_batch(entries)?;
            // AWS refuses the whole batch, not the entry.
            if fifo && entries.iter().any(|entry| entry.group_id.is_none()) {
                return Err(SnsError::invalid_parameter("The MessageGroupId parameter is required for FIFO topics"));
            }
        } else if entries.len() != 1 {
            return Err(SnsError::invalid_parameter("Message"));
        }
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            match self.sns.publish(&self.config, topic, context, entry, now_ms) {
                Ok(publication) => {
                    let mut sqs = self.sqs_handler();
                    for notice in publication.notices {
                        sqs.deliver_published(topic, notice, now_ms);
                    }
                    let result = PublishResult {
                        message_id: publication.message_id,
                        sequence_number: publication.sequence.map(format_sequence_number),
                    };
                    results.push((entry.id.clone(), Ok(result)));
                }
                Err(error) if !batch => return Err(error),
                Err(error) => results.push((entry.id.clone(), Err(error))),
            }
        }
        Ok(Reply::Published(results))
    }

    /// GetSubscriptionAttributes.
    pub fn subscription_attributes(&self, topic: &str, subscription_id: &str) -> SnsResult<BTreeMap<String, String>> {
        self.sns.subscription_attributes(&self.config, topic, subscription_id)
    }

    /// Up to `limit` subscriptions after `after` (topic, id), of topic `only` or of every
    /// topic of the group (ListSubscriptionsByTopic, ListSubscriptions: one group's part).
    pub fn subscription_rows(
        &self,
        only: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> SnsResult<Vec<SubscriptionRow>> {
        self.sns.subscription_rows(only, after, limit)
    }

    /// The topics of this group, for snapshots (written after the rest of the engine).
    pub fn sns_state(&self) -> &SnsState {
        &self.sns
    }

    /// Puts the topics read from a snapshot in place.
    pub fn set_sns_state(&mut self, mut sns: SnsState) {
        sns.rebuild();
        self.sns = sns;
    }

    /// Puts FIFO topics' state read from a snapshot (format 7) in place, after the rest of the
    /// SNS state.
    pub fn set_sns_fifo(&mut self, fifo: crate::sns::fifo::FifoTopics) {
        self.sns.set_fifo_topics(fifo);
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
