//! The store of message contents: what the engine's [`BodyEffect`]s ask for, carried out once
//! per applied batch, and read back on the leader for the replies that show contents.
//!
//! On a node the store is the column family `bodies` of the node's RocksDB: key = group (4 bytes,
//! big endian) + [`BodyKey`] (16 bytes, big endian); value = the format number (one byte,
//! [`BODY_FORMAT`]) then the postcard encoding of [`BodyRecord`]. Writes skip the write-ahead
//! log: the Raft log already holds every body until a snapshot covers it, and a snapshot is put
//! in place only after [`BodyStore::flush`], so after a crash the snapshot's contents are on disk
//! and replaying the log after it stores and releases the rest again. The simulation keeps its
//! store in memory.
//!
//! While message bodies are also kept in the engine's memory (and its snapshots), the state
//! machine fills the store from a loaded or installed snapshot, so the store always holds
//! exactly what the engine's messages hold.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex};

use shoal_engine::bodies::{BodyEffect, BodyKey, BodyRecord};

use crate::GroupId;

/// The encoding of a stored record this build writes and reads.
pub const BODY_FORMAT: u8 = 1;

/// Where a node keeps message contents, for all its groups.
pub trait BodyStore: Send + Sync + Debug + 'static {
    /// Stores `puts` and removes `deletes` of `group`, together. Not durable until `flush`.
    fn write(&self, group: GroupId, puts: &[(BodyKey, Arc<BodyRecord>)], deletes: &[BodyKey]) -> io::Result<()>;

    /// Reads the records of `keys` of `group`, in the same order; `None` where nothing is stored.
    fn read(&self, group: GroupId, keys: &[BodyKey]) -> io::Result<Vec<Option<BodyRecord>>>;

    /// Makes everything written so far durable.
    fn flush(&self) -> io::Result<()>;

    /// Every key stored for `group`, in order.
    fn keys(&self, group: GroupId) -> io::Result<Vec<BodyKey>>;
}

/// The store's work for one applied batch: the effects of its entries, in order, and the
/// contents its replies need. Within a batch a release may come before the move that takes the
/// same contents elsewhere (effects are gathered per queue), so nothing is removed from the store
/// until the batch is written, after its reads.
#[derive(Debug, Default)]
pub struct BatchBodies {
    /// Contents stored or moved in this batch and not released in it, by key.
    stored: HashMap<BodyKey, Arc<BodyRecord>>,
    /// Keys given, in this batch, the contents of a key stored before it (target -> source).
    copies: HashMap<BodyKey, BodyKey>,
    /// Keys stored before this batch and released in it.
    released: HashSet<BodyKey>,
    /// Contents stored in this batch and released in it, for a move later in the batch.
    dropped: HashMap<BodyKey, Arc<BodyRecord>>,
    /// Keys copied in this batch and released in it, likewise.
    dropped_copies: HashMap<BodyKey, BodyKey>,
}

impl BatchBodies {
    pub fn add(&mut self, effects: Vec<BodyEffect>) {
        for effect in effects {
            match effect {
                BodyEffect::Store(key, record) => {
                    self.stored.insert(key, record);
                }
                BodyEffect::Release(key) => {
                    if let Some(record) = self.stored.remove(&key) {
                        self.dropped.insert(key, record);
                    } else if let Some(source) = self.copies.remove(&key) {
                        self.dropped_copies.insert(key, source);
                    } else {
                        self.released.insert(key);
                    }
                }
                BodyEffect::Move { from, to } => {
                    if let Some(record) = self.stored.get(&from).or_else(|| self.dropped.get(&from)) {
                        self.stored.insert(to, record.clone());
                    } else {
                        let source = self.copies.get(&from).or_else(|| self.dropped_copies.get(&from));
                        self.copies.insert(to, source.copied().unwrap_or(from));
                    }
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stored.is_empty() && self.copies.is_empty() && self.released.is_empty()
    }

    /// The records of `keys` as they are after this batch's stores and moves, and before its
    /// releases reach the store: from the batch itself, or from `store`.
    pub fn read(
        &self,
        store: &dyn BodyStore,
        group: GroupId,
        keys: &[BodyKey],
    ) -> io::Result<BTreeMap<BodyKey, Arc<BodyRecord>>> {
        let mut found = BTreeMap::new();
        // Each key not in the batch, with the key it is read from in the store.
        let mut from_store: Vec<(BodyKey, BodyKey)> = Vec::new();
        for key in keys {
            match self.stored.get(key) {
                Some(record) => {
                    found.insert(*key, record.clone());
                }
                None => from_store.push((*key, self.copies.get(key).copied().unwrap_or(*key))),
            }
        }
        let sources: Vec<BodyKey> = from_store.iter().map(|(_, source)| *source).collect();
        for ((key, _), record) in from_store.iter().zip(store.read(group, &sources)?) {
            if let Some(record) = record {
                found.insert(*key, Arc::new(record));
            }
        }
        Ok(found)
    }

    /// Carries the batch out on `store`: copies read first, then one write.
    pub fn write(self, store: &dyn BodyStore, group: GroupId) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut puts: Vec<(BodyKey, Arc<BodyRecord>)> = self.stored.into_iter().collect();
        let copies: Vec<(BodyKey, BodyKey)> = self.copies.into_iter().collect();
        let sources: Vec<BodyKey> = copies.iter().map(|(_, source)| *source).collect();
        for ((to, from), record) in copies.iter().zip(store.read(group, &sources)?) {
            match record {
                Some(record) => puts.push((*to, Arc::new(record))),
                None => {
                    tracing::error!(group, ?from, ?to, "moved contents are missing from the store");
                    debug_assert!(false, "group {group}: moved contents {from:?} are missing from the store");
                }
            }
        }
        puts.sort_unstable_by_key(|(key, _)| *key);
        let mut released: Vec<BodyKey> = self.released.into_iter().collect();
        released.sort_unstable();
        store.write(group, &puts, &released)
    }
}

/// Makes `store` hold exactly `records` for `group`: puts them all, removes every other key,
/// and flushes. Used on a state loaded from a snapshot, whose contents the store may lack (a
/// store emptied by a crash before a flush, or a snapshot taken from a leader).
pub fn fill(
    store: &dyn BodyStore,
    group: GroupId,
    records: impl Iterator<Item = (BodyKey, BodyRecord)>,
) -> io::Result<usize> {
    let mut live = HashSet::new();
    let mut batch = Vec::new();
    let mut count = 0;
    for (key, record) in records {
        live.insert(key);
        batch.push((key, Arc::new(record)));
        if batch.len() == FILL_BATCH {
            store.write(group, &batch, &[])?;
            count += batch.len();
            batch.clear();
        }
    }
    count += batch.len();
    let stale: Vec<BodyKey> = store.keys(group)?.into_iter().filter(|key| !live.contains(key)).collect();
    store.write(group, &batch, &stale)?;
    store.flush()?;
    Ok(count)
}

/// Records per write while filling a store.
const FILL_BATCH: usize = 1024;

/// Encodes a record as stored: format number, then postcard.
pub fn encode_record(record: &BodyRecord) -> io::Result<Vec<u8>> {
    postcard::to_extend(record, vec![BODY_FORMAT]).map_err(io::Error::other)
}

/// Decodes a stored record, refusing a format this build does not know.
pub fn decode_record(bytes: &[u8]) -> io::Result<BodyRecord> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    match bytes.split_first() {
        Some((&BODY_FORMAT, rest)) => {
            postcard::from_bytes(rest).map_err(|error| invalid(format!("a stored message body: {error}")))
        }
        Some((format, _)) => Err(invalid(format!(
            "a stored message body of format {format}; this build reads format {BODY_FORMAT}: upgrade this node"
        ))),
        None => Err(invalid("an empty stored message body".to_string())),
    }
}

/// A store in memory: the simulation's, and tests'.
#[derive(Debug, Default)]
pub struct MemoryBodies {
    groups: Mutex<BTreeMap<GroupId, BTreeMap<BodyKey, Vec<u8>>>>,
}

impl MemoryBodies {
    pub fn new() -> Arc<MemoryBodies> {
        Arc::new(MemoryBodies::default())
    }
}

impl BodyStore for MemoryBodies {
    fn write(&self, group: GroupId, puts: &[(BodyKey, Arc<BodyRecord>)], deletes: &[BodyKey]) -> io::Result<()> {
        let mut groups = self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stored = groups.entry(group).or_default();
        for (key, record) in puts {
            stored.insert(*key, encode_record(record)?);
        }
        for key in deletes {
            stored.remove(key);
        }
        Ok(())
    }

    fn read(&self, group: GroupId, keys: &[BodyKey]) -> io::Result<Vec<Option<BodyRecord>>> {
        let groups = self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stored = groups.get(&group);
        keys.iter().map(|key| stored.and_then(|s| s.get(key)).map(|bytes| decode_record(bytes)).transpose()).collect()
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn keys(&self, group: GroupId) -> io::Result<Vec<BodyKey>> {
        let groups = self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(groups.get(&group).map(|stored| stored.keys().copied().collect()).unwrap_or_default())
    }
}
