"""Cross-group dead-lettering while the leaders of both groups are killed and restarted.
Every message must end up in the dead-letter queue exactly once.

Not run by CI (it takes a few minutes and kills processes); run it by hand:

    SHOAL_BIN=target/release/shoal scripts/local-cluster.sh start 3 --data-groups 3
    .venv/bin/python tests/experiments/dlq_failover.py 2000 exp-source-1 exp-dlq-2

`exp-source-1` is in data group 1 and `exp-dlq-2` in group 2 of a 3-group cluster. Every 2 s
the leader of group 1 or 2 (as a random node reports it) gets SIGKILL and 3 s later a restart,
while consumers receive each message twice (maxReceiveCount 1). The last line is the verdict.
"""
import json, os, random, subprocess, sys, time, threading
import boto3, botocore

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "local-cluster.sh")
ENDPOINTS = ["http://127.0.0.1:9402", "http://127.0.0.1:9404", "http://127.0.0.1:9406"]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
cfg = botocore.config.Config(retries={"max_attempts": 20, "mode": "standard"}, connect_timeout=2, read_timeout=10)
def client(i):
    return boto3.client("sqs", endpoint_url=ENDPOINTS[i], region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x", config=cfg)
def status(i):
    import urllib.request
    return json.load(urllib.request.urlopen(ENDPOINTS[i] + "/_shoal/status", timeout=2))

src, dlq = sys.argv[2], sys.argv[3]
c = client(0)
dlq_url = c.create_queue(QueueName=dlq)["QueueUrl"]
arn = f"arn:aws:sqs:us-east-1:000000000000:{dlq}"
src_url = c.create_queue(QueueName=src, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"})})["QueueUrl"]
sent = set()
for k in range(N):
    body = f"m{k}"
    c.send_message(QueueUrl=src_url, MessageBody=body)
    sent.add(body)
print("sent", len(sent), flush=True)

stop = False
faults = []
def nemesis():
    while not stop:
        time.sleep(2)
        if stop: break
        g = random.choice([1, 2])
        try:
            leader = None
            for i in random.sample(range(3), 3):
                try:
                    leader = status(i)["groups"][g]["leader"]; break
                except Exception: pass
            if leader:
                subprocess.run(["bash", SCRIPT, "kill", str(leader)], capture_output=True)
                faults.append(f"kill leader of group {g}: node {leader}")
                time.sleep(3)
                subprocess.run(["bash", SCRIPT, "restart", str(leader)], capture_output=True)
        except Exception as e:
            faults.append(f"nemesis error {e}")
t = threading.Thread(target=nemesis); t.start()

# Consumers receive without deleting: each message is received once, then dead-lettered.
deadline = time.time() + 150
consumer = [client(i) for i in range(3)]
while time.time() < deadline:
    try:
        r = consumer[random.randrange(3)].receive_message(QueueUrl=src_url, MaxNumberOfMessages=10, VisibilityTimeout=1, WaitTimeSeconds=1)
    except Exception as e:
        continue
    try:
        a = consumer[random.randrange(3)].get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        s = consumer[random.randrange(3)].get_queue_attributes(QueueUrl=src_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        if int(a["Attributes"]["ApproximateNumberOfMessages"]) >= N and s["Attributes"]["ApproximateNumberOfMessages"] == "0" and s["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
    except Exception:
        pass
stop = True; t.join()
print("faults:", len(faults), faults[:3], flush=True)
time.sleep(3)
def drain(url):
    """Every body left in `url`, received (and hidden for 10 minutes) until it answers empty."""
    bodies, empty = [], 0
    while empty < 3:
        try:
            r = consumer[random.randrange(3)].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=600)
        except Exception:
            continue
        ms = r.get("Messages", [])
        if not ms: empty += 1
        bodies.extend(m["Body"] for m in ms)
    return bodies
got = drain(dlq_url)
remaining = drain(src_url)
print(f"still in the source queue (received once at most, not yet dead): {len(set(remaining))}")
lost = sent - set(got) - set(remaining)
dups = len(got) - len(set(got))
unexpected = set(got) - sent
print(f"dead-lettered {len(set(got))} of {len(sent)}; lost {len(lost)}; duplicated {dups}; unexpected {len(unexpected)}")
print("VALID" if not lost and not unexpected and dups == 0 else "INVALID", sorted(lost)[:10])
