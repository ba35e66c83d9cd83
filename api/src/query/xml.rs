//! SQS Query protocol responses: renders JSON 1.0 response objects and errors as Query XML.
//!
//! Handlers produce the JSON object of the JSON 1.0 protocol; for Query requests this module
//! renders it the way SQS does, following the shapes in `query_model.rs`:
//!
//! - `<{Action}Response xmlns="http://queue.amazonaws.com/doc/2012-11-05/">`, then
//!   `<{Action}Result>` and `<ResponseMetadata><RequestId>`. Actions without output in the model
//!   (DeleteMessage, PurgeQueue, ...) have no Result element; actions with output always have one,
//!   self-closing when empty (`<ReceiveMessageResult/>` when no message arrived).
//! - Lists and maps are flattened: `QueueUrls` becomes repeated `<QueueUrl>`, `Attributes` becomes
//!   repeated `<Attribute><Name>..</Name><Value>..</Value></Attribute>`, `Tags` repeated
//!   `<Tag><Key>..</Key><Value>..</Value></Tag>`, batch results repeated `<...ResultEntry>`.
//! - Members are written in model order; members the model does not know are written after them
//!   as elements of the same name (arrays as repeated elements), so nothing is silently lost.
//!   `null` members are left out. Member names that are not plain XML names are dropped, so the
//!   document is always well-formed (action names come from the one table of actions).
//! - Text is escaped: `& < > " '` as entities, `\r` as `&#xD;` so it survives XML line-end
//!   normalisation, and characters XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF) as U+FFFD,
//!   because even a character reference to them is not well-formed XML 1.0.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::model::{Member, ModelAction, ServiceModel, Shape};

/// Renders the JSON 1.0 response object `result` of `action` as the Query protocol XML document.
pub fn json_to_xml_response<A: ModelAction>(
    model: &ServiceModel<A>,
    action: A,
    result: &Value,
    request_id: &str,
) -> String {
    let output = model.operation(action).map(|operation| operation.output);
    let action = action.name();
    let namespace = model.namespace;
    let mut content = String::new();
    if let Value::Object(object) = result {
        render_structure(&mut content, output.flatten().unwrap_or(&[]), object);
    }
    let has_output = matches!(output, Some(Some(_)));

    let mut out = String::with_capacity(content.len() + 256);
    let _ = write!(out, "<?xml version=\"1.0\"?><{action}Response xmlns=\"{namespace}\">");
    if !content.is_empty() {
        let _ = write!(out, "<{action}Result>{content}</{action}Result>");
    } else if has_output {
        let _ = write!(out, "<{action}Result/>");
    }
    out.push_str("<ResponseMetadata><RequestId>");
    push_escaped(&mut out, request_id);
    let _ = write!(out, "</RequestId></ResponseMetadata></{action}Response>");
    out
}

/// Renders an SQS error as the Query protocol XML document.
pub fn xml_error(namespace: &str, code: &str, message: &str, sender_fault: bool, request_id: &str) -> String {
    let fault = if sender_fault { "Sender" } else { "Receiver" };
    let mut out = String::with_capacity(256 + message.len());
    let _ =
        write!(out, "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{namespace}\"><Error><Type>{fault}</Type><Code>");
    push_escaped(&mut out, code);
    out.push_str("</Code><Message>");
    push_escaped(&mut out, message);
    out.push_str("</Message><Detail/></Error><RequestId>");
    push_escaped(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    out
}

/// Writes the members of `object`: the modelled ones in model order, then the others.
fn render_structure(out: &mut String, members: &[Member], object: &Map<String, Value>) {
    for member in members {
        if let Some(value) = object.get(member.json) {
            render_member(out, member.json, member.shape, value);
        }
    }
    for (name, value) in object {
        let is_modelled = members.iter().any(|member| member.json == name);
        if !is_modelled && is_element_name(name) {
            render_member(out, name, &Shape::String, value);
        }
    }
}

/// Writes one member as its element, or as repeated elements for lists, maps and arrays.
fn render_member(out: &mut String, name: &str, shape: &Shape, value: &Value) {
    match (shape, value) {
        (_, Value::Null) => {}
        (Shape::List { item, member }, Value::Array(elements)) => {
            for element in elements {
                render_member(out, item, member, element);
            }
        }
        (Shape::Map { item, key, value, value_shape }, Value::Object(entries)) => {
            for (entry_key, entry_value) in entries {
                let _ = write!(out, "<{item}><{key}>");
                push_escaped(out, entry_key);
                let _ = write!(out, "</{key}>");
                render_member(out, value, value_shape, entry_value);
                let _ = write!(out, "</{item}>");
            }
        }
        (Shape::Wrapped(inner), value) => {
            let _ = write!(out, "<{name}>");
            render_member(out, name, inner, value);
            let _ = write!(out, "</{name}>");
        }
        (_, Value::Array(elements)) => {
            for element in elements {
                render_member(out, name, &Shape::String, element);
            }
        }
        (_, _) => {
            let _ = write!(out, "<{name}>");
            render_content(out, shape, value);
            let _ = write!(out, "</{name}>");
        }
    }
}

/// Writes the content of one element.
fn render_content(out: &mut String, shape: &Shape, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(text) => push_escaped(out, text),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Object(object) => {
            let members = match shape {
                Shape::Structure(members) => members,
                _ => &[][..],
            };
            render_structure(out, members, object);
        }
        Value::Array(elements) => {
            for element in elements {
                render_member(out, "member", &Shape::String, element);
            }
        }
    }
}

/// Whether `name` can be used as an element name as is: ASCII letters, digits, `_`, `-` and `.`,
/// not starting with a digit, `-` or `.`.
fn is_element_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// Appends `text` escaped for XML 1.0 element content.
fn push_escaped(out: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => {
                out.push(character)
            }
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::sqs::query_model::MODEL;
    use crate::sqs::SqsAction;

    const XML_NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
    use super::*;

    /// Checks the document for `result`; `expected_result` is everything between the opening
    /// `<{action}Response>` tag and `<ResponseMetadata>`.
    fn check(action: &str, result: Value, expected_result: &str) {
        let expected = format!(
            "<?xml version=\"1.0\"?><{action}Response xmlns=\"{XML_NAMESPACE}\">{expected_result}\
             <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></{action}Response>"
        );
        let action = SqsAction::from_name(action).unwrap();
        assert_eq!(json_to_xml_response(&MODEL, action, &result, "req-1"), expected);
    }

    fn check_escaped(text: &str, expected: &str) {
        let mut out = String::new();
        push_escaped(&mut out, text);
        assert_eq!(out, expected);
    }

    #[test]
    fn test_response_create_queue_full_document() {
        let xml = json_to_xml_response(&MODEL, SqsAction::CreateQueue, &json!({"QueueUrl": "http://h/1/q"}), "id-9");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?><CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
             <CreateQueueResult><QueueUrl>http://h/1/q</QueueUrl></CreateQueueResult>\
             <ResponseMetadata><RequestId>id-9</RequestId></ResponseMetadata></CreateQueueResponse>"
        );
    }

    #[test]
    fn test_response_without_output_has_no_result() {
        let without_output: Vec<&str> = MODEL
            .operations
            .iter()
            .filter(|operation| operation.output.is_none())
            .map(|operation| operation.action.name())
            .collect();
        assert_eq!(without_output.len(), 9);
        for action in without_output {
            check(action, json!({}), "");
        }
    }

    #[test]
    fn test_response_empty_output_is_self_closing() {
        check("ReceiveMessage", json!({}), "<ReceiveMessageResult/>");
        check("ReceiveMessage", json!({"Messages": []}), "<ReceiveMessageResult/>");
        check("ListQueues", Value::Null, "<ListQueuesResult/>");
    }

    #[test]
    fn test_response_queue_url_lists_flattened() {
        check(
            "ListQueues",
            json!({"QueueUrls": ["u1", "u2"], "NextToken": "t"}),
            "<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl><NextToken>t</NextToken></ListQueuesResult>",
        );
        check(
            "ListDeadLetterSourceQueues",
            json!({"queueUrls": ["u1"]}),
            "<ListDeadLetterSourceQueuesResult><QueueUrl>u1</QueueUrl></ListDeadLetterSourceQueuesResult>",
        );
    }

    #[test]
    fn test_response_receive_message_with_attributes() {
        check(
            "ReceiveMessage",
            json!({"Messages": [{
                "MessageAttributes": {
                    "blob": {"DataType": "Binary", "BinaryValue": "AAEC"},
                    "color": {"StringValue": "blue", "DataType": "String"},
                    "list": {"DataType": "String", "StringListValues": ["x", "y"]},
                },
                "Body": "hi & bye",
                "MessageId": "m1",
                "ReceiptHandle": "r1",
                "MD5OfBody": "b5",
                "MD5OfMessageAttributes": "a5",
                "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
            }, {"MessageId": "m2"}]}),
            "<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>r1</ReceiptHandle>\
             <MD5OfBody>b5</MD5OfBody><Body>hi &amp; bye</Body>\
             <Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>\
             <Attribute><Name>SentTimestamp</Name><Value>1700000000000</Value></Attribute>\
             <MD5OfMessageAttributes>a5</MD5OfMessageAttributes>\
             <MessageAttribute><Name>blob</Name><Value><BinaryValue>AAEC</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute>\
             <MessageAttribute><Name>color</Name><Value><StringValue>blue</StringValue><DataType>String</DataType></Value></MessageAttribute>\
             <MessageAttribute><Name>list</Name><Value><StringListValue>x</StringListValue><StringListValue>y</StringListValue><DataType>String</DataType></Value></MessageAttribute>\
             </Message><Message><MessageId>m2</MessageId></Message></ReceiveMessageResult>",
        );
    }

    #[test]
    fn test_response_attribute_and_tag_maps() {
        check(
            "GetQueueAttributes",
            json!({"Attributes": {"DelaySeconds": "0", "Policy": "{\"a\":1}"}}),
            "<GetQueueAttributesResult><Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute>\
             <Attribute><Name>Policy</Name><Value>{&quot;a&quot;:1}</Value></Attribute></GetQueueAttributesResult>",
        );
        check(
            "ListQueueTags",
            json!({"Tags": {"team": "x<y"}}),
            "<ListQueueTagsResult><Tag><Key>team</Key><Value>x&lt;y</Value></Tag></ListQueueTagsResult>",
        );
    }

    #[test]
    fn test_response_send_message_in_model_order() {
        check(
            "SendMessage",
            json!({"MessageId": "m", "MD5OfMessageBody": "b", "SequenceNumber": "1", "MD5OfMessageAttributes": null}),
            "<SendMessageResult><MD5OfMessageBody>b</MD5OfMessageBody><MessageId>m</MessageId>\
             <SequenceNumber>1</SequenceNumber></SendMessageResult>",
        );
    }

    #[test]
    fn test_response_batch_results_use_entry_names() {
        let failed = json!([{"Id": "b", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "bad"}]);
        let failed_xml = "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault>\
                          <Code>InvalidParameterValue</Code><Message>bad</Message></BatchResultErrorEntry>";
        check(
            "SendMessageBatch",
            json!({"Successful": [{"Id": "a", "MessageId": "m", "MD5OfMessageBody": "b"}], "Failed": failed}),
            &format!(
                "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>a</Id><MessageId>m</MessageId>\
                 <MD5OfMessageBody>b</MD5OfMessageBody></SendMessageBatchResultEntry>{failed_xml}</SendMessageBatchResult>"
            ),
        );
        check(
            "DeleteMessageBatch",
            json!({"Successful": [{"Id": "a"}], "Failed": []}),
            "<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry></DeleteMessageBatchResult>",
        );
        check(
            "ChangeMessageVisibilityBatch",
            json!({"Successful": [], "Failed": failed}),
            &format!("<ChangeMessageVisibilityBatchResult>{failed_xml}</ChangeMessageVisibilityBatchResult>"),
        );
    }

    #[test]
    fn test_response_message_move_tasks() {
        check(
            "ListMessageMoveTasks",
            json!({"Results": [{"TaskHandle": "h", "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 5,
                                "StartedTimestamp": 1700000000000_i64}]}),
            "<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><TaskHandle>h</TaskHandle>\
             <Status>RUNNING</Status><ApproximateNumberOfMessagesMoved>5</ApproximateNumberOfMessagesMoved>\
             <StartedTimestamp>1700000000000</StartedTimestamp></ListMessageMoveTasksResultEntry></ListMessageMoveTasksResult>",
        );
        check(
            "CancelMessageMoveTask",
            json!({"ApproximateNumberOfMessagesMoved": 0}),
            "<CancelMessageMoveTaskResult><ApproximateNumberOfMessagesMoved>0</ApproximateNumberOfMessagesMoved></CancelMessageMoveTaskResult>",
        );
        check(
            "StartMessageMoveTask",
            json!({"TaskHandle": "h"}),
            "<StartMessageMoveTaskResult><TaskHandle>h</TaskHandle></StartMessageMoveTaskResult>",
        );
    }

    #[test]
    fn test_response_unknown_members_rendered_generically() {
        check(
            "GetQueueUrl",
            json!({"QueueUrl": "u", "Extra": [1, "two"], "Nested": {"Flag": false}, "bad name": "x", "": "y"}),
            "<GetQueueUrlResult><QueueUrl>u</QueueUrl><Extra>1</Extra><Extra>two</Extra>\
             <Nested><Flag>false</Flag></Nested></GetQueueUrlResult>",
        );
    }

    #[test]
    fn test_response_request_id_escaped() {
        let xml = json_to_xml_response(&MODEL, SqsAction::PurgeQueue, &json!({}), "a&b");
        assert_eq!(
            xml,
            format!(
                "<?xml version=\"1.0\"?><PurgeQueueResponse xmlns=\"{XML_NAMESPACE}\"><ResponseMetadata>\
                 <RequestId>a&amp;b</RequestId></ResponseMetadata></PurgeQueueResponse>"
            )
        );
    }

    #[test]
    fn test_escape_markup_characters() {
        check_escaped("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        check_escaped("", "");
    }

    #[test]
    fn test_escape_whitespace_and_carriage_return() {
        check_escaped("a\r\nb\tc\n", "a&#xD;\nb\tc\n");
    }

    #[test]
    fn test_escape_invalid_characters_replaced() {
        check_escaped("a\u{0}b\u{1F}c\u{FFFE}d\u{FFFF}", "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}");
        check_escaped(
            "\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}é🦀",
            "\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}é🦀",
        );
    }

    #[test]
    fn test_xml_error_sender_and_receiver() {
        assert_eq!(
            xml_error(XML_NAMESPACE, "AWS.SimpleQueueService.NonExistentQueue", "the queue <q> does not exist", true, "r-1"),
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XML_NAMESPACE}\"><Error><Type>Sender</Type>\
                 <Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>the queue &lt;q&gt; does not exist</Message>\
                 <Detail/></Error><RequestId>r-1</RequestId></ErrorResponse>"
            )
        );
        assert!(xml_error(XML_NAMESPACE, "InternalFailure", "boom", false, "r-2").contains("<Type>Receiver</Type>"));
    }
}
