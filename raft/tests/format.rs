//! Golden bytes of every persisted and replicated format: what each format looks like is pinned
//! here, and every older format must still decode to the current types. A failure means a layout
//! changed: bump the format in `raft/src/format.rs`, keep the old decoder, add its migration and
//! a golden case for the new format here.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::type_config::alias::{EntryOf, SnapshotMetaOf, StoredMembershipOf};
use shoal_engine::command::Generation;
use shoal_engine::command::{SendEntry, FORMAT_VERSION};
use shoal_engine::{Command, EngineConfig, LogEntry};
use shoal_raft::format::{
    FormatError, PROPOSAL_FORMAT, PROPOSAL_FORMAT_TOPICS, PROPOSAL_FORMAT_WITHOUT_SNS, SNAPSHOT_FORMAT,
};
use shoal_raft::state::{read_snapshot, write_snapshot, GroupState};
use shoal_raft::{ClusterInfo, Proposal, TypeConfig};

/// A FIFO send stamped at a fixed time: the same value every golden case encodes.
fn sample_send(format_version: u16) -> Proposal {
    let entry = SendEntry {
        id: String::new(),
        message_id: "m-1".into(),
        body: "hello".into(),
        delay_seconds: Some(5),
        attributes: BTreeMap::new(),
        system_attributes: BTreeMap::new(),
        deduplication_id: None,
        group_id: Some("g".into()),
        sender_id: "s".into(),
    };
    let command = Command::SendMessage { queue: "q.fifo".into(), entry };
    Proposal::Engine(Arc::new(LogEntry { format_version, time_ms: 1_700_000_000_000, command }))
}

fn sample_cluster() -> Proposal {
    Proposal::SetCluster(ClusterInfo { data_groups: 3, account_id: "000000000000".into(), region: "us-east-1".into() })
}

/// Written by the build before envelopes (commit c25306f), which had no format number in front.
const FORMAT_2_SEND: &str = "000280d095ffbc310806712e6669666f00036d2d310568656c6c6f01050000000101670173";
const FORMAT_2_CLUSTER: &str = "01030c3030303030303030303030300975732d656173742d31";
/// The same send as a whole stored openraft entry (log id term 2, node 1, index 7).
const FORMAT_2_ENTRY: &str = "02010701000280d095ffbc310806712e6669666f00036d2d310568656c6c6f01050000000101670173";

fn decode(hex_bytes: &str) -> Result<Proposal, postcard::Error> {
    postcard::from_bytes(&hex::decode(hex_bytes).unwrap())
}

#[test]
fn test_format_2_entries_decode_and_migrate_to_the_current_format() {
    assert_eq!(decode(FORMAT_2_SEND).unwrap(), sample_send(FORMAT_VERSION));
    assert_eq!(decode(FORMAT_2_CLUSTER).unwrap(), sample_cluster());
    let entry: EntryOf<TypeConfig> = postcard::from_bytes(&hex::decode(FORMAT_2_ENTRY).unwrap()).unwrap();
    let expected: EntryOf<TypeConfig> =
        RaftEntry::new_normal(openraft::testing::log_id::<TypeConfig>(2, 1, 7), sample_send(FORMAT_VERSION));
    assert_eq!(entry, expected);
}

/// Format 3: variant 2 (the envelope), the format number, then the length-prefixed body.
const FORMAT_3_SEND: &str = "020325000380d095ffbc310806712e6669666f00036d2d310568656c6c6f01050000000101670173";

#[test]
fn test_format_3_is_an_envelope_with_the_format_number_first() {
    let bytes = postcard::to_stdvec(&sample_send(FORMAT_VERSION)).unwrap();
    assert_eq!(hex::encode(&bytes), FORMAT_3_SEND);
    assert_eq!(bytes[0], 2, "the envelope variant");
    assert_eq!(bytes[1], PROPOSAL_FORMAT_WITHOUT_SNS as u8, "the format number, before the body");
    assert_eq!(decode(FORMAT_3_SEND).unwrap(), sample_send(FORMAT_VERSION));
    let cluster = postcard::to_stdvec(&sample_cluster()).unwrap();
    assert_eq!(postcard::from_bytes::<Proposal>(&cluster).unwrap(), sample_cluster());
}

/// An SNS action: CreateTopic with one attribute and one tag, at the sample's time.
fn sample_create_topic() -> Proposal {
    let command = Command::CreateTopic {
        name: "t".into(),
        attributes: BTreeMap::from([("DisplayName".to_string(), "d".to_string())]),
        tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
    };
    Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, command)))
}

/// Format 4: the format-3 envelope around a command of the variants SNS added.
const FORMAT_4_CREATE_TOPIC: &str = "02041f000380d095ffbc31140174010b446973706c61794e616d65016401016b0176";

#[test]
fn test_format_4_carries_sns_actions_and_only_they_use_it() {
    let bytes = postcard::to_stdvec(&sample_create_topic()).unwrap();
    assert_eq!(hex::encode(&bytes), FORMAT_4_CREATE_TOPIC);
    assert_eq!(bytes[1], PROPOSAL_FORMAT_TOPICS as u8);
    assert_eq!(decode(FORMAT_4_CREATE_TOPIC).unwrap(), sample_create_topic());
    // Every other entry is still format 3, which older builds read.
    assert_eq!(postcard::to_stdvec(&sample_send(FORMAT_VERSION)).unwrap()[1], PROPOSAL_FORMAT_WITHOUT_SNS as u8);
    // An SNS action in a format-3 envelope was never written: refused, not read as one.
    let mut mislabelled = bytes.clone();
    mislabelled[1] = PROPOSAL_FORMAT_WITHOUT_SNS as u8;
    assert!(postcard::from_bytes::<Proposal>(&mislabelled).is_err());
}

/// A subscription action: an SQS subscription with raw delivery, at the sample's time.
fn sample_subscribe() -> Proposal {
    let command = Command::Subscribe {
        topic: "t".into(),
        subscription_id: "s".into(),
        protocol: "sqs".into(),
        endpoint: "arn:aws:sqs:us-east-1:000000000000:q".into(),
        attributes: BTreeMap::from([("RawMessageDelivery".to_string(), "true".to_string())]),
        token: "k".into(),
    };
    Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, command)))
}

/// Format 5: the envelope around a command of the variants subscriptions and publishing added.
const FORMAT_5_SUBSCRIBE: &str = "020551000380d095ffbc311b01740173037371732461726e3a6177733a7371733a75732d656173742d313a3030303030303030303030303a7101125261774d65737361676544656c69766572790474727565016b";

#[test]
fn test_format_5_carries_subscription_actions_and_only_they_use_it() {
    let bytes = postcard::to_stdvec(&sample_subscribe()).unwrap();
    assert_eq!(hex::encode(&bytes), FORMAT_5_SUBSCRIBE);
    assert_eq!(bytes[1], PROPOSAL_FORMAT as u8);
    assert_eq!(decode(FORMAT_5_SUBSCRIBE).unwrap(), sample_subscribe());
    // Topic actions stay format 4 and the rest format 3, which older builds read.
    assert_eq!(postcard::to_stdvec(&sample_create_topic()).unwrap()[1], PROPOSAL_FORMAT_TOPICS as u8);
    assert_eq!(postcard::to_stdvec(&sample_send(FORMAT_VERSION)).unwrap()[1], PROPOSAL_FORMAT_WITHOUT_SNS as u8);
    // A subscription action in an older envelope was never written: refused.
    for older in [PROPOSAL_FORMAT_WITHOUT_SNS, PROPOSAL_FORMAT_TOPICS] {
        let mut mislabelled = bytes.clone();
        mislabelled[1] = older as u8;
        assert!(postcard::from_bytes::<Proposal>(&mislabelled).is_err(), "format {older}");
    }
}

/// A publish to a FIFO topic, at the sample's time.
fn sample_fifo_publish() -> Proposal {
    let entry = shoal_engine::command::PublishEntry {
        id: String::new(),
        message_id: "m".into(),
        message: "hello".into(),
        subject: None,
        attributes: BTreeMap::new(),
        json_structure: false,
        group_id: Some("g".into()),
        deduplication_id: Some("d".into()),
        signatures: BTreeMap::new(),
    };
    let command = Command::Publish {
        topic: "t.fifo".into(),
        batch: false,
        entries: vec![entry],
        published_ms: 1_700_000_000_000,
        base_url: "http://h/".into(),
    };
    Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, command)))
}

/// A publish to a FIFO topic is an ordinary format-5 entry (FIFO topics came with
/// subscriptions, in one write level).
const FORMAT_5_FIFO_PUBLISH: &str =
    "020535000380d095ffbc311f06742e6669666f000100016d0568656c6c6f0000000101670101640080d095ffbc3109687474703a2f2f682f";

#[test]
fn test_format_5_carries_fifo_topic_publishes() {
    let bytes = postcard::to_stdvec(&sample_fifo_publish()).unwrap();
    assert_eq!(hex::encode(&bytes), FORMAT_5_FIFO_PUBLISH);
    assert_eq!(decode(FORMAT_5_FIFO_PUBLISH).unwrap(), sample_fifo_publish());
    let mut mislabelled = bytes.clone();
    mislabelled[1] = PROPOSAL_FORMAT_TOPICS as u8;
    assert!(postcard::from_bytes::<Proposal>(&mislabelled).is_err(), "a publish in format 4 is refused");
}

#[test]
fn test_an_unknown_format_is_refused_by_number_not_misread() {
    let mut bytes = hex::decode(FORMAT_3_SEND).unwrap();
    bytes[1] = 9;
    assert!(postcard::from_bytes::<Proposal>(&bytes).is_err());
    // Inside openraft's entry, as the store and the network read it: log id (term 2, node 1,
    // index 7), payload variant Normal, then the proposal of format 9.
    let mut entry = hex::decode("02010701").unwrap();
    entry.extend_from_slice(&bytes);
    let error = postcard::from_bytes::<EntryOf<TypeConfig>>(&entry).unwrap_err();
    // postcard keeps only the kind of a custom error; the store logs it with the entry's place.
    assert_eq!(error, postcard::Error::SerdeDeCustom);
    let expected = FormatError::UnknownProposalFormat { format: 9 }.to_string();
    assert!(expected.contains("log entry format 9 is not one this build reads"), "{expected}");
}

fn sample_meta() -> SnapshotMetaOf<TypeConfig> {
    SnapshotMetaOf::<TypeConfig> {
        last_log_id: Some(openraft::testing::log_id::<TypeConfig>(2, 1, 7)),
        last_membership: StoredMembershipOf::<TypeConfig>::default(),
    }
}

fn sample_state() -> GroupState {
    let mut state = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let create = Command::CreateQueue {
        name: "q.fifo".into(),
        attributes: BTreeMap::from([("FifoQueue".to_string(), "true".to_string())]),
        tags: BTreeMap::new(),
    };
    let _ = state.apply(1, &Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, create))));
    let _ = state.apply(1, &sample_send(FORMAT_VERSION));
    state
}

/// The sample snapshot as this build writes it at the newest write level.
fn sample_snapshot() -> Vec<u8> {
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &sample_state(), SNAPSHOT_FORMAT).unwrap();
    bytes
}

/// A state holding one message of a standard queue, as a node below write level 2 writes it:
/// with its contents.
fn sample_state_with_contents() -> GroupState {
    let mut state = sample_state();
    let create = Command::CreateQueue { name: "q".into(), attributes: BTreeMap::new(), tags: BTreeMap::new() };
    let _ = state.apply(1, &Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, create))));
    let entry = SendEntry {
        id: String::new(),
        message_id: "m-2".into(),
        body: "hello".into(),
        delay_seconds: None,
        attributes: BTreeMap::new(),
        system_attributes: BTreeMap::new(),
        deduplication_id: None,
        group_id: None,
        sender_id: "s".into(),
    };
    let send = Command::SendMessage { queue: "q".into(), entry };
    let _ = state.apply(1, &Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, send))));
    let stored = state
        .engine
        .take_body_effects()
        .into_iter()
        .find_map(|effect| match effect {
            shoal_engine::bodies::BodyEffect::Store(_, record) => Some((*record).clone()),
            _ => None,
        })
        .expect("the send stores its record");
    assert_eq!(&*stored.body, "hello");
    let missing = state.engine.restore_contents(|_| Some(stored.clone()));
    assert!(missing.is_empty());
    assert_eq!(state.engine.clone().take_contents().len(), 1, "one message, with its contents");
    state
}

/// Reads `bytes` back as a snapshot file.
fn read_back(bytes: &[u8]) -> std::io::Result<(SnapshotMetaOf<TypeConfig>, GroupState, u16)> {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    read_snapshot(&mut file)
}

#[test]
fn test_snapshot_files_carry_their_format_before_the_body() {
    let bytes = sample_snapshot();
    assert_eq!(&bytes[..8], b"SHLSNAPV");
    assert_eq!(u16::from_be_bytes([bytes[8], bytes[9]]), SNAPSHOT_FORMAT);
    let (meta, state, format) = read_back(&bytes).unwrap();
    assert_eq!((meta, format), (sample_meta(), SNAPSHOT_FORMAT));
    assert_eq!(state.engine, sample_state().engine);
    assert!(state.engine.clone().take_contents().is_empty(), "format 5 holds no contents");
    assert!(state.engine.clone().take_headers().is_empty(), "nor headers");
}

#[test]
fn test_snapshot_format_5_keeps_the_topics_and_older_formats_cannot() {
    let mut state = sample_state();
    let _ = state.apply(1, &sample_create_topic());
    assert!(state.engine.topic_attributes("t").is_ok(), "the topic exists");
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &state, 5).unwrap();
    let (_, read, format) = read_back(&bytes).unwrap();
    assert_eq!(format, 5);
    assert_eq!(read.engine, state.engine, "topics included");
    assert_eq!(read.engine.topic_tags("t").unwrap(), BTreeMap::from([("k".to_string(), "v".to_string())]));
    // Format 4 has no place for topics: writing one that would drop them is refused.
    let error = write_snapshot(&mut Vec::new(), &sample_meta(), &state, 4).unwrap_err().to_string();
    assert!(error.contains("cannot hold topics"), "{error}");
    // Without topics, format 4 is written as before, and reads back with none.
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &sample_state(), 4).unwrap();
    let (_, read, _) = read_back(&bytes).unwrap();
    assert!(read.engine.sns_state().is_empty());
}

#[test]
fn test_a_state_with_topics_is_snapshotted_in_format_5_at_any_level() {
    use shoal_raft::format::{snapshot_format_at, snapshot_format_for};
    // A node that has not heard of level 4 yet (it polls, a peer is unreachable, it was just
    // replaced) may hold topics another node created: it writes format 5 for them, which every
    // node reads once any node agreed level 4, rather than fail to snapshot. Likewise format 6
    // for subscriptions.
    for level in 1..=5 {
        assert_eq!(snapshot_format_for(level, Generation::Topics), snapshot_format_at(level).max(5), "level {level}");
        assert_eq!(snapshot_format_for(level, Generation::Subscriptions), 6, "level {level}");
        assert_eq!(snapshot_format_for(level, Generation::Sqs), snapshot_format_at(level), "level {level}");
    }
}

/// The sample state with topic `t` and the sample's subscription (of queue `q`, raw delivery)
/// and a second one with a filter policy.
fn sample_state_with_subscriptions() -> GroupState {
    let mut state = sample_state();
    let _ = state.apply(1, &sample_create_topic());
    let subscribed = |response| matches!(response, shoal_raft::Response::Engine(Ok(_)));
    assert!(subscribed(state.apply(1, &sample_subscribe())));
    let filtered = Command::Subscribe {
        topic: "t".into(),
        subscription_id: "f".into(),
        protocol: "sqs".into(),
        endpoint: "arn:aws:sqs:us-east-1:000000000000:other".into(),
        attributes: BTreeMap::from([("FilterPolicy".to_string(), r#"{"colour":["red"]}"#.to_string())]),
        token: "k2".into(),
    };
    assert!(subscribed(state.apply(1, &Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, filtered))))));
    state
}

/// The SNS section of a format-5 snapshot of the sample state with topic `t`, in the layout
/// the build before subscriptions (commit da41455) wrote: per topic its name, attributes, tags
/// and creation time (bincode varints; `fd` and eight bytes for the time).
const FORMAT_5_SNS_SECTION: &str = "010174010b446973706c61794e616d65016401016b0176fd0068e5cf8b010000";

#[test]
fn test_snapshot_format_6_keeps_subscriptions_and_format_5_migrates() {
    let state = sample_state_with_subscriptions();
    assert_eq!(state.engine.generation(), Generation::Subscriptions);
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &state, 6).unwrap();
    let (_, read, format) = read_back(&bytes).unwrap();
    assert_eq!(format, 6);
    assert_eq!(read.engine, state.engine, "subscriptions included");
    let attributes = read.engine.subscription_attributes("t", "f").unwrap();
    assert_eq!(attributes["FilterPolicy"], r#"{"colour":["red"]}"#);
    assert_eq!(attributes["FilterPolicyScope"], "MessageAttributes", "the parsed policy was rebuilt");
    // Format 5 has no place for subscriptions: writing one that would drop them is refused.
    let error = write_snapshot(&mut Vec::new(), &sample_meta(), &state, 5).unwrap_err().to_string();
    assert!(error.contains("cannot hold subscriptions"), "{error}");
    // A format-5 file (topics only) reads as topics without subscriptions.
    let mut topics_only = sample_state();
    let _ = topics_only.apply(1, &sample_create_topic());
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &topics_only, 5).unwrap();
    let mut without_sns = Vec::new();
    write_snapshot(&mut without_sns, &sample_meta(), &sample_state(), 4).unwrap();
    assert_eq!(hex::encode(&bytes[without_sns.len()..]), FORMAT_5_SNS_SECTION, "format 5's SNS section");
    let (_, read, format) = read_back(&bytes).unwrap();
    assert_eq!(format, 5);
    assert_eq!(read.engine, topics_only.engine);
    assert_eq!(read.engine.topic_attributes("t").unwrap()["SubscriptionsConfirmed"], "0");
}

#[test]
fn test_snapshot_format_6_keeps_fifo_topics_state_and_format_5_cannot() {
    let mut state = sample_state();
    let create = Command::CreateTopic {
        name: "t.fifo".into(),
        attributes: BTreeMap::from([("FifoTopic".to_string(), "true".to_string())]),
        tags: BTreeMap::new(),
    };
    let _ = state.apply(1, &Proposal::Engine(Arc::new(LogEntry::new(1_700_000_000_000, create))));
    assert!(matches!(state.apply(1, &sample_fifo_publish()), shoal_raft::Response::Engine(Ok(_))));
    assert_eq!(state.engine.generation(), Generation::Subscriptions);
    let mut bytes = Vec::new();
    write_snapshot(&mut bytes, &sample_meta(), &state, 6).unwrap();
    let (_, read, format) = read_back(&bytes).unwrap();
    assert_eq!(format, 6);
    assert_eq!(read.engine.sns_state().fifo_topics(), state.engine.sns_state().fifo_topics());
    assert!(!read.engine.sns_state().fifo_topics().is_empty(), "the deduplication window survives");
    let error = write_snapshot(&mut Vec::new(), &sample_meta(), &state, 5).unwrap_err().to_string();
    assert!(error.contains("cannot hold subscriptions"), "{error}");
}

#[test]
fn test_snapshot_formats_1_and_2_still_load_with_their_contents() {
    // Format 2 keeps contents in the state; format 1 is format 2 without the number.
    let mut format_2 = Vec::new();
    write_snapshot(&mut format_2, &sample_meta(), &sample_state_with_contents(), 2).unwrap();
    assert_eq!(u16::from_be_bytes([format_2[8], format_2[9]]), 2);
    let mut format_1 = b"SHLSNAP1".to_vec();
    format_1.extend_from_slice(&format_2[10..]);
    for (bytes, expected) in [(format_2, 2), (format_1, 1)] {
        let (meta, state, format) = read_back(&bytes).unwrap();
        assert_eq!((meta, format), (sample_meta(), expected));
        assert_eq!(state.engine, sample_state_with_contents().engine);
    }
}

#[test]
fn test_snapshot_of_a_newer_format_is_refused() {
    let mut bytes = sample_snapshot();
    bytes[8..10].copy_from_slice(&(SNAPSHOT_FORMAT + 1).to_be_bytes());
    let error = read_back(&bytes).unwrap_err().to_string();
    assert!(error.contains(&format!("snapshot format {}", SNAPSHOT_FORMAT + 1)), "{error}");
}

#[test]
fn test_a_snapshot_claiming_more_than_the_limit_is_refused_before_allocating() {
    let bytes = sample_snapshot();
    let meta_len = u64::from_le_bytes(bytes[10..18].try_into().unwrap()) as usize;
    let body = 18 + meta_len;
    // The state's first field is the account id: a length (12), then its bytes. Claim
    // u64::MAX bytes instead (bincode's varint marker 253, then a u64).
    assert_eq!(bytes[body], 12);
    let mut damaged = bytes[..body].to_vec();
    damaged.push(253);
    damaged.extend_from_slice(&u64::MAX.to_le_bytes());
    damaged.extend_from_slice(&bytes[body + 1..]);
    let error = read_back(&damaged).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().to_lowercase().contains("limit"), "{error}");
}

/// A wall clock that stands still, far behind the time a group's snapshot reached.
#[derive(Debug)]
struct StoppedClock;

impl shoal_raft::clock::TimeSource for StoppedClock {
    fn wall_ms(&self) -> u64 {
        1_600_000_000_000
    }

    fn monotonic_ms(&self) -> u64 {
        0
    }
}

#[test]
fn test_a_group_restored_from_its_snapshot_keeps_the_time_it_had_reached() {
    // The whole log is in the snapshot (an idle group), and the restarted node's wall clock is
    // behind the snapshot's time: the cluster clock must not start before it, or every timer of
    // the group would stand still until the wall clock caught up.
    let directory = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(directory.path().join(format!("snap-{:020}.bin", 7))).unwrap();
    write_snapshot(&mut file, &sample_meta(), &sample_state(), SNAPSHOT_FORMAT).unwrap();
    drop(file);
    let clock = std::sync::Arc::new(shoal_raft::clock::ClusterClock::new(std::sync::Arc::new(StoppedClock)));
    let config = EngineConfig::new("000000000000", "us-east-1");
    let bodies = shoal_raft::bodies::MemoryBodies::new();
    let level = Arc::new(shoal_raft::format::FixedLevel(2));
    shoal_raft::state::StateMachine::open(1, directory.path().to_path_buf(), config, clock.clone(), bodies, level)
        .unwrap();
    assert!(
        clock.now_ms() >= sample_state().engine.now_ms(),
        "{} < {}",
        clock.now_ms(),
        sample_state().engine.now_ms()
    );
}

#[test]
fn test_a_node_starting_on_a_format_2_snapshot_moves_its_contents_to_the_store() {
    use shoal_raft::bodies::BodyStore;
    let directory = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(directory.path().join(format!("snap-{:020}.bin", 7))).unwrap();
    write_snapshot(&mut file, &sample_meta(), &sample_state_with_contents(), 2).unwrap();
    drop(file);
    let config = EngineConfig::new("000000000000", "us-east-1");
    let bodies = shoal_raft::bodies::MemoryBodies::new();
    let level = Arc::new(shoal_raft::format::FixedLevel(2));
    let machine = shoal_raft::state::StateMachine::open(
        1,
        directory.path().to_path_buf(),
        config,
        shoal_raft::clock::ClusterClock::system(),
        bodies.clone(),
        level,
    )
    .unwrap();
    let keys = bodies.keys(1).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(bodies.read(1, &keys).unwrap()[0].as_ref().map(|r| r.body.to_string()), Some("hello".to_string()));
    let mut without = sample_state_with_contents();
    without.engine.take_contents();
    assert_eq!(machine.shared().read().engine, without.engine, "the state keeps no contents");
}
