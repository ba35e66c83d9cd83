//! Queue administration: create, delete, attributes, tags, permissions, purge, listing.

use std::collections::BTreeMap;

use crate::error::{SqsError, SqsResult};
use crate::limits;
use crate::policy::{self, PolicyShape};

use super::queue::config::{invalid_redrive_policy, READ_ONLY_ATTRIBUTES, SETTABLE_ATTRIBUTES};
use super::queue::{Queue, QueueConfig, RedriveAllowPolicy};
use super::state::{SqsHandler, SqsState};

/// Checks a queue name; returns whether it names a FIFO queue.
pub fn validate_queue_name(name: &str, fifo: bool) -> SqsResult<()> {
    let stem = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    let valid = stem.is_some_and(|stem| {
        !stem.is_empty()
            && name.len() <= limits::QUEUE_NAME_LENGTH_MAX
            && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if valid {
        return Ok(());
    }
    if fifo {
        return Err(SqsError::invalid_parameter(FIFO_QUEUE_NAME_RULE));
    }
    Err(SqsError::invalid_parameter(QUEUE_NAME_RULE))
}

// AWS's texts, without a full stop.
const QUEUE_NAME_RULE: &str = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
const FIFO_QUEUE_NAME_RULE: &str = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length";
const _: () = assert!(limits::QUEUE_NAME_LENGTH_MAX == 80);

/// Actions AddPermission may grant (besides `*`).
const PERMISSION_ACTIONS: [&str; 9] = [
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ListQueueTags",
];

/// The queue's policy document, or a new empty one.
fn parse_policy(queue: &Queue) -> SqsResult<serde_json::Value> {
    match &queue.config.policy {
        Some(text) => serde_json::from_str(text)
            .map_err(|_| SqsError::invalid_parameter("The queue's Policy attribute is not valid JSON.")),
        None => Ok(serde_json::json!({
            "Version": "2012-10-17",
            "Id": format!("{}/SQSDefaultPolicy", queue.arn),
            "Statement": [],
        })),
    }
}

fn policy_statements(policy: &mut serde_json::Value) -> SqsResult<&mut Vec<serde_json::Value>> {
    crate::policy::statements(policy).map_err(|shape| match shape {
        PolicyShape::NotAnObject => SqsError::invalid_parameter("The queue's Policy attribute is not a JSON object."),
        PolicyShape::NoStatementList => {
            SqsError::invalid_parameter("The queue's Policy attribute has no list of statements.")
        }
    })
}

/// One page of `names` (in name order): those after `start_after`, at most `max` (default
/// 1000), and the last one returned when more remain and the caller asked for pages.
pub(crate) fn page_of_names<'a>(
    names: impl Iterator<Item = &'a String>,
    start_after: Option<&str>,
    max: Option<u32>,
) -> (Vec<String>, Option<String>) {
    let limit = max.unwrap_or(limits::LIST_QUEUES_RESULTS_MAX) as usize;
    let mut page = Vec::new();
    let mut more = false;
    for name in names.filter(|name| start_after.is_none_or(|after| name.as_str() > after)) {
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(name.clone());
    }
    let next = if more && max.is_some() { page.last().cloned() } else { None };
    (page, next)
}

fn validate_tags(tags: &BTreeMap<String, String>) -> SqsResult<()> {
    for (key, value) in tags {
        if key.is_empty() || key.len() > limits::TAG_KEY_LENGTH_MAX {
            return Err(SqsError::invalid_parameter(format!(
                "Tag keys must be between 1 and {} characters in length.",
                limits::TAG_KEY_LENGTH_MAX
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::invalid_value(
                key,
                "TagKey",
                "Tag keys must not begin with the reserved prefix aws:.",
            ));
        }
        if value.len() > limits::TAG_VALUE_LENGTH_MAX {
            return Err(SqsError::invalid_parameter(format!(
                "Tag values must be at most {} characters in length.",
                limits::TAG_VALUE_LENGTH_MAX
            )));
        }
    }
    Ok(())
}

fn too_many_tags(queue: &str) -> SqsError {
    SqsError::invalid_parameter(format!("Too many tags added for queue {queue}."))
}

/// The configuration CreateQueue asks for: the name checked against the kind of queue, and
/// the attributes applied to that kind's defaults.
fn new_queue_config(name: &str, attributes: &BTreeMap<String, String>) -> SqsResult<QueueConfig> {
    let fifo = attributes.get("FifoQueue").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    validate_queue_name(name, fifo || name.ends_with(".fifo"))?;
    if name.ends_with(".fifo") && !fifo {
        // A standard queue's name cannot end in .fifo.
        return Err(SqsError::invalid_parameter(QUEUE_NAME_RULE));
    }
    let mut config = QueueConfig::defaults(fifo);
    config.apply(attributes)?;
    Ok(config)
}

/// `Engine::check_create_queue`: the checks of CreateQueue that need no state.
pub(crate) fn check_create_queue(name: &str, attributes: &BTreeMap<String, String>) -> SqsResult<()> {
    new_queue_config(name, attributes).map(|_| ())
}

impl SqsHandler<'_> {
    pub(crate) fn create_queue(
        &mut self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> SqsResult<String> {
        let config = new_queue_config(name, attributes)?;
        if let Some(existing) = self.sqs.queues.get(name) {
            for attribute in attributes.keys() {
                if existing.config.render(attribute) != config.render(attribute) {
                    return Err(SqsError::QueueAlreadyExists(attribute.clone()));
                }
            }
            return Ok(name.to_string());
        }
        if self.sqs.recently_deleted.get(name).is_some_and(|at| at + limits::QUEUE_RECREATE_DELAY_MS > now_ms) {
            return Err(SqsError::QueueDeletedRecently);
        }
        if tags.len() > limits::QUEUE_TAGS_MAX {
            return Err(too_many_tags(name));
        }
        validate_tags(tags)?;
        self.validate_redrive(name, &config, attributes)?;
        let incarnation = self.sqs.next_incarnation;
        self.sqs.next_incarnation += 1;
        let mut queue = Queue::new(name.to_string(), self.queue_arn(name), incarnation, config, now_ms);
        queue.tags = tags.clone();
        self.sqs.queues.insert(name.to_string(), queue);
        Ok(name.to_string())
    }

    /// A redrive policy must name an existing queue of the same kind that accepts this source.
    /// `attributes` are those of the request, whose RedrivePolicy text a refusal quotes.
    fn validate_redrive(
        &self,
        source: &str,
        config: &QueueConfig,
        attributes: &BTreeMap<String, String>,
    ) -> SqsResult<()> {
        let Some(policy) = &config.redrive_policy else {
            return Ok(());
        };
        let text = attributes.get("RedrivePolicy").map_or("", String::as_str);
        let Some(target_name) = self.queue_name_from_arn(&policy.dead_letter_target_arn) else {
            return Err(invalid_redrive_policy(text, "Dead letter target does not exist."));
        };
        if target_name == source {
            return Err(invalid_redrive_policy(text, "A queue cannot be its own dead-letter queue."));
        }
        // A target in another group was checked by the node against that group's state.
        if self.is_remote(target_name) {
            return Ok(());
        }
        self.sqs.check_dead_letter_target(target_name, &self.queue_arn(source), config.fifo, text)
    }

    pub(crate) fn delete_queue(&mut self, name: &str, now_ms: u64) -> SqsResult<()> {
        let queue = self.sqs.queues.remove(name).ok_or(SqsError::QueueDoesNotExist)?;
        self.sqs.recently_deleted.insert(name.to_string(), now_ms);
        self.redrive_paused.remove(name);
        self.cancel_move_tasks_of(&queue.arn);
        Ok(())
    }

    pub(crate) fn set_queue_attributes(
        &mut self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> SqsResult<()> {
        let mut config = self.sqs.queue(name)?.config.clone();
        config.apply(attributes)?;
        // Only a new redrive policy is checked: a dead-letter queue deleted since must not
        // block changes to other attributes of its sources.
        if attributes.contains_key("RedrivePolicy") {
            self.validate_redrive(name, &config, attributes)?;
            // A new policy is a new chance for a remote dead-letter queue that refused.
            self.redrive_paused.remove(name);
        }
        let queue = self.sqs.queue_mut(name)?;
        queue.config = config;
        queue.last_modified_ms = now_ms;
        queue.advance(now_ms);
        Ok(())
    }

    pub(crate) fn tag_queue(&mut self, name: &str, tags: &BTreeMap<String, String>) -> SqsResult<()> {
        validate_tags(tags)?;
        let queue = self.sqs.queue_mut(name)?;
        let mut merged = queue.tags.clone();
        merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if merged.len() > limits::QUEUE_TAGS_MAX {
            return Err(too_many_tags(name));
        }
        queue.tags = merged;
        Ok(())
    }

    pub(crate) fn untag_queue(&mut self, name: &str, keys: &[String]) -> SqsResult<()> {
        let queue = self.sqs.queue_mut(name)?;
        for key in keys {
            queue.tags.remove(key);
        }
        Ok(())
    }

    pub(crate) fn purge_queue(&mut self, name: &str, now_ms: u64) -> SqsResult<()> {
        let queue = self.sqs.queue_mut(name)?;
        if queue.last_purge_ms.is_some_and(|at| at + limits::PURGE_INTERVAL_MS > now_ms) {
            return Err(SqsError::PurgeQueueInProgress { queue: name.to_string() });
        }
        queue.purge(now_ms);
        Ok(())
    }

    /// AddPermission: a statement `Sid = label` allowing the accounts the actions on this queue,
    /// added to the queue's Policy attribute (created when the queue has none).
    pub(crate) fn add_permission(
        &mut self,
        name: &str,
        label: &str,
        account_ids: &[String],
        actions: &[String],
    ) -> SqsResult<()> {
        if !policy::is_permission_label(label) {
            return Err(SqsError::invalid_value(label, "Label", &format!("{QUEUE_NAME_RULE}.")));
        }
        if account_ids.is_empty() {
            return Err(SqsError::MissingParameter("AWSAccountIds".to_string()));
        }
        if actions.is_empty() {
            return Err(SqsError::MissingParameter("Actions".to_string()));
        }
        for action in actions {
            if action != "*" && !PERMISSION_ACTIONS.contains(&action.as_str()) {
                return Err(SqsError::invalid_value(
                    format!("SQS:{action}"),
                    "ActionName",
                    "Please refer to the appropriate WSDL for a list of valid actions.",
                ));
            }
        }
        let queue = self.sqs.queue_mut(name)?;
        let mut policy = parse_policy(queue)?;
        let statements = policy_statements(&mut policy)?;
        if policy::has_statement(statements, label) {
            return Err(SqsError::invalid_value(label, "Label", "Already exists."));
        }
        statements.push(policy::allow_statement(label, account_ids, "SQS", actions, &queue.arn));
        let text = policy.to_string();
        if text.len() > limits::POLICY_BYTES_MAX {
            return Err(SqsError::OverLimit(format!(
                "The queue's policy would be longer than {} bytes.",
                limits::POLICY_BYTES_MAX
            )));
        }
        queue.config.policy = Some(text);
        Ok(())
    }

    /// RemovePermission: drops the statement `Sid = label` from the queue's Policy.
    pub(crate) fn remove_permission(&mut self, name: &str, label: &str) -> SqsResult<()> {
        let queue = self.sqs.queue_mut(name)?;
        let mut policy = parse_policy(queue)?;
        let statements = policy_statements(&mut policy)?;
        if !policy::remove_statement(statements, label) {
            // AWS's text, in lower case.
            return Err(SqsError::invalid_value(label, "Label", "can't find label."));
        }
        let empty = statements.is_empty();
        queue.config.policy = if empty { None } else { Some(policy.to_string()) };
        Ok(())
    }
}

/// Reads: a node asks them before it proposes, or to answer a client.
impl SqsState {
    /// `Engine::check_dead_letter_target`; also checks a target in this group before a redrive
    /// policy is set.
    pub(crate) fn check_dead_letter_target(
        &self,
        target: &str,
        source_arn: &str,
        source_fifo: bool,
        redrive_policy: &str,
    ) -> SqsResult<()> {
        let invalid = |reason: &str| invalid_redrive_policy(redrive_policy, reason);
        let Some(target) = self.queues.get(target) else {
            return Err(invalid("Dead letter target does not exist."));
        };
        if target.is_fifo() != source_fifo {
            // AWS's text, with its two full stops.
            return Err(invalid("Dead-letter queue must be same type of queue as the source.."));
        }
        let allowed = match &target.config.redrive_allow_policy {
            None | Some(RedriveAllowPolicy::AllowAll) => true,
            Some(RedriveAllowPolicy::DenyAll) => false,
            Some(RedriveAllowPolicy::ByQueue(arns)) => arns.iter().any(|arn| arn == source_arn),
        };
        if !allowed {
            return Err(invalid(
                "The RedriveAllowPolicy of the dead-letter queue does not allow this queue as a source.",
            ));
        }
        Ok(())
    }

    /// `Engine::list_queues`.
    pub(crate) fn list_queues(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: Option<u32>,
    ) -> (Vec<String>, Option<String>) {
        page_of_names(self.queues.names_from(prefix, start_after), start_after, max)
    }

    /// GetQueueAttributes: `All` or the named attributes, as the wire shows them at `now_ms`.
    pub(crate) fn queue_attributes(
        &self,
        name: &str,
        requested: &[String],
        now_ms: u64,
    ) -> SqsResult<BTreeMap<String, String>> {
        let queue = self.queue(name)?;
        for attribute in requested {
            let known = attribute == "All"
                || SETTABLE_ATTRIBUTES.contains(&attribute.as_str())
                || READ_ONLY_ATTRIBUTES.contains(&attribute.as_str());
            if !known {
                return Err(SqsError::unknown_attribute(attribute));
            }
        }
        let all = requested.iter().any(|a| a == "All");
        let wanted = |attribute: &str| all || requested.iter().any(|a| a == attribute);
        let counts = queue.counts(now_ms);
        let mut attributes = BTreeMap::new();
        let read_only = [
            ("ApproximateNumberOfMessages", counts.visible.to_string()),
            ("ApproximateNumberOfMessagesNotVisible", counts.in_flight.to_string()),
            ("ApproximateNumberOfMessagesDelayed", counts.delayed.to_string()),
            ("CreatedTimestamp", (queue.created_ms / 1000).to_string()),
            ("LastModifiedTimestamp", (queue.last_modified_ms / 1000).to_string()),
            ("QueueArn", queue.arn.clone()),
        ];
        for (attribute, value) in read_only {
            if wanted(attribute) {
                attributes.insert(attribute.to_string(), value);
            }
        }
        for attribute in SETTABLE_ATTRIBUTES {
            if !wanted(attribute) {
                continue;
            }
            if let Some(value) = queue.config.render(attribute) {
                attributes.insert(attribute.to_string(), value);
            }
        }
        Ok(attributes)
    }
}
