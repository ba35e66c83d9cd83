//! SNS: topics, subscriptions and what a publish reaches. Like `sqs/`, nothing here names the
//! engine.
//!
//! Code map: the ARNs of topics, subscriptions and queues (`arn`); topics, their attributes and
//! tags (`topics`); a subscription and the checks of its attributes (`subscription`); the
//! subscription actions and listings (`subscriptions`); subscription filter policies, parsed
//! once and matched against every publish (`filter/`, which uses nothing else of the engine);
//! each topic's index of its subscriptions by what their policies require (`index`); FIFO
//! topics' deduplication and sequence numbers (`fifo`);
//! publishing: checking a message and what each matching queue subscription receives
//! (`publish`).

pub mod arn;
pub mod fifo;
pub mod filter;
pub mod index;
pub mod publish;
pub mod subscription;
pub mod subscriptions;
pub mod topics;

pub use crate::command::Subscribed;
pub use arn::{subscription_arn, subscription_from_arn, topic_arn, topic_name_from_arn};
pub use publish::{Publication, PublishContext, QueueNotice};
pub use subscription::Protocol;
pub use subscriptions::SubscriptionRow;
pub use topics::SnsState;
