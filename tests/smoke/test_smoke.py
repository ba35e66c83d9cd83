"""Smoke tests: the real `shoal` binary driven by real clients (boto3, the aws CLI, raw Query HTTP).

boto3 and the CLI speak SQS JSON 1.0; the raw tests speak the Query protocol with urllib, so both
wire formats are checked end to end. Every loop and wait is bounded.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import (
    QUERY_NAMESPACE,
    make_sqs_client,
    md5_hex,
    md5_of_message_attributes,
)

NONEXISTENT_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
CLI_TIMEOUT_S = 60
HTTP_TIMEOUT_S = 30
DURABLE_MESSAGE_COUNT = 50
RECEIVE_ATTEMPTS_MAX = 30


def receive_all(sqs, queue_url, expected_count, **kwargs):
    """Receive (and keep) messages until `expected_count` arrived or the attempts run out."""
    messages = []
    for _ in range(RECEIVE_ATTEMPTS_MAX):
        if len(messages) >= expected_count:
            break
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kwargs
        )
        messages.extend(response.get("Messages", []))
    return messages


# ---------------------------------------------------------------------------------------------
# boto3 (JSON 1.0)


def test_boto3_message_round_trips_and_delete_removes_it(shoal, sqs):
    queue_url = sqs.create_queue(QueueName="smoke-q")["QueueUrl"]
    assert queue_url == shoal.queue_url("smoke-q")
    assert sqs.get_queue_url(QueueName="smoke-q")["QueueUrl"] == queue_url

    body = "héllo from boto3 ✓"
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "weight": {"DataType": "Number", "StringValue": "42"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xffshoal"},
    }
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == md5_hex(body.encode("utf-8"))
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(attributes)

    messages = receive_all(
        sqs,
        queue_url,
        1,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )
    assert len(messages) == 1
    message = messages[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["MD5OfBody"] == md5_hex(body.encode("utf-8"))
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["SentTimestamp"].isdigit()
    received = message["MessageAttributes"]
    assert set(received) == set(attributes)
    assert received["color"]["DataType"] == "String"
    assert received["color"]["StringValue"] == "blue"
    assert received["weight"]["DataType"] == "Number"
    assert received["weight"]["StringValue"] == "42"
    assert received["raw"]["DataType"] == "Binary"
    assert received["raw"]["BinaryValue"] == b"\x00\xffshoal"
    assert message["MD5OfMessageAttributes"] == md5_of_message_attributes(attributes)

    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    again = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert again.get("Messages", []) == []


def test_boto3_fifo_content_deduplication_delivers_once(sqs):
    queue_url = sqs.create_queue(
        QueueName="x.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]

    first = sqs.send_message(QueueUrl=queue_url, MessageBody="same body", MessageGroupId="g1")
    second = sqs.send_message(QueueUrl=queue_url, MessageBody="same body", MessageGroupId="g1")
    assert first["MessageId"] == second["MessageId"]

    messages = receive_all(sqs, queue_url, 1, AttributeNames=["All"])
    assert [message["Body"] for message in messages] == ["same body"]
    assert messages[0]["MessageId"] == first["MessageId"]
    assert messages[0]["Attributes"]["ApproximateReceiveCount"] == "1"

    # Deleting releases the group: a duplicate, had one been stored, would be delivered now.
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    again = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert again.get("Messages", []) == []


def test_boto3_fifo_send_with_delay_seconds_zero_is_accepted(sqs):
    queue_url = sqs.create_queue(
        QueueName="zero-delay.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="now", MessageGroupId="g", DelaySeconds=0)
    messages = receive_all(sqs, queue_url, 1)
    assert [message["MessageId"] for message in messages] == [sent["MessageId"]]


def test_boto3_get_queue_url_missing_queue_is_nonexistent_queue(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.get_queue_url(QueueName="no-such-queue")
    error = raised.value.response["Error"]
    assert error["Code"] in NONEXISTENT_QUEUE_CODES
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # SDK users catch the modeled exception; botocore picks it from the error shape name.
    assert isinstance(raised.value, sqs.exceptions.QueueDoesNotExist)
    if error["Code"] == "AWS.SimpleQueueService.NonExistentQueue":
        assert error["Type"] == "Sender"


# ---------------------------------------------------------------------------------------------
# aws CLI (JSON 1.0, through its own botocore)


def aws_cli(shoal, *arguments):
    executable = Path(sys.executable).parent / "aws"
    if not executable.exists():
        found = shutil.which("aws")
        assert found, "aws CLI not installed; run scripts/setup.sh"
        executable = Path(found)
    command = [
        str(executable),
        "--endpoint-url",
        shoal.endpoint,
        "--region",
        "us-east-1",
        "--output",
        "json",
        *arguments,
    ]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, f"{' '.join(arguments)} failed:\n{completed.stderr}"
    return json.loads(completed.stdout) if completed.stdout.strip() else {}


def test_cli_message_round_trips(shoal):
    created = aws_cli(shoal, "sqs", "create-queue", "--queue-name", "cli-q")
    queue_url = created["QueueUrl"]
    assert queue_url == shoal.queue_url("cli-q")

    body = "hello from the aws cli"
    sent = aws_cli(shoal, "sqs", "send-message", "--queue-url", queue_url, "--message-body", body)
    assert sent["MD5OfMessageBody"] == md5_hex(body.encode("utf-8"))

    received = aws_cli(
        shoal,
        "sqs",
        "receive-message",
        "--queue-url",
        queue_url,
        "--max-number-of-messages",
        "10",
        "--wait-time-seconds",
        "1",
    )
    assert [message["Body"] for message in received["Messages"]] == [body]
    assert received["Messages"][0]["MessageId"] == sent["MessageId"]


# ---------------------------------------------------------------------------------------------
# Raw Query protocol (form POST, XML responses), no SDK


def query(url, parameters):
    """POST a Query request; returns (HTTP status, parsed XML root)."""
    data = urllib.parse.urlencode(parameters).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, ElementTree.fromstring(response.read())
    except urllib.error.HTTPError as error:
        return error.code, ElementTree.fromstring(error.read())


def tag(name):
    return f"{{{QUERY_NAMESPACE}}}{name}"


def local_name(element):
    return element.tag.rsplit("}", 1)[-1]


def find_local(root, name):
    """First descendant with this local name, namespace or not (error bodies vary)."""
    for element in root.iter():
        if local_name(element) == name:
            return element
    return None


def name_value_pairs(parent, element_name):
    """<Attribute><Name>n</Name><Value>v</Value></Attribute> children as a dict."""
    pairs = {}
    for element in parent.findall(tag(element_name)):
        pairs[element.findtext(tag("Name"))] = element
    return pairs


def test_query_queue_lifecycle_round_trips(shoal):
    status, root = query(
        shoal.endpoint + "/",
        {
            "Action": "CreateQueue",
            "QueueName": "q1",
            "Version": "2012-11-05",
            "Attribute.1.Name": "VisibilityTimeout",
            "Attribute.1.Value": "40",
        },
    )
    assert status == 200
    assert root.tag == tag("CreateQueueResponse")
    queue_url = root.findtext(f"{tag('CreateQueueResult')}/{tag('QueueUrl')}")
    assert queue_url == shoal.queue_url("q1")
    assert root.findtext(f"{tag('ResponseMetadata')}/{tag('RequestId')}")

    body = "hello over query & xml <ok>"
    status, root = query(
        queue_url,
        {
            "Action": "SendMessage",
            "Version": "2012-11-05",
            "QueueUrl": queue_url,
            "MessageBody": body,
            "MessageAttribute.1.Name": "color",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "green",
        },
    )
    assert status == 200
    assert root.tag == tag("SendMessageResponse")
    result = root.find(tag("SendMessageResult"))
    assert result.findtext(tag("MD5OfMessageBody")) == md5_hex(body.encode("utf-8"))
    assert result.findtext(tag("MD5OfMessageAttributes")) == md5_of_message_attributes(
        {"color": {"DataType": "String", "StringValue": "green"}}
    )
    message_id = result.findtext(tag("MessageId"))
    assert message_id

    status, root = query(
        queue_url,
        {
            "Action": "ReceiveMessage",
            "Version": "2012-11-05",
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": "10",
            "WaitTimeSeconds": "1",
            "AttributeName.1": "All",
            "MessageAttributeName.1": "All",
        },
    )
    assert status == 200
    assert root.tag == tag("ReceiveMessageResponse")
    messages = root.findall(f"{tag('ReceiveMessageResult')}/{tag('Message')}")
    assert len(messages) == 1
    message = messages[0]
    assert message.findtext(tag("MessageId")) == message_id
    assert message.findtext(tag("Body")) == body
    assert message.findtext(tag("MD5OfBody")) == md5_hex(body.encode("utf-8"))
    system_attributes = name_value_pairs(message, "Attribute")
    assert system_attributes["ApproximateReceiveCount"].findtext(tag("Value")) == "1"
    message_attributes = name_value_pairs(message, "MessageAttribute")
    color = message_attributes["color"].find(tag("Value"))
    assert color.findtext(tag("DataType")) == "String"
    assert color.findtext(tag("StringValue")) == "green"
    receipt_handle = message.findtext(tag("ReceiptHandle"))
    assert receipt_handle

    status, root = query(
        queue_url,
        {
            "Action": "GetQueueAttributes",
            "Version": "2012-11-05",
            "QueueUrl": queue_url,
            "AttributeName.1": "VisibilityTimeout",
        },
    )
    assert status == 200
    result = root.find(tag("GetQueueAttributesResult"))
    queue_attributes = name_value_pairs(result, "Attribute")
    assert queue_attributes["VisibilityTimeout"].findtext(tag("Value")) == "40"

    status, root = query(
        queue_url,
        {
            "Action": "DeleteMessage",
            "Version": "2012-11-05",
            "QueueUrl": queue_url,
            "ReceiptHandle": receipt_handle,
        },
    )
    assert status == 200
    assert root.tag == tag("DeleteMessageResponse")


def test_query_get_queue_url_missing_queue_is_sender_error(shoal):
    status, root = query(
        shoal.endpoint + "/",
        {"Action": "GetQueueUrl", "QueueName": "no-such-queue", "Version": "2012-11-05"},
    )
    assert status == 400
    assert local_name(root) == "ErrorResponse"
    error = find_local(root, "Error")
    assert error is not None
    assert find_local(error, "Code").text == "AWS.SimpleQueueService.NonExistentQueue"
    assert find_local(error, "Type").text == "Sender"
    assert find_local(root, "RequestId") is not None


def test_query_unknown_action_is_invalid_action(shoal):
    status, root = query(
        shoal.endpoint + "/", {"Action": "MakeCoffee", "Version": "2012-11-05"}
    )
    assert status == 400
    assert local_name(root) == "ErrorResponse"
    assert find_local(root, "Code").text == "InvalidAction"


# ---------------------------------------------------------------------------------------------
# Durability


def test_durability_acknowledged_messages_survive_sigkill(shoal, sqs):
    queue_url = sqs.create_queue(QueueName="durable-q")["QueueUrl"]
    bodies = {f"durable message {index}" for index in range(DURABLE_MESSAGE_COUNT)}
    for body in sorted(bodies):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    shoal.kill()
    shoal.start()
    restarted = make_sqs_client(shoal.endpoint)
    assert restarted.get_queue_url(QueueName="durable-q")["QueueUrl"] == queue_url

    received = []
    for _ in range(RECEIVE_ATTEMPTS_MAX):
        if len(received) >= DURABLE_MESSAGE_COUNT:
            break
        response = restarted.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            received.append(message["Body"])
            restarted.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    assert len(received) == DURABLE_MESSAGE_COUNT, "a message was lost or delivered twice"
    assert set(received) == bodies
