//! The durable command log on RocksDB: log entries under their index, and a snapshot of the
//! engine that lets the log before it be dropped.
//!
//! Layout (one RocksDB per node): column family `log` maps a big-endian u64 index to a
//! postcard-encoded `LogEntry`; column family `meta` holds the snapshot under `snapshot`.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
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

/// What was on disk at open: the engine as of `last_index` and the entries after it.
pub struct Recovered {
    pub engine: Option<Engine>,
    pub snapshot_index: u64,
    pub entries: Vec<(u64, LogEntry)>,
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

    /// Reads the snapshot and every log entry after it.
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        let meta = self.family(META_FAMILY)?;
        let (engine, snapshot_index) = match self.db.get_cf(meta, SNAPSHOT_KEY)? {
            None => (None, 0),
            Some(bytes) => {
                let snapshot: Snapshot =
                    postcard::from_bytes(&bytes).map_err(|source| StoreError::Decode { what: "snapshot", source })?;
                if snapshot.format_version != SNAPSHOT_FORMAT_VERSION {
                    return Err(StoreError::SnapshotVersion(snapshot.format_version));
                }
                (Some(snapshot.engine), snapshot.last_index)
            }
        };
        let log = self.family(LOG_FAMILY)?;
        let start = (snapshot_index + 1).to_be_bytes();
        let mut entries = Vec::new();
        for item in self.db.iterator_cf(log, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            let index = decode_index(&key)?;
            let entry: LogEntry =
                postcard::from_bytes(&value).map_err(|source| StoreError::Decode { what: "log entry", source })?;
            entries.push((index, entry));
        }
        Ok(Recovered { engine, snapshot_index, entries })
    }

    /// Appends entries starting at `first_index` and syncs them to disk before returning.
    pub fn append_synced(&self, first_index: u64, entries: &[LogEntry]) -> Result<(), StoreError> {
        let log = self.family(LOG_FAMILY)?;
        let mut batch = WriteBatch::default();
        for (offset, entry) in entries.iter().enumerate() {
            let bytes = postcard::to_stdvec(entry).map_err(StoreError::Encode)?;
            batch.put_cf(log, (first_index + offset as u64).to_be_bytes(), bytes);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Saves the engine as of `last_index` (synced), then drops the log up to it.
    pub fn save_snapshot(&self, engine: &Engine, last_index: u64) -> Result<(), StoreError> {
        let snapshot = SnapshotRef { format_version: SNAPSHOT_FORMAT_VERSION, last_index, engine };
        let bytes = postcard::to_stdvec(&snapshot).map_err(StoreError::Encode)?;
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.family(META_FAMILY)?, SNAPSHOT_KEY, bytes);
        self.db.write_opt(batch, &options)?;
        let log = self.family(LOG_FAMILY)?;
        self.db.delete_range_cf(log, 0u64.to_be_bytes(), (last_index + 1).to_be_bytes())?;
        Ok(())
    }
}

fn decode_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Decode { what: "log index", source: postcard::Error::DeserializeUnexpectedEnd })?;
    Ok(u64::from_be_bytes(bytes))
}
