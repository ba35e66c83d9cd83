//! Every AWS quota and internal bound of the engine, in one place.
//!
//! Names put units last. Relations between bounds are asserted at the bottom so a
//! change that breaks one fails to compile.

/// Queue names: 1 to 80 characters (a `.fifo` suffix included).
pub const QUEUE_NAME_LENGTH_MAX: usize = 80;

pub const DELAY_SECONDS_MAX: u32 = 900;
pub const DELAY_SECONDS_DEFAULT: u32 = 0;

pub const MESSAGE_SIZE_BYTES_MIN: u32 = 1024;
pub const MESSAGE_SIZE_BYTES_MAX: u32 = 1_048_576;
pub const MESSAGE_SIZE_BYTES_DEFAULT: u32 = 1_048_576;

pub const RETENTION_SECONDS_MIN: u32 = 60;
pub const RETENTION_SECONDS_MAX: u32 = 1_209_600;
pub const RETENTION_SECONDS_DEFAULT: u32 = 345_600;

pub const WAIT_TIME_SECONDS_MAX: u32 = 20;
pub const WAIT_TIME_SECONDS_DEFAULT: u32 = 0;

pub const VISIBILITY_TIMEOUT_SECONDS_MAX: u32 = 43_200;
pub const VISIBILITY_TIMEOUT_SECONDS_DEFAULT: u32 = 30;

pub const KMS_DATA_KEY_REUSE_SECONDS_MIN: u32 = 60;
pub const KMS_DATA_KEY_REUSE_SECONDS_MAX: u32 = 86_400;
pub const KMS_DATA_KEY_REUSE_SECONDS_DEFAULT: u32 = 300;

pub const MAX_RECEIVE_COUNT_MIN: u32 = 1;
pub const MAX_RECEIVE_COUNT_MAX: u32 = 1000;
/// RedriveAllowPolicy `byQueue` may name at most this many source queues.
pub const REDRIVE_ALLOW_SOURCE_QUEUES_MAX: usize = 10;

/// Messages per ReceiveMessage and entries per batch request.
pub const RECEIVE_MESSAGES_MAX: u32 = 10;
pub const BATCH_ENTRIES_MAX: usize = 10;
pub const BATCH_ENTRY_ID_LENGTH_MAX: usize = 80;

pub const MESSAGE_ATTRIBUTES_MAX: usize = 10;
pub const MESSAGE_ATTRIBUTE_NAME_LENGTH_MAX: usize = 256;
pub const MESSAGE_ATTRIBUTE_TYPE_LENGTH_MAX: usize = 256;

/// FIFO identifiers (group, deduplication, receive attempt): 1 to 128 characters.
pub const FIFO_ID_LENGTH_MAX: usize = 128;
/// Deduplication ids and receive attempt ids are remembered this long.
pub const DEDUPLICATION_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Messages received and neither deleted nor visible again.
pub const IN_FLIGHT_STANDARD_MAX: usize = 120_000;
pub const IN_FLIGHT_FIFO_MAX: usize = 120_000;

/// A queue name stays unusable this long after DeleteQueue.
pub const QUEUE_RECREATE_DELAY_MS: u64 = 60_000;
/// One PurgeQueue per queue per this window.
pub const PURGE_INTERVAL_MS: u64 = 60_000;

pub const QUEUE_TAGS_MAX: usize = 50;
pub const TAG_KEY_LENGTH_MAX: usize = 128;
pub const TAG_VALUE_LENGTH_MAX: usize = 256;

pub const LIST_QUEUES_RESULTS_MAX: u32 = 1000;
pub const POLICY_BYTES_MAX: usize = 20_480;
pub const PERMISSION_LABEL_LENGTH_MAX: usize = 80;

pub const MOVE_TASK_RATE_MAX: u32 = 500;
/// Messages a move task without an explicit rate moves per elapsed second.
pub const MOVE_TASK_RATE_DEFAULT: u32 = 500;
pub const MOVE_TASKS_LISTED_MAX: u32 = 10;
/// Finished move tasks kept per source queue for ListMessageMoveTasks.
pub const MOVE_TASKS_KEPT: usize = 10;

const _: () = assert!(MESSAGE_SIZE_BYTES_MIN <= MESSAGE_SIZE_BYTES_DEFAULT);
const _: () = assert!(MESSAGE_SIZE_BYTES_DEFAULT <= MESSAGE_SIZE_BYTES_MAX);
const _: () = assert!(RETENTION_SECONDS_MIN <= RETENTION_SECONDS_DEFAULT);
const _: () = assert!(RETENTION_SECONDS_DEFAULT <= RETENTION_SECONDS_MAX);
const _: () = assert!(VISIBILITY_TIMEOUT_SECONDS_DEFAULT <= VISIBILITY_TIMEOUT_SECONDS_MAX);
const _: () = assert!(BATCH_ENTRIES_MAX as u32 == RECEIVE_MESSAGES_MAX);
const _: () = assert!(MOVE_TASK_RATE_DEFAULT <= MOVE_TASK_RATE_MAX);
const _: () = assert!(MOVE_TASKS_LISTED_MAX as usize <= MOVE_TASKS_KEPT);

/// Entry times are clamped to this, so that adding any timeout or window to a time cannot
/// overflow (about 146 million years after 1970; a broken clock cannot panic the engine).
pub const TIME_MS_MAX: u64 = u64::MAX / 4;
const _: () = assert!(TIME_MS_MAX.checked_add(RETENTION_SECONDS_MAX as u64 * 1000 * 4).is_some());

/// SNS topics: names 1 to 256 characters (a `.fifo` suffix included), 50 tags, a policy of at
/// most 30 KiB, a display name of at most 100 characters; ListTopics pages of 100. AWS allows
/// 100,000 topics per account; one data group holds at most that many.
pub const TOPIC_NAME_LENGTH_MAX: usize = 256;
pub const TOPIC_TAGS_MAX: usize = 50;
pub const TOPIC_POLICY_BYTES_MAX: usize = 30 * 1024;
pub const TOPIC_DISPLAY_NAME_LENGTH_MAX: usize = 100;
pub const TOPICS_PER_GROUP_MAX: usize = 100_000;
pub const LIST_TOPICS_PAGE: usize = 100;

/// SNS filter policies: at most this many keys holding match conditions (in each branch of an
/// `$or`), this many combinations of values (the product over the keys of each key's number of
/// conditions, summed over the branches of an `$or`), and this many bytes of JSON.
pub const FILTER_POLICY_KEYS_MAX: usize = 5;
pub const FILTER_POLICY_COMBINATIONS_MAX: usize = 150;
pub const FILTER_POLICY_BYTES_MAX: usize = 256 * 1024;
/// Numbers in filter policies lie within +-10^9.
pub const FILTER_POLICY_NUMBER_ABS_MAX: f64 = 1e9;
/// Nesting of a MessageBody policy (objects within objects, `$or` within `$or`); deeper is
/// refused as too complex, so parsing and matching stay bounded.
pub const FILTER_POLICY_DEPTH_MAX: usize = 16;

/// SNS subscriptions: ids (chosen by the node that takes the Subscribe, a UUID) of at most 64
/// characters, endpoints of at most 2,048; a topic holds at most 100,000 subscriptions (AWS
/// allows 12,500,000 per standard topic: one topic's subscriptions are one group's memory) and
/// 10,000 filter policies (AWS's default quota is 200 per topic, raised on request, and 10,000
/// per account; the topic's index keeps a publish's cost flat in those that do not match); a
/// confirmation token is valid for 3 days; ListSubscriptions pages of 100.
pub const SUBSCRIPTION_ID_LENGTH_MAX: usize = 64;
pub const SUBSCRIPTION_ENDPOINT_LENGTH_MAX: usize = 2048;
pub const SUBSCRIPTIONS_PER_TOPIC_MAX: usize = 100_000;
pub const FILTER_POLICIES_PER_TOPIC_MAX: usize = 10_000;
pub const SUBSCRIPTION_TOKEN_VALID_MS: u64 = 3 * 24 * 3600 * 1000;
pub const LIST_SUBSCRIPTIONS_PAGE: usize = 100;

/// SNS Publish: a message of at most 256 KiB counting its attributes' names, types and values
/// (for PublishBatch, all entries together), a subject of at most 100 characters; a batch's
/// entries are bounded as SQS's (`BATCH_ENTRIES_MAX`); raw delivery to a queue carries at most
/// 10 attributes.
pub const PUBLISH_SIZE_BYTES_MAX: usize = 262_144;
pub const SUBJECT_LENGTH_MAX: usize = 100;
pub const RAW_DELIVERY_ATTRIBUTES_MAX: usize = 10;
