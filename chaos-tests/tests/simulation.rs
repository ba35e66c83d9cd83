//! The seeded simulation: many seeds of a 3-node cluster (the real cluster layer, two data
//! groups) under partitions, pauses, crashes and power losses keep every acknowledged send,
//! including those that travel to the dead-letter queue in the other group; a seed replays to
//! the same history; and disks that report writes durable before they are (a failpoint) are
//! caught.
//!
//! `SHOAL_SIM_SEEDS=N` runs N seeds instead of the default; `SHOAL_SIM_SEED=S` runs only seed
//! S (to replay a failure: `shoal-chaos simulate --seed S` also writes its history and timeline).

use shoal_chaos::checker::Validity;
use shoal_chaos::sim::{simulate, SimFault, SimOptions};

const DEFAULT_SEEDS: u64 = 12;

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("SHOAL_SIM_SEED").ok().and_then(|seed| seed.parse().ok()) {
        return vec![seed];
    }
    let count = std::env::var("SHOAL_SIM_SEEDS").ok().and_then(|count| count.parse().ok()).unwrap_or(DEFAULT_SEEDS);
    (1..=count).collect()
}

#[test]
fn test_simulation_seeds_keep_every_acknowledged_send() {
    let options = SimOptions::default();
    let mut failures = Vec::new();
    let mut dead_lettered = 0;
    for seed in seeds() {
        let run = simulate(seed, &options).unwrap_or_else(|error| panic!("seed {seed}: {error:#}"));
        let faults: u64 = run.verdict.faults_injected.values().sum();
        println!("seed {seed}: {} ({faults} faults)", run.verdict.summary());
        assert!(run.verdict.acknowledged > 0, "seed {seed}: nothing was acknowledged: {}", run.verdict.summary());
        if run.verdict.valid != Validity::Valid {
            failures.push(format!("seed {seed}: {}", run.verdict.summary()));
        }
        dead_lettered += run.verdict.dead_lettered;
    }
    assert!(failures.is_empty(), "replay with SHOAL_SIM_SEED=<seed>:\n{}", failures.join("\n"));
    assert!(dead_lettered > 0, "no message went through the dead-letter queue in another group");
}

/// Runs `shoal-chaos simulate --seed SEED` in a process of its own; returns its history.
fn simulate_in_a_process(seed: u64, results: &std::path::Path) -> Vec<String> {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shoal-chaos"))
        .args(["simulate", "--seed", &seed.to_string(), "--results"])
        .arg(results)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running shoal-chaos simulate");
    assert!(status.success(), "seed {seed}: {status}");
    let history = std::fs::read_to_string(results.join(format!("sim-seed{seed}")).join("history.jsonl")).unwrap();
    history.lines().map(str::to_string).collect()
}

/// A seed replays exactly in a new process, as when a failing seed is replayed. (Two runs in
/// one process may part around a crash: tokio drops a crashed host's tasks in an order set by
/// its process-wide task ids, which the first run has advanced.)
#[test]
fn test_simulation_same_seed_same_history() {
    let directory = tempfile::tempdir().unwrap();
    let first = simulate_in_a_process(5, &directory.path().join("first"));
    let second = simulate_in_a_process(5, &directory.path().join("second"));
    assert!(first.iter().any(|line| line.contains("\"fault-start\"")), "the run should have had faults");
    assert!(first.len() > 100, "a history of {} events", first.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a, b, "the histories of one seed diverge");
    }
    assert_eq!(first.len(), second.len());
}

#[test]
fn test_simulation_catches_disks_that_lie_about_durability() {
    let options = SimOptions { faults: vec![SimFault::PowerLoss], lying_disks: true, ..SimOptions::default() };
    let mut caught = Vec::new();
    for seed in 1..=3 {
        let run = simulate(seed, &options).expect("simulation");
        println!("seed {seed}: {}", run.verdict.summary());
        if run.verdict.valid == Validity::Invalid && run.verdict.lost_count > 0 {
            caught.push(seed);
        }
    }
    assert_eq!(caught, vec![1, 2, 3], "every seed with power losses must lose acknowledged sends");
}

#[test]
fn test_simulation_with_honest_disks_survives_power_losses() {
    let options = SimOptions { faults: vec![SimFault::PowerLoss], ..SimOptions::default() };
    for seed in 1..=3 {
        let run = simulate(seed, &options).expect("simulation");
        assert!(run.verdict.faults_injected.get("power-loss").is_some_and(|count| *count > 0));
        assert_eq!(run.verdict.valid, Validity::Valid, "seed {seed}: {}", run.verdict.summary());
    }
}
