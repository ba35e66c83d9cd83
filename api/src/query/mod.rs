//! The AWS Query protocol, for any service described by a [`model::ServiceModel`]: form
//! parameters to the JSON 1.0 request shape (`form`), JSON 1.0 replies and errors to XML (`xml`).
//! SQS's model is `sqs/query_model.rs`; SNS (Query only) will add its own.

pub mod form;
pub mod model;
pub mod xml;
