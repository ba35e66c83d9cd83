//! SNS: topics, subscriptions and what a publish reaches. Like `sqs/`, nothing here names the
//! engine.
//!
//! Code map: subscription filter policies, parsed once and matched against every publish
//! (`filter/`, which uses nothing else of the engine). Topics, subscriptions and publishing
//! come next (docs/design/sns-plan.md).

pub mod filter;
