//! Wall-clock steps on the node that stamps the log: the real binary runs under libfaketime
//! (monotonic clock untouched, as a real step leaves it), its wall clock is moved 300 s forward
//! and 300 s back while messages are in flight or delayed, and the client, on its own clock,
//! checks that no message came back early and none stayed away more than a second too long.

mod common;

use std::time::{Duration, Instant};

use common::{create_queue, Server};

/// How long a received message stays invisible, and how long a sent one is delayed.
const TIMEOUT_SECONDS: u64 = 4;
/// A message may come back this much later than its deadline (polling and scheduling).
const LATE_TOLERANCE: Duration = Duration::from_millis(1000);
/// The cluster clock slews toward a stepped wall clock by 0.1%: over the timeout that moves the
/// deadline by 4 ms; no more than this early is allowed.
const SLEW_TOLERANCE: Duration = Duration::from_millis(10);
/// Between two polls for the message.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

struct ClockFile(std::path::PathBuf);

impl ClockFile {
    /// Moves the server's wall clock `seconds` away from the real one.
    fn set(&self, seconds: i64) {
        let offset = if seconds >= 0 { format!("+{seconds}") } else { format!("{seconds}") };
        std::fs::write(&self.0, format!("{offset}\n")).expect("writing the faketime file");
    }
}

async fn start_with_faketime() -> (Server, ClockFile) {
    let clock = ClockFile(std::env::temp_dir().join(format!("shoal-clock-test-{}", std::process::id())));
    clock.set(0);
    let clock_path = clock.0.display().to_string();
    let env = common::faketime_env(("FAKETIME_TIMESTAMP_FILE", &clock_path));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(&env).await;
    (server, clock)
}

/// Polls until the message is receivable; returns when it was seen.
async fn wait_until_receivable(client: &aws_sdk_sqs::Client, url: &str, since: Instant) -> Instant {
    let bound = Duration::from_secs(TIMEOUT_SECONDS) + LATE_TOLERANCE + Duration::from_secs(5);
    loop {
        let received = common::receive(client, url, 1, 0).await;
        if let Some(message) = received.first() {
            let seen_at = Instant::now();
            common::delete(client, url, message).await;
            return seen_at;
        }
        assert!(since.elapsed() < bound, "the message did not come back within {bound:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The server started the timer after `requested_at` (when the request was sent) and before
/// `answered_at` (when its answer arrived): the message must be seen no earlier than the
/// timeout after the first, and at most the tolerance later than the timeout after the second.
fn check_on_time(what: &str, step_seconds: i64, requested_at: Instant, answered_at: Instant, seen_at: Instant) {
    let deadline = Duration::from_secs(TIMEOUT_SECONDS);
    let since_request = seen_at - requested_at;
    let since_answer = seen_at.saturating_duration_since(answered_at);
    assert!(
        since_request + SLEW_TOLERANCE >= deadline,
        "{what} came back early after a {step_seconds:+} s step: {since_request:?}"
    );
    assert!(
        since_answer <= deadline + LATE_TOLERANCE,
        "{what} came back late after a {step_seconds:+} s step: {since_answer:?}"
    );
}

#[tokio::test]
async fn test_clock_steps_on_the_leader_move_no_visibility_or_delay_deadline() {
    let (server, clock) = start_with_faketime().await;
    let client = server.client().await;
    let url = create_queue(&client, "clock", &[]).await;
    let mut wall_offset = 0;
    for step_seconds in [300, -300, 300] {
        // A received message is in flight when the wall clock steps.
        common::send(&client, &url, "in flight").await;
        let requested_at = Instant::now();
        let received = common::receive_with_visibility(&client, &url, 1, TIMEOUT_SECONDS as i32).await;
        let received_at = Instant::now();
        assert_eq!(received.len(), 1);
        wall_offset += step_seconds;
        clock.set(wall_offset);
        let seen_at = wait_until_receivable(&client, &url, received_at).await;
        check_on_time("an in-flight message", step_seconds, requested_at, received_at, seen_at);

        // A delayed message sent just after the step.
        let requested_at = Instant::now();
        client
            .send_message()
            .queue_url(&url)
            .message_body("delayed")
            .delay_seconds(TIMEOUT_SECONDS as i32)
            .send()
            .await
            .expect("SendMessage");
        let sent_at = Instant::now();
        let seen_at = wait_until_receivable(&client, &url, sent_at).await;
        check_on_time("a delayed message", step_seconds, requested_at, sent_at, seen_at);
    }
    let _ = std::fs::remove_file(&clock.0);
}
