"""Producer flow control seen by boto3: a send to a queue whose consumer falls behind is held,
then refused with 403 RequestThrottled, and boto3 retries it in both of its retry modes
(legacy, boto3's default, retries SQS's RequestThrottled only with status 403; standard
retries it by code). Every loop is bounded.
"""

import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import make_sqs_client

DEADLINE_S = 90


def client(endpoint, mode):
    return make_sqs_client(endpoint, retries={"mode": mode, "total_max_attempts": 3})


def batch(start):
    return [{"Id": f"m{i}", "MessageBody": f"message {i}"} for i in range(start, start + 10)]


@pytest.mark.parametrize("mode", ["legacy", "standard"])
def test_boto3_retries_a_throttled_send(shoal, mode):
    producer = client(shoal.endpoint, mode)
    consumer = client(shoal.endpoint, "standard")
    url = producer.create_queue(QueueName=f"throttled-{mode}")["QueueUrl"]

    # Every attempt's error code, as boto3's retry handlers see it.
    attempt_codes = []

    def record(response=None, **_):
        if response is not None:
            attempt_codes.append(response[1].get("Error", {}).get("Code"))

    producer.meta.events.register("needs-retry.sqs.SendMessageBatch", record)

    # A consumer that takes one message every 500 ms and deletes nothing: active, and slower
    # than the producer.
    stop = threading.Event()

    def consume():
        while not stop.is_set():
            consumer.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
            time.sleep(0.5)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        retried, refused = None, None
        deadline = time.monotonic() + DEADLINE_S
        start = 0
        while retried is None and time.monotonic() < deadline:
            try:
                response = producer.send_message_batch(QueueUrl=url, Entries=batch(start))
                if response["ResponseMetadata"]["RetryAttempts"] > 0:
                    retried = response
            except ClientError as error:
                refused = error
                retried = error.response
            start += 10
    finally:
        stop.set()
        thread.join(timeout=10)

    assert retried is not None, f"no send was retried within {DEADLINE_S} s: {attempt_codes}"
    assert "RequestThrottled" in attempt_codes, attempt_codes
    assert retried["ResponseMetadata"]["RetryAttempts"] >= 1
    if refused is not None:
        # All three attempts were throttled: the error is SQS's, with its status.
        assert refused.response["Error"]["Code"] == "RequestThrottled"
        assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert refused.response["ResponseMetadata"]["RetryAttempts"] == 2
