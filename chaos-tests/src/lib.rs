//! Jepsen-style chaos testing for Shoal: histories of client operations, the checkers that judge
//! them, the seeded simulation, and (in the binary) the Docker cluster, workloads and nemesis.

pub mod checker;
pub mod history;
pub mod recovery;
pub mod sim;
