//! Errors as clients see them: the SDK must map each to the right modeled kind or code, and
//! raw HTTP requests that no SDK would send must still get an AWS-shaped 400.

mod common;

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry,
};
use common::{create_queue, service_error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn send_entry(id: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder().id(id).message_body(format!("body {id}")).build().unwrap()
}

fn delete_entry(id: &str) -> DeleteMessageBatchRequestEntry {
    DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle("not-a-handle").build().unwrap()
}

fn visibility_entry(id: &str) -> ChangeMessageVisibilityBatchRequestEntry {
    ChangeMessageVisibilityBatchRequestEntry::builder()
        .id(id)
        .receipt_handle("not-a-handle")
        .visibility_timeout(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn test_error_queue_does_not_exist_for_every_kind_of_call() {
    let (server, client) = common::start().await;
    let missing = format!("{}/{}/missing", server.endpoint(), common::ACCOUNT_ID);
    let error = service_error(client.get_queue_url().queue_name("missing").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert_eq!(error.message(), Some("The specified queue does not exist."));
    let error = service_error(client.send_message().queue_url(&missing).message_body("x").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.receive_message().queue_url(&missing).wait_time_seconds(1).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.delete_message().queue_url(&missing).receipt_handle("x").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.send_message_batch().queue_url(&missing).entries(send_entry("a")).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.purge_queue().queue_url(&missing).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
    let error = service_error(client.list_queue_tags().queue_url(&missing).send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");

    // A queue URL of another account names no queue here.
    create_queue(&client, "mine", &[]).await;
    let foreign = format!("{}/111111111111/mine", server.endpoint());
    let error = service_error(client.send_message().queue_url(foreign).message_body("x").send().await);
    assert!(error.is_queue_does_not_exist(), "{error:?}");
}

#[tokio::test]
async fn test_error_receipt_handle_is_invalid() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "handles", &[]).await;
    let error = service_error(client.delete_message().queue_url(&url).receipt_handle("garbage").send().await);
    assert!(error.is_receipt_handle_is_invalid(), "{error:?}");
    assert_eq!(error.code(), Some("ReceiptHandleIsInvalid"));
    assert_eq!(error.message(), Some("The input receipt handle \"garbage\" is not a valid receipt handle."));
    let error = service_error(
        client.change_message_visibility().queue_url(&url).receipt_handle("garbage").visibility_timeout(5).send().await,
    );
    assert!(error.is_receipt_handle_is_invalid(), "{error:?}");

    // A handle from another queue (another incarnation) is not valid here.
    let other = create_queue(&client, "other", &[]).await;
    common::send(&client, &other, "x").await;
    let received = common::receive(&client, &other, 1, 0).await;
    let foreign_handle = received[0].receipt_handle().unwrap();
    let error = service_error(client.delete_message().queue_url(&url).receipt_handle(foreign_handle).send().await);
    assert!(error.is_receipt_handle_is_invalid(), "{error:?}");
}

#[tokio::test]
async fn test_error_batch_shape_errors() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "batches", &[]).await;

    let error = service_error(client.send_message_batch().queue_url(&url).set_entries(Some(Vec::new())).send().await);
    assert!(error.is_empty_batch_request(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.EmptyBatchRequest"));
    assert_eq!(error.message(), Some("There should be at least one SendMessageBatchRequestEntry in the request."));
    let eleven: Vec<SendMessageBatchRequestEntry> = (0..11).map(|i| send_entry(&format!("e{i}"))).collect();
    let error = service_error(client.send_message_batch().queue_url(&url).set_entries(Some(eleven)).send().await);
    assert!(error.is_too_many_entries_in_batch_request(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.TooManyEntriesInBatchRequest"));
    assert_eq!(error.message(), Some("Maximum number of entries per request are 10. You have sent 11."));
    let error = service_error(
        client
            .send_message_batch()
            .queue_url(&url)
            .entries(send_entry("same"))
            .entries(send_entry("same"))
            .send()
            .await,
    );
    assert!(error.is_batch_entry_ids_not_distinct(), "{error:?}");
    assert_eq!(error.code(), Some("AWS.SimpleQueueService.BatchEntryIdsNotDistinct"));
    assert_eq!(error.message(), Some("Id same repeated."));
    let error =
        service_error(client.send_message_batch().queue_url(&url).entries(send_entry("not valid!")).send().await);
    assert!(error.is_invalid_batch_entry_id(), "{error:?}");
    let big = "x".repeat(600 * 1024);
    let error = service_error(
        client
            .send_message_batch()
            .queue_url(&url)
            .entries(SendMessageBatchRequestEntry::builder().id("a").message_body(&big).build().unwrap())
            .entries(SendMessageBatchRequestEntry::builder().id("b").message_body(&big).build().unwrap())
            .send()
            .await,
    );
    assert!(error.is_batch_request_too_long(), "{error:?}");
    // None of the refused batches sent anything.
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));

    let error = service_error(client.delete_message_batch().queue_url(&url).set_entries(Some(Vec::new())).send().await);
    assert!(error.is_empty_batch_request(), "{error:?}");
    assert_eq!(error.message(), Some("There should be at least one DeleteMessageBatchRequestEntry in the request."));
    let eleven: Vec<DeleteMessageBatchRequestEntry> = (0..11).map(|i| delete_entry(&format!("e{i}"))).collect();
    let error = service_error(client.delete_message_batch().queue_url(&url).set_entries(Some(eleven)).send().await);
    assert!(error.is_too_many_entries_in_batch_request(), "{error:?}");
    let error = service_error(
        client
            .delete_message_batch()
            .queue_url(&url)
            .entries(delete_entry("d"))
            .entries(delete_entry("d"))
            .send()
            .await,
    );
    assert!(error.is_batch_entry_ids_not_distinct(), "{error:?}");

    let error = service_error(
        client.change_message_visibility_batch().queue_url(&url).set_entries(Some(Vec::new())).send().await,
    );
    assert!(error.is_empty_batch_request(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("There should be at least one ChangeMessageVisibilityBatchRequestEntry in the request.")
    );
    let eleven: Vec<ChangeMessageVisibilityBatchRequestEntry> =
        (0..11).map(|i| visibility_entry(&format!("e{i}"))).collect();
    let error =
        service_error(client.change_message_visibility_batch().queue_url(&url).set_entries(Some(eleven)).send().await);
    assert!(error.is_too_many_entries_in_batch_request(), "{error:?}");
    let error = service_error(
        client
            .change_message_visibility_batch()
            .queue_url(&url)
            .entries(visibility_entry("v"))
            .entries(visibility_entry("v"))
            .send()
            .await,
    );
    assert!(error.is_batch_entry_ids_not_distinct(), "{error:?}");
}

#[tokio::test]
async fn test_error_receive_parameters_out_of_range() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "ranges", &[]).await;
    for max in [0, 11] {
        let error = service_error(client.receive_message().queue_url(&url).max_number_of_messages(max).send().await);
        assert_eq!(error.code(), Some("InvalidParameterValue"), "MaxNumberOfMessages {max}: {error:?}");
        let expected = format!(
            "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        );
        assert_eq!(error.message(), Some(expected.as_str()));
    }
    let error = service_error(client.receive_message().queue_url(&url).wait_time_seconds(21).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.")
    );
    let error = service_error(client.receive_message().queue_url(&url).visibility_timeout(43_201).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.")
    );
    let error = service_error(client.send_message().queue_url(&url).send().await);
    assert_eq!(error.code(), Some("MissingParameter"), "SendMessage without a body: {error:?}");
    assert_eq!(error.message(), Some("The request must contain the parameter MessageBody."));
    let error = service_error(client.send_message().queue_url(&url).message_body("x").delay_seconds(-1).send().await);
    assert_eq!(
        error.message(),
        Some("Value -1 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.")
    );
}

/// Status, lowercase header names with values, and body of a raw HTTP/1.1 exchange.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

async fn raw_request(address: &str, headers: &[(&str, &str)], body: &str) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connecting to the server");
    let mut request =
        format!("POST / HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("writing the request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers within 10 s")
        .expect("reading the response");
    let text = String::from_utf8(response).expect("a utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    RawResponse { status, headers, body: body.to_string() }
}

const JSON: (&str, &str) = ("Content-Type", "application/x-amz-json-1.0");

#[tokio::test]
async fn test_error_raw_malformed_json_is_400_with_query_error_header() {
    let (server, _client) = common::start().await;
    let response =
        raw_request(&server.address(), &[JSON, ("X-Amz-Target", "AmazonSQS.ListQueues")], "{\"QueueNamePrefix\": ")
            .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), Some("SerializationException;Sender"));
    assert_eq!(response.header("content-type"), Some("application/x-amz-json-1.0"));
    let body: serde_json::Value = serde_json::from_str(&response.body).expect("a json error body");
    assert_eq!(body["__type"], "com.amazonaws.sqs#SerializationException");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Valid JSON that is not an object is refused the same way.
    let response = raw_request(&server.address(), &[JSON, ("X-Amz-Target", "AmazonSQS.ListQueues")], "[1, 2]").await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), Some("SerializationException;Sender"));
}

#[tokio::test]
async fn test_error_raw_unknown_target_is_400_with_query_error_header() {
    let (server, _client) = common::start().await;
    for target in ["AmazonSQS.NoSuchAction", "SomethingElse.ListQueues"] {
        let response = raw_request(&server.address(), &[JSON, ("X-Amz-Target", target)], "{}").await;
        assert_eq!(response.status, 400, "{target}: {}", response.body);
        assert_eq!(response.header("x-amzn-query-error"), Some("InvalidAction;Sender"), "{target}");
        let body: serde_json::Value = serde_json::from_str(&response.body).expect("a json error body");
        assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidAction", "{target}");
        let action = target.split('.').nth(1).unwrap_or_default();
        let action = if target.starts_with("AmazonSQS.") { action.to_string() } else { target.to_string() };
        assert_eq!(body["message"], format!("The action {action} is not valid for this endpoint."), "{target}");
    }
    // The same request with a known action works, so the refusals above are about the target.
    let response = raw_request(&server.address(), &[JSON, ("X-Amz-Target", "AmazonSQS.ListQueues")], "{}").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), None);
}

#[tokio::test]
async fn test_error_raw_query_protocol_error_is_xml() {
    let (server, _client) = common::start().await;
    let response = raw_request(
        &server.address(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=GetQueueUrl&Version=2012-11-05&QueueName=missing",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), Some("AWS.SimpleQueueService.NonExistentQueue;Sender"));
    assert!(response.body.contains("<ErrorResponse"), "{}", response.body);
    assert!(response.body.contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"), "{}", response.body);
    assert!(response.body.contains("<Type>Sender</Type>"), "{}", response.body);
    // The Query protocol words a missing queue as SQS does there.
    assert!(
        response.body.contains("<Message>The specified queue does not exist for this wsdl version.</Message>"),
        "{}",
        response.body
    );

    let response = raw_request(
        &server.address(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=NoSuchAction&Version=2012-11-05",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), Some("InvalidAction;Sender"));

    // SNS's Query version names SNS: its errors come in SNS's namespace, and an SNS action Shoal
    // does not serve is an invalid action there, not an SQS one.
    let response = raw_request(
        &server.address(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=CreatePlatformApplication&Version=2010-03-31&Name=a&Platform=GCM",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("x-amzn-query-error"), Some("InvalidAction;Sender"));
    assert!(response.body.contains(r#"xmlns="http://sns.amazonaws.com/doc/2010-03-31/""#), "{}", response.body);

    // A service Shoal does not serve is said plainly, not "no such action".
    let response = raw_request(
        &server.address(),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"),
        ],
        "Action=ListFunctions",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("The service lambda is not available on this endpoint yet."), "{}", response.body);
}

#[tokio::test]
async fn test_error_raw_oversized_body_is_refused_with_413() {
    let (server, client) = common::start().await;
    let url = create_queue(&client, "big", &[]).await;
    let stream = tokio::net::TcpStream::connect(server.address()).await.expect("connecting to the server");
    let (mut reader, mut writer) = stream.into_split();
    let body = format!("{{\"QueueUrl\": \"{url}\", \"MessageBody\": \"{}\"}}", "x".repeat(9 * 1024 * 1024));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\r\n",
        server.address(),
        body.len()
    );
    // The server may answer and close before reading everything, so write errors are expected.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(body.as_bytes()).await;
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut response)).await;
    writing.abort();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "expected a 413, got: {}", text.lines().next().unwrap_or(""));
    assert!(text.to_ascii_lowercase().contains("x-amzn-query-error: requestentitytoolarge;sender"), "{text}");
    // Nothing was enqueued.
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
}

#[tokio::test]
async fn test_error_batch_visibility_out_of_range_fails_only_its_entry() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "batch-range", &[]).await;
    common::send(&client, &url, "a").await;
    common::send(&client, &url, "b").await;
    let messages = common::receive(&client, &url, 10, 1).await;
    assert_eq!(messages.len(), 2);
    let entry = |id: &str, handle: &str, seconds: i32| {
        ChangeMessageVisibilityBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(handle)
            .visibility_timeout(seconds)
            .build()
            .unwrap()
    };
    let output = client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(entry("ok", messages[0].receipt_handle().unwrap(), 60))
        .entries(entry("too-long", messages[1].receipt_handle().unwrap(), 50_000))
        .send()
        .await
        .unwrap();
    let successful: Vec<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(successful, ["ok"]);
    assert_eq!(output.failed().len(), 1);
    assert_eq!(output.failed()[0].id(), "too-long");
    assert_eq!(output.failed()[0].code(), "InvalidParameterValue");
    assert!(output.failed()[0].sender_fault());
}
