//! The newest entries of one group's log, in memory. openraft reads every entry back from the log
//! store to apply it and again for each follower's stream; from RocksDB that is a read and a
//! decode each time. Entries share their proposal (`Arc`), so a cached copy costs a pointer.
//!
//! Invariant: the cache holds a contiguous suffix of the log (every entry from its first index to
//! the log's last), so a read that starts at or after its first index is answered whole from it.
//! An append that does not continue the suffix starts a new one.

use std::collections::BTreeMap;

use openraft::entry::RaftEntry;
use openraft::type_config::alias::EntryOf;

use crate::types::TypeConfig;

type Entry = EntryOf<TypeConfig>;

#[derive(Debug)]
pub struct LogCache {
    /// Entries by index, with their encoded size.
    entries: BTreeMap<u64, (Entry, usize)>,
    bytes: usize,
    capacity_bytes: usize,
}

impl LogCache {
    /// A cache that keeps about `capacity_bytes` of encoded entries (at least the newest one).
    pub fn new(capacity_bytes: usize) -> LogCache {
        LogCache { entries: BTreeMap::new(), bytes: 0, capacity_bytes }
    }

    /// Adds an entry just appended to the log (encoded in `bytes`).
    pub fn append(&mut self, entry: Entry, bytes: usize) {
        let index = entry.index();
        let continues = self.entries.last_key_value().is_none_or(|(last, _)| last.checked_add(1) == Some(index));
        if !continues {
            self.clear();
        }
        self.entries.insert(index, (entry, bytes));
        self.bytes += bytes;
        while self.bytes > self.capacity_bytes && self.entries.len() > 1 {
            if let Some((_, (_, evicted))) = self.entries.pop_first() {
                self.bytes -= evicted;
            }
        }
    }

    /// The log lost its entries from `from` on.
    pub fn truncate_from(&mut self, from: u64) {
        let removed = self.entries.split_off(&from);
        self.bytes -= removed.values().map(|(_, bytes)| bytes).sum::<usize>();
    }

    /// The log lost its entries up to `through`, included.
    pub fn purge_through(&mut self, through: u64) {
        let Some(after) = through.checked_add(1) else {
            return self.clear();
        };
        let kept = self.entries.split_off(&after);
        let purged = std::mem::replace(&mut self.entries, kept);
        self.bytes -= purged.values().map(|(_, bytes)| bytes).sum::<usize>();
    }

    /// The log's entries from `start` up to `end` (excluded; `None`: to the last), if the
    /// cache holds every one of them the log does.
    pub fn get(&self, start: u64, end: Option<u64>) -> Option<Vec<Entry>> {
        let (first, _) = self.entries.first_key_value()?;
        if start < *first {
            return None;
        }
        let range = match end {
            Some(end) if end <= start => return Some(Vec::new()),
            Some(end) => self.entries.range(start..end),
            None => self.entries.range(start..),
        };
        Some(range.map(|(_, (entry, _))| entry.clone()).collect())
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::log_id;

    use super::*;

    fn entry(index: u64) -> Entry {
        Entry::new_blank(log_id::<TypeConfig>(1, 1, index))
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(RaftEntry::index).collect())
    }

    #[test]
    fn test_reads_within_the_suffix_come_from_the_cache_and_others_do_not() {
        let mut cache = LogCache::new(1_000);
        assert_eq!(indexes(cache.get(1, None)), None, "empty");
        for index in 5..=9 {
            cache.append(entry(index), 10);
        }
        assert_eq!(indexes(cache.get(4, Some(7))), None, "starts before the cached suffix");
        assert_eq!(indexes(cache.get(5, Some(7))), Some(vec![5, 6]));
        assert_eq!(indexes(cache.get(8, None)), Some(vec![8, 9]));
        assert_eq!(indexes(cache.get(12, Some(20))), Some(vec![]), "past the end of the log");
    }

    #[test]
    fn test_truncation_purge_and_a_gap_keep_the_cache_a_suffix() {
        let mut cache = LogCache::new(1_000);
        for index in 1..=6 {
            cache.append(entry(index), 10);
        }
        cache.truncate_from(5);
        assert_eq!(indexes(cache.get(3, None)), Some(vec![3, 4]));
        cache.append(entry(5), 10);
        cache.purge_through(2);
        assert_eq!(indexes(cache.get(2, None)), None);
        assert_eq!(indexes(cache.get(3, None)), Some(vec![3, 4, 5]));
        // A snapshot installed far ahead: the next append does not continue the suffix.
        cache.append(entry(100), 10);
        assert_eq!(indexes(cache.get(5, None)), None);
        assert_eq!(indexes(cache.get(100, None)), Some(vec![100]));
        assert_eq!(cache.bytes, 10);
    }

    #[test]
    fn test_the_oldest_entries_leave_when_it_is_full() {
        let mut cache = LogCache::new(35);
        for index in 1..=10 {
            cache.append(entry(index), 10);
        }
        assert_eq!(indexes(cache.get(7, None)), None);
        assert_eq!(indexes(cache.get(8, None)), Some(vec![8, 9, 10]));
        let mut tiny = LogCache::new(1);
        tiny.append(entry(1), 50);
        assert_eq!(indexes(tiny.get(1, None)), Some(vec![1]), "the newest entry stays whatever its size");
    }
}
