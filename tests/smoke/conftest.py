"""Fixtures for the smoke tests: start the real `shoal` binary and point real AWS clients at it.

The binary comes from $SHOAL_BIN (scripts/test.sh sets it), else from the debug build in
${CARGO_TARGET_DIR:-target}. Every wait is bounded; a server that dies or never listens fails
the test with the tail of its log.
"""

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
QUERY_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
LOG_TAIL_BYTES = 4000


def _isolate_aws_environment():
    """Dummy credentials and no config files, so no client reads ~/.aws or a real account."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
    )
    # Loopback traffic must never go through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = "127.0.0.1,localhost"


_isolate_aws_environment()


def shoal_binary():
    configured = os.environ.get("SHOAL_BIN")
    if configured:
        return Path(configured).resolve()
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    if not target_dir.is_absolute():
        target_dir = REPO_ROOT / target_dir
    return target_dir / "debug" / "shoal"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ShoalServer:
    """One `shoal serve` process; can be killed and started again on the same data dir and port."""

    def __init__(self, binary, data_dir, port, log_path):
        self.binary = binary
        self.data_dir = data_dir
        self.port = port
        self.raft_port = free_port()
        self.log_path = log_path
        self.process = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def queue_url(self, name):
        return f"{self.endpoint}/{ACCOUNT_ID}/{name}"

    def start(self):
        assert self.process is None, "server already running"
        command = [
            str(self.binary),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--http-addr",
            f"127.0.0.1:{self.port}",
            "--raft-addr",
            f"127.0.0.1:{self.raft_port}",
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_accepting()

    def _wait_until_accepting(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                pass
            try:
                code = self.process.wait(timeout=POLL_INTERVAL_S)
            except subprocess.TimeoutExpired:
                continue
            self.process = None
            pytest.fail(f"shoal exited with code {code} before listening\n{self.log_tail()}")
        self.stop()
        pytest.fail(f"shoal did not listen on {self.port} within {START_TIMEOUT_S}s\n{self.log_tail()}")

    def kill(self):
        """SIGKILL: no chance to flush anything that was not already durable."""
        assert self.process is not None, "server not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited within the bound."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def log_tail(self):
        try:
            data = Path(self.log_path).read_bytes()
        except OSError:
            return "(no log)"
        return "--- shoal log (tail) ---\n" + data[-LOG_TAIL_BYTES:].decode(errors="replace")


@pytest.fixture
def shoal(tmp_path):
    binary = shoal_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"shoal binary not found at {binary}; build it or set SHOAL_BIN")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = ShoalServer(binary, data_dir, free_port(), tmp_path / "shoal.log")
    server.start()
    yield server
    server.stop()


def make_sqs_client(endpoint, retries=None):
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries=retries or {"total_max_attempts": 2, "mode": "standard"},
    )
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )


@pytest.fixture
def sqs(shoal):
    return make_sqs_client(shoal.endpoint)


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def md5_of_message_attributes(attributes):
    """MD5OfMessageAttributes as SQS computes it: names sorted; length-prefixed name, type,
    a transport byte (1 string, 2 binary), then the length-prefixed value."""
    buffer = bytearray()

    def put(data):
        buffer.extend(len(data).to_bytes(4, "big"))
        buffer.extend(data)

    for name in sorted(attributes):
        value = attributes[name]
        put(name.encode("utf-8"))
        put(value["DataType"].encode("utf-8"))
        if "StringValue" in value:
            buffer.append(1)
            put(value["StringValue"].encode("utf-8"))
        else:
            buffer.append(2)
            put(value["BinaryValue"])
    return md5_hex(bytes(buffer))
