//! The durable command log on RocksDB: log entries under their index, and a snapshot of the
//! engine that lets the log before it be dropped.
//!
//! Layout (one RocksDB per node): column family `log` maps a big-endian u64 index to a
//! postcard-encoded `LogEntry`; column family `meta` holds the snapshot under `snapshot`.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use shoal_engine::command::FORMAT_VERSION;
use shoal_engine::{Engine, LogEntry};

const LOG_FAMILY: &str = "log";
const META_FAMILY: &str = "meta";
const SNAPSHOT_KEY: &[u8] = b"snapshot";
/// Version of the snapshot encoding; bumped on any change to `Snapshot` or the engine state.
pub const SNAPSHOT_FORMAT_VERSION: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("decoding {what}: {source}")]
    Decode { what: &'static str, source: postcard::Error },
    #[error("encoding: {0}")]
    Encode(postcard::Error),
    #[error("snapshot format {0} is not supported")]
    SnapshotVersion(u16),
    #[error("log entry {index} has format {version}; this build reads format {FORMAT_VERSION}")]
    EntryVersion { index: u64, version: u16 },
    #[error("the log has a hole: expected entry {expected}, found {found}")]
    Hole { expected: u64, found: u64 },
    #[error("the snapshot is {size_bytes} bytes, over the {max_bytes} bytes one value may hold; the log is kept")]
    SnapshotTooLarge { size_bytes: usize, max_bytes: usize },
    #[error("the snapshot was not stored whole; the log is kept")]
    SnapshotNotStored,
    #[error("column family {0} is missing")]
    MissingFamily(&'static str),
}

#[derive(Deserialize)]
struct Snapshot {
    format_version: u16,
    last_index: u64,
    engine: Engine,
}

/// `Snapshot` as written: borrows the engine instead of copying it.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    format_version: u16,
    last_index: u64,
    engine: &'a Engine,
}

pub struct Store {
    db: DB,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families = [LOG_FAMILY, META_FAMILY].map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, families)?;
        Ok(Store { db })
    }

    fn family(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or(StoreError::MissingFamily(name))
    }

    /// The latest snapshot: the engine and the index of the last entry it includes.
    pub fn load_snapshot(&self) -> Result<Option<(Engine, u64)>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.family(META_FAMILY)?, SNAPSHOT_KEY)? else {
            return Ok(None);
        };
        let snapshot: Snapshot =
            postcard::from_bytes(&bytes).map_err(|source| StoreError::Decode { what: "snapshot", source })?;
        if snapshot.format_version != SNAPSHOT_FORMAT_VERSION {
            return Err(StoreError::SnapshotVersion(snapshot.format_version));
        }
        Ok(Some((snapshot.engine, snapshot.last_index)))
    }

    /// Calls `apply` with every entry after `after_index`, in order, one at a time (the log is
    /// never held in memory whole). Returns the last index seen. A hole or an entry of an
    /// unknown format stops recovery with an error rather than being skipped.
    pub fn replay_after(&self, after_index: u64, mut apply: impl FnMut(&LogEntry, usize)) -> Result<u64, StoreError> {
        let log = self.family(LOG_FAMILY)?;
        let start = (after_index + 1).to_be_bytes();
        let mut last_index = after_index;
        for item in self.db.iterator_cf(log, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            let index = decode_index(&key)?;
            if index != last_index + 1 {
                return Err(StoreError::Hole { expected: last_index + 1, found: index });
            }
            let entry: LogEntry =
                postcard::from_bytes(&value).map_err(|source| StoreError::Decode { what: "log entry", source })?;
            if entry.format_version != FORMAT_VERSION {
                return Err(StoreError::EntryVersion { index, version: entry.format_version });
            }
            apply(&entry, value.len());
            last_index = index;
        }
        Ok(last_index)
    }

    /// Appends encoded entries starting at `first_index`, synced to disk before returning.
    pub fn append_synced(&self, first_index: u64, encoded: &[Vec<u8>]) -> Result<(), StoreError> {
        let log = self.family(LOG_FAMILY)?;
        let mut batch = WriteBatch::default();
        for (offset, bytes) in encoded.iter().enumerate() {
            batch.put_cf(log, (first_index + offset as u64).to_be_bytes(), bytes);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Saves the engine as of `last_index` (synced), checks it was stored whole, then drops
    /// the log up to it. A snapshot over `max_bytes` is refused and the log kept: RocksDB
    /// silently drops values over 4 GiB, so the size is checked here and the write read back.
    pub fn save_snapshot(&self, engine: &Engine, last_index: u64, max_bytes: usize) -> Result<usize, StoreError> {
        let snapshot = SnapshotRef { format_version: SNAPSHOT_FORMAT_VERSION, last_index, engine };
        let bytes = postcard::to_stdvec(&snapshot).map_err(StoreError::Encode)?;
        if bytes.len() > max_bytes {
            return Err(StoreError::SnapshotTooLarge { size_bytes: bytes.len(), max_bytes });
        }
        let meta = self.family(META_FAMILY)?;
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, SNAPSHOT_KEY, &bytes);
        self.db.write_opt(batch, &options)?;
        let stored = self.db.get_pinned_cf(meta, SNAPSHOT_KEY)?;
        if stored.as_deref() != Some(bytes.as_slice()) {
            return Err(StoreError::SnapshotNotStored);
        }
        let log = self.family(LOG_FAMILY)?;
        self.db.delete_range_cf(log, 0u64.to_be_bytes(), (last_index + 1).to_be_bytes())?;
        Ok(bytes.len())
    }
}

fn decode_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Decode { what: "log index", source: postcard::Error::DeserializeUnexpectedEnd })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_engine::{Command, EngineConfig};

    fn fresh_engine() -> Engine {
        Engine::new(EngineConfig { account_id: "000000000000".into(), region: "us-east-1".into() })
    }

    fn create(name: &str) -> LogEntry {
        LogEntry::new(
            1_000,
            Command::CreateQueue { name: name.into(), attributes: Default::default(), tags: Default::default() },
        )
    }

    fn encode(entries: &[LogEntry]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| postcard::to_stdvec(e).unwrap()).collect()
    }

    /// A store in a fresh directory, removed on drop.
    struct TempStore {
        store: Option<Store>,
        path: std::path::PathBuf,
    }

    impl TempStore {
        fn new(name: &str) -> TempStore {
            let path = std::env::temp_dir().join(format!("shoal-store-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            TempStore { store: Some(Store::open(&path).unwrap()), path }
        }

        fn store(&self) -> &Store {
            self.store.as_ref().unwrap()
        }

        /// Snapshot (if any) plus replay, as a restart does.
        fn recover(&self) -> (Engine, u64) {
            let (mut engine, snapshot_index) = self.store().load_snapshot().unwrap().unwrap_or((fresh_engine(), 0));
            let last = self.store().replay_after(snapshot_index, |entry, _| drop(engine.apply(entry))).unwrap();
            (engine, last)
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            drop(self.store.take());
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    #[test]
    fn test_store_replays_appended_entries_in_order() {
        let temp = TempStore::new("replay");
        temp.store().append_synced(1, &encode(&[create("a"), create("b")])).unwrap();
        temp.store().append_synced(3, &encode(&[create("c")])).unwrap();
        let (engine, last) = temp.recover();
        assert_eq!(last, 3);
        let names: Vec<&str> = engine.queues().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn test_store_snapshot_drops_the_log_and_recovery_continues_after_it() {
        let temp = TempStore::new("snapshot");
        let mut engine = fresh_engine();
        let entries = [create("a"), create("b")];
        temp.store().append_synced(1, &encode(&entries)).unwrap();
        for entry in &entries {
            engine.apply(entry).unwrap();
        }
        temp.store().save_snapshot(&engine, 2, usize::MAX).unwrap();
        temp.store().append_synced(3, &encode(&[create("c")])).unwrap();
        let (recovered, last) = temp.recover();
        assert_eq!(last, 3);
        assert_eq!(recovered.queues().count(), 3);
        let mut replayed = 0;
        temp.store().replay_after(0, |_, _| replayed += 1).unwrap_err();
        assert_eq!(replayed, 0, "entries 1 and 2 are gone, so replaying from 0 finds a hole at once");
    }

    #[test]
    fn test_store_oversized_snapshot_is_refused_and_the_log_kept() {
        let temp = TempStore::new("oversized");
        let mut engine = fresh_engine();
        let entries = [create("a"), create("b")];
        temp.store().append_synced(1, &encode(&entries)).unwrap();
        for entry in &entries {
            engine.apply(entry).unwrap();
        }
        let error = temp.store().save_snapshot(&engine, 2, 16).unwrap_err();
        assert!(matches!(error, StoreError::SnapshotTooLarge { .. }), "{error}");
        assert!(temp.store().load_snapshot().unwrap().is_none());
        let (recovered, last) = temp.recover();
        assert_eq!((recovered.queues().count(), last), (2, 2), "everything is still in the log");
    }

    #[test]
    fn test_store_refuses_an_entry_of_an_unknown_format() {
        let temp = TempStore::new("version");
        let mut future = create("a");
        future.format_version = FORMAT_VERSION + 1;
        temp.store().append_synced(1, &encode(&[future])).unwrap();
        let error = temp.store().replay_after(0, |_, _| {}).unwrap_err();
        assert!(matches!(error, StoreError::EntryVersion { index: 1, .. }), "{error}");
    }
}
