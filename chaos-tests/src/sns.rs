//! The `sns` workload's own parts: the topic and its subscribed queues, and the publishes.
//! Everything else (consumers, probes, the drain) is the queue workload's, reading every queue
//! in turn.
//!
//! One topic; `limits::SNS_QUEUES` queues placed round the data groups, so some share the
//! topic's group (delivered in the publish's own log entry) and some do not (delivered through
//! the outbox). Every subscription takes the bare message (raw delivery) but the last, which
//! takes SNS's JSON notification; about half of them take only publishes whose `colour` is
//! `red` (a filter policy). Half the values published are red, a quarter blue, a quarter carry
//! no attribute. The subscriptions are recorded in the history (`Function::Subscribed`) before
//! any client starts, so the checker judges from the history alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use shoal_chaos::history::{Event, Function, Kind, Recorder};
use shoal_sharding::Shards;

use crate::limits;
use crate::workload::{outcome_of, Clients, QueueRef};

/// The attribute the filters look at, and the value they take.
const FILTER_ATTRIBUTE: &str = "colour";
const FILTER_VALUE: &str = "red";

/// One queue of the run and how it subscribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub queue: String,
    /// Per attribute, the values taken; empty: every publish.
    pub filter: BTreeMap<String, Vec<String>>,
    /// The bare message rather than SNS's JSON notification.
    pub raw: bool,
}

/// The queues of a cluster with `data_groups` data groups: slot k goes to data group
/// 1 + k mod `data_groups` (the first name `chaos-sns-N` the ring places there), so each group
/// holds queues, the topic's included. Slots k with k / `data_groups` odd filter on `colour`,
/// so each group has filtered and unfiltered ones; the last slot takes the JSON notification.
pub fn subscriptions(shards: &Shards) -> Vec<Subscription> {
    let data_groups = shards.data_groups() as usize;
    let mut subscriptions: Vec<Subscription> = Vec::with_capacity(limits::SNS_QUEUES);
    let mut candidate = 0;
    for slot in 0..limits::SNS_QUEUES {
        let group = 1 + (slot % data_groups) as u32;
        let queue = loop {
            let name = format!("chaos-sns-{candidate}");
            candidate += 1;
            if shards.group_of(&name) == group {
                break name;
            }
            // The ring gives each group about 1 / data_groups of all names.
            assert!(candidate < 100 * limits::SNS_QUEUES * data_groups, "no queue name lands in group {group}");
        };
        let mut filter = BTreeMap::new();
        if (slot / data_groups) % 2 == 1 {
            filter.insert(FILTER_ATTRIBUTE.to_string(), vec![FILTER_VALUE.to_string()]);
        }
        subscriptions.push(Subscription { queue, filter, raw: slot + 1 < limits::SNS_QUEUES });
    }
    subscriptions
}

/// The message attributes value `value` is published with: `colour` red for even values, blue
/// for one odd value in two, none for the others.
pub fn attributes_of(value: u64) -> BTreeMap<String, String> {
    let colour = match value % 4 {
        0 | 2 => Some(FILTER_VALUE),
        1 => Some("blue"),
        _ => None,
    };
    colour.map(|colour| (FILTER_ATTRIBUTE.to_string(), colour.to_string())).into_iter().collect()
}

/// Creates the topic and the queues, subscribes each queue, and records the subscriptions;
/// every call is retried through any node that answers until `bound` runs out (each is
/// idempotent). Subscriptions wait for the cluster's write level 5, which a fresh cluster
/// reaches soon after it elects its leaders.
pub async fn set_up(
    clients: &mut Clients,
    recorder: &Recorder,
    data_groups: u32,
    bound: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + bound;
    let shards = Shards::new(data_groups).map_err(anyhow::Error::msg)?;
    let topic_group = shards.group_of(limits::SNS_TOPIC);
    let topic_arn = retry(deadline, "CreateTopic", |turn| {
        let (index, _, _) = clients.pick(turn);
        let sns = clients.sns(index).clone();
        let clients = &*clients;
        async move {
            match sns.create_topic().name(limits::SNS_TOPIC).send().await {
                Ok(created) => Ok(created.topic_arn.unwrap_or_default()),
                Err(error) => {
                    clients.observe(index, &error);
                    Err(outcome_of(&error).1)
                }
            }
        }
    })
    .await?;
    let mut queues = Vec::new();
    for subscription in subscriptions(&shards) {
        let name = subscription.queue.as_str();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let url = clients.create_queue_named(name, false, remaining).await?;
        let queue_arn = retry(deadline, "GetQueueAttributes", |turn| {
            let (index, _, client) = clients.pick(turn);
            let request = client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn);
            let clients = &*clients;
            async move {
                match request.send().await {
                    Ok(output) => output
                        .attributes
                        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
                        .ok_or_else(|| "no QueueArn".to_string()),
                    Err(error) => {
                        clients.observe(index, &error);
                        Err(outcome_of(&error).1)
                    }
                }
            }
        })
        .await?;
        let filter_policy = serde_json::to_string(&subscription.filter)?;
        retry(deadline, "Subscribe", |turn| {
            let (index, _, _) = clients.pick(turn);
            let mut request = clients.sns(index).subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn);
            request = request.return_subscription_arn(true);
            if subscription.raw {
                request = request.attributes("RawMessageDelivery", "true");
            }
            if !subscription.filter.is_empty() {
                request = request.attributes("FilterPolicy", &filter_policy);
            }
            let clients = &*clients;
            async move {
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(error) => {
                        clients.observe(index, &error);
                        Err(outcome_of(&error).1)
                    }
                }
            }
        })
        .await?;
        let delivery = if subscription.raw { "raw delivery" } else { "JSON notification" };
        let group = shards.group_of(name);
        let place = if group == topic_group { "the topic's group" } else { "another group" };
        let mut subscribed = Event::new("setup", Kind::Info, Function::Subscribed)
            .queue(name)
            .detail(format!("{delivery}; data group {group}, {place}"));
        subscribed.filter = subscription.filter.clone();
        recorder.record(subscribed);
        queues.push(QueueRef { label: subscription.queue, url });
    }
    clients.topic_arn = topic_arn;
    clients.queues = queues;
    Ok(())
}

/// Runs `attempt` with turns 0, 1, ... until it succeeds; after `deadline`, its last error is
/// the error.
async fn retry<T, F, Fut>(deadline: tokio::time::Instant, what: &str, mut attempt: F) -> anyhow::Result<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    for turn in 0.. {
        match attempt(turn).await {
            Ok(done) => return Ok(done),
            Err(error) if tokio::time::Instant::now() >= deadline => anyhow::bail!("{what} did not succeed: {error}"),
            Err(_) => tokio::time::sleep(limits::SETUP_RETRY_BACKOFF).await,
        }
    }
    unreachable!("the turns do not run out")
}

impl Clients {
    /// Publishes `value` (its text as the message, `attributes_of(value)` as attributes) once
    /// through the node of `turn`; the outcome as recorded.
    pub(crate) async fn publish(&self, recorder: &Recorder, process: &str, turn: usize, value: u64) -> Kind {
        let (index, node, _) = self.pick(turn);
        let attributes = attributes_of(value);
        let mut request = self.sns(index).publish().topic_arn(&self.topic_arn).message(value.to_string());
        for (name, text) in &attributes {
            let attribute = MessageAttributeValue::builder().data_type("String").string_value(text).build();
            request = request.message_attributes(name, attribute.expect("a data type is set"));
        }
        let mut invoke = Event::new(process, Kind::Invoke, Function::Send).node(node).value(value);
        invoke.attributes = attributes;
        recorder.record(invoke);
        let done = match request.send().await {
            Ok(published) => {
                let mut event = Event::new(process, Kind::Ok, Function::Send);
                event.message_id = published.message_id;
                event
            }
            Err(error) => {
                self.observe(index, &error);
                let (kind, detail) = outcome_of(&error);
                Event::new(process, kind, Function::Send).detail(detail)
            }
        };
        let done = done.node(node).value(value);
        let kind = done.kind;
        recorder.record(done);
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_subscriptions_spread_over_the_groups_with_filtered_and_unfiltered_in_each() {
        for data_groups in 1..=3 {
            let shards = Shards::new(data_groups).unwrap();
            let subscriptions = subscriptions(&shards);
            assert_eq!(subscriptions.len(), limits::SNS_QUEUES);
            for group in shards.data_group_ids() {
                let here: Vec<&Subscription> =
                    subscriptions.iter().filter(|s| shards.group_of(&s.queue) == group).collect();
                assert!(here.iter().any(|s| s.filter.is_empty()), "{data_groups} groups: group {group}");
                assert!(here.iter().any(|s| !s.filter.is_empty()), "{data_groups} groups: group {group}");
            }
            assert_eq!(subscriptions.iter().filter(|s| !s.raw).count(), 1);
        }
    }

    #[test]
    fn test_attributes_of_make_half_the_values_red() {
        let colours: Vec<Option<String>> = (0..4).map(|value| attributes_of(value).remove("colour")).collect();
        assert_eq!(colours, [Some("red".into()), Some("blue".into()), Some("red".into()), None]);
    }
}
