//! In-memory storage of a simulated node: a "disk" that outlives the node's process (it is
//! kept outside the simulated host), holding the Raft log, vote, commit index and snapshot.
//! A crash of the host is a power loss: what was never made durable is gone.
//!
//! Correctly, an append is durable before openraft hears it is flushed. With the
//! `AckBeforeDurable` failpoint the store reports appends flushed at once and makes them durable
//! only every `LAZY_FLUSH`, so a power loss of a majority can take acknowledged entries with it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::Stream;
use openraft::entry::RaftEntry;
use openraft::storage::{
    EntryResponder, IOFlushed, LogState, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::type_config::alias::{EntryOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf};
use openraft::OptionalSend;
use shoal_raft::bodies::{install_section, write_section, BodyStore};
use shoal_raft::clock::ClusterClock;
use shoal_raft::format::SNAPSHOT_FORMAT;
use shoal_raft::state::{GroupState, Shared};
use shoal_raft::GroupId;

use super::SimTypes;

/// What survives a crash of one node, for one group.
#[derive(Debug, Default)]
pub struct Disk {
    vote: Option<VoteOf<SimTypes>>,
    committed: Option<LogIdOf<SimTypes>>,
    log: BTreeMap<u64, EntryOf<SimTypes>>,
    last_purged: Option<LogIdOf<SimTypes>>,
    /// Lowest index written but not yet durable (failpoint only).
    unsynced_from: Option<u64>,
    snapshot: Option<(SnapshotMetaOf<SimTypes>, Vec<u8>)>,
    /// Reports flushes before the data is durable.
    lies: bool,
}

impl Disk {
    pub fn new(lies: bool) -> Arc<Mutex<Disk>> {
        Arc::new(Mutex::new(Disk { lies, ..Disk::default() }))
    }

    /// Makes everything written so far durable (the failpoint's periodic flush).
    pub fn flush(&mut self) {
        self.unsynced_from = None;
    }

    /// The machine lost power: writes that were not durable are gone.
    pub fn power_loss(&mut self) {
        if let Some(from) = self.unsynced_from.take() {
            self.log.split_off(&from);
            // The commit index was written lazily too; the leader tells it again.
            self.committed = None;
        }
    }
}

fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The log store over a node's disk.
#[derive(Debug, Clone)]
pub struct LogStore {
    pub disk: Arc<Mutex<Disk>>,
}

impl RaftLogReader<SimTypes> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<EntryOf<SimTypes>>> {
        Ok(lock(&self.disk).log.range(range).map(|(_, entry)| entry.clone()).collect())
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<SimTypes>>> {
        Ok(lock(&self.disk).vote)
    }
}

impl RaftLogStorage<SimTypes> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<SimTypes>> {
        let disk = lock(&self.disk);
        let last_log_id = disk.log.values().next_back().map(|entry| entry.log_id()).or(disk.last_purged);
        Ok(LogState { last_purged_log_id: disk.last_purged, last_log_id })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<SimTypes>) -> io::Result<()> {
        lock(&self.disk).vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<SimTypes>>) -> io::Result<()> {
        lock(&self.disk).committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<SimTypes>>> {
        Ok(lock(&self.disk).committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<SimTypes>) -> io::Result<()>
    where
        I: IntoIterator<Item = EntryOf<SimTypes>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut disk = lock(&self.disk);
        for entry in entries {
            let index = entry.index();
            if disk.lies {
                disk.unsynced_from = Some(disk.unsynced_from.map_or(index, |from| from.min(index)));
            }
            disk.log.insert(index, entry);
        }
        drop(disk);
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<SimTypes>>) -> io::Result<()> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        let mut disk = lock(&self.disk);
        disk.log.split_off(&from);
        if disk.unsynced_from.is_some_and(|unsynced| unsynced >= from) {
            disk.unsynced_from = None;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<SimTypes>) -> io::Result<()> {
        let mut disk = lock(&self.disk);
        let kept = disk.log.split_off(&(log_id.index() + 1));
        disk.log = kept;
        disk.last_purged = Some(log_id);
        Ok(())
    }
}

/// The state machine: the real `GroupState` apply through the node's [`Shared`] state (as the
/// cluster layer reads it), in memory, rebuilt after a crash from the snapshot on the disk (if
/// any) and the log.
#[derive(Debug)]
pub struct StateMachine {
    pub shared: Arc<Shared>,
    disk: Arc<Mutex<Disk>>,
    last_applied: Option<LogIdOf<SimTypes>>,
    membership: StoredMembershipOf<SimTypes>,
}

/// A state as the simulation's snapshots hold it: the group state, then its topics and FIFO
/// topics' state (which the group state's own encoding leaves out, as snapshot files write them
/// after it).
fn encode_state(state: &GroupState) -> io::Result<Vec<u8>> {
    let sns = state.engine.sns_state();
    bincode::serde::encode_to_vec((state, sns, sns.fifo_topics()), bincode::config::standard())
        .map_err(io::Error::other)
}

type Sections = (GroupState, shoal_engine::sns::SnsState, shoal_engine::sns::fifo::FifoTopics);

fn decode_state(bytes: &[u8]) -> io::Result<GroupState> {
    let ((mut state, sns, fifo), _): (Sections, usize) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map_err(io::Error::other)?;
    state.engine.set_sns_state(sns);
    state.engine.set_sns_fifo(fifo);
    Ok(state)
}

impl StateMachine {
    pub fn open(
        group: GroupId,
        disk: Arc<Mutex<Disk>>,
        empty: GroupState,
        clock: Arc<ClusterClock>,
        bodies: Arc<dyn BodyStore>,
    ) -> io::Result<StateMachine> {
        let snapshot = lock(&disk).snapshot.clone();
        let (state, last_applied, membership) = match snapshot {
            Some((meta, bytes)) => (decode_state(&bytes)?, meta.last_log_id, meta.last_membership),
            None => (empty, None, StoredMembershipOf::<SimTypes>::default()),
        };
        let shared = Shared::new(group, state, clock, bodies)?;
        Ok(StateMachine { shared, disk, last_applied, membership })
    }
}

impl RaftStateMachine<SimTypes> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogIdOf<SimTypes>>, StoredMembershipOf<SimTypes>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<SimTypes>>> + Unpin + OptionalSend,
    {
        self.shared.apply_entries(entries, &mut self.last_applied, &mut self.membership).await
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // The simulation writes what a node at the newest write level writes: no contents.
        let state = self.shared.snapshot_copy(SNAPSHOT_FORMAT);
        let meta =
            SnapshotMetaOf::<SimTypes> { last_log_id: self.last_applied, last_membership: self.membership.clone() };
        SnapshotBuilder { disk: self.disk.clone(), state, meta, bodies: self.shared.bodies().clone() }
    }

    /// A snapshot from a leader: the state and the body section after it (see
    /// [`with_section`]); the contents go to the store, flushed, before the state is kept.
    async fn install_snapshot(&mut self, meta: &SnapshotMetaOf<SimTypes>, snapshot: Cursor<Vec<u8>>) -> io::Result<()> {
        let bytes = snapshot.into_inner();
        let (state_bytes, mut section) = split_section(&bytes)?;
        let state = decode_state(state_bytes)?;
        let stale = install_section(&**self.shared.bodies(), self.shared.group, &mut section)?;
        lock(&self.disk).snapshot = Some((meta.clone(), state_bytes.to_vec()));
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.shared.install(state, Some(stale))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf<SimTypes, Cursor<Vec<u8>>>>> {
        let disk = lock(&self.disk);
        Ok(disk.snapshot.as_ref().map(|(meta, bytes)| SnapshotOf::<SimTypes, Cursor<Vec<u8>>> {
            meta: meta.clone(),
            snapshot: Cursor::new(bytes.clone()),
        }))
    }
}

/// A snapshot as sent: the length of the state's encoding (u64, little endian), the state,
/// then the body section of `group` read from `bodies` now.
pub fn with_section(state: Vec<u8>, bodies: &dyn BodyStore, group: GroupId) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(state.len() + 16);
    data.extend_from_slice(&(state.len() as u64).to_le_bytes());
    data.extend_from_slice(&state);
    write_section(bodies, group, &mut data)?;
    Ok(data)
}

/// The state and the body section of a snapshot as sent.
fn split_section(data: &[u8]) -> io::Result<(&[u8], &[u8])> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "a snapshot cut short");
    let (len, rest) = data.split_first_chunk::<8>().ok_or_else(invalid)?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| invalid())?;
    if len > rest.len() {
        return Err(invalid());
    }
    Ok(rest.split_at(len))
}

#[derive(Debug)]
pub struct SnapshotBuilder {
    disk: Arc<Mutex<Disk>>,
    state: io::Result<GroupState>,
    meta: SnapshotMetaOf<SimTypes>,
    bodies: Arc<dyn BodyStore>,
}

impl RaftSnapshotBuilder<SimTypes> for SnapshotBuilder {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<SimTypes, Cursor<Vec<u8>>>> {
        let state = std::mem::replace(&mut self.state, Err(io::Error::other("a snapshot builder is used once")))?;
        let bytes = encode_state(&state)?;
        // As on a node: the contents the state names are durable before the snapshot is.
        self.bodies.flush()?;
        let mut disk = lock(&self.disk);
        // Built in the background: a newer snapshot may have been installed meanwhile.
        let newer = disk.snapshot.as_ref().is_none_or(|(stored, _)| stored.last_log_id <= self.meta.last_log_id);
        if newer {
            disk.snapshot = Some((self.meta.clone(), bytes.clone()));
        }
        drop(disk);
        Ok(SnapshotOf::<SimTypes, Cursor<Vec<u8>>> { meta: self.meta.clone(), snapshot: Cursor::new(bytes) })
    }
}
