//! Jepsen-style chaos testing for Shoal: histories of client operations, the checkers that judge
//! them, and (in the binary) the Docker cluster, workloads and nemesis that produce them.

pub mod checker;
pub mod history;
