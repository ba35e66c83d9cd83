//! Failpoints: deliberate bugs, compiled only with the `failpoints` feature and switched on by
//! `SHOAL_FAILPOINTS=name,...`, so the chaos tests can show that their checkers catch a broker
//! that breaks its promise. Release builds do not contain them.

use std::sync::OnceLock;

/// SendMessage and Publish answer success as soon as the command is handed to Raft, without
/// waiting for a majority: a leader that is cut off or killed loses sends and publishes it
/// acknowledged.
pub const ACK_BEFORE_COMMIT: &str = "ack-before-commit";

/// Whether failpoint `name` is switched on for this process.
pub fn enabled(name: &str) -> bool {
    static ENABLED: OnceLock<Vec<String>> = OnceLock::new();
    let enabled = ENABLED.get_or_init(|| {
        let names: Vec<String> = std::env::var("SHOAL_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect();
        if !names.is_empty() {
            tracing::warn!(?names, "failpoints are on: this broker breaks its guarantees on purpose");
        }
        names
    });
    enabled.iter().any(|candidate| candidate == name)
}
