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

/// Polls until the message is receivable; returns how long after `since` it was.
async fn wait_until_receivable(client: &aws_sdk_sqs::Client, url: &str, since: Instant) -> Duration {
    let bound = Duration::from_secs(TIMEOUT_SECONDS) + LATE_TOLERANCE + Duration::from_secs(5);
    loop {
        let received = common::receive(client, url, 1, 0).await;
        if let Some(message) = received.first() {
            common::delete(client, url, message).await;
            return since.elapsed();
        }
        assert!(since.elapsed() < bound, "the message did not come back within {bound:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn check_on_time(what: &str, step_seconds: i64, elapsed: Duration) {
    let deadline = Duration::from_secs(TIMEOUT_SECONDS);
    assert!(elapsed >= deadline, "{what} came back early after a {step_seconds:+} s step: {elapsed:?}");
    assert!(elapsed <= deadline + LATE_TOLERANCE, "{what} came back late after a {step_seconds:+} s step: {elapsed:?}");
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
        let received = common::receive_with_visibility(&client, &url, 1, TIMEOUT_SECONDS as i32).await;
        let received_at = Instant::now();
        assert_eq!(received.len(), 1);
        wall_offset += step_seconds;
        clock.set(wall_offset);
        let elapsed = wait_until_receivable(&client, &url, received_at).await;
        check_on_time("an in-flight message", step_seconds, elapsed);

        // A delayed message sent just after the step.
        let sent_at = Instant::now();
        client
            .send_message()
            .queue_url(&url)
            .message_body("delayed")
            .delay_seconds(TIMEOUT_SECONDS as i32)
            .send()
            .await
            .expect("SendMessage");
        let elapsed = wait_until_receivable(&client, &url, sent_at).await;
        check_on_time("a delayed message", step_seconds, elapsed);
    }
    let _ = std::fs::remove_file(&clock.0);
}
