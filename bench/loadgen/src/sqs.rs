//! Shoal (or any SQS endpoint) through the AWS SDK: SendMessageBatch / SendMessage, ReceiveMessage
//! with WaitTimeSeconds 1, DeleteMessageBatch / DeleteMessage.

use crate::driver::{Consumer, Producer, System, RECEIVE_WAIT};
use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use tokio::sync::OnceCell;

pub struct Sqs {
    queue_name: String,
    first_endpoint: String,
    queue_url: OnceCell<String>,
}

impl Sqs {
    pub fn new(queue_name: &str, endpoints: &[String]) -> Self {
        Sqs { queue_name: queue_name.to_string(), first_endpoint: endpoints[0].clone(), queue_url: OnceCell::new() }
    }

    fn url(&self) -> Result<String> {
        self.queue_url.get().cloned().ok_or_else(|| anyhow!("the queue was not created"))
    }
}

async fn client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("bench", "bench", None, None, "static"))
        .endpoint_url(endpoint)
        .load()
        .await;
    Client::new(&config)
}

#[async_trait]
impl System for Sqs {
    async fn prepare(&self) -> Result<()> {
        let client = client(&self.first_endpoint).await;
        let reply = client.create_queue().queue_name(&self.queue_name).send().await.context("CreateQueue")?;
        let url = reply.queue_url().ok_or_else(|| anyhow!("CreateQueue returned no URL"))?.to_string();
        let _ = self.queue_url.set(url);
        Ok(())
    }

    async fn producer(&self, endpoint: &str) -> Result<Box<dyn Producer>> {
        Ok(Box::new(SqsProducer { client: client(endpoint).await, url: self.url()? }))
    }

    async fn consumer(&self, endpoint: &str) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(SqsConsumer { client: client(endpoint).await, url: self.url()?, handles: Vec::new() }))
    }
}

struct SqsProducer {
    client: Client,
    url: String,
}

#[async_trait]
impl Producer for SqsProducer {
    async fn send(&mut self, bodies: Vec<Vec<u8>>) -> Result<usize> {
        if bodies.len() == 1 {
            let body = String::from_utf8(bodies.into_iter().next().unwrap_or_default())?;
            self.client.send_message().queue_url(&self.url).message_body(body).send().await?;
            return Ok(1);
        }
        let mut entries = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.into_iter().enumerate() {
            entries.push(
                SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(String::from_utf8(body)?).build()?,
            );
        }
        let reply = self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await?;
        Ok(reply.successful().len())
    }
}

struct SqsConsumer {
    client: Client,
    url: String,
    handles: Vec<String>,
}

#[async_trait]
impl Consumer for SqsConsumer {
    async fn receive(&mut self, max: usize) -> Result<Vec<Vec<u8>>> {
        let reply = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(RECEIVE_WAIT.as_secs() as i32)
            .send()
            .await?;
        let mut bodies = Vec::new();
        for message in reply.messages() {
            bodies.push(message.body().unwrap_or_default().as_bytes().to_vec());
            self.handles.push(message.receipt_handle().unwrap_or_default().to_string());
        }
        Ok(bodies)
    }

    async fn ack(&mut self) -> Result<usize> {
        let handles = std::mem::take(&mut self.handles);
        match handles.len() {
            0 => Ok(0),
            1 => {
                self.client.delete_message().queue_url(&self.url).receipt_handle(&handles[0]).send().await?;
                Ok(1)
            }
            _ => {
                let mut entries = Vec::with_capacity(handles.len());
                for (i, handle) in handles.into_iter().enumerate() {
                    entries.push(DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build()?);
                }
                let reply =
                    self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await?;
                Ok(reply.successful().len())
            }
        }
    }
}
