//! One RocksDB per node for the logs and votes of every group.
//!
//! Column family `raft_log`: key = group (4 bytes, big endian) + index (8 bytes, big endian),
//! value = the postcard encoding of the openraft entry. Column family `raft_meta`: key = group +
//! one tag byte (vote, committed, last purged). Column family `node`: this node's own settings.
//! Column family `bodies`: message contents, as [`crate::bodies`] describes.
//!
//! Writes go to RocksDB without a sync, in the order openraft submits them, so they are readable
//! at once; a single syncer thread then makes them durable with one `flush_wal(sync)` for
//! everything written since its last sync, whichever groups wrote it (group commit), and only
//! then reports them flushed. A failed sync aborts the process: after a failed fsync the state of
//! the file is unknown, and a restart recovers from what is really on disk.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::OptionalSend;
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, WriteBatch, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use shoal_engine::bodies::{BodyKey, BodyRecord};

use crate::bodies::{decode_record, encode_record, BodyStore};
use crate::format::{check_store_format, STORE_FORMAT};
use crate::limits;
use crate::log_cache::LogCache;
use crate::types::TypeConfig;
use crate::GroupId;

const CF_LOG: &str = "raft_log";
const CF_META: &str = "raft_meta";
const CF_NODE: &str = "node";
const CF_BODIES: &str = "bodies";

/// Key in the `node` column family of the store's format number (two bytes, big endian).
const STORE_FORMAT_KEY: &[u8] = b"store_format";

const TAG_VOTE: u8 = 1;
const TAG_COMMITTED: u8 = 2;
const TAG_LAST_PURGED: u8 = 3;

type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

/// The node's database, shared by every group's log store.
pub struct Db {
    rocks: Arc<DB>,
    /// `None` only while dropping.
    syncer: Option<mpsc::Sender<Done>>,
    syncer_thread: Option<JoinHandle<()>>,
}

impl Drop for Db {
    /// Stops the syncer and waits for it, so the database is closed when the last handle goes
    /// rather than by a thread still running while the process exits (RocksDB aborts then).
    fn drop(&mut self) {
        self.syncer.take();
        if let Some(thread) = self.syncer_thread.take() {
            let _ = thread.join();
        }
    }
}

impl Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.rocks.path()).finish()
    }
}

impl Db {
    pub fn open(path: &Path) -> io::Result<Arc<Db>> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families =
            [CF_LOG, CF_META, CF_NODE, CF_BODIES].map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let rocks = Arc::new(DB::open_cf_descriptors(&options, path, families).map_err(io::Error::other)?);
        record_or_check_format(&rocks)?;
        let (syncer, requests) = mpsc::channel::<Done>();
        let sync_db = rocks.clone();
        let thread =
            std::thread::Builder::new().name("shoal-log-sync".into()).spawn(move || run_syncer(&sync_db, &requests))?;
        Ok(Arc::new(Db { rocks, syncer: Some(syncer), syncer_thread: Some(thread) }))
    }

    /// The log store of one group.
    pub fn log_store(self: &Arc<Db>, group: GroupId) -> LogStore {
        LogStore {
            group,
            db: self.clone(),
            cache: Arc::new(Mutex::new(LogCache::new(limits::LOG_CACHE_BYTES_PER_GROUP))),
        }
    }

    /// A setting of this node (`node` column family).
    pub fn node_setting<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let cf = self.cf(CF_NODE);
        self.rocks.get_cf(cf, key.as_bytes()).map_err(io::Error::other)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Records a setting of this node, durably.
    pub async fn set_node_setting<T: Serialize>(&self, key: &str, value: &T) -> io::Result<()> {
        self.rocks.put_cf(self.cf(CF_NODE), key.as_bytes(), encode(value)?).map_err(io::Error::other)?;
        self.sync().await
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.rocks.cf_handle(name).expect("column families are created when the database opens")
    }

    /// Waits until everything written so far is durable.
    async fn sync(&self) -> io::Result<()> {
        let (done, synced) = tokio::sync::oneshot::channel();
        self.after_sync(Box::new(move |result| {
            let _ = done.send(result);
        }));
        synced.await.map_err(|_| io::Error::other("the log sync thread stopped"))?
    }

    /// Runs `done` once everything written so far is durable.
    fn after_sync(&self, done: Done) {
        let Some(syncer) = &self.syncer else {
            return done(Err(io::Error::other("the log sync thread stopped")));
        };
        if let Err(mpsc::SendError(done)) = syncer.send(done) {
            done(Err(io::Error::other("the log sync thread stopped")));
        }
    }
}

/// A new store records the format it is written in; an existing one must be of that format.
/// Stores created before the format was recorded are format 1.
fn record_or_check_format(rocks: &DB) -> io::Result<()> {
    let cf = rocks.cf_handle(CF_NODE).ok_or_else(|| io::Error::other("the node column family is missing"))?;
    match rocks.get_cf(cf, STORE_FORMAT_KEY).map_err(io::Error::other)? {
        Some(bytes) => {
            let number: [u8; 2] = bytes.as_slice().try_into().map_err(|_| corrupt("the store format"))?;
            check_store_format(u16::from_be_bytes(number))
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
        }
        None => {
            rocks.put_cf(cf, STORE_FORMAT_KEY, STORE_FORMAT.to_be_bytes()).map_err(io::Error::other)?;
            rocks.flush_wal(true).map_err(io::Error::other)
        }
    }
}

/// Syncs the write-ahead log once for every burst of waiting writers.
fn run_syncer(db: &DB, requests: &mpsc::Receiver<Done>) {
    while let Ok(first) = requests.recv() {
        let mut waiting = vec![first];
        waiting.extend(requests.try_iter());
        if let Err(error) = db.flush_wal(true) {
            tracing::error!(%error, "syncing the raft log failed; stopping so a restart recovers from disk");
            std::process::abort();
        }
        for done in waiting {
            done(Ok(()));
        }
    }
}

impl BodyStore for Db {
    fn write(&self, group: GroupId, puts: &[(BodyKey, Arc<BodyRecord>)], deletes: &[BodyKey]) -> io::Result<()> {
        let cf = self.cf(CF_BODIES);
        let mut batch = WriteBatch::default();
        for (key, record) in puts {
            batch.put_cf(cf, body_key(group, *key), encode_record(record)?);
        }
        for key in deletes {
            batch.delete_cf(cf, body_key(group, *key));
        }
        let mut options = rocksdb::WriteOptions::default();
        options.disable_wal(true);
        self.rocks.write_opt(batch, &options).map_err(io::Error::other)
    }

    fn read(&self, group: GroupId, keys: &[BodyKey]) -> io::Result<Vec<Option<BodyRecord>>> {
        let cf = self.cf(CF_BODIES);
        let keys: Vec<[u8; 20]> = keys.iter().map(|key| body_key(group, *key)).collect();
        self.rocks
            .batched_multi_get_cf(cf, &keys, false)
            .into_iter()
            .map(|found| match found.map_err(io::Error::other)? {
                Some(bytes) => decode_record(&bytes).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn flush(&self) -> io::Result<()> {
        self.rocks.flush_cf(self.cf(CF_BODIES)).map_err(io::Error::other)
    }

    fn scan(&self, group: GroupId, each: &mut dyn FnMut(BodyKey, &[u8]) -> io::Result<()>) -> io::Result<()> {
        // One iterator: it reads the column family as it was when it was created.
        let prefix = group.to_be_bytes();
        for item in self.rocks.iterator_cf(self.cf(CF_BODIES), IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item.map_err(io::Error::other)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let bytes: [u8; 16] = key.get(4..).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("a body key"))?;
            each(BodyKey::from_bytes(bytes), &value)?;
        }
        Ok(())
    }
}

fn body_key(group: GroupId, key: BodyKey) -> [u8; 20] {
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&group.to_be_bytes());
    bytes[4..].copy_from_slice(&key.to_bytes());
    bytes
}

fn log_key(group: GroupId, index: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&group.to_be_bytes());
    key[4..].copy_from_slice(&index.to_be_bytes());
    key
}

fn meta_key(group: GroupId, tag: u8) -> [u8; 5] {
    let mut key = [0u8; 5];
    key[..4].copy_from_slice(&group.to_be_bytes());
    key[4] = tag;
    key
}

fn index_of(key: &[u8]) -> io::Result<u64> {
    let bytes: [u8; 8] = key.get(4..12).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("a log key"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io::Error::other)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} in the raft store is corrupt"))
}

/// The log and vote of one group.
#[derive(Clone)]
pub struct LogStore {
    group: GroupId,
    db: Arc<Db>,
    /// The newest entries, shared by the store and its readers.
    cache: Arc<Mutex<LogCache>>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("group", &self.group).finish()
    }
}

impl LogStore {
    fn cache(&self) -> MutexGuard<'_, LogCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get_meta<T: DeserializeOwned>(&self, tag: u8) -> io::Result<Option<T>> {
        let cf = self.db.cf(CF_META);
        let bytes = self.db.rocks.get_cf(cf, meta_key(self.group, tag)).map_err(io::Error::other)?;
        bytes.map(|bytes| decode(&bytes)).transpose()
    }

    fn put_meta<T: Serialize>(&self, batch: &mut WriteBatch, tag: u8, value: &T) -> io::Result<()> {
        batch.put_cf(self.db.cf(CF_META), meta_key(self.group, tag), encode(value)?);
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        self.db.rocks.write_without_wal_sync(batch)
    }

    fn last_entry_id(&self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        let cf = self.db.cf(CF_LOG);
        let start = log_key(self.group, u64::MAX);
        let mut iter = self.db.rocks.iterator_cf(cf, IteratorMode::From(&start, Direction::Reverse));
        match iter.next() {
            Some(Ok((key, value))) if key.starts_with(&self.group.to_be_bytes()) => {
                let entry: EntryOf<TypeConfig> = decode(&value)?;
                Ok(Some(entry.log_id()))
            }
            Some(Err(error)) => Err(io::Error::other(error)),
            _ => Ok(None),
        }
    }
}

/// `WriteBatch` writes without waiting for the disk; the syncer makes them durable.
trait WriteWithoutSync {
    fn write_without_wal_sync(&self, batch: WriteBatch) -> io::Result<()>;
}

impl WriteWithoutSync for DB {
    fn write_without_wal_sync(&self, batch: WriteBatch) -> io::Result<()> {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(false);
        self.write_opt(batch, &options).map_err(io::Error::other)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<EntryOf<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i.checked_add(1),
            Bound::Excluded(&i) => Some(i),
            Bound::Unbounded => None,
        };
        if let Some(entries) = self.cache().get(start, end) {
            return Ok(entries);
        }
        let mut options = ReadOptions::default();
        match end {
            Some(end) => options.set_iterate_upper_bound(log_key(self.group, end)),
            None => options.set_iterate_upper_bound(log_key(self.group + 1, 0)),
        }
        let from = log_key(self.group, start);
        let iter =
            self.db.rocks.iterator_cf_opt(self.db.cf(CF_LOG), options, IteratorMode::From(&from, Direction::Forward));
        let mut entries: Vec<EntryOf<TypeConfig>> = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(io::Error::other)?;
            let index = index_of(&key)?;
            if let Some(last) = entries.last() {
                if last.index() + 1 != index {
                    return Err(corrupt(&format!("group {} has a hole at {}: its log", self.group, last.index() + 1)));
                }
            }
            let entry: EntryOf<TypeConfig> = decode(&value)?;
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<TypeConfig>>> {
        self.get_meta(TAG_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = self.get_meta(TAG_LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> io::Result<()> {
        let mut batch = WriteBatch::default();
        self.put_meta(&mut batch, TAG_VOTE, vote)?;
        self.write(batch)?;
        self.db.sync().await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        let mut batch = WriteBatch::default();
        self.put_meta(&mut batch, TAG_COMMITTED, &committed)?;
        self.write(batch)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        Ok(self.get_meta::<Option<LogIdOf<TypeConfig>>>(TAG_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.db.cf(CF_LOG);
        let mut batch = WriteBatch::default();
        let mut cache = self.cache();
        for entry in entries {
            let bytes = encode(&entry)?;
            batch.put_cf(cf, log_key(self.group, entry.index()), &bytes);
            // Cached before it is written: a reader finds it in one place or the other.
            cache.append(entry, bytes.len());
        }
        drop(cache);
        self.write(batch)?;
        self.db.after_sync(Box::new(move |result| callback.io_completed(result)));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        self.cache().truncate_from(from);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.db.cf(CF_LOG), log_key(self.group, from), log_key(self.group + 1, 0));
        self.write(batch)?;
        // Synced before returning: a snapshot installed after a truncation is fsynced at once,
        // and a crash must not leave it beside the truncated entries.
        self.db.sync().await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> io::Result<()> {
        self.cache().purge_through(log_id.index());
        // One batch: the purged id is recorded together with the deletion.
        let mut batch = WriteBatch::default();
        self.put_meta(&mut batch, TAG_LAST_PURGED, &log_id)?;
        batch.delete_range_cf(self.db.cf(CF_LOG), log_key(self.group, 0), log_key(self.group, log_id.index() + 1));
        self.write(batch)
    }
}
