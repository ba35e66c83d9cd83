//! What the load generator asks of each system: a producer sends a batch and returns once the
//! system has acknowledged it; a consumer receives up to a batch (waiting at most about a second)
//! and then acknowledges what it received.

use anyhow::Result;
use async_trait::async_trait;
use std::time::Duration;

/// Bytes in every message body.
pub const BODY_BYTES: usize = 1024;

/// How long a receive waits for the first message.
pub const RECEIVE_WAIT: Duration = Duration::from_secs(1);

#[async_trait]
pub trait Producer: Send {
    /// Sends the bodies as one batch (one message when there is one body) and returns how many the
    /// system acknowledged as stored.
    async fn send(&mut self, bodies: Vec<Vec<u8>>) -> Result<usize>;
}

#[async_trait]
pub trait Consumer: Send {
    /// Receives at most `max` messages, waiting at most about [`RECEIVE_WAIT`] for the first one;
    /// returns their bodies. The consumer keeps what it needs to acknowledge them.
    async fn receive(&mut self, max: usize) -> Result<Vec<Vec<u8>>>;

    /// Acknowledges every message the last `receive` returned; returns how many were acknowledged.
    async fn ack(&mut self) -> Result<usize>;
}

/// One system under test: prepares the queue, then opens producers and consumers, each with its own
/// connection to the node at `endpoint`.
#[async_trait]
pub trait System: Send + Sync {
    /// Creates the queue (or stream) the run uses; retried by the caller until the cluster is ready.
    async fn prepare(&self) -> Result<()>;
    async fn producer(&self, endpoint: &str) -> Result<Box<dyn Producer>>;
    async fn consumer(&self, endpoint: &str) -> Result<Box<dyn Consumer>>;
}

/// A body of [`BODY_BYTES`] bytes that starts with the send time in microseconds since the Unix
/// epoch, as 20 decimal digits, then a space and filler. Plain ASCII, so it is a valid SQS body.
pub fn body(send_start_us: u64) -> Vec<u8> {
    let mut body = format!("{send_start_us:020} ").into_bytes();
    body.resize(BODY_BYTES, b'x');
    body
}

/// The send time a body carries, if it is one of ours.
pub fn send_time_us(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body.get(..20)?).ok()?.parse().ok()
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
