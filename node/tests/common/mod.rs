//! Test harness: starts the real `shoal` binary on a free port with a fresh data directory,
//! builds an `aws-sdk-sqs` client for it, and computes the AWS checksums independently of the
//! engine (its own MD5), so the tests judge the broker from the outside.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::{Credentials, Region};
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

pub const ACCOUNT_ID: &str = "000000000000";
pub const REGION: &str = "us-east-1";

/// How long a server may take to recover its store and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two connection attempts while waiting for a server to listen.
const START_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// A fresh port is tried this many times when the server cannot bind the one picked.
const START_ATTEMPTS_MAX: u32 = 3;
/// How much of the server log a failure shows.
const LOG_TAIL_BYTES: u64 = 4000;

static NEXT_SERVER: AtomicU64 = AtomicU64::new(0);

/// Where Debian's libfaketime is; `scripts/setup.sh` installs it.
pub const FAKETIME_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Environment that runs the server under libfaketime with only its wall clock faked (as a real
/// clock step leaves the monotonic clock alone), read afresh on every call; `settings` is
/// `FAKETIME_TIMESTAMP_FILE` or `FAKETIME` and its value.
pub fn faketime_env(setting: (&str, &str)) -> Vec<(String, String)> {
    assert!(
        std::path::Path::new(FAKETIME_LIBRARY).exists(),
        "{FAKETIME_LIBRARY} is missing: run scripts/setup.sh (it installs libfaketime)"
    );
    [("LD_PRELOAD", FAKETIME_LIBRARY), setting, ("FAKETIME_DONT_FAKE_MONOTONIC", "1"), ("FAKETIME_NO_CACHE", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The binary under test: this build's, or another one named by `SHOAL_TEST_BIN` (to show that a
/// test fails on an older build).
fn shoal_binary() -> String {
    std::env::var("SHOAL_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_shoal").to_string())
}

/// One `shoal serve` process. It can be killed with SIGKILL and started again on the same data
/// directory and port; dropping it kills the process and removes its directory.
pub struct Server {
    child: Option<Child>,
    root: PathBuf,
    port: u16,
    raft_port: u16,
    /// Environment variables given to every start of the process.
    env: Vec<(String, String)>,
    /// Extra command-line arguments given to every start (a cluster node's id and peers).
    args: Vec<String>,
}

impl Server {
    /// Starts a server on a fresh data directory and waits until it listens.
    pub async fn start() -> Server {
        Server::start_with_env(&[]).await
    }

    /// `start` with extra environment variables (e.g. `SHOAL_SHUTDOWN_GRACE_MS`).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Server {
        let mut server = Server::prepare(env, Vec::new());
        for attempt in 1..=START_ATTEMPTS_MAX {
            let ports = distinct_free_ports(2);
            (server.port, server.raft_port) = (ports[0], ports[1]);
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(error) if attempt < START_ATTEMPTS_MAX => {
                    eprintln!("shoal did not start on port {} (attempt {attempt}): {error}", server.port);
                }
                Err(error) => panic!("shoal did not start: {error}\n--- server log ---\n{}", server.log_tail()),
            }
        }
        unreachable!("the loop returns or panics");
    }

    fn prepare(env: &[(&str, &str)], args: Vec<String>) -> Server {
        let number = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("shoal-node-test-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the test directory");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Server { child: None, root, port: 0, raft_port: 0, env, args }
    }

    /// Starts a server on a copy of the data directory in `archive` (a `.tar.gz` whose top
    /// directory is `data`), with extra arguments (e.g. the data-group count it was made with).
    pub async fn start_from_archive(archive: &std::path::Path, args: &[&str], env: &[(String, String)]) -> Server {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut server = Server::prepare(&env, args.iter().map(|a| a.to_string()).collect());
        let unpacked =
            Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(&server.root).status().expect("running tar");
        assert!(unpacked.success(), "unpacking {}", archive.display());
        let ports = distinct_free_ports(2);
        (server.port, server.raft_port) = (ports[0], ports[1]);
        if let Err(error) = server.spawn_and_wait().await {
            panic!("shoal did not start: {error}\n--- server log ---\n{}", server.log_tail());
        }
        server
    }

    /// Starts an `nodes`-node cluster on loopback (node ids 1..=nodes) and waits until every
    /// node listens. `args` go to every node (e.g. `--data-groups 3`).
    pub async fn start_cluster(nodes: usize, env: &[(&str, &str)], args: &[&str]) -> Vec<Server> {
        let ports = distinct_free_ports(2 * nodes);
        let ports: Vec<(u16, u16)> = ports.chunks(2).map(|pair| (pair[0], pair[1])).collect();
        let peers: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, raft))| format!("{}=127.0.0.1:{raft}", i + 1)).collect();
        let mut servers = Vec::new();
        for (i, (http, raft)) in ports.iter().enumerate() {
            let mut node_args =
                vec!["--node-id".to_string(), (i + 1).to_string(), "--peers".to_string(), peers.join(",")];
            node_args.extend(args.iter().map(|a| a.to_string()));
            let mut server = Server::prepare(env, node_args);
            server.port = *http;
            server.raft_port = *raft;
            servers.push(server);
        }
        for server in &mut servers {
            if let Err(error) = server.spawn_and_wait().await {
                panic!("cluster node did not start: {error}\n--- server log ---\n{}", server.log_tail());
            }
        }
        servers
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address())
    }

    /// The process id while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// A client with dummy credentials, pointed at this server.
    pub async fn client(&self) -> Client {
        client_for(&self.endpoint()).await
    }

    /// An SNS client of this node's endpoint.
    pub async fn sns_client(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&sdk_config(&self.endpoint()).await)
    }

    /// Kills the process with SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the running process.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("signal to a running server");
        let sent = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status();
        assert!(sent.is_ok_and(|s| s.success()), "sending SIG{name} to shoal");
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let signalled = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        assert!(signalled.is_ok_and(|s| s.success()), "sending SIGTERM to shoal");
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(START_POLL_INTERVAL);
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the process again on the same data directory and port; it must not be running.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again on a running server");
        if let Err(error) = self.spawn_and_wait().await {
            panic!("shoal did not start again: {error}\n--- server log ---\n{}", self.log_tail());
        }
    }

    /// Kills the process if it runs, then starts it again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.kill9();
        if let Err(error) = self.spawn_and_wait().await {
            panic!("shoal did not restart: {error}\n--- server log ---\n{}", self.log_tail());
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("opening the server log: {e}"))?;
        let log_for_stdout = log.try_clone().map_err(|e| format!("cloning the log handle: {e}"))?;
        let started_before = self.serving_lines();
        let child = Command::new(shoal_binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--http-addr")
            .arg(self.address())
            .arg("--raft-addr")
            .arg(format!("127.0.0.1:{}", self.raft_port))
            .args(&self.args)
            .env("SHOAL_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_for_stdout))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", shoal_binary()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!("the server exited with {status}"));
            }
            // Listening on the port is not enough: another test's server may hold it (ports are
            // picked free, then released, then bound); only this process's own log line says it
            // bound the port itself.
            if self.serving_lines() > started_before {
                let connect = tokio::net::TcpStream::connect(self.address());
                if let Ok(Ok(_stream)) = tokio::time::timeout(START_POLL_INTERVAL * 10, connect).await {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(format!("the server did not listen on {} within {START_TIMEOUT:?}", self.address()));
            }
            tokio::time::sleep(START_POLL_INTERVAL).await;
        }
    }

    /// How many times this server's log says it started serving.
    fn serving_lines(&self) -> usize {
        std::fs::read_to_string(self.log_path()).map_or(0, |log| log.matches("shoal is serving").count())
    }

    pub fn log_tail(&self) -> String {
        let Ok(mut file) = File::open(self.log_path()) else {
            return "(no log)".to_string();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::new();
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- shoal log ({}) ---\n{}", self.log_path().display(), self.log_tail());
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `n` different free ports: all listeners are held until every port is known, so the
/// kernel cannot hand the same port out twice (two nodes of one cluster sharing a raft port
/// made a leader send its appends to itself).
fn distinct_free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port")).collect();
    listeners.iter().map(|listener| listener.local_addr().expect("local address").port()).collect()
}

/// A started server and a client for it.
/// A client with dummy credentials, pointed at `endpoint`.
pub async fn client_for(endpoint: &str) -> Client {
    Client::new(&sdk_config(endpoint).await)
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKIDSHOALTEST", "shoal-test-secret", None, None, "shoal-tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

pub async fn start() -> (Server, Client) {
    let server = Server::start().await;
    let client = server.client().await;
    (server, client)
}

pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}")
}

/// Creates a queue with the given attributes and returns its URL.
pub async fn create_queue(client: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), *value);
    }
    let output = request.send().await.unwrap_or_else(|e| panic!("creating queue {name}: {e:?}"));
    output.queue_url().expect("CreateQueue returns a QueueUrl").to_string()
}

/// Creates a FIFO queue `name` (which must end in `.fifo`) with the given extra attributes.
pub async fn create_fifo_queue(client: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut all = vec![(QueueAttributeName::FifoQueue, "true")];
    all.extend(attributes.iter().cloned());
    create_queue(client, name, &all).await
}

/// One queue attribute as the server reports it.
pub async fn queue_attribute(client: &Client, url: &str, name: QueueAttributeName) -> String {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {name}: {e:?}"));
    output.attributes().and_then(|a| a.get(&name)).cloned().unwrap_or_else(|| panic!("attribute {name} is missing"))
}

/// `ApproximateNumberOfMessages`, `...NotVisible` and `...Delayed`.
pub async fn message_counts(client: &Client, url: &str) -> (u64, u64, u64) {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes All: {e:?}"));
    let attributes = output.attributes().expect("GetQueueAttributes All returns attributes");
    let count = |name: QueueAttributeName| -> u64 {
        attributes.get(&name).unwrap_or_else(|| panic!("attribute {name} is missing")).parse().expect("a count")
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

/// ReceiveMessage asking for every system and message attribute.
pub async fn receive(client: &Client, url: &str, max_messages: i32, wait_seconds: i32) -> Vec<Message> {
    receive_all_attributes(client, url, max_messages, Some(wait_seconds), None).await
}

/// ReceiveMessage with an explicit visibility timeout, asking for every attribute.
pub async fn receive_with_visibility(
    client: &Client,
    url: &str,
    max_messages: i32,
    timeout_seconds: i32,
) -> Vec<Message> {
    receive_all_attributes(client, url, max_messages, None, Some(timeout_seconds)).await
}

async fn receive_all_attributes(
    client: &Client,
    url: &str,
    max_messages: i32,
    wait_seconds: Option<i32>,
    timeout_seconds: Option<i32>,
) -> Vec<Message> {
    let output = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max_messages)
        .set_wait_time_seconds(wait_seconds)
        .set_visibility_timeout(timeout_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap_or_else(|e| panic!("ReceiveMessage: {e:?}"));
    output.messages().to_vec()
}

/// ChangeMessageVisibility to 0: the message is visible again at once.
pub async fn make_visible(client: &Client, url: &str, message: &Message) {
    client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ChangeMessageVisibility: {e:?}"));
}

pub async fn send(client: &Client, url: &str, body: &str) -> String {
    let output = client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SendMessage: {e:?}"));
    output.message_id().expect("SendMessage returns a MessageId").to_string()
}

pub async fn delete(client: &Client, url: &str, message: &Message) {
    client
        .delete_message()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().expect("a receipt handle"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteMessage: {e:?}"));
}

/// The system attribute `name` of a received message.
pub fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> &str {
    message
        .attributes()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("system attribute {name} is missing from {message:?}"))
}

pub fn receive_count(message: &Message) -> u32 {
    system_attribute(message, MessageSystemAttributeName::ApproximateReceiveCount).parse().expect("a receive count")
}

pub fn body(message: &Message) -> &str {
    message.body().expect("a body")
}

pub fn message_id(message: &Message) -> &str {
    message.message_id().expect("a message id")
}

/// The service error of a failed call; panics on success or on a transport failure.
pub fn service_error<T: Debug, E: Debug, R: Debug>(result: Result<T, SdkError<E, R>>) -> E {
    match result {
        Ok(output) => panic!("expected an error, got {output:?}"),
        Err(SdkError::ServiceError(error)) => error.into_err(),
        Err(other) => panic!("expected a service error, got {other:?}"),
    }
}

/// Waits until `check` returns `Some`, polling every `interval`, for at most `bound`.
pub async fn wait_for<T, F, Fut>(what: &str, bound: Duration, interval: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {bound:?} waiting for {what}");
        tokio::time::sleep(interval).await;
    }
}

// --- Checksums, computed here from the AWS documentation, not with the engine's code. ---

/// MD5 (RFC 1321).
pub fn md5(data: &[u8]) -> [u8; 16] {
    const SHIFTS: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let mut constants = [0u32; 64];
    for (i, constant) in constants.iter_mut().enumerate() {
        *constant = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
    }
    let mut message = data.to_vec();
    let length_bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&length_bits.to_le_bytes());
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in message.chunks(64) {
        let mut words = [0u32; 16];
        for (i, word) in words.iter_mut().enumerate() {
            *word = u32::from_le_bytes([block[i * 4], block[i * 4 + 1], block[i * 4 + 2], block[i * 4 + 3]]);
        }
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a.wrapping_add(f).wrapping_add(constants[i]).wrapping_add(words[g]).rotate_left(SHIFTS[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    let mut digest = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        digest[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    digest
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5(data))
}

/// `MD5OfMessageAttributes`: attributes sorted by name; each is a length-prefixed name, a
/// length-prefixed data type, a transport byte (1 string, 2 binary) and a length-prefixed value.
pub fn md5_of_message_attributes(attributes: &HashMap<String, MessageAttributeValue>) -> String {
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    let mut encoded = Vec::new();
    fn push_prefixed(encoded: &mut Vec<u8>, bytes: &[u8]) {
        encoded.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        encoded.extend_from_slice(bytes);
    }
    for name in names {
        let value = &attributes[name];
        push_prefixed(&mut encoded, name.as_bytes());
        push_prefixed(&mut encoded, value.data_type().as_bytes());
        match (value.string_value(), value.binary_value()) {
            (Some(text), _) => {
                encoded.push(1);
                push_prefixed(&mut encoded, text.as_bytes());
            }
            (None, Some(blob)) => {
                encoded.push(2);
                push_prefixed(&mut encoded, blob.as_ref());
            }
            (None, None) => panic!("attribute {name} has no value"),
        }
    }
    md5_hex(&encoded)
}

pub fn string_attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type(data_type).string_value(value).build().expect("a valid attribute")
}

pub fn binary_attribute(data_type: &str, value: &[u8]) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .binary_value(aws_sdk_sqs::primitives::Blob::new(value.to_vec()))
        .build()
        .expect("a valid attribute")
}

/// `GET /_shoal/status` of a node, or null when it does not answer.
pub async fn status(server: &Server) -> serde_json::Value {
    admin_get(server, "/_shoal/status")
        .await
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The body of `GET path` on a node's HTTP port, or `None` when it does not answer in time.
pub async fn admin_get(server: &Server, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(server.address()).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: shoal\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        text.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), fetch).await.ok().flatten()
}

/// Waits until every server writes at this build's highest write level (agreed a few seconds
/// after a cluster first starts), so a test exercises the newest formats.
pub async fn await_newest_write_level(servers: &[Server]) {
    let newest = u64::from(shoal_cluster::level::WRITE_LEVEL_MAX);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for server in servers {
        while status(server).await["write_level"].as_u64() != Some(newest) {
            assert!(std::time::Instant::now() < deadline, "the write level never reached {newest}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Resident memory of process `pid`, in MiB (0 if it cannot be read): for the benchmarks.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

impl Server {
    /// The address of this node's peer (gRPC) port, as `http://127.0.0.1:PORT`.
    pub fn peer_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.raft_port)
    }
}
