//! The state machine of one group: the engine (and, for the metadata group, the cluster
//! configuration) in memory, rebuilt at start from the newest snapshot file plus the log.
//!
//! A snapshot is a file `snap-<index>.bin` in the group's snapshot directory: a magic, the format
//! number (see [`crate::format`]), the length and postcard encoding of openraft's snapshot
//! metadata, then the bincode encoding of [`GroupState`], written and read as a stream so it never sits whole in a buffer. A snapshot
//! is written to a temporary name, synced, renamed and the directory synced; older ones are
//! removed after (a transfer still reading one keeps its open file).
//!
//! From format 3 (write level 2) the state holds no message contents: they are in the node's
//! body store ([`crate::bodies`]), flushed before the file is put in place, and a snapshot sent
//! to a follower carries them after the file as a body section. Below level 2 the file is of
//! format 2, contents filled in from the store when the copy is taken, as an older build reads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{CommittedLeaderIdOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use shoal_engine::bodies::{BodyKey, BodyRecord};
use shoal_engine::command::ReceivedMessage;
use shoal_engine::{Engine, EngineConfig, EngineError, Reply};
use tokio::sync::Notify;

use crate::bodies::{BatchBodies, BodyStore};
use crate::clock::ClusterClock;
use crate::format::{
    check_snapshot_format, format_5, snapshot_format_for, WriteLevelSource, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_FORMAT_1,
};
use crate::limits;
use crate::pollers::Pollers;
use crate::types::{ClusterInfo, Proposal, Response, TypeConfig};
use crate::GroupId;

/// Everything a group's log builds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupState {
    pub engine: Engine,
    /// Set in the metadata group when the cluster is created.
    pub cluster: Option<ClusterInfo>,
}

impl GroupState {
    /// A group's state before its first entry.
    pub fn new(config: EngineConfig) -> GroupState {
        GroupState { engine: Engine::new(config), cluster: None }
    }

    /// Applies one proposal of `group`'s log: the single place a committed entry changes state
    /// (the simulation applies entries through it too).
    pub fn apply(&mut self, group: GroupId, proposal: &Proposal) -> Response {
        match proposal {
            Proposal::Engine(entry) => Response::Engine(self.engine.apply(entry)),
            Proposal::SetCluster(info) if group == shoal_sharding::METADATA_GROUP => {
                Response::Cluster(self.cluster.get_or_insert_with(|| info.clone()).clone())
            }
            Proposal::SetCluster(_) => Response::Nothing,
        }
    }
}

/// A snapshot file, open for reading from its start; one that came from a leader with the body
/// section that followed it.
#[derive(Debug)]
pub struct SnapshotFile {
    pub file: File,
    pub len: u64,
    /// The file's format, from its header.
    pub format: u16,
    /// The body section received after a file of format 3 or later.
    pub bodies: Option<File>,
}

impl SnapshotFile {
    pub fn open(path: &Path) -> io::Result<SnapshotFile> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let format = read_format(&mut BufReader::new(&mut file))?;
        file.seek(SeekFrom::Start(0))?;
        Ok(SnapshotFile { file, len, format, bodies: None })
    }
}

/// What readers outside Raft share with a group's state machine: the applied state, a signal
/// after each applied batch, and the node's cluster clock that applied stamps move forward.
/// Every state machine of a group (the node's, over files, and the simulation's, in memory)
/// changes state only through it.
#[derive(Debug)]
pub struct Shared {
    pub group: GroupId,
    state: RwLock<GroupState>,
    /// Notified after every applied batch.
    pub applied: Notify,
    /// Long polls on this group's queues, woken per queue after a batch.
    pub pollers: Pollers,
    /// The node's cluster clock: every applied stamp moves it forward if it is behind.
    clock: Arc<ClusterClock>,
    /// Where message contents are stored.
    bodies: Arc<dyn BodyStore>,
    /// The store's work for the batch being applied.
    batch: Mutex<BatchBodies>,
}

impl Shared {
    /// The shared state of `group`, starting at `state` (empty, or loaded from a snapshot),
    /// with `bodies` made to hold exactly the contents of its messages.
    pub fn new(
        group: GroupId,
        state: GroupState,
        clock: Arc<ClusterClock>,
        bodies: Arc<dyn BodyStore>,
    ) -> io::Result<Arc<Shared>> {
        // The state's time counts like an applied entry's: a group whose whole log is in its
        // snapshot must not restart at an earlier time than it had reached.
        clock.observe(state.engine.now_ms());
        let mut state = state;
        let carried = state.engine.take_contents();
        if !carried.is_empty() {
            let count = crate::bodies::migrate(&*bodies, group, carried, state.engine.body_keys())?;
            tracing::info!(group, count, "message contents of a format 2 snapshot moved to the store");
        }
        crate::bodies::fold_state_headers(&*bodies, group, &mut state.engine)?;
        Ok(Arc::new(Shared {
            group,
            state: RwLock::new(state),
            applied: Notify::new(),
            pollers: Pollers::default(),
            clock,
            bodies,
            batch: Mutex::new(BatchBodies::default()),
        }))
    }

    /// The node's store of message contents.
    pub fn bodies(&self) -> &Arc<dyn BodyStore> {
        &self.bodies
    }

    /// A copy of the applied state for a snapshot file of `format`: of format 2, with every
    /// message's contents read back from the store; of format 3, with every message's header
    /// (format 4 keeps headers in the store only). Called between applies, so the store holds
    /// exactly what the copy names.
    pub fn snapshot_copy(&self, format: u16) -> io::Result<GroupState> {
        let mut state = self.read().clone();
        if format < 4 {
            let keys: Vec<BodyKey> = state.engine.body_keys().collect();
            let missing = if format < 3 {
                let mut records = self.read_records(&keys, Some)?;
                state.engine.restore_contents(|key| records.remove(&key))
            } else {
                // Format 3 holds headers, not contents: only they are kept in memory.
                let mut headers = self.read_records(&keys, |record| record.header)?;
                state.engine.restore_headers(|key| headers.remove(&key))
            };
            if !missing.is_empty() {
                return Err(io::Error::other(format!(
                    "group {}: {} messages' contents or headers are missing from the store (first {:?})",
                    self.group,
                    missing.len(),
                    missing[0]
                )));
            }
        }
        Ok(state)
    }

    /// What `keep` takes of the stored record of each of `keys`, read in chunks.
    fn read_records<T>(
        &self,
        keys: &[BodyKey],
        keep: impl Fn(BodyRecord) -> Option<T>,
    ) -> io::Result<std::collections::HashMap<BodyKey, T>> {
        let mut kept = std::collections::HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(1024) {
            for (key, record) in chunk.iter().zip(self.bodies.read(self.group, chunk)?) {
                if let Some(value) = record.and_then(&keep) {
                    kept.insert(*key, value);
                }
            }
        }
        Ok(kept)
    }

    /// The applied state. Keep the guard short: applying waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, GroupState> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one committed proposal; `applied_batch` after the batch it is part of.
    pub fn apply(&self, proposal: &Proposal) -> Response {
        if let Proposal::Engine(entry) = proposal {
            self.clock.observe(entry.time_ms);
            self.pollers.note(&entry.command);
        }
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let response = state.apply(self.group, proposal);
        let effects = state.engine.take_body_effects();
        drop(state);
        if !effects.is_empty() {
            self.batch.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).add(effects);
        }
        response
    }

    /// Ends the store's part of an applied batch, before its replies are sent: fills the
    /// contents of the messages in `replies` (those that will be answered) from the store, then
    /// carries out the batch's stores and releases. A failure is the store's, and stops the
    /// group like a failed log write.
    pub fn settle<'a>(&self, replies: impl IntoIterator<Item = &'a mut Response>) -> io::Result<()> {
        let batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut showing: Vec<&mut Response> =
            replies.into_iter().filter(|reply| !received_messages(reply).is_empty()).collect();
        if !showing.is_empty() {
            let keys: Vec<BodyKey> =
                showing.iter().flat_map(|reply| received_messages(reply)).filter_map(|m| m.body_key).collect();
            let records = batch.read(&*self.bodies, self.group, &keys)?;
            for reply in &mut showing {
                fill_contents(self.group, reply, &records);
            }
        }
        batch.write(&*self.bodies, self.group)
    }

    /// Applies one batch of committed entries of a group's Raft of any Shoal type
    /// configuration (the node's, the simulation's): proposals to the state, membership to
    /// `membership`, each entry's index to `last_applied`; then the store's part of the batch,
    /// and only then the replies.
    pub async fn apply_entries<C, S>(
        &self,
        mut entries: S,
        last_applied: &mut Option<LogIdOf<C>>,
        membership: &mut StoredMembershipOf<C>,
    ) -> io::Result<()>
    where
        C: openraft::RaftTypeConfig<
            D = Proposal,
            R = Response,
            NodeId = u64,
            Node = crate::NodeInfo,
            Entry = openraft::Entry<CommittedLeaderIdOf<C>, ShoalPayload>,
        >,
        S: Stream<Item = io::Result<EntryResponder<C>>> + Unpin,
    {
        let mut answers = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let response = match &entry.payload {
                EntryPayload::Blank => Response::Nothing,
                EntryPayload::Normal(proposal) => self.apply(proposal),
                EntryPayload::Membership(changed) => {
                    *membership = StoredMembershipOf::<C>::new(Some(log_id.clone()), changed.clone());
                    Response::Nothing
                }
            };
            *last_applied = Some(log_id);
            if let Some(responder) = responder {
                answers.push((responder, response));
            }
        }
        self.settle(answers.iter_mut().map(|(_, response)| response))?;
        for (responder, response) in answers {
            responder.send(response);
        }
        self.applied_batch();
        Ok(())
    }

    /// Replaces the state with an installed snapshot's. The store already holds the body
    /// section that came with a snapshot of format 3; `stale` are the keys it held that the
    /// section did not, removed now. A snapshot of format 2 (`stale` = `None`) carried its
    /// contents in the state: they go to the store, and every other key of the group goes.
    pub fn install(&self, mut state: GroupState, stale: Option<Vec<BodyKey>>) -> io::Result<()> {
        self.clock.observe(state.engine.now_ms());
        *self.batch.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = BatchBodies::default();
        let carried = state.engine.take_contents();
        match stale {
            Some(stale) => {
                if !carried.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a snapshot with a body section carried contents in its state too",
                    ));
                }
                self.bodies.write(self.group, &[], &stale)?;
            }
            None => {
                crate::bodies::migrate(&*self.bodies, self.group, carried, state.engine.body_keys())?;
            }
        }
        crate::bodies::fold_state_headers(&*self.bodies, self.group, &mut state.engine)?;
        *self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
        self.pollers.wake_everyone();
        self.applied.notify_waiters();
        Ok(())
    }

    /// Wakes everyone waiting for the next applied batch, and the pollers of the queues it may
    /// have fed.
    pub fn applied_batch(&self) {
        self.pollers.wake_noted();
        self.applied.notify_waiters();
    }
}

/// The received messages of a reply, whose contents the store fills in.
fn received_messages(response: &Response) -> &[ReceivedMessage] {
    match response {
        Response::Engine(Ok(Reply::Received(messages))) => messages,
        _ => &[],
    }
}

/// Sets each received message's body and attributes to what the store holds under its key. A
/// reply whose contents cannot all be found is withheld: an error instead (the store lost what
/// it must hold; the messages come back when their visibility timeout ends).
fn fill_contents(group: GroupId, response: &mut Response, records: &BTreeMap<BodyKey, Arc<BodyRecord>>) {
    let Response::Engine(Ok(Reply::Received(messages))) = response else {
        return;
    };
    let mut missing = None;
    for message in messages.iter_mut() {
        let Some(key) = message.body_key else {
            continue;
        };
        let Some(record) = records.get(&key) else {
            missing = Some(key);
            continue;
        };
        if !message.fill(record) {
            missing = Some(key);
        }
    }
    if let Some(key) = missing {
        tracing::error!(group, ?key, "a received message's contents are missing from the store");
        *response = Response::Engine(Err(EngineError::StorageFailure(format!(
            "group {group}: the contents of {key:?} are missing from the store"
        ))));
    }
}

/// A group's snapshot files on this node: the directory, and the current snapshot in it.
#[derive(Debug)]
pub struct SnapshotDir {
    group: GroupId,
    dir: PathBuf,
    current: Mutex<Option<(SnapshotMetaOf<TypeConfig>, PathBuf)>>,
}

impl SnapshotDir {
    /// Where snapshots arriving from a leader are written while they stream in.
    pub fn incoming_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("incoming-{id}.tmp"))
    }
}

/// What a Shoal log entry carries, whatever the Raft type configuration.
type ShoalPayload = EntryPayload<Proposal, u64, crate::NodeInfo>;

/// A group's Raft on this node: openraft over Shoal's types and this state machine.
pub type ShoalRaft = openraft::Raft<TypeConfig, StateMachine>;

/// The openraft state machine of one group.
#[derive(Debug)]
pub struct StateMachine {
    shared: Arc<Shared>,
    snapshots: Arc<SnapshotDir>,
    last_applied: Option<LogIdOf<TypeConfig>>,
    membership: StoredMembershipOf<TypeConfig>,
    /// Says which snapshot format to write.
    level: Arc<dyn WriteLevelSource>,
}

impl StateMachine {
    /// Opens the state machine of `group`, loading the newest snapshot in `dir` if there is one.
    pub fn open(
        group: GroupId,
        dir: PathBuf,
        config: EngineConfig,
        clock: Arc<ClusterClock>,
        bodies: Arc<dyn BodyStore>,
        level: Arc<dyn WriteLevelSource>,
    ) -> io::Result<StateMachine> {
        std::fs::create_dir_all(&dir)?;
        remove_temporary_files(&dir)?;
        let mut newest: Option<(u64, PathBuf)> = None;
        for item in std::fs::read_dir(&dir)? {
            let path = item?.path();
            if let Some(index) = snapshot_index(&path) {
                if newest.as_ref().is_none_or(|(best, _)| index > *best) {
                    newest = Some((index, path));
                }
            }
        }
        let (state, meta, current) = match newest {
            Some((_, path)) => {
                let (meta, state, _) = read_snapshot(&mut File::open(&path)?)?;
                (state, Some(meta.clone()), Some((meta, path)))
            }
            None => (GroupState::new(config), None, None),
        };
        let shared = Shared::new(group, state, clock, bodies)?;
        let snapshots = Arc::new(SnapshotDir { group, dir, current: Mutex::new(current) });
        let (last_applied, membership) = match meta {
            Some(meta) => (meta.last_log_id, meta.last_membership),
            None => (None, StoredMembershipOf::<TypeConfig>::default()),
        };
        Ok(StateMachine { shared, snapshots, last_applied, membership, level })
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn snapshots(&self) -> Arc<SnapshotDir> {
        self.snapshots.clone()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        self.shared.apply_entries(entries, &mut self.last_applied, &mut self.membership).await
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // Called between applies, so the copy is the state at `last_applied` exactly.
        let generation = self.shared.read().engine.generation();
        let format = snapshot_format_for(self.level.write_level(), generation);
        let state = self.shared.snapshot_copy(format);
        let meta =
            SnapshotMetaOf::<TypeConfig> { last_log_id: self.last_applied, last_membership: self.membership.clone() };
        SnapshotBuilder {
            snapshots: self.snapshots.clone(),
            state: Some(state),
            format,
            meta,
            bodies: self.shared.bodies.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMetaOf<TypeConfig>, snapshot: SnapshotFile) -> io::Result<()> {
        let snapshots = self.snapshots.clone();
        let meta_owned = meta.clone();
        let bodies = self.shared.bodies.clone();
        let format = snapshot.format;
        let (state, stale) = tokio::task::spawn_blocking(move || install(&snapshots, &*bodies, &meta_owned, snapshot))
            .await
            .map_err(io::Error::other)??;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.shared.install(state, stale)?;
        let index = meta.last_log_id.as_ref().map(|id| id.index());
        tracing::info!(group = self.shared.group, ?index, format, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotFile>>> {
        // Opened under the lock, so a newer snapshot cannot remove the file in between; the
        // open file stays readable after that.
        let current = self.snapshots.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some((meta, path)) = current.as_ref() else {
            return Ok(None);
        };
        let snapshot = SnapshotFile::open(path)?;
        Ok(Some(SnapshotOf::<TypeConfig, SnapshotFile> { meta: meta.clone(), snapshot }))
    }
}

/// Writes a copy of the state taken at one log index to a snapshot file.
#[derive(Debug)]
pub struct SnapshotBuilder {
    snapshots: Arc<SnapshotDir>,
    /// The copy, or why it could not be taken.
    state: Option<io::Result<GroupState>>,
    format: u16,
    meta: SnapshotMetaOf<TypeConfig>,
    bodies: Arc<dyn BodyStore>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, SnapshotFile>> {
        let state = self.state.take().ok_or_else(|| io::Error::other("a snapshot builder is used once"))??;
        let format = self.format;
        let snapshots = self.snapshots.clone();
        let meta = self.meta.clone();
        let bodies = self.bodies.clone();
        let snapshot = tokio::task::spawn_blocking(move || {
            let index = meta.last_log_id.as_ref().map_or(0, |id| id.index());
            let path = snapshots.dir.join(format!("snap-{index:020}.bin"));
            let temporary = snapshots.dir.join(format!("snap-{index:020}.tmp"));
            let mut writer = BufWriter::new(File::create(&temporary)?);
            write_snapshot(&mut writer, &meta, &state, format)?;
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            // Every content the state names was stored before the copy was taken; once the
            // snapshot is in place the log before it may go, so those contents must be durable.
            bodies.flush()?;
            std::fs::rename(&temporary, &path)?;
            File::open(&snapshots.dir)?.sync_all()?;
            // Open before it becomes current: a later snapshot may remove the name.
            let snapshot = SnapshotFile::open(&path)?;
            make_current(&snapshots, meta, path)?;
            tracing::info!(group = snapshots.group, index, "snapshot written");
            Ok::<SnapshotFile, io::Error>(snapshot)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(SnapshotOf::<TypeConfig, SnapshotFile> { meta: self.meta.clone(), snapshot })
    }
}

/// Loads a received snapshot, puts the body section that came with it into the store, and
/// copies the file into place (unless it is already ours). Returns the state, and for a
/// snapshot of format 3 the keys the store held that the section did not (see
/// [`Shared::install`]).
fn install(
    snapshots: &SnapshotDir,
    bodies: &dyn BodyStore,
    meta: &SnapshotMetaOf<TypeConfig>,
    mut snapshot: SnapshotFile,
) -> io::Result<(GroupState, Option<Vec<BodyKey>>)> {
    let index = meta.last_log_id.as_ref().map_or(0, |id| id.index());
    let path = snapshots.dir.join(format!("snap-{index:020}.bin"));
    snapshot.file.seek(SeekFrom::Start(0))?;
    let (read_meta, state, format) = read_snapshot(&mut snapshot.file)?;
    if &read_meta != meta {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the snapshot file does not match its metadata"));
    }
    // Contents first, none removed: a crash before the file is in place leaves the snapshot
    // this node had, with all it names.
    let stale = match (format >= 3, snapshot.bodies.take()) {
        (true, Some(section)) => {
            Some(crate::bodies::install_section(bodies, snapshots.group, &mut BufReader::new(section))?)
        }
        // Not from a leader (the network refuses a format-3 transfer without its section): one
        // of this node's own, whose contents its store holds.
        (true, None) => Some(Vec::new()),
        (false, _) => None,
    };
    let already_ours = std::fs::metadata(&path).is_ok_and(|ours| same_file(&ours, &snapshot.file));
    if !already_ours {
        let temporary = snapshots.dir.join(format!("snap-{index:020}.tmp"));
        snapshot.file.seek(SeekFrom::Start(0))?;
        let mut copy = File::create(&temporary)?;
        io::copy(&mut snapshot.file, &mut copy)?;
        copy.sync_all()?;
        drop(copy);
        std::fs::rename(&temporary, &path)?;
        File::open(&snapshots.dir)?.sync_all()?;
    }
    make_current(snapshots, meta.clone(), path)?;
    Ok((state, stale))
}

fn same_file(path_meta: &std::fs::Metadata, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.ino() == path_meta.ino() && m.dev() == path_meta.dev())
}

/// Makes `path` the current snapshot and removes the older ones.
fn make_current(snapshots: &SnapshotDir, meta: SnapshotMetaOf<TypeConfig>, path: PathBuf) -> io::Result<()> {
    let mut current = snapshots.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let newer = current.as_ref().is_none_or(|(old, _)| old.last_log_id <= meta.last_log_id);
    if !newer {
        // A newer snapshot was installed meanwhile; this one is not needed (open handles to it
        // stay readable).
        let in_use = current.as_ref().is_some_and(|(_, current_path)| current_path == &path);
        if !in_use {
            std::fs::remove_file(&path)?;
        }
        return Ok(());
    }
    *current = Some((meta, path.clone()));
    for item in std::fs::read_dir(&snapshots.dir)? {
        let other = item?.path();
        if other != path && snapshot_index(&other).is_some() {
            std::fs::remove_file(&other)?;
        }
    }
    Ok(())
}

fn snapshot_index(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("snap-")?.strip_suffix(".bin")?.parse().ok()
}

fn remove_temporary_files(dir: &Path) -> io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let path = item?.path();
        if path.extension().is_some_and(|ext| ext == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

type SnapshotConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ limits::SNAPSHOT_BYTES_MAX }>,
>;

/// The encoding of a snapshot's state; decoding refuses to claim more than the snapshot limit
/// (the limit changes no byte of the encoding).
fn bincode_config() -> SnapshotConfig {
    bincode::config::standard().with_limit::<{ limits::SNAPSHOT_BYTES_MAX }>()
}

/// Writes a snapshot of `format` (2 to 6, which share the layout; the state given must suit
/// it): magic, format number, metadata, state, and from format 5 the topics (from format 6 with
/// their subscriptions, followed by FIFO topics' state).
pub fn write_snapshot(
    writer: &mut impl Write,
    meta: &SnapshotMetaOf<TypeConfig>,
    state: &GroupState,
    format: u16,
) -> io::Result<()> {
    check_snapshot_format(format).map_err(io::Error::other)?;
    let meta_bytes = postcard::to_stdvec(meta).map_err(io::Error::other)?;
    writer.write_all(SNAPSHOT_MAGIC)?;
    writer.write_all(&format.to_be_bytes())?;
    writer.write_all(&(meta_bytes.len() as u64).to_le_bytes())?;
    writer.write_all(&meta_bytes)?;
    bincode::serde::encode_into_std_write(state, writer, bincode_config()).map_err(io::Error::other)?;
    // `snapshot_format_for` picks a format that holds what the state holds: the refusals
    // below are never reached.
    let sns = state.engine.sns_state();
    let cannot_hold = |what: &str| io::Error::other(format!("snapshot format {format} cannot hold {what}"));
    if format >= 6 {
        bincode::serde::encode_into_std_write(sns, writer, bincode_config()).map_err(io::Error::other)?;
        bincode::serde::encode_into_std_write(sns.fifo_topics(), writer, bincode_config()).map_err(io::Error::other)?;
    } else if format == 5 {
        let topics = format_5::SnsState::of(sns).ok_or_else(|| cannot_hold("subscriptions"))?;
        bincode::serde::encode_into_std_write(&topics, writer, bincode_config()).map_err(io::Error::other)?;
    } else if !sns.is_empty() {
        return Err(cannot_hold("topics"));
    }
    writer.flush()
}

fn invalid_snapshot(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot file: {what}"))
}

/// Reads a snapshot's magic and format number, refusing a format this build does not read.
fn read_format(reader: &mut impl Read) -> io::Result<u16> {
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic)?;
    let format = if &magic == SNAPSHOT_MAGIC_FORMAT_1 {
        1
    } else if &magic == SNAPSHOT_MAGIC {
        let mut number = [0u8; 2];
        reader.read_exact(&mut number)?;
        u16::from_be_bytes(number)
    } else {
        return Err(invalid_snapshot("not a shoal snapshot (bad magic)"));
    };
    check_snapshot_format(format).map_err(|error| invalid_snapshot(&error.to_string()))?;
    Ok(format)
}

/// Reads a snapshot file from its start: its metadata, the state (streamed) and the format.
pub fn read_snapshot(file: &mut File) -> io::Result<(SnapshotMetaOf<TypeConfig>, GroupState, u16)> {
    let invalid = invalid_snapshot;
    let len = file.metadata()?.len();
    if len > limits::SNAPSHOT_BYTES_MAX as u64 {
        return Err(invalid(&format!("{len} bytes, more than the limit of {}", limits::SNAPSHOT_BYTES_MAX)));
    }
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file);
    // Formats 1 to 4 share the layout after the header; format 5 adds the topics after it,
    // format 6 their subscriptions and FIFO topics' state after those.
    let format = read_format(&mut reader)?;
    let mut len = [0u8; 8];
    reader.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > limits::SNAPSHOT_META_BYTES_MAX {
        return Err(invalid("metadata too long"));
    }
    let mut meta_bytes = vec![0u8; len as usize];
    reader.read_exact(&mut meta_bytes)?;
    let meta = postcard::from_bytes(&meta_bytes).map_err(|e| invalid(&e.to_string()))?;
    let mut state: GroupState =
        bincode::serde::decode_from_std_read(&mut reader, bincode_config()).map_err(|e| invalid(&e.to_string()))?;
    if format >= 6 {
        let sns =
            bincode::serde::decode_from_std_read(&mut reader, bincode_config()).map_err(|e| invalid(&e.to_string()))?;
        state.engine.set_sns_state(sns);
        let fifo =
            bincode::serde::decode_from_std_read(&mut reader, bincode_config()).map_err(|e| invalid(&e.to_string()))?;
        state.engine.set_sns_fifo(fifo);
    } else if format == 5 {
        let topics: format_5::SnsState =
            bincode::serde::decode_from_std_read(&mut reader, bincode_config()).map_err(|e| invalid(&e.to_string()))?;
        state.engine.set_sns_state(topics.migrate());
    }
    Ok((meta, state, format))
}
