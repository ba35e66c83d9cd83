//! Which data group holds a name, for an engine that is one of several groups.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use shoal_sharding::{GroupId, Shards};

/// Which data group this engine is, of how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The data group this engine is.
    pub group: GroupId,
    pub data_groups: u32,
}

impl Default for Placement {
    fn default() -> Self {
        Placement { group: 1, data_groups: 1 }
    }
}

/// The hash ring of a placement, built once per engine (it is derived, not state).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring(OnceLock<Option<Arc<Shards>>>);

impl PartialEq for Ring {
    fn eq(&self, _: &Ring) -> bool {
        true
    }
}

impl Eq for Ring {}

impl Ring {
    /// The data group of `name` in `placement`, which must be the one this ring is built for.
    pub(crate) fn group_of(&self, placement: &Placement, name: &str) -> GroupId {
        if placement.data_groups <= 1 {
            return placement.group;
        }
        let shards = self.0.get_or_init(|| Shards::new(placement.data_groups).ok().map(Arc::new));
        shards.as_ref().map_or(placement.group, |shards| shards.group_of(name))
    }
}
