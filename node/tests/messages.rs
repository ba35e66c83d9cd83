//! Messages on standard queues through the official SDK: send, receive, delete, attributes and
//! their checksums, batches, receipt handles and the validation of bodies and sizes. Timing
//! (visibility, long polling, delays) is in `visibility.rs`.

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use common::{
    binary_attribute, body, create_queue, md5_hex, md5_of_message_attributes, message_id, receive, receive_count,
    service_error, string_attribute,
};
#[test]
fn test_md5_helper_matches_known_digests() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(md5_hex(b"The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
    // Longer than one 64-byte block, and exactly at the padding edge.
    assert_eq!(md5_hex(&[b'a'; 56]), "3b0c8ac703f828b04c6c197006d17218");
    assert_eq!(
        md5_hex(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

#[test]
fn test_md5_of_attributes_helper_follows_the_aws_encoding() {
    // Name "a", type "String", value "b", spelled out byte by byte.
    let mut expected = Vec::new();
    expected.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
    expected.extend_from_slice(b"String");
    expected.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
    let attributes = HashMap::from([("a".to_string(), string_attribute("String", "b"))]);
    assert_eq!(md5_of_message_attributes(&attributes), md5_hex(&expected));
}

#[tokio::test]
async fn test_message_send_receive_delete_round_trip() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "basic", &[]).await;
    let text = "hello, shoal \u{e9}\u{1F41F}\ttab\nline";
    let sent = client.send_message().queue_url(&url).message_body(text).send().await.unwrap();
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(text.as_bytes()).as_str()));
    assert_eq!(sent.md5_of_message_attributes(), None);
    let sent_id = sent.message_id().unwrap().to_string();

    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message_id(message), sent_id);
    assert_eq!(body(message), text);
    assert_eq!(message.md5_of_body(), Some(md5_hex(text.as_bytes()).as_str()));
    assert_eq!(receive_count(message), 1);
    assert_eq!(common::system_attribute(message, MessageSystemAttributeName::SenderId), common::ACCOUNT_ID);
    let sent_at: u64 = common::system_attribute(message, MessageSystemAttributeName::SentTimestamp).parse().unwrap();
    assert!(sent_at <= before + 1000, "SentTimestamp {sent_at} is in the future of {before}");
    let first_receive: u64 =
        common::system_attribute(message, MessageSystemAttributeName::ApproximateFirstReceiveTimestamp)
            .parse()
            .unwrap();
    assert!(first_receive >= sent_at);
    assert_eq!(common::message_counts(&client, &url).await, (0, 1, 0));

    // In flight: nobody else gets it.
    assert!(receive(&client, &url, 10, 0).await.is_empty());
    common::delete(&client, &url, message).await;
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    // Deleting an already deleted message succeeds, as in SQS.
    common::delete(&client, &url, message).await;
}

#[tokio::test]
async fn test_message_attributes_round_trip_with_md5() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "attributes", &[]).await;
    let attributes = HashMap::from([
        ("color".to_string(), string_attribute("String", "blue \u{e9}")),
        ("count".to_string(), string_attribute("Number", "-12.5e3")),
        ("blob".to_string(), binary_attribute("Binary", &[0, 1, 2, 254, 255])),
        ("custom".to_string(), string_attribute("String.colour", "teal")),
        ("raw.bytes".to_string(), binary_attribute("Binary.png", b"\x89PNG")),
    ]);
    let expected_md5 = md5_of_message_attributes(&attributes);
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("with attributes")
        .set_message_attributes(Some(attributes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.md5_of_message_attributes(), Some(expected_md5.as_str()));
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(b"with attributes").as_str()));

    let messages = receive(&client, &url, 1, 0).await;
    assert_eq!(messages.len(), 1);
    let received = messages[0].message_attributes().expect("message attributes come back");
    assert_eq!(received, &attributes);
    assert_eq!(messages[0].md5_of_message_attributes(), Some(expected_md5.as_str()));
    assert_eq!(md5_of_message_attributes(received), expected_md5);

    // Asking for some attributes returns those, with the checksum of those only.
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(messages[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let output = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("color")
        .message_attribute_names("raw.*")
        .send()
        .await
        .unwrap();
    let message = &output.messages()[0];
    let subset: HashMap<String, _> =
        ["color", "raw.bytes"].iter().map(|name| (name.to_string(), attributes[*name].clone())).collect();
    assert_eq!(message.message_attributes(), Some(&subset));
    assert_eq!(message.md5_of_message_attributes(), Some(md5_of_message_attributes(&subset).as_str()));

    // Asking for none returns none.
    common::make_visible(&client, &url, message).await;
    let output = client.receive_message().queue_url(&url).send().await.unwrap();
    let message = &output.messages()[0];
    assert!(message.message_attributes().is_none_or(|a| a.is_empty()), "{message:?}");
    assert_eq!(message.md5_of_message_attributes(), None);
}

#[tokio::test]
async fn test_message_attribute_invalid_number_is_refused() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "bad-attributes", &[]).await;
    let result = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("n", string_attribute("Number", "twelve"))
        .send()
        .await;
    let error = service_error(result);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let result = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("AWS.reserved", string_attribute("String", "v"))
        .send()
        .await;
    let error = service_error(result);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
}

fn send_entry(id: &str, body: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().unwrap()
}

#[tokio::test]
async fn test_message_batch_send_reports_per_entry_failure() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "batch", &[]).await;
    let with_attribute = SendMessageBatchRequestEntry::builder()
        .id("with_attribute")
        .message_body("third")
        .message_attributes("k", string_attribute("String", "v"))
        .build()
        .unwrap();
    let output = client
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry("first", "one"))
        .entries(send_entry("bad-body", "bad \u{1} body"))
        .entries(send_entry("second", "two"))
        .entries(with_attribute)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("too-late")
                .message_body("x")
                .delay_seconds(901)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let successful: BTreeSet<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(successful, BTreeSet::from(["first", "second", "with_attribute"]));
    for entry in output.successful() {
        let expected_body = match entry.id() {
            "first" => "one",
            "second" => "two",
            _ => "third",
        };
        assert_eq!(entry.md5_of_message_body(), md5_hex(expected_body.as_bytes()));
    }
    let attributed = output.successful().iter().find(|e| e.id() == "with_attribute").unwrap();
    let expected = md5_of_message_attributes(&HashMap::from([("k".to_string(), string_attribute("String", "v"))]));
    assert_eq!(attributed.md5_of_message_attributes(), Some(expected.as_str()));

    let failed: HashMap<&str, &str> = output.failed().iter().map(|e| (e.id(), e.code())).collect();
    assert_eq!(failed, HashMap::from([("bad-body", "InvalidMessageContents"), ("too-late", "InvalidParameterValue")]));
    assert!(output.failed().iter().all(|e| e.sender_fault()));

    let mut bodies: Vec<String> = receive(&client, &url, 10, 0).await.iter().map(|m| body(m).to_string()).collect();
    bodies.sort();
    assert_eq!(bodies, ["one", "third", "two"]);
}

#[tokio::test]
async fn test_message_batch_delete_and_change_visibility() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "batch-ops", &[]).await;
    for i in 0..3 {
        common::send(&client, &url, &format!("m{i}")).await;
    }
    let messages = receive(&client, &url, 10, 0).await;
    assert_eq!(messages.len(), 3);
    let handle = |i: usize| messages[i].receipt_handle().unwrap().to_string();

    let output = client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("a")
                .receipt_handle(handle(0))
                .visibility_timeout(0)
                .build()
                .unwrap(),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("b")
                .receipt_handle(handle(1))
                .visibility_timeout(0)
                .build()
                .unwrap(),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("c")
                .receipt_handle("not-a-handle")
                .visibility_timeout(0)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let successful: BTreeSet<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(successful, BTreeSet::from(["a", "b"]));
    assert_eq!(output.failed().len(), 1);
    assert_eq!(output.failed()[0].id(), "c");
    assert_eq!(output.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert_eq!(
        output.failed()[0].message(),
        Some("The input receipt handle \"not-a-handle\" is not a valid receipt handle.")
    );
    assert_eq!(common::message_counts(&client, &url).await, (2, 1, 0));

    let again = receive(&client, &url, 10, 0).await;
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|m| receive_count(m) == 2));
    // As in SQS, the handle of the first receive of a message received again since deletes it
    // (it comes first, while the message is in flight under the newer receive); the newer
    // handle then names a message that is gone, which succeeds too.
    let mut entries =
        vec![DeleteMessageBatchRequestEntry::builder().id("earlier").receipt_handle(handle(0)).build().unwrap()];
    for (i, message) in again.iter().enumerate() {
        let handle = message.receipt_handle().unwrap();
        entries.push(
            DeleteMessageBatchRequestEntry::builder().id(format!("d{i}")).receipt_handle(handle).build().unwrap(),
        );
    }
    entries.push(DeleteMessageBatchRequestEntry::builder().id("third").receipt_handle(handle(2)).build().unwrap());
    let output = client.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
    let successful: BTreeSet<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(successful, BTreeSet::from(["earlier", "d0", "d1", "third"]));
    assert!(output.failed().is_empty(), "{output:?}");
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
}

#[tokio::test]
async fn test_message_invalid_characters_are_invalid_message_contents() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "contents", &[]).await;
    for text in ["nul \u{0} byte", "bell \u{7}", "not a char \u{FFFE}", "\u{1F}"] {
        let error = service_error(client.send_message().queue_url(&url).message_body(text).send().await);
        assert!(error.is_invalid_message_contents(), "{text:?}: {error:?}");
        assert_eq!(error.code(), Some("InvalidMessageContents"));
    }
    // The edges of the allowed set pass.
    for text in ["\t\n\r", "\u{20}\u{D7FF}", "\u{E000}\u{FFFD}", "\u{10000}\u{10FFFF}"] {
        client
            .send_message()
            .queue_url(&url)
            .message_body(text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
    }
    assert_eq!(common::message_counts(&client, &url).await, (4, 0, 0));
}

#[tokio::test]
async fn test_message_oversized_is_refused() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "sizes", &[]).await;
    let largest = "x".repeat(1_048_576);
    client.send_message().queue_url(&url).message_body(&largest).send().await.unwrap();
    let error = service_error(client.send_message().queue_url(&url).message_body(format!("{largest}y")).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");

    // Attributes count towards the size, and a queue's MaximumMessageSize is honoured.
    let small = create_queue(&client, "small", &[(QueueAttributeName::MaximumMessageSize, "1024")]).await;
    client.send_message().queue_url(&small).message_body("y".repeat(1024)).send().await.unwrap();
    let error = service_error(client.send_message().queue_url(&small).message_body("y".repeat(1025)).send().await);
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let error = service_error(
        client
            .send_message()
            .queue_url(&small)
            .message_body("y".repeat(1000))
            .message_attributes("padding", string_attribute("String", &"z".repeat(100)))
            .send()
            .await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");

    let received = receive(&client, &url, 1, 0).await;
    assert_eq!(received.len(), 1);
    assert_eq!(body(&received[0]).len(), 1_048_576);
    assert_eq!(received[0].md5_of_body(), Some(md5_hex(largest.as_bytes()).as_str()));
}

#[tokio::test]
async fn test_message_receipt_handle_of_earlier_receive_works_as_in_sqs() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "earlier", &[]).await;
    common::send(&client, &url, "twice received").await;
    let first = receive_with_zero_visibility(&client, &url).await;
    let second = common::receive_with_visibility(&client, &url, 1, 60).await;
    assert_eq!(second.len(), 1);
    assert_eq!(receive_count(&second[0]), 2);
    let earlier = first.receipt_handle().unwrap();

    // While the message is in flight under the second receive, the first receive's handle
    // changes its visibility: to 0, the message is visible at once.
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(earlier)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (1, 0, 0));
    // Of a message that is visible, a visibility change succeeds and changes nothing.
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(earlier)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (1, 0, 0));

    // Received a third time, the message is deleted by the first receive's handle.
    let third = common::receive_with_visibility(&client, &url, 1, 60).await;
    assert_eq!(receive_count(&third[0]), 3);
    client.delete_message().queue_url(&url).receipt_handle(earlier).send().await.unwrap();
    assert_eq!(common::message_counts(&client, &url).await, (0, 0, 0));
    // Every handle of a message that is gone deletes again.
    common::delete(&client, &url, &third[0]).await;
    client.delete_message().queue_url(&url).receipt_handle(earlier).send().await.unwrap();
    // Changing the visibility of a deleted message is refused, as SQS refuses it.
    let gone = second[0].receipt_handle().unwrap();
    let error = service_error(
        client.change_message_visibility().queue_url(&url).receipt_handle(gone).visibility_timeout(10).send().await,
    );
    assert_eq!(error.code(), Some("InvalidParameterValue"), "{error:?}");
    let expected = format!(
        "Value {gone} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    );
    assert_eq!(error.message(), Some(expected.as_str()));
}

async fn receive_with_zero_visibility(client: &aws_sdk_sqs::Client, url: &str) -> aws_sdk_sqs::types::Message {
    let messages = common::receive_with_visibility(client, url, 1, 0).await;
    assert_eq!(messages.len(), 1);
    messages.into_iter().next().unwrap()
}

#[tokio::test]
async fn test_message_trace_header_system_attribute_round_trips() {
    use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "traced", &[]).await;
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let value = MessageSystemAttributeValue::builder().data_type("String").string_value(trace).build().unwrap();
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("traced")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value)
        .send()
        .await
        .unwrap();
    let expected =
        md5_of_message_attributes(&HashMap::from([("AWSTraceHeader".to_string(), string_attribute("String", trace))]));
    assert_eq!(sent.md5_of_message_system_attributes(), Some(expected.as_str()));
    let messages = receive(&client, &url, 1, 0).await;
    assert_eq!(common::system_attribute(&messages[0], MessageSystemAttributeName::AwsTraceHeader), trace);
    // A user attribute is not mistaken for a system one.
    assert!(messages[0].message_attributes().is_none_or(|a| a.is_empty()));
}

#[tokio::test]
async fn test_message_legacy_attribute_names_select_system_attributes() {
    let (_server, client) = common::start().await;
    let url = create_queue(&client, "legacy-names", &[]).await;
    common::send(&client, &url, "x").await;
    #[allow(deprecated)]
    let output = client
        .receive_message()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("ApproximateReceiveCount"))
        .send()
        .await
        .unwrap();
    let attributes = output.messages()[0].attributes().expect("the requested attribute");
    let names: Vec<&MessageSystemAttributeName> = attributes.keys().collect();
    assert_eq!(names, [&MessageSystemAttributeName::ApproximateReceiveCount]);
    assert_eq!(attributes[&MessageSystemAttributeName::ApproximateReceiveCount], "1");
}
