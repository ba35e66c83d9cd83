//! RabbitMQ quorum queue over AMQP 0-9-1 (lapin): publisher confirms (publish N, then wait for
//! the N confirms), a consumer with prefetch equal to the batch, acks with `multiple` per batch.

use crate::driver::{Consumer, Producer, System, RECEIVE_WAIT};
use anyhow::{anyhow, Result};
use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

pub struct Amqp {
    queue: String,
    first_endpoint: String,
    prefetch: u16,
}

impl Amqp {
    /// `prefetch` is the consumers' channel prefetch (the batch size).
    pub fn new(queue: &str, endpoints: &[String], prefetch: u16) -> Self {
        Amqp { queue: queue.to_string(), first_endpoint: endpoints[0].clone(), prefetch }
    }
}

async fn channel(endpoint: &str) -> Result<(Connection, Channel)> {
    let connection = Connection::connect(endpoint, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

#[async_trait]
impl System for Amqp {
    async fn prepare(&self) -> Result<()> {
        let (connection, channel) = channel(&self.first_endpoint).await?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() },
                arguments,
            )
            .await?;
        let _ = connection.close(200, "declared".into()).await;
        Ok(())
    }

    async fn producer(&self, endpoint: &str) -> Result<Box<dyn Producer>> {
        let (connection, channel) = channel(endpoint).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Box::new(AmqpProducer { _connection: connection, channel, queue: self.queue.clone() }))
    }

    async fn consumer(&self, endpoint: &str) -> Result<Box<dyn Consumer>> {
        let (connection, channel) = channel(endpoint).await?;
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Box::new(AmqpConsumer { _connection: connection, channel, consumer, last_tag: None, unacked: 0 }))
    }
}

struct AmqpProducer {
    _connection: Connection,
    channel: Channel,
    queue: String,
}

#[async_trait]
impl Producer for AmqpProducer {
    async fn send(&mut self, bodies: Vec<Vec<u8>>) -> Result<usize> {
        let mut confirms = Vec::with_capacity(bodies.len());
        for body in &bodies {
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?;
            confirms.push(confirm);
        }
        let mut acked = 0;
        for confirm in confirms {
            if confirm.await?.is_ack() {
                acked += 1;
            }
        }
        Ok(acked)
    }
}

struct AmqpConsumer {
    _connection: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
    last_tag: Option<u64>,
    unacked: usize,
}

impl AmqpConsumer {
    fn take(&mut self, delivery: lapin::Result<lapin::message::Delivery>, bodies: &mut Vec<Vec<u8>>) -> Result<()> {
        let delivery = delivery?;
        self.last_tag = Some(delivery.delivery_tag);
        self.unacked += 1;
        bodies.push(delivery.data);
        Ok(())
    }
}

#[async_trait]
impl Consumer for AmqpConsumer {
    async fn receive(&mut self, max: usize) -> Result<Vec<Vec<u8>>> {
        let mut bodies = Vec::new();
        match tokio::time::timeout(RECEIVE_WAIT, self.consumer.next()).await {
            Err(_) => return Ok(bodies),
            Ok(None) => return Err(anyhow!("the consumer was cancelled")),
            Ok(Some(delivery)) => self.take(delivery, &mut bodies)?,
        }
        // Then whatever has already arrived, up to `max`, without waiting.
        while bodies.len() < max {
            match self.consumer.next().now_or_never() {
                Some(Some(delivery)) => self.take(delivery, &mut bodies)?,
                _ => break,
            }
        }
        Ok(bodies)
    }

    async fn ack(&mut self) -> Result<usize> {
        let Some(tag) = self.last_tag.take() else { return Ok(0) };
        let count = std::mem::take(&mut self.unacked);
        // basic.ack has no reply in AMQP 0-9-1: this returns once the frame is handed to the socket.
        self.channel.basic_ack(tag, BasicAckOptions { multiple: count > 1 }).await?;
        Ok(count)
    }
}
