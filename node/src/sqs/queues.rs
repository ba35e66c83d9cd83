//! Queue administration actions.

use serde_json::{json, Value};
use shoal_engine::{limits, Command, Engine, SqsError};

use super::{queue_name_from_url, queue_of, queue_url, Input, RequestContext};
use crate::broker::Broker;
use crate::cluster::Cluster;
use crate::error::ApiError;

pub async fn create_queue(broker: &Broker, context: &RequestContext, input: &Input<'_>) -> Result<Value, ApiError> {
    let name = input.required_string("QueueName")?;
    let attributes = input.string_map("Attributes")?;
    let mut tags = input.string_map("tags")?;
    tags.extend(input.string_map("Tags")?);
    broker.read(|engine, _| engine.check_create_queue(&name, &attributes))?;
    broker.propose(Command::CreateQueue { name: name.clone(), attributes, tags }).await?;
    Ok(json!({ "QueueUrl": queue_url(context, &broker.account_id, &name) }))
}

pub async fn delete_queue(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    broker.propose(Command::DeleteQueue { queue }).await?;
    Ok(json!({}))
}

pub fn get_queue_url(broker: &Broker, context: &RequestContext, input: &Input<'_>) -> Result<Value, ApiError> {
    let name = input.required_string("QueueName")?;
    if let Some(owner) = input.string("QueueOwnerAWSAccountId")? {
        if owner != broker.account_id {
            return Err(ApiError::from(SqsError::QueueDoesNotExist));
        }
    }
    broker.read(|engine, _| engine.queue(&name).map(|_| ()))?;
    Ok(json!({ "QueueUrl": queue_url(context, &broker.account_id, &name) }))
}

/// NextToken is the hex of the last name returned, so it is opaque but needs no state.
fn decode_token(input: &Input<'_>) -> Result<Option<String>, ApiError> {
    let Some(token) = input.string("NextToken")? else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_parameter("value for parameter NextToken is invalid");
    let bytes = hex::decode(token).map_err(|_| invalid())?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

/// A page of queue URLs under `member`, with a NextToken when more remain.
fn url_page(account_id: &str, context: &RequestContext, member: &str, names: &[String], next: Option<String>) -> Value {
    let urls: Vec<String> = names.iter().map(|name| queue_url(context, account_id, name)).collect();
    let mut reply = serde_json::Map::new();
    reply.insert(member.to_string(), json!(urls));
    if let Some(last) = next {
        reply.insert("NextToken".to_string(), json!(hex::encode(last)));
    }
    Value::Object(reply)
}

/// ListQueues gathers every data group: each is read at its read index (so a queue created
/// before the call is listed), and the pages are merged in name order.
pub async fn list_queues(cluster: &Cluster, context: &RequestContext, input: &Input<'_>) -> Result<Value, ApiError> {
    let prefix = input.string("QueueNamePrefix")?.unwrap_or_default();
    let max = input.bounded("MaxResults", 1, i64::from(limits::LIST_QUEUES_RESULTS_MAX))?;
    let start_after = decode_token(input)?;
    let (names, next) =
        gather_pages(cluster, max, |engine| engine.list_queues(&prefix, start_after.as_deref(), max)).await?;
    Ok(url_page(&cluster.account_id, context, "QueueUrls", &names, next))
}

/// Reads a page of queue names from every data group, each current as of its read index,
/// and merges them into one page of at most `max` names (the default maximum without).
async fn gather_pages(
    cluster: &Cluster,
    max: Option<u32>,
    page_of: impl Fn(&Engine) -> (Vec<String>, Option<String>),
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let mut names = Vec::new();
    let mut more = false;
    for group in cluster.shards.data_group_ids() {
        cluster.read_index(group).await?;
        let (page, next) = cluster.broker(group).read(|engine, _| page_of(engine));
        more |= next.is_some();
        names.extend(page);
    }
    names.sort();
    let limit = max.unwrap_or(limits::LIST_QUEUES_RESULTS_MAX) as usize;
    more |= names.len() > limit;
    names.truncate(limit);
    let next = if more && max.is_some() { names.last().cloned() } else { None };
    Ok((names, next))
}

pub fn get_queue_attributes(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let names = input.string_list("AttributeNames")?;
    let attributes = broker.read(|engine, now| engine.queue_attributes(&queue, &names, now))?;
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attributes }))
}

pub async fn set_queue_attributes(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let attributes = input.string_map("Attributes")?;
    if attributes.is_empty() {
        return Err(ApiError::missing_parameter("Attributes"));
    }
    broker.propose(Command::SetQueueAttributes { queue, attributes }).await?;
    Ok(json!({}))
}

pub async fn tag_queue(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let tags = input.string_map("Tags")?;
    if tags.is_empty() {
        return Err(ApiError::missing_parameter("Tags"));
    }
    broker.propose(Command::TagQueue { queue, tags }).await?;
    Ok(json!({}))
}

pub async fn untag_queue(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let keys = input.string_list("TagKeys")?;
    if keys.is_empty() {
        return Err(ApiError::missing_parameter("TagKeys"));
    }
    broker.propose(Command::UntagQueue { queue, keys }).await?;
    Ok(json!({}))
}

pub fn list_queue_tags(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let tags = broker.read(|engine, _| engine.queue(&queue).map(|q| q.tags.clone()))?;
    if tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Tags": tags }))
}

pub async fn purge_queue(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    broker.propose(Command::PurgeQueue { queue }).await?;
    Ok(json!({}))
}

pub async fn add_permission(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let label = input.required_string("Label")?;
    let account_ids = input.string_list("AWSAccountIds")?;
    let actions = input.string_list("Actions")?;
    broker.propose(Command::AddPermission { queue, label, account_ids, actions }).await?;
    Ok(json!({}))
}

pub async fn remove_permission(broker: &Broker, input: &Input<'_>) -> Result<Value, ApiError> {
    let queue = queue_of(broker, input)?;
    let label = input.required_string("Label")?;
    broker.propose(Command::RemovePermission { queue, label }).await?;
    Ok(json!({}))
}

/// ListDeadLetterSourceQueues gathers every data group, like ListQueues: the sources of a
/// dead-letter queue may be in any group.
pub async fn list_dead_letter_source_queues(
    cluster: &Cluster,
    context: &RequestContext,
    input: &Input<'_>,
) -> Result<Value, ApiError> {
    let url = input.required_string("QueueUrl")?;
    let queue = queue_name_from_url(&url, &cluster.account_id)?;
    let max = input.bounded("MaxResults", 1, i64::from(limits::LIST_QUEUES_RESULTS_MAX))?;
    let start_after = decode_token(input)?;
    let home = cluster.group_of(&queue);
    cluster.read_index(home).await?;
    let arn = cluster.broker(home).read(|engine, _| engine.queue(&queue).map(|q| q.arn.clone()))?;
    let (names, next) =
        gather_pages(cluster, max, |engine| engine.dead_letter_sources_of(&arn, start_after.as_deref(), max)).await?;
    Ok(url_page(&cluster.account_id, context, "queueUrls", &names, next))
}
