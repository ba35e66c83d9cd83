//! NATS JetStream: a stream with 3 replicas, file storage and work-queue retention; publish N and
//! await the N PubAcks; a shared durable pull consumer, fetch up to the batch with expiry 1 s, and
//! `double_ack` (an ack the server confirms) for every message.

use crate::driver::{Consumer, Producer, System, RECEIVE_WAIT};
use anyhow::{anyhow, Result};
use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use futures::StreamExt;

const SUBJECT: &str = "bench";

pub struct Nats {
    stream: String,
    first_endpoint: String,
}

impl Nats {
    pub fn new(stream: &str, endpoints: &[String]) -> Self {
        Nats { stream: stream.to_uppercase(), first_endpoint: endpoints[0].clone() }
    }
}

async fn context(endpoint: &str) -> Result<jetstream::Context> {
    let client = async_nats::connect(endpoint).await?;
    Ok(jetstream::new(client))
}

#[async_trait]
impl System for Nats {
    async fn prepare(&self) -> Result<()> {
        let js = context(&self.first_endpoint).await?;
        let stream = js
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![SUBJECT.to_string()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow!("create stream: {e}"))?;
        stream
            .get_or_create_consumer(
                "bench",
                consumer::pull::Config {
                    durable_name: Some("bench".to_string()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow!("create consumer: {e}"))?;
        Ok(())
    }

    async fn producer(&self, endpoint: &str) -> Result<Box<dyn Producer>> {
        Ok(Box::new(NatsProducer { js: context(endpoint).await? }))
    }

    async fn consumer(&self, endpoint: &str) -> Result<Box<dyn Consumer>> {
        let js = context(endpoint).await?;
        let stream = js.get_stream(&self.stream).await.map_err(|e| anyhow!("get stream: {e}"))?;
        let consumer: consumer::PullConsumer =
            stream.get_consumer("bench").await.map_err(|e| anyhow!("get consumer: {e}"))?;
        Ok(Box::new(NatsConsumer { consumer, pending: Vec::new() }))
    }
}

struct NatsProducer {
    js: jetstream::Context,
}

#[async_trait]
impl Producer for NatsProducer {
    async fn send(&mut self, bodies: Vec<Vec<u8>>) -> Result<usize> {
        let mut acks = Vec::with_capacity(bodies.len());
        for body in bodies {
            acks.push(self.js.publish(SUBJECT, body.into()).await?);
        }
        let mut stored = 0;
        for ack in acks {
            ack.await?;
            stored += 1;
        }
        Ok(stored)
    }
}

struct NatsConsumer {
    consumer: consumer::PullConsumer,
    pending: Vec<jetstream::Message>,
}

#[async_trait]
impl Consumer for NatsConsumer {
    async fn receive(&mut self, max: usize) -> Result<Vec<Vec<u8>>> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(RECEIVE_WAIT)
            .messages()
            .await
            .map_err(|e| anyhow!("fetch: {e}"))?;
        let mut bodies = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow!("fetch: {e}"))?;
            bodies.push(message.payload.to_vec());
            self.pending.push(message);
        }
        Ok(bodies)
    }

    async fn ack(&mut self) -> Result<usize> {
        let pending = std::mem::take(&mut self.pending);
        let results = futures::future::join_all(pending.iter().map(|m| m.double_ack())).await;
        let mut acked = 0;
        for result in results {
            result.map_err(|e| anyhow!("double_ack: {e}"))?;
            acked += 1;
        }
        Ok(acked)
    }
}
