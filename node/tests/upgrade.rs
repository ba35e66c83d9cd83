//! A rolling upgrade starts a new build on an old build's data: the data directory in
//! `fixtures/format-2` was written by the last build of log format 2 and snapshot format 1
//! (`generate.py` there says how), and this build must start on it and serve every queue,
//! message, attribute, tag and in-flight receipt handle it holds, then restart on what it wrote.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use common::Server;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-2")
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("fixture.json")).expect("reading fixture.json");
    serde_json::from_str(&text).expect("fixture.json is json")
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().expect("an array").iter().map(|v| v.as_str().expect("a string").to_string()).collect()
}

async fn url_of(client: &Client, name: &str) -> String {
    let reply = client.get_queue_url().queue_name(name).send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    reply.queue_url().expect("a queue url").to_string()
}

/// Receives (and deletes) every visible message of a standard queue: body -> attribute `n`.
async fn drain(client: &Client, url: &str) -> BTreeMap<String, String> {
    let mut bodies = BTreeMap::new();
    loop {
        let received = common::receive(client, url, 10, 0).await;
        if received.is_empty() {
            return bodies;
        }
        for message in &received {
            let number = message.message_attributes().and_then(|a| a.get("n")).and_then(|v| v.string_value());
            bodies.insert(common::body(message).to_string(), number.unwrap_or_default().to_string());
            common::delete(client, url, message).await;
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC of a Unix time (libfaketime's absolute start format).
fn utc_date_time(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (seconds_of_day / 3600, seconds_of_day % 3600 / 60, seconds_of_day % 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
}

#[test]
fn test_utc_date_time_of_known_instants() {
    assert_eq!(utc_date_time(0), "1970-01-01 00:00:00");
    assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00");
    assert_eq!(utc_date_time(1_796_400_000 + 3_661), "2026-12-04 17:01:01");
}

#[tokio::test]
async fn test_format_2_data_directory_serves_its_queues_and_messages() {
    let fixture = fixture();
    // The server's wall clock starts a minute after the fixture was written (by libfaketime), so
    // retention and the in-flight messages' 12-hour visibility timeouts have not run out.
    let written_at_ms = fixture["written_at_ms"].as_u64().expect("written_at_ms");
    let start = format!("@{}", utc_date_time((written_at_ms / 1000) + 60));
    let env = common::faketime_env(("FAKETIME", &start));
    let archive = fixture_dir().join("data.tar.gz");
    let mut server = Server::start_from_archive(&archive, &["--data-groups", "2"], &env).await;
    let client = server.client().await;

    let listed = client.list_queues().send().await.expect("ListQueues");
    let names: BTreeSet<String> =
        listed.queue_urls().iter().map(|url| url.rsplit('/').next().unwrap_or_default().to_string()).collect();
    let expected: BTreeSet<String> = ["fixture-standard", "fixture-dlq", "fixture.fifo"].map(String::from).into();
    assert_eq!(names, expected);

    let standard = url_of(&client, "fixture-standard").await;
    assert_eq!(common::queue_attribute(&client, &standard, QueueAttributeName::VisibilityTimeout).await, "45");
    let policy = common::queue_attribute(&client, &standard, QueueAttributeName::RedrivePolicy).await;
    assert!(policy.contains(&common::queue_arn("fixture-dlq")), "{policy}");
    let tags = client.list_queue_tags().queue_url(&standard).send().await.expect("ListQueueTags");
    assert_eq!(tags.tags().and_then(|t| t.get("team")).map(String::as_str), Some("fixture"));

    let in_flight = fixture["in_flight"].as_array().expect("in_flight").clone();
    let all_bodies = strings(&fixture["standard_bodies"]);
    let (visible, not_visible, _) = common::message_counts(&client, &standard).await;
    assert_eq!((visible, not_visible), ((all_bodies.len() - in_flight.len()) as u64, in_flight.len() as u64));

    // The old build's receipt handles still name their receives: the messages stay invisible,
    // and deleting with those handles removes them.
    let in_flight_bodies: BTreeSet<String> =
        in_flight.iter().map(|m| m["body"].as_str().expect("body").to_string()).collect();
    let drained = drain(&client, &standard).await;
    let expected_visible: BTreeMap<String, String> = all_bodies
        .iter()
        .filter(|body| !in_flight_bodies.contains(*body))
        .map(|body| (body.clone(), body.rsplit(' ').next().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(drained, expected_visible, "every visible message once, with its attribute");
    for message in &in_flight {
        let handle = message["receipt_handle"].as_str().expect("receipt_handle");
        client.delete_message().queue_url(&standard).receipt_handle(handle).send().await.expect("old handle");
    }
    assert_eq!(common::message_counts(&client, &standard).await, (0, 0, 0));

    // FIFO: each group in its order, with the sequence numbers the old build gave.
    let fifo = url_of(&client, "fixture.fifo").await;
    let mut by_group: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for sent in fixture["fifo_sent"].as_array().expect("fifo_sent") {
        let group = sent["group"].as_str().expect("group").to_string();
        let body = sent["body"].as_str().expect("body").to_string();
        let sequence = sent["sequence_number"].as_str().expect("sequence_number").to_string();
        by_group.entry(group).or_default().push((body, sequence));
    }
    let mut received: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for _ in 0..by_group.values().map(Vec::len).sum::<usize>() {
        let messages = common::receive(&client, &fifo, 10, 0).await;
        for message in &messages {
            let group =
                common::system_attribute(message, aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId);
            let sequence =
                common::system_attribute(message, aws_sdk_sqs::types::MessageSystemAttributeName::SequenceNumber);
            received
                .entry(group.to_string())
                .or_default()
                .push((common::body(message).to_string(), sequence.to_string()));
            common::delete(&client, &fifo, message).await;
        }
    }
    assert_eq!(received, by_group);

    // New writes go in the current format beside the old entries; a restart replays both.
    common::send(&client, &standard, "after the upgrade").await;
    assert!(server.terminate(), "graceful stop");
    server.start_again().await;
    let client = server.client().await;
    let received = common::receive(&client, &standard, 10, 1).await;
    assert_eq!(received.iter().map(common::body).collect::<Vec<_>>(), ["after the upgrade"]);
    assert_eq!(common::message_counts(&client, &url_of(&client, "fixture.fifo").await).await, (0, 0, 0));
}
