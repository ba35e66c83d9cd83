"""SNS smoke tests: the AWS CLI and boto3 against the real binary (Query protocol 2010-03-31)."""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, REGION
from test_smoke import aws_cli


@pytest.fixture
def sns(shoal):
    config = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.session.Session().client(
        "sns",
        endpoint_url=shoal.endpoint,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )


def test_cli_sns_topic_lifecycle(shoal):
    created = aws_cli(shoal, "sns", "create-topic", "--name", "cli-topic", "--tags", "Key=team,Value=a")
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:cli-topic"
    assert created["TopicArn"] == arn
    listed = aws_cli(shoal, "sns", "list-topics")
    assert [topic["TopicArn"] for topic in listed["Topics"]] == [arn]
    attributes = aws_cli(shoal, "sns", "get-topic-attributes", "--topic-arn", arn)["Attributes"]
    assert attributes["TopicArn"] == arn
    assert attributes["Owner"] == ACCOUNT_ID
    tags = aws_cli(shoal, "sns", "list-tags-for-resource", "--resource-arn", arn)["Tags"]
    assert tags == [{"Key": "team", "Value": "a"}]
    aws_cli(shoal, "sns", "delete-topic", "--topic-arn", arn)
    assert aws_cli(shoal, "sns", "list-topics")["Topics"] == []


def test_boto3_sns_errors_are_sns_shaped(sns):
    with pytest.raises(ClientError) as missing:
        sns.get_topic_attributes(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:absent")
    error = missing.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("NotFound", "Topic does not exist")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    sns.create_topic(Name="t", Attributes={"DisplayName": "one"})
    with pytest.raises(ClientError) as conflict:
        sns.create_topic(Name="t", Attributes={"DisplayName": "two"})
    assert conflict.value.response["Error"]["Code"] == "InvalidParameter"

    fifo = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true"})
    attributes = sns.get_topic_attributes(TopicArn=fifo["TopicArn"])["Attributes"]
    assert attributes["FifoTopic"] == "true"


def test_boto3_and_cli_publish_to_subscribed_queues(shoal, sns, sqs):
    topic = sns.create_topic(Name="news")["TopicArn"]
    envelope_url = sqs.create_queue(QueueName="envelope")["QueueUrl"]
    raw_url = sqs.create_queue(QueueName="raw")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:envelope")
    subscribed = aws_cli(
        shoal,
        "sns",
        "subscribe",
        "--topic-arn",
        topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:raw",
        "--attributes",
        '{"RawMessageDelivery":"true","FilterPolicy":"{\\"colour\\":[\\"red\\"]}"}',
    )
    assert subscribed["SubscriptionArn"].startswith(topic + ":")
    sns.publish(
        TopicArn=topic,
        Message="red one",
        MessageAttributes={
            "colour": {"DataType": "String", "StringValue": "red"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"},
            "sizes": {"DataType": "String.Array", "StringValue": '["S", "M"]'},
        },
    )
    aws_cli(shoal, "sns", "publish", "--topic-arn", topic, "--message", "blue one")

    raw = sqs.receive_message(QueueUrl=raw_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=2)
    assert [m["Body"] for m in raw["Messages"]] == ["red one"]
    attributes = raw["Messages"][0]["MessageAttributes"]
    assert attributes["colour"] == {"DataType": "String", "StringValue": "red"}
    assert attributes["blob"] == {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}
    assert attributes["sizes"]["DataType"] == "String.Array"

    bodies = []
    for _ in range(5):
        received = sqs.receive_message(QueueUrl=envelope_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies.extend(json.loads(m["Body"]) for m in received.get("Messages", []))
        if len(bodies) == 2:
            break
    assert sorted(b["Message"] for b in bodies) == ["blue one", "red one"]
    red = next(b for b in bodies if b["Message"] == "red one")
    assert red["Type"] == "Notification"
    assert red["TopicArn"] == topic
    assert red["MessageAttributes"]["blob"] == {"Type": "Binary", "Value": "AgME"}

    with pytest.raises(ClientError) as empty:
        sns.publish(TopicArn=topic, Message="")
    assert (empty.value.response["Error"]["Code"], empty.value.response["Error"]["Message"]) == (
        "InvalidParameter",
        "Invalid parameter: Empty message",
    )
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Endpoint"].rsplit(":", 1)[1] for s in listed) == ["envelope", "raw"]
