//! Which Raft group holds a queue.
//!
//! Group 0 is the metadata group; data groups are `1..=data_groups`, a number fixed when the
//! cluster is created. A queue's group is found on a consistent-hash ring (the `hashring`
//! crate, SipHash with zero keys) holding [`VIRTUAL_POINTS`] points per data group, each point
//! hashed from the bytes `"shoal-group-{group}-{point}"` and the queue from its name's bytes.
//! The mapping depends only on the queue name and the group count, so every node computes the
//! same answer and it survives restarts; `tests::test_mapping_is_stable` pins it.

use std::hash::{Hash, Hasher};

use hashring::HashRing;

/// Identifies a Raft group within a cluster.
pub type GroupId = u32;

/// The group that holds cluster-wide metadata.
pub const METADATA_GROUP: GroupId = 0;

/// Most data groups a cluster may have.
pub const DATA_GROUPS_MAX: u32 = 256;

/// Points on the ring per data group: enough that queues spread within a few percent.
pub const VIRTUAL_POINTS: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    group: GroupId,
    point: u32,
}

impl Hash for Point {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(format!("shoal-group-{}-{}", self.group, self.point).as_bytes());
    }
}

/// A queue name hashed as its bytes alone, without the length prefix `str` adds.
struct Key<'a>(&'a str);

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

/// The placement of queues on the data groups of one cluster.
#[derive(Debug)]
pub struct Shards {
    data_groups: u32,
    ring: HashRing<Point>,
}

impl Shards {
    /// A ring over `data_groups` groups (1 to [`DATA_GROUPS_MAX`]).
    pub fn new(data_groups: u32) -> Result<Shards, String> {
        if !(1..=DATA_GROUPS_MAX).contains(&data_groups) {
            return Err(format!(
                "the number of data groups must be between 1 and {DATA_GROUPS_MAX}, not {data_groups}"
            ));
        }
        let mut ring = HashRing::new();
        for group in 1..=data_groups {
            for point in 0..VIRTUAL_POINTS {
                ring.add(Point { group, point });
            }
        }
        Ok(Shards { data_groups, ring })
    }

    pub fn data_groups(&self) -> u32 {
        self.data_groups
    }

    /// Every group of the cluster, the metadata group first.
    pub fn all_groups(&self) -> impl Iterator<Item = GroupId> {
        0..=self.data_groups
    }

    /// The data groups, in order.
    pub fn data_group_ids(&self) -> impl Iterator<Item = GroupId> {
        1..=self.data_groups
    }

    /// The data group that holds the queue `name`.
    pub fn group_of(&self, name: &str) -> GroupId {
        self.ring.get(&Key(name)).map_or(1, |point| point.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_group_count_is_bounded() {
        assert!(Shards::new(0).is_err());
        assert!(Shards::new(DATA_GROUPS_MAX + 1).is_err());
        assert_eq!(Shards::new(3).unwrap().all_groups().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn test_one_group_holds_everything() {
        let shards = Shards::new(1).unwrap();
        assert!(["a", "b", "orders.fifo", ""].iter().all(|name| shards.group_of(name) == 1));
    }

    /// The mapping must never change for an existing cluster: these values were computed when
    /// the ring was written and any change to hashing breaks every deployed cluster.
    #[test]
    fn test_mapping_is_stable() {
        let shards = Shards::new(8).unwrap();
        let names = ["orders", "orders-dlq", "payments.fifo", "q0", "q1", "q2", "q3", "a-very-long-queue-name_123"];
        let groups: Vec<GroupId> = names.iter().map(|name| shards.group_of(name)).collect();
        assert_eq!(groups, PINNED);
    }

    const PINNED: [GroupId; 8] = [7, 3, 1, 4, 2, 5, 1, 3];

    #[test]
    fn test_queues_spread_over_groups() {
        let shards = Shards::new(8).unwrap();
        let mut counts = [0u32; 9];
        for i in 0..8000 {
            counts[shards.group_of(&format!("queue-{i}")) as usize] += 1;
        }
        assert_eq!(counts[0], 0, "no queue lands on the metadata group");
        for (group, count) in counts.iter().enumerate().skip(1) {
            assert!((500..=1500).contains(count), "group {group} holds {count} of 8000 queues");
        }
    }

    #[test]
    fn test_adding_a_group_moves_few_queues() {
        let (eight, nine) = (Shards::new(8).unwrap(), Shards::new(9).unwrap());
        let moved = (0..9000).filter(|i| eight.group_of(&format!("q{i}")) != nine.group_of(&format!("q{i}"))).count();
        assert!(moved < 9000 / 4, "{moved} of 9000 queues moved");
    }
}
