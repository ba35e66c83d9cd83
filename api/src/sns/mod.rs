//! The SNS API (Query protocol, 2010-03-31): requests parsed once into their types (`request`),
//! run on the leader of the topic's group (here or one hop away) or, for ListTopics, across
//! every data group; replies rendered through SNS's model (`query_model`). Served only once the
//! cluster writes at [`SNS_LEVEL`]: below it a peer could not read what SNS writes.

pub mod query_model;
pub mod request;

use serde_json::{json, Map, Value};
use shoal_cluster::level::{SNS_LEVEL, SUBSCRIPTIONS_LEVEL};
use shoal_cluster::Broker;
use shoal_engine::command::PublishEntry;
use shoal_engine::sns::{subscription_arn, topic_arn, SubscriptionRow};
use shoal_engine::{limits, Command, EngineError, Reply};

use crate::error::ApiError;
use crate::service::{self, ApiCluster as Cluster, ApiReply, ApiRequest};

pub use request::{SnsAction, SnsReply, SnsRequest};

/// The write level an action needs: subscriptions and publishing came after topics.
fn level_needed(action: SnsAction) -> (u32, &'static str) {
    match action {
        SnsAction::Subscribe
        | SnsAction::ConfirmSubscription
        | SnsAction::Unsubscribe
        | SnsAction::GetSubscriptionAttributes
        | SnsAction::SetSubscriptionAttributes
        | SnsAction::ListSubscriptions
        | SnsAction::ListSubscriptionsByTopic
        | SnsAction::Publish
        | SnsAction::PublishBatch => (SUBSCRIPTIONS_LEVEL, "SNS subscriptions and publishing are"),
        _ => (SNS_LEVEL, "SNS is"),
    }
}

/// Runs one SNS request in the cluster and returns its response object (the JSON shape the
/// Query model renders). `base_url` is this node's address as the client reached it.
pub async fn dispatch(
    cluster: &Cluster,
    base_url: &str,
    action: SnsAction,
    members: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let level = cluster.write_level();
    let (needed, what) = level_needed(action);
    if level < needed {
        return Err(ApiError::unavailable(format!(
            "{what} served once every node runs a build that has them (write level {needed}); the cluster writes at level {level}"
        )));
    }
    let request = SnsRequest::parse(action, members, &cluster.account_id, &cluster.region, base_url)?;
    let arn = |name: &str| topic_arn(&cluster.region, &cluster.account_id, name);
    let Some(topic) = request.topic().map(str::to_string) else {
        return match request {
            SnsRequest::ListTopics { after } => {
                let (names, next) = list_topics(cluster, after).await?;
                let topics: Vec<Value> = names.iter().map(|name| json!({ "TopicArn": arn(name) })).collect();
                Ok(with_next_token(json!({ "Topics": topics }), next))
            }
            SnsRequest::ListSubscriptions { after } => {
                let (rows, next) = list_subscriptions(cluster, after).await?;
                let next = next.map(|row| format!("{}:{}", row.topic, row.subscription_id));
                Ok(with_next_token(json!({ "Subscriptions": subscription_rows(cluster, &rows) }), next))
            }
            _ => Err(ApiError::internal("a request without a topic that is not a listing")),
        };
    };
    let group = cluster.group_of(&topic);
    let reply = match service::call(cluster, group, ApiRequest::Sns(request)).await? {
        ApiReply::Sns(reply) => reply,
        other => return Err(ApiError::internal(format!("unexpected reply from group {group}: {other:?}"))),
    };
    Ok(match (action, reply) {
        (SnsAction::CreateTopic, _) => json!({ "TopicArn": arn(&topic) }),
        (_, SnsReply::Attributes(attributes)) => json!({ "Attributes": attributes }),
        (_, SnsReply::Tags(tags)) => {
            let tags: Vec<Value> = tags.into_iter().map(|(key, value)| json!({ "Key": key, "Value": value })).collect();
            json!({ "Tags": tags })
        }
        (_, SnsReply::Subscribed(subscribed)) => {
            let return_arn = members.get("ReturnSubscriptionArn").and_then(Value::as_str) == Some("true");
            let shown = if subscribed.pending && action == SnsAction::Subscribe && !return_arn {
                "pending confirmation".to_string()
            } else {
                subscription_arn(&cluster.region, &cluster.account_id, &topic, &subscribed.subscription_id)
            };
            json!({ "SubscriptionArn": shown })
        }
        (_, SnsReply::Subscriptions(mut rows)) => {
            let more = rows.len() > limits::LIST_SUBSCRIPTIONS_PAGE;
            rows.truncate(limits::LIST_SUBSCRIPTIONS_PAGE);
            let next = if more { rows.last().map(|row| row.subscription_id.clone()) } else { None };
            with_next_token(json!({ "Subscriptions": subscription_rows(cluster, &rows) }), next)
        }
        (SnsAction::Publish, SnsReply::Published(mut results)) => match results.pop() {
            Some((_, Ok(result))) => {
                let mut reply = json!({ "MessageId": result.message_id });
                if let Some(number) = result.sequence_number {
                    reply["SequenceNumber"] = Value::String(number);
                }
                reply
            }
            Some((_, Err(error))) => return Err(error.into()),
            None => return Err(ApiError::internal("a publish answered with no result")),
        },
        (_, SnsReply::Published(results)) => {
            let (mut successful, mut failed) = (Vec::new(), Vec::new());
            for (id, result) in results {
                match result {
                    Ok(result) => {
                        let mut row = json!({ "Id": id, "MessageId": result.message_id });
                        if let Some(number) = result.sequence_number {
                            row["SequenceNumber"] = Value::String(number);
                        }
                        successful.push(row);
                    }
                    Err(error) => {
                        let error = ApiError::from(error);
                        failed.push(json!({ "Id": id, "Code": error.query_code, "Message": error.message, "SenderFault": error.sender_fault }));
                    }
                }
            }
            json!({ "Successful": successful, "Failed": failed })
        }
        (_, SnsReply::Done | SnsReply::TopicNames(_)) => json!({}),
    })
}

fn with_next_token(mut reply: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        reply["NextToken"] = Value::String(next);
    }
    reply
}

/// Subscriptions as ListSubscriptions shows them: one not yet confirmed has no ARN to show.
fn subscription_rows(cluster: &Cluster, rows: &[SubscriptionRow]) -> Vec<Value> {
    let (region, account_id) = (&cluster.region, &cluster.account_id);
    rows.iter()
        .map(|row| {
            let arn = if row.pending {
                "PendingConfirmation".to_string()
            } else {
                subscription_arn(region, account_id, &row.topic, &row.subscription_id)
            };
            json!({
                "SubscriptionArn": arn,
                "Owner": account_id,
                "Protocol": row.protocol.name(),
                "Endpoint": row.endpoint,
                "TopicArn": topic_arn(region, account_id, &row.topic),
            })
        })
        .collect()
}

/// A page of ListSubscriptions: every data group's subscriptions after `after`, merged in
/// order, and the last row shown if there are more.
async fn list_subscriptions(
    cluster: &Cluster,
    after: Option<(String, String)>,
) -> Result<(Vec<SubscriptionRow>, Option<SubscriptionRow>), ApiError> {
    let asks = cluster.shards.data_group_ids().map(|group| {
        let request = ApiRequest::Sns(SnsRequest::ListSubscriptions { after: after.clone() });
        async move {
            match service::call(cluster, group, request).await? {
                ApiReply::Sns(SnsReply::Subscriptions(rows)) => Ok(rows),
                other => Err(ApiError::internal(format!("group {group} answered ListSubscriptions with {other:?}"))),
            }
        }
    });
    let mut rows: Vec<SubscriptionRow> = futures::future::try_join_all(asks).await?.into_iter().flatten().collect();
    rows.sort_by(|a, b| (&a.topic, &a.subscription_id).cmp(&(&b.topic, &b.subscription_id)));
    let more = rows.len() > limits::LIST_SUBSCRIPTIONS_PAGE;
    rows.truncate(limits::LIST_SUBSCRIPTIONS_PAGE);
    let next = if more { rows.last().cloned() } else { None };
    Ok((rows, next))
}

/// A page of ListTopics: every data group's names after `after`, merged in order.
async fn list_topics(cluster: &Cluster, after: Option<String>) -> Result<(Vec<String>, Option<String>), ApiError> {
    let asks = cluster.shards.data_group_ids().map(|group| {
        let request = ApiRequest::Sns(SnsRequest::ListTopics { after: after.clone() });
        async move {
            match service::call(cluster, group, request).await? {
                ApiReply::Sns(SnsReply::TopicNames(names)) => Ok(names),
                other => Err(ApiError::internal(format!("group {group} answered ListTopics with {other:?}"))),
            }
        }
    });
    let mut names: Vec<String> = futures::future::try_join_all(asks).await?.into_iter().flatten().collect();
    names.sort();
    let more = names.len() > limits::LIST_TOPICS_PAGE;
    names.truncate(limits::LIST_TOPICS_PAGE);
    let next = if more { names.last().cloned() } else { None };
    Ok((names, next))
}

/// Runs a request on this node, which leads the group of `broker`.
pub async fn dispatch_local(broker: &Broker, request: SnsRequest) -> Result<SnsReply, ApiError> {
    let read = |outcome: Result<SnsReply, shoal_engine::error::SnsError>| outcome.map_err(EngineError::Sns);
    match request {
        SnsRequest::GetTopicAttributes { topic } => {
            broker.linearize().await?;
            Ok(read(broker.read(|engine, _| engine.topic_attributes(&topic).map(SnsReply::Attributes)))?)
        }
        SnsRequest::ListTagsForResource { topic } => {
            broker.linearize().await?;
            Ok(read(broker.read(|engine, _| engine.topic_tags(&topic).map(SnsReply::Tags)))?)
        }
        SnsRequest::ListTopics { after } => {
            broker.linearize().await?;
            let names = broker.read(|engine, _| engine.topic_names(after.as_deref(), limits::LIST_TOPICS_PAGE + 1));
            Ok(SnsReply::TopicNames(names))
        }
        SnsRequest::CreateTopic { name, attributes, tags } => {
            propose(broker, Command::CreateTopic { name, attributes, tags }).await
        }
        SnsRequest::DeleteTopic { topic } => propose(broker, Command::DeleteTopic { topic }).await,
        SnsRequest::SetTopicAttributes { topic, attribute, value } => {
            propose(broker, Command::SetTopicAttributes { topic, attribute, value }).await
        }
        SnsRequest::TagResource { topic, tags } => propose(broker, Command::TagTopic { topic, tags }).await,
        SnsRequest::UntagResource { topic, keys } => propose(broker, Command::UntagTopic { topic, keys }).await,
        SnsRequest::AddPermission { topic, label, account_ids, actions } => {
            propose(broker, Command::AddTopicPermission { topic, label, account_ids, actions }).await
        }
        SnsRequest::RemovePermission { topic, label } => {
            propose(broker, Command::RemoveTopicPermission { topic, label }).await
        }
        SnsRequest::GetSubscriptionAttributes { topic, subscription_id } => {
            broker.linearize().await?;
            let attributes = broker.read(|engine, _| engine.subscription_attributes(&topic, &subscription_id));
            Ok(read(attributes.map(SnsReply::Attributes))?)
        }
        SnsRequest::ListSubscriptionsByTopic { topic, after } => {
            broker.linearize().await?;
            let after = after.as_deref().map(|id| (topic.as_str(), id));
            let limit = limits::LIST_SUBSCRIPTIONS_PAGE + 1;
            let rows = broker.read(|engine, _| engine.subscription_rows(Some(&topic), after, limit));
            Ok(read(rows.map(SnsReply::Subscriptions))?)
        }
        SnsRequest::ListSubscriptions { after } => {
            broker.linearize().await?;
            let after = after.as_ref().map(|(topic, id)| (topic.as_str(), id.as_str()));
            let limit = limits::LIST_SUBSCRIPTIONS_PAGE + 1;
            let rows = broker.read(|engine, _| engine.subscription_rows(None, after, limit));
            Ok(read(rows.map(SnsReply::Subscriptions))?)
        }
        SnsRequest::Subscribe { topic, protocol, endpoint, attributes } => {
            let subscription_id = uuid::Uuid::new_v4().to_string();
            let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
            let command = Command::Subscribe { topic, subscription_id, protocol, endpoint, attributes, token };
            propose(broker, command).await
        }
        SnsRequest::ConfirmSubscription { topic, token } => {
            propose(broker, Command::ConfirmSubscription { topic, token }).await
        }
        SnsRequest::Unsubscribe { topic, subscription_id } => {
            propose(broker, Command::Unsubscribe { topic, subscription_id }).await
        }
        SnsRequest::SetSubscriptionAttributes { topic, subscription_id, attribute, value } => {
            propose(broker, Command::SetSubscriptionAttributes { topic, subscription_id, attribute, value }).await
        }
        SnsRequest::Publish { topic, batch, entries, base_url } => {
            let entries = entries
                .into_iter()
                .map(|input| PublishEntry {
                    id: input.id,
                    message_id: uuid::Uuid::new_v4().to_string(),
                    message: input.message,
                    subject: input.subject,
                    attributes: input.attributes,
                    json_structure: input.json_structure,
                    group_id: input.group_id,
                    deduplication_id: input.deduplication_id,
                    signatures: Default::default(),
                })
                .collect();
            let published_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as u64);
            let command = Command::Publish { topic, batch, entries, published_ms, base_url };
            #[cfg(feature = "failpoints")]
            if crate::failpoints::enabled(crate::failpoints::ACK_BEFORE_COMMIT) {
                return Ok(publish_before_commit(broker, command));
            }
            propose(broker, command).await
        }
    }
}

/// The `ack-before-commit` failpoint for Publish: answers every entry as published and proposes
/// the publish in the background, where it may fail unseen.
#[cfg(feature = "failpoints")]
fn publish_before_commit(broker: &Broker, command: Command) -> SnsReply {
    let Command::Publish { entries, .. } = &command else {
        return SnsReply::Published(Vec::new());
    };
    let results = entries
        .iter()
        .map(|entry| {
            let result =
                shoal_engine::command::PublishResult { message_id: entry.message_id.clone(), sequence_number: None };
            (entry.id.clone(), Ok(result))
        })
        .collect();
    let broker = broker.clone();
    tokio::spawn(async move {
        if let Err(error) = broker.propose(command).await {
            tracing::warn!(%error, "failpoint ack-before-commit: an acknowledged publish was not committed");
        }
    });
    SnsReply::Published(results)
}

/// Proposes a write, after the leader has applied its predecessors' entries.
async fn propose(broker: &Broker, command: Command) -> Result<SnsReply, ApiError> {
    broker.linearize_once_per_term().await?;
    match broker.propose(command).await? {
        Reply::Done => Ok(SnsReply::Done),
        Reply::Subscribed(subscribed) => Ok(SnsReply::Subscribed(subscribed)),
        Reply::Published(results) => Ok(SnsReply::Published(results)),
        other => Err(ApiError::internal(format!("unexpected reply to an SNS action: {other:?}"))),
    }
}
