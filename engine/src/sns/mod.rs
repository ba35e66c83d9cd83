//! SNS: topics, subscriptions and what a publish reaches. Like `sqs/`, nothing here names the
//! engine.
//!
//! Code map: topics, their attributes and tags (`topics`); subscription filter policies,
//! parsed once and matched against every publish (`filter/`, which uses nothing else of the
//! engine). Subscriptions and publishing come next (docs/design/sns-plan.md).

pub mod filter;
pub mod topics;

pub use topics::{topic_arn, topic_name_from_arn, SnsState};
