//! The SNS API (Query protocol, 2010-03-31): requests parsed once into their types (`request`),
//! run on the leader of the topic's group (here or one hop away) or, for ListTopics, across
//! every data group; replies rendered through SNS's model (`query_model`). Served only once the
//! cluster writes at [`SNS_LEVEL`]: below it a peer could not read what SNS writes.

pub mod query_model;
pub mod request;

use serde_json::{json, Map, Value};
use shoal_cluster::level::SNS_LEVEL;
use shoal_cluster::Broker;
use shoal_engine::sns::topic_arn;
use shoal_engine::{limits, Command, EngineError, Reply};

use crate::error::ApiError;
use crate::service::{self, ApiCluster as Cluster, ApiReply, ApiRequest};

pub use request::{SnsAction, SnsReply, SnsRequest};

/// Runs one SNS request in the cluster and returns its response object (the JSON shape the
/// Query model renders).
pub async fn dispatch(cluster: &Cluster, action: SnsAction, members: &Map<String, Value>) -> Result<Value, ApiError> {
    let level = cluster.write_level();
    if level < SNS_LEVEL {
        return Err(ApiError::unavailable(format!(
            "SNS is served once every node runs a build that has it (write level {SNS_LEVEL}); the cluster writes at level {level}"
        )));
    }
    let request = SnsRequest::parse(action, members, &cluster.account_id, &cluster.region)?;
    let arn = |name: &str| topic_arn(&cluster.region, &cluster.account_id, name);
    let Some(topic) = request.topic().map(str::to_string) else {
        let SnsRequest::ListTopics { after } = request else {
            return Err(ApiError::internal("a request without a topic that is not ListTopics"));
        };
        let (names, next) = list_topics(cluster, after).await?;
        let topics: Vec<Value> = names.iter().map(|name| json!({ "TopicArn": arn(name) })).collect();
        let mut reply = json!({ "Topics": topics });
        if let Some(next) = next {
            reply["NextToken"] = Value::String(next);
        }
        return Ok(reply);
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
        (_, SnsReply::Done | SnsReply::TopicNames(_)) => json!({}),
    })
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
    }
}

/// Proposes a write, after the leader has applied its predecessors' entries.
async fn propose(broker: &Broker, command: Command) -> Result<SnsReply, ApiError> {
    broker.linearize_once_per_term().await?;
    match broker.propose(command).await? {
        Reply::Done => Ok(SnsReply::Done),
        other => Err(ApiError::internal(format!("unexpected reply to an SNS action: {other:?}"))),
    }
}
