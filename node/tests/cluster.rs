//! Three `shoal` processes as a cluster on loopback: any node serves any request, and a
//! leader's death or isolation loses nothing acknowledged, keeps in-flight messages invisible,
//! keeps receive counts, FIFO order and deduplication, and lagging followers catch up.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use common::{status, Server};

const SETTLE: Duration = Duration::from_secs(20);

/// The node (index into `servers`) that leads `group`, once the live nodes agree on one.
async fn leader_of(servers: &[Server], live: &[usize], group: usize) -> usize {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut seen = BTreeSet::new();
        for &i in live {
            let status = status(&servers[i]).await;
            seen.insert(status["groups"][group]["leader"].as_u64());
        }
        if let [Some(leader)] = seen.into_iter().collect::<Vec<_>>()[..] {
            let index = leader as usize - 1;
            if live.contains(&index) {
                return index;
            }
        }
        assert!(Instant::now() < deadline, "no agreed leader of group {group} among {live:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until node `i` has applied as far as the leader's log goes for `group`.
async fn caught_up(servers: &[Server], leader: usize, i: usize, group: usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let target = status(&servers[leader]).await["groups"][group]["last_log_index"].as_u64();
        let applied = status(&servers[i]).await["groups"][group]["last_applied"].as_u64();
        if target.is_some() && applied >= target {
            return;
        }
        assert!(Instant::now() < deadline, "node {} did not catch up ({applied:?} of {target:?})", i + 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retries an SQS call through transient cluster errors (an election, a forwarded request to
/// a node that just died) until it succeeds or the settle time runs out.
macro_rules! retry {
    ($call:expr) => {{
        let deadline = Instant::now() + SETTLE;
        loop {
            match $call.await {
                Ok(output) => break output,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("call kept failing: {error:?}"),
            }
        }
    }};
}

async fn create_queue(client: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), *value);
    }
    retry!(request.clone().send()).queue_url.unwrap()
}

/// Receives until `expected` distinct bodies were seen or nothing more comes; returns the
/// bodies received and deletes them.
async fn drain(client: &Client, url: &str, expected: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut empty = 0;
    while bodies.len() < expected && empty < 3 {
        let received =
            retry!(client.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send());
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for message in messages {
            bodies.push(message.body.clone().unwrap());
            retry!(client
                .delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle.clone().unwrap())
                .send());
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_any_node_serves_any_queue_across_groups() {
    let servers = Server::start_cluster(3, &[], &["--data-groups", "3"]).await;
    let clients = [servers[0].client().await, servers[1].client().await, servers[2].client().await];
    let names: Vec<String> = (0..6).map(|i| format!("spread-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        create_queue(&clients[i % 3], name, &[]).await;
    }
    let status = status(&servers[0]).await;
    assert_eq!(status["data_groups"], 3);
    // Every node runs this build: each comes to write at its highest level.
    common::await_newest_write_level(&servers).await;
    for (i, name) in names.iter().enumerate() {
        let url = retry!(clients[(i + 1) % 3].get_queue_url().queue_name(name).send()).queue_url.unwrap();
        retry!(clients[(i + 1) % 3].send_message().queue_url(&url).message_body(format!("to {name}")).send());
        let bodies = drain(&clients[(i + 2) % 3], &url, 1).await;
        assert_eq!(bodies, vec![format!("to {name}")]);
    }
    for client in &clients {
        let listed = retry!(client.list_queues().queue_name_prefix("spread-").send()).queue_urls.unwrap_or_default();
        let listed: BTreeSet<String> = listed.iter().map(|url| url.rsplit('/').next().unwrap().to_string()).collect();
        assert_eq!(listed, names.iter().cloned().collect::<BTreeSet<_>>(), "every node lists every group's queues");
    }
    // Each node reports openraft's statistics for each of its groups; the leaders' include the
    // time entries took between the stages of a commit.
    let mut all = String::new();
    for server in &servers {
        let stats = common::admin_get(server, "/_shoal/raft-stats").await.expect("raft statistics");
        for group in 0..=3 {
            assert!(stats.contains(&format!("group {group} (")), "group {group} missing from:\n{stats}");
        }
        assert!(!stats.contains("unavailable"), "a group's statistics are missing:\n{stats}");
        all.push_str(&stats);
    }
    assert!(all.contains("proposed→received") && all.contains("committed→applied"), "no log stages in:\n{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_killing_the_leader_loses_nothing_and_keeps_visibility_and_receive_counts() {
    let mut servers = Server::start_cluster(3, &[], &[]).await;
    let leader = leader_of(&servers, &[0, 1, 2], 1).await;
    let follower = (leader + 1) % 3;
    let client = servers[follower].client().await;
    let url = create_queue(&client, "failover", &[]).await;
    let mut sent = BTreeSet::new();
    for i in 0..60 {
        retry!(client.send_message().queue_url(&url).message_body(format!("m{i}")).send());
        sent.insert(format!("m{i}"));
    }
    // Take five messages in flight for a long time, remembering their handles.
    let received =
        retry!(client.receive_message().queue_url(&url).max_number_of_messages(5).visibility_timeout(120).send());
    let in_flight: BTreeMap<String, String> = received
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.body.unwrap(), m.receipt_handle.unwrap()))
        .collect();
    assert_eq!(in_flight.len(), 5);

    servers[leader].kill9();
    let live: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = leader_of(&servers, &live, 1).await;
    assert_ne!(new_leader, leader);
    for i in 60..90 {
        retry!(client.send_message().queue_url(&url).message_body(format!("m{i}")).send());
        sent.insert(format!("m{i}"));
    }
    // Everything acknowledged and not in flight comes back; the in-flight ones stay hidden.
    let bodies = drain(&client, &url, sent.len() - in_flight.len()).await;
    let drained: BTreeSet<String> = bodies.iter().cloned().collect();
    assert_eq!(bodies.len(), drained.len(), "no duplicates without a failure of the consumer");
    let expected: BTreeSet<String> = sent.difference(&in_flight.keys().cloned().collect()).cloned().collect();
    assert_eq!(drained, expected, "every acknowledged message not in flight is received after the failover");

    // A receipt handle from before the failover still works; the receive count continues.
    let (body, handle) = in_flight.iter().next().unwrap();
    retry!(client.change_message_visibility().queue_url(&url).receipt_handle(handle).visibility_timeout(0).send());
    let again = retry!(client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .wait_time_seconds(2)
        .send());
    let message = again.messages.unwrap_or_default().into_iter().next().expect("the released message");
    assert_eq!(message.body.as_deref(), Some(body.as_str()));
    let count = message.attributes.unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount].clone();
    assert_eq!(count, "2", "the receive count carries across the failover");

    // The old leader comes back as a follower and catches up.
    servers[leader].start_again().await;
    let current = leader_of(&servers, &[0, 1, 2], 1).await;
    caught_up(&servers, current, leader, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_fifo_order_and_deduplication_hold_across_a_failover() {
    let mut servers = Server::start_cluster(3, &[], &[]).await;
    let leader = leader_of(&servers, &[0, 1, 2], 1).await;
    let client = servers[(leader + 1) % 3].client().await;
    let url = create_queue(&client, "orders.fifo", &[(QueueAttributeName::FifoQueue, "true")]).await;
    let send = |i: u32| {
        client
            .send_message()
            .queue_url(&url)
            .message_body(format!("{i}"))
            .message_group_id(if i.is_multiple_of(2) { "even" } else { "odd" })
            .message_deduplication_id(format!("d{i}"))
            .send()
    };
    for i in 0..30 {
        retry!(send(i));
    }
    servers[leader].kill9();
    // Retries of sends acknowledged before the failover are deduplicated by the new leader.
    for i in 20..50 {
        retry!(send(i));
    }
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut empty = 0;
    while empty < 3 {
        let received = retry!(client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .wait_time_seconds(1)
            .send());
        let messages = received.messages.unwrap_or_default();
        empty = if messages.is_empty() { empty + 1 } else { 0 };
        for message in messages {
            let group = message.attributes.as_ref().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
            seen.entry(group).or_default().push(message.body.as_deref().unwrap().parse().unwrap());
            retry!(client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle.clone().unwrap())
                .send());
        }
    }
    let evens: Vec<u32> = (0..50u32).filter(|i| i.is_multiple_of(2)).collect();
    let odds: Vec<u32> = (0..50u32).filter(|i| !i.is_multiple_of(2)).collect();
    assert_eq!(seen.get("even"), Some(&evens), "group order kept, each message once");
    assert_eq!(seen.get("odd"), Some(&odds), "group order kept, each message once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_leader_cut_off_from_its_followers_acknowledges_nothing() {
    let servers = Server::start_cluster(3, &[], &[]).await;
    let leader = leader_of(&servers, &[0, 1, 2], 1).await;
    let client = servers[leader].client().await;
    let url = create_queue(&client, "isolated", &[]).await;
    retry!(client.send_message().queue_url(&url).message_body("before").send());
    // Freeze both followers: the leader keeps running but cannot reach a majority.
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &i in &followers {
        servers[i].signal("STOP");
    }
    let attempt = tokio::time::timeout(
        Duration::from_secs(8),
        client.send_message().queue_url(&url).message_body("during").send(),
    )
    .await;
    assert!(!matches!(attempt, Ok(Ok(_))), "a send to a leader without a majority must not succeed: {attempt:?}");
    let read = tokio::time::timeout(
        Duration::from_secs(8),
        client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::All).send(),
    )
    .await;
    assert!(!matches!(read, Ok(Ok(_))), "a read needs a quorum's confirmation too: {read:?}");
    for &i in &followers {
        servers[i].signal("CONT");
    }
    let bodies = drain(&servers[followers[0]].client().await, &url, 2).await;
    assert!(bodies.contains(&"before".to_string()), "the acknowledged message survives: {bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_follower_that_was_down_catches_up_from_the_log() {
    let mut servers = Server::start_cluster(3, &[], &[]).await;
    let leader = leader_of(&servers, &[0, 1, 2], 1).await;
    let down = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let client = servers[leader].client().await;
    let url = create_queue(&client, "catch-up-log", &[]).await;
    servers[down].kill9();
    for i in 0..40 {
        retry!(client.send_message().queue_url(&url).message_body(format!("m{i}")).send());
    }
    servers[down].start_again().await;
    caught_up(&servers, leader, down, 1).await;
    assert!(!servers[down].log_tail().contains("snapshot installed"), "caught up through the log alone");
    // With the other follower gone, the quorum needs the node that caught up.
    servers[other].kill9();
    let bodies = drain(&servers[down].client().await, &url, 40).await;
    assert_eq!(bodies.len(), 40, "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_follower_that_was_down_catches_up_through_a_snapshot() {
    let servers = Server::start_cluster(3, &[], &["--snapshot-entries", "20"]).await;
    // Snapshots of the newest format: the follower's contents and headers come in the body
    // section.
    common::await_newest_write_level(&servers).await;
    catch_up_through_a_snapshot(servers, shoal_raft::format::SNAPSHOT_FORMAT).await;
}

/// Starts a cluster held at write `level` (as while a node of an older build is in it) and
/// checks a follower catches up through a snapshot of `format`.
async fn catch_up_held_at(level: u32, format: u16) {
    let level_text = level.to_string();
    let held = [("SHOAL_WRITE_LEVEL_MAX", level_text.as_str())];
    let servers = Server::start_cluster(3, &held, &["--snapshot-entries", "20"]).await;
    tokio::time::sleep(Duration::from_millis(shoal_cluster::limits::WRITE_LEVEL_POLL_MS + 500)).await;
    for server in &servers {
        assert_eq!(status(server).await["write_level"].as_u64(), Some(u64::from(level)));
    }
    catch_up_through_a_snapshot(servers, format).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_cluster_held_at_write_level_1_sends_snapshots_an_older_build_reads() {
    // Before snapshot format 3: every snapshot is of format 2, its contents read back from the
    // store into the file.
    catch_up_held_at(1, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_cluster_held_at_write_level_2_writes_every_header_into_its_snapshots() {
    // Before snapshot format 4: every snapshot is of format 3, each message's header read back
    // from the store into the file, which the follower folds into its store again.
    catch_up_held_at(2, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_cluster_held_at_write_level_3_sends_snapshots_without_topics() {
    // Before snapshot format 5: every snapshot is of format 4, which has no place for topics
    // (none can exist below level 4).
    catch_up_held_at(3, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_cluster_held_at_write_level_4_sends_snapshots_without_subscriptions() {
    // Before snapshot format 6: every snapshot is of format 5, whose SNS state (the frozen
    // `format_5`) has no place for subscriptions (none can exist below level 5).
    catch_up_held_at(4, 5).await;
}

/// Kills a follower of group 1, sends until the leader has purged what the follower lacks,
/// starts it again and checks it installs a snapshot of `format` and then serves every message
/// with the leader gone.
async fn catch_up_through_a_snapshot(mut servers: Vec<Server>, format: u16) {
    let leader = leader_of(&servers, &[0, 1, 2], 1).await;
    let down = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let client = servers[leader].client().await;
    let url = create_queue(&client, "catch-up-snapshot", &[]).await;
    caught_up(&servers, leader, down, 1).await;
    let had = status(&servers[down]).await["groups"][1]["last_log_index"].as_u64().expect("an index");
    servers[down].kill9();
    let mut sent = 0;
    for _ in 0..120 {
        retry!(client.send_message().queue_url(&url).message_body(format!("m{sent}")).send());
        sent += 1;
    }
    // openraft purges only entries no replication to a follower is using; the stream to the dead
    // follower releases them when its next attempt fails. Keep writing until the leader has
    // dropped entries the follower lacks, so a snapshot is the only way back.
    let deadline = Instant::now() + SETTLE;
    while status(&servers[leader]).await["groups"][1]["purged"].as_u64() <= Some(had) {
        assert!(Instant::now() < deadline, "the leader never purged past index {had}");
        retry!(client.send_message().queue_url(&url).message_body(format!("m{sent}")).send());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    servers[down].start_again().await;
    caught_up(&servers, leader, down, 1).await;
    let deadline = Instant::now() + SETTLE;
    while !servers[down].log_tail().contains("snapshot installed") {
        assert!(Instant::now() < deadline, "the follower should have needed a snapshot:\n{}", servers[down].log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let installed = servers[down].log_tail();
    let line = installed.lines().find(|line| line.contains("snapshot installed")).expect("the line");
    assert!(line.contains(&format!("format={format}")), "{line}");
    servers[other].kill9();
    let bodies = drain(&servers[down].client().await, &url, sent).await;
    assert_eq!(bodies.iter().collect::<BTreeSet<_>>().len(), sent);
}

/// Receives from `url` until `expected` bodies arrived (deleting them) or the settle time ran out.
async fn await_bodies(client: &Client, url: &str, expected: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + SETTLE;
    let mut bodies = BTreeSet::new();
    while bodies.len() < expected && Instant::now() < deadline {
        bodies.extend(drain(client, url, expected - bodies.len()).await);
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_dead_letter_queue_in_another_group_takes_and_gives_back_messages() {
    let servers = Server::start_cluster(3, &[], &["--data-groups", "3"]).await;
    let shards = shoal_sharding::Shards::new(3).unwrap();
    let name_in = |group: u32, stem: &str| {
        (0..).map(|i| format!("{stem}-{i}")).find(|name| shards.group_of(name) == group).unwrap()
    };
    let (source, dlq, missing) = (name_in(1, "source"), name_in(2, "dlq"), name_in(3, "missing"));
    let client = servers[0].client().await;
    let dlq_url = create_queue(&client, &dlq, &[]).await;
    let arn_of = |name: &str| format!("arn:aws:sqs:us-east-1:000000000000:{name}");
    let policy = |target: &str| format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"1"}}"#, arn_of(target));

    // A policy naming a queue that does not exist in its (other) group is refused, as SQS
    // refuses it: InvalidParameterValue, quoting the policy as it was sent.
    let refused = client
        .create_queue()
        .queue_name(&source)
        .attributes(QueueAttributeName::RedrivePolicy, policy(&missing))
        .send()
        .await
        .expect_err("the dead-letter queue does not exist");
    assert_eq!(refused.code(), Some("InvalidParameterValue"), "{refused:?}");
    let expected = format!(
        "Value {} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
        policy(&missing)
    );
    assert_eq!(refused.message(), Some(expected.as_str()));

    let source_url = create_queue(&client, &source, &[(QueueAttributeName::RedrivePolicy, &policy(&dlq))]).await;
    for i in 0..3 {
        retry!(client.send_message().queue_url(&source_url).message_body(format!("m{i}")).send());
    }
    let first =
        retry!(client.receive_message().queue_url(&source_url).max_number_of_messages(10).visibility_timeout(1).send());
    assert_eq!(first.messages.unwrap_or_default().len(), 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Received once already: the next receive moves them to the dead-letter queue in group 2.
    let second = retry!(client.receive_message().queue_url(&source_url).max_number_of_messages(10).send());
    assert!(second.messages.unwrap_or_default().is_empty());
    let dead = await_bodies(&servers[1].client().await, &dlq_url, 3).await;
    // drain deleted them; send them through again to redrive them below.
    assert_eq!(dead, ["m0", "m1", "m2"].iter().map(|s| s.to_string()).collect());

    let sources = retry!(client.list_dead_letter_source_queues().queue_url(&dlq_url).send());
    assert_eq!(sources.queue_urls, vec![source_url.clone()], "the source is found in its own group");

    for i in 0..2 {
        retry!(client.send_message().queue_url(&source_url).message_body(format!("again{i}")).send());
    }
    let _ =
        retry!(client.receive_message().queue_url(&source_url).max_number_of_messages(10).visibility_timeout(1).send());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = retry!(client.receive_message().queue_url(&source_url).max_number_of_messages(10).send());
    let deadline = Instant::now() + SETTLE;
    loop {
        let attributes = retry!(client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send());
        let count = attributes.attributes.unwrap_or_default()[&QueueAttributeName::ApproximateNumberOfMessages].clone();
        if count == "2" {
            break;
        }
        assert!(Instant::now() < deadline, "the dead letters did not arrive: {count}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    retry!(client.start_message_move_task().source_arn(arn_of(&dlq)).send());
    let back = await_bodies(&servers[2].client().await, &source_url, 2).await;
    assert_eq!(back, ["again0", "again1"].iter().map(|s| s.to_string()).collect());
}
