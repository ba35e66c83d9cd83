"""SNS smoke tests: the AWS CLI and boto3 against the real binary (Query protocol 2010-03-31)."""

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
