//! The store of message contents: what the engine's [`BodyEffect`]s ask for, carried out once
//! per applied batch, and read back on the leader for the replies that show contents.
//!
//! On a node the store is the column family `bodies` of the node's RocksDB: key = group (4 bytes,
//! big endian) + [`BodyKey`] (16 bytes, big endian); value = the format number (one byte,
//! [`BODY_FORMAT`]) then the postcard encoding of [`BodyRecord`]. Writes skip the write-ahead
//! log: the Raft log already holds every body until a snapshot covers it, and a snapshot is put
//! in place only after [`BodyStore::flush`], so after a crash the snapshot's contents are on disk
//! and replaying the log after it stores and releases the rest again. The simulation keeps its
//! store in memory, with the same durability.
//!
//! The engine holds no contents (a message in a queue has an empty body), so a snapshot file
//! of format 3 holds none either: a snapshot sent to a follower is followed by a **body
//! section** read from the leader's store when it is sent ([`write_section`]), which the
//! follower puts into its own before it installs the snapshot ([`install_section`]). The
//! section is read through one view of the store, later than the snapshot: contents released
//! since are absent (their release is in the log after the snapshot, which the follower applies
//! before it can answer for those messages), contents stored since are there too (the follower
//! stores them again when it applies their entries). A message moved after the snapshot is
//! found under its new key; the follower's move from the old one then finds nothing to copy,
//! which is why a move from a missing key is not an error. A snapshot of format 2 carried the
//! contents in the state itself; loading one puts them into the store ([`migrate`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex};

use shoal_engine::bodies::{BodyEffect, BodyKey, BodyRecord, MessageHeader};

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

    /// Calls `each` with every record stored for `group`, in key order, as stored (see
    /// [`decode_record`]), all as of one moment.
    fn scan(&self, group: GroupId, each: &mut dyn FnMut(BodyKey, &[u8]) -> io::Result<()>) -> io::Result<()>;

    /// Every key stored for `group`, in order.
    fn keys(&self, group: GroupId) -> io::Result<Vec<BodyKey>> {
        let mut keys = Vec::new();
        self.scan(group, &mut |key, _| {
            keys.push(key);
            Ok(())
        })?;
        Ok(keys)
    }
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
                // Released by an entry after a snapshot this node installed; the section that
                // came with it held them under `to` if they were still wanted (module docs).
                None => tracing::debug!(group, ?from, ?to, "moved contents are not in the store"),
            }
        }
        puts.sort_unstable_by_key(|(key, _)| *key);
        let mut released: Vec<BodyKey> = self.released.into_iter().collect();
        released.sort_unstable();
        store.write(group, &puts, &released)
    }
}

/// Adds the headers a state carried in memory (a snapshot of format 3 or before) to the records
/// `store` holds under their keys (read, then written with the header), and flushes. Returns
/// the headers whose record is not there, for the state to keep in memory: a section read
/// after the snapshot lacks the records of messages deleted or moved since (the log the node
/// applies next says so; a moved message keeps its header in memory to its new place).
pub fn fold_headers(
    store: &dyn BodyStore,
    group: GroupId,
    headers: Vec<(BodyKey, MessageHeader)>,
) -> io::Result<Vec<(BodyKey, MessageHeader)>> {
    let mut kept = Vec::new();
    for chunk in headers.chunks(FILL_BATCH) {
        let keys: Vec<BodyKey> = chunk.iter().map(|(key, _)| *key).collect();
        let mut batch = Vec::with_capacity(chunk.len());
        for ((key, header), record) in chunk.iter().zip(store.read(group, &keys)?) {
            match record {
                Some(mut record) => {
                    record.header = Some(header.clone());
                    batch.push((*key, Arc::new(record)));
                }
                None => kept.push((*key, header.clone())),
            }
        }
        store.write(group, &batch, &[])?;
    }
    store.flush()?;
    Ok(kept)
}

/// Folds the headers `state` carries in memory into `store` (see [`fold_headers`]); those
/// without a record go back to the state.
pub fn fold_state_headers(store: &dyn BodyStore, group: GroupId, engine: &mut shoal_engine::Engine) -> io::Result<()> {
    let headers = engine.take_headers();
    if headers.is_empty() {
        return Ok(());
    }
    let count = headers.len();
    let mut kept: HashMap<BodyKey, MessageHeader> = fold_headers(store, group, headers)?.into_iter().collect();
    let in_memory = kept.len();
    engine.restore_headers(|key| kept.remove(&key));
    tracing::info!(group, count, in_memory, "message headers of a format 3 state moved to the store");
    Ok(())
}

/// Puts the contents a state carried in memory (a snapshot of format 2) into `store`, removes
/// every other key of `group` that `live` (the keys the state names) does not hold, and
/// flushes. Returns how many records it put.
pub fn migrate(
    store: &dyn BodyStore,
    group: GroupId,
    carried: Vec<(BodyKey, BodyRecord)>,
    live: impl Iterator<Item = BodyKey>,
) -> io::Result<usize> {
    let count = carried.len();
    let mut batch = Vec::with_capacity(FILL_BATCH.min(count));
    for (key, record) in carried {
        batch.push((key, Arc::new(record)));
        if batch.len() == FILL_BATCH {
            store.write(group, &batch, &[])?;
            batch.clear();
        }
    }
    let live: HashSet<BodyKey> = live.collect();
    let stale: Vec<BodyKey> = store.keys(group)?.into_iter().filter(|key| !live.contains(key)).collect();
    store.write(group, &batch, &stale)?;
    store.flush()?;
    Ok(count)
}

/// Records per write while filling a store.
const FILL_BATCH: usize = 1024;

/// Starts a body section.
const SECTION_MAGIC: &[u8; 8] = b"SHLBODY1";
/// Tags in a body section: a record follows, or the end (and the count of records).
const SECTION_RECORD: u8 = 1;
const SECTION_END: u8 = 0;
/// Longest stored record a section may carry: a message at SQS's largest size, attributes
/// included, with room for the encoding.
pub const SECTION_RECORD_BYTES_MAX: u32 = 2 * shoal_engine::limits::MESSAGE_SIZE_BYTES_MAX + 64 * 1024;

/// Writes the body section of `group` (see the module docs) from one view of `store`: a magic,
/// then each record (tag, key, length, the stored bytes) in key order, then an end tag and the
/// count, so a section cut short is told from a complete one. Returns the count.
pub fn write_section(store: &dyn BodyStore, group: GroupId, out: &mut dyn io::Write) -> io::Result<u64> {
    out.write_all(SECTION_MAGIC)?;
    let mut count = 0u64;
    store.scan(group, &mut |key, value| {
        let len = u32::try_from(value.len()).ok().filter(|len| *len <= SECTION_RECORD_BYTES_MAX);
        let len = len.ok_or_else(|| io::Error::other(format!("a stored record of {} bytes", value.len())))?;
        out.write_all(&[SECTION_RECORD])?;
        out.write_all(&key.to_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(value)?;
        count += 1;
        Ok(())
    })?;
    out.write_all(&[SECTION_END])?;
    out.write_all(&count.to_le_bytes())?;
    out.flush()?;
    Ok(count)
}

/// Reads a body section, calling `each` with every record in order; refuses one that is cut
/// short, out of order, or not a section.
pub fn read_section(
    input: &mut dyn io::Read,
    mut each: impl FnMut(BodyKey, &[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, format!("body section: {what}"));
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if &magic != SECTION_MAGIC {
        return Err(invalid("bad magic".to_string()));
    }
    let mut count = 0u64;
    let mut last: Option<BodyKey> = None;
    let mut value = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        match tag[0] {
            SECTION_RECORD => {
                let mut key = [0u8; 16];
                input.read_exact(&mut key)?;
                let key = BodyKey::from_bytes(key);
                if last.is_some_and(|last| key <= last) {
                    return Err(invalid(format!("{key:?} out of order")));
                }
                let mut len = [0u8; 4];
                input.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len);
                if len > SECTION_RECORD_BYTES_MAX {
                    return Err(invalid(format!("a record of {len} bytes")));
                }
                value.resize(len as usize, 0);
                input.read_exact(&mut value)?;
                each(key, &value)?;
                last = Some(key);
                count += 1;
            }
            SECTION_END => {
                let mut announced = [0u8; 8];
                input.read_exact(&mut announced)?;
                let announced = u64::from_le_bytes(announced);
                if announced != count {
                    return Err(invalid(format!("{count} records where {announced} were sent")));
                }
                return Ok(count);
            }
            other => return Err(invalid(format!("unknown tag {other}"))),
        }
    }
}

/// Puts a body section for `group` into `store` and flushes, removing nothing yet: returns the
/// keys the store held for `group` that the section does not, which go once the snapshot the
/// section came with is installed.
pub fn install_section(store: &dyn BodyStore, group: GroupId, input: &mut dyn io::Read) -> io::Result<Vec<BodyKey>> {
    let mut own = store.keys(group)?.into_iter().peekable();
    let mut stale = Vec::new();
    let mut batch = Vec::new();
    read_section(input, |key, value| {
        while let Some(older) = own.next_if(|own| *own < key) {
            stale.push(older);
        }
        own.next_if_eq(&key);
        batch.push((key, Arc::new(decode_record(value)?)));
        if batch.len() == FILL_BATCH {
            store.write(group, &batch, &[])?;
            batch.clear();
        }
        Ok(())
    })?;
    stale.extend(own);
    store.write(group, &batch, &[])?;
    store.flush()?;
    Ok(stale)
}

/// Encodes a record as stored: format number, then postcard, then the postcard of the header
/// where the record has one. A reader that knows no header stops before it: postcard's
/// `from_bytes` reads what the type needs and leaves the rest (pinned by a test), so records
/// with a header are read by builds from before it.
pub fn encode_record(record: &BodyRecord) -> io::Result<Vec<u8>> {
    let bytes = postcard::to_extend(record, vec![BODY_FORMAT]).map_err(io::Error::other)?;
    match &record.header {
        Some(header) => postcard::to_extend(header, bytes).map_err(io::Error::other),
        None => Ok(bytes),
    }
}

/// Decodes a stored record, refusing a format this build does not know.
pub fn decode_record(bytes: &[u8]) -> io::Result<BodyRecord> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    match bytes.split_first() {
        Some((&BODY_FORMAT, rest)) => {
            let (mut record, header): (BodyRecord, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|error| invalid(format!("a stored message body: {error}")))?;
            if !header.is_empty() {
                record.header = Some(
                    postcard::from_bytes(header)
                        .map_err(|error| invalid(format!("a stored message header: {error}")))?,
                );
            }
            Ok(record)
        }
        Some((format, _)) => Err(invalid(format!(
            "a stored message body of format {format}; this build reads format {BODY_FORMAT}: upgrade this node"
        ))),
        None => Err(invalid("an empty stored message body".to_string())),
    }
}

/// A store in memory: the simulation's, and tests'. What was written since the last
/// [`BodyStore::flush`] is lost by [`MemoryBodies::power_loss`], as a write without the
/// write-ahead log is on a node.
#[derive(Debug, Default)]
pub struct MemoryBodies {
    stores: Mutex<MemoryStores>,
}

type MemoryGroups = BTreeMap<GroupId, BTreeMap<BodyKey, Vec<u8>>>;

#[derive(Debug, Default)]
struct MemoryStores {
    current: MemoryGroups,
    durable: MemoryGroups,
}

impl MemoryBodies {
    pub fn new() -> Arc<MemoryBodies> {
        Arc::new(MemoryBodies::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryStores> {
        self.stores.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The machine lost power: back to what was last flushed.
    pub fn power_loss(&self) {
        let mut stores = self.lock();
        stores.current = stores.durable.clone();
    }
}

impl BodyStore for MemoryBodies {
    fn write(&self, group: GroupId, puts: &[(BodyKey, Arc<BodyRecord>)], deletes: &[BodyKey]) -> io::Result<()> {
        let mut stores = self.lock();
        let stored = stores.current.entry(group).or_default();
        for (key, record) in puts {
            stored.insert(*key, encode_record(record)?);
        }
        for key in deletes {
            stored.remove(key);
        }
        Ok(())
    }

    fn read(&self, group: GroupId, keys: &[BodyKey]) -> io::Result<Vec<Option<BodyRecord>>> {
        let stores = self.lock();
        let stored = stores.current.get(&group);
        keys.iter().map(|key| stored.and_then(|s| s.get(key)).map(|bytes| decode_record(bytes)).transpose()).collect()
    }

    fn flush(&self) -> io::Result<()> {
        let mut stores = self.lock();
        stores.durable = stores.current.clone();
        Ok(())
    }

    fn scan(&self, group: GroupId, each: &mut dyn FnMut(BodyKey, &[u8]) -> io::Result<()>) -> io::Result<()> {
        // A copy: the view stays as it was while `each` runs.
        let stored = self.lock().current.get(&group).cloned().unwrap_or_default();
        for (key, value) in &stored {
            each(*key, value)?;
        }
        Ok(())
    }
}
