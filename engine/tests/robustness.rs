//! Robustness: arbitrary commands, well-formed or not, never panic the engine, and applying the
//! same log twice gives the same engine. A panic in `apply` would be a crash loop in the node,
//! because the entry is already durable when it is applied.

mod common;

use std::collections::BTreeMap;

use common::engine_config;
use proptest::prelude::*;
use shoal_engine::command::{DeleteEntry, ReceiveRequest, SendEntry, VisibilityEntry};
use shoal_engine::message::AttributeValue;
use shoal_engine::{Command, Engine, LogEntry};

const NAMES: [&str; 5] = ["q", "q.fifo", "dlq", "dlq.fifo", "bad name!"];
const ATTRIBUTES: [&str; 12] = [
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "Policy",
    "KmsMasterKeyId",
    "Unknown",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9]{1,8}",
        any::<String>(),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1}"#.to_string()),
        Just(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq.fifo","maxReceiveCount":2}"#.to_string()
        ),
        Just("SHL1000000000000000100000000000000010000000g".to_string()),
    ]
}

fn queue() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES.to_vec()).prop_map(str::to_string)
}

fn attributes() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(prop::sample::select(ATTRIBUTES.to_vec()).prop_map(str::to_string), text(), 0..3)
}

fn send_entry() -> impl Strategy<Value = SendEntry> {
    (text(), text(), prop::option::of(0u32..2000), prop::option::of(text()), prop::option::of(text()), text()).prop_map(
        |(id, body, delay_seconds, deduplication_id, group_id, attribute)| SendEntry {
            id,
            message_id: "00000000-0000-4000-8000-000000000001".to_string(),
            body,
            delay_seconds,
            attributes: [(
                attribute.clone(),
                AttributeValue { data_type: attribute, string_value: Some("v".into()), binary_value: None },
            )]
            .into(),
            system_attributes: BTreeMap::new(),
            deduplication_id,
            group_id,
            sender_id: "000000000000".to_string(),
        },
    )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (queue(), attributes()).prop_map(|(name, attributes)| Command::CreateQueue {
            name,
            attributes,
            tags: BTreeMap::new()
        }),
        queue().prop_map(|queue| Command::DeleteQueue { queue }),
        (queue(), attributes()).prop_map(|(queue, attributes)| Command::SetQueueAttributes { queue, attributes }),
        queue().prop_map(|queue| Command::PurgeQueue { queue }),
        (queue(), text(), prop::collection::vec(text(), 0..2), prop::collection::vec(text(), 0..2)).prop_map(
            |(queue, label, account_ids, actions)| Command::AddPermission { queue, label, account_ids, actions }
        ),
        (queue(), send_entry()).prop_map(|(queue, entry)| Command::SendMessage { queue, entry }),
        (queue(), prop::collection::vec(send_entry(), 0..12))
            .prop_map(|(queue, entries)| Command::SendMessageBatch { queue, entries }),
        (queue(), 0u32..12, prop::option::of(0u32..50_000), prop::option::of(text())).prop_map(
            |(queue, max_messages, visibility_timeout_seconds, receive_request_attempt_id)| Command::ReceiveMessage {
                queue,
                request: ReceiveRequest { max_messages, visibility_timeout_seconds, receive_request_attempt_id },
            }
        ),
        (queue(), text()).prop_map(|(queue, receipt_handle)| Command::DeleteMessage { queue, receipt_handle }),
        (queue(), prop::collection::vec((text(), text()), 0..12)).prop_map(|(queue, pairs)| {
            Command::DeleteMessageBatch {
                queue,
                entries: pairs.into_iter().map(|(id, receipt_handle)| DeleteEntry { id, receipt_handle }).collect(),
            }
        }),
        (queue(), prop::collection::vec((text(), text(), any::<u32>()), 0..3)).prop_map(|(queue, triples)| {
            Command::ChangeMessageVisibilityBatch {
                queue,
                entries: triples
                    .into_iter()
                    .map(|(id, receipt_handle, visibility_timeout_seconds)| VisibilityEntry {
                        id,
                        receipt_handle,
                        visibility_timeout_seconds,
                    })
                    .collect(),
            }
        }),
        (text(), prop::option::of(text()), prop::option::of(any::<u32>()), any::<bool>()).prop_map(
            |(source_arn, destination_arn, rate_per_second, sources_elsewhere)| Command::StartMessageMoveTask {
                source_arn,
                destination_arn,
                rate_per_second,
                sources_elsewhere,
            }
        ),
        text().prop_map(|task_handle| Command::CancelMessageMoveTask { task_handle }),
        (prop::collection::vec(0u64..4, 0..3), prop::collection::vec(0u64..4, 0..3))
            .prop_map(|(positions, refused)| Command::AckOutbox { positions, refused }),
        (0u32..4).prop_map(|source_group| Command::ImportMessages { source_group, entries: Vec::new() }),
        Just(Command::Tick),
    ]
}

fn time_ms() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(u64::MAX), 1_700_000_000_000u64..1_700_000_900_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn test_arbitrary_commands_never_panic_and_replay_identically(
        log in prop::collection::vec((time_ms(), command()), 1..40)
    ) {
        let entries: Vec<LogEntry> = log.into_iter().map(|(time_ms, command)| LogEntry::new(time_ms, command)).collect();
        let mut first = Engine::new(engine_config());
        let mut second = Engine::new(engine_config());
        let mut last_time_ms = 0;
        for entry in &entries {
            let outcome = first.apply(entry);
            prop_assert_eq!(outcome, second.apply(entry));
            prop_assert!(first.now_ms() >= last_time_ms, "time went backwards");
            last_time_ms = first.now_ms();
        }
        prop_assert_eq!(&first, &second);
        let stored: usize = first.queues().map(|q| q.len()).sum();
        prop_assert_eq!(stored, first.message_count());
    }
}
