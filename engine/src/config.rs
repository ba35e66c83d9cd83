//! Who an engine is: the account and region its queues belong to, and which data group it is.

use serde::{Deserialize, Serialize};

use crate::placement::Placement;

/// Who the engine's queues belong to: fixed when the state is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub account_id: String,
    pub region: String,
    /// Which data group this engine is, of how many.
    #[serde(default)]
    pub placement: Placement,
}

impl EngineConfig {
    /// The config of the only data group.
    pub fn new(account_id: &str, region: &str) -> EngineConfig {
        EngineConfig { account_id: account_id.to_string(), region: region.to_string(), placement: Placement::default() }
    }
}
