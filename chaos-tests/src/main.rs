//! `shoal-chaos`: runs a Shoal cluster in Docker containers under a workload and a nemesis,
//! records the history, judges it, and draws the timeline. The last line printed is the
//! verdict; the exit code is 0 only when the verdict is the expected one.

mod docker;
mod limits;
mod nemesis;
mod sns;
mod timeline;
mod workload;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rand::SeedableRng;
use shoal_chaos::checker::{check, Validity, Verdict, Workload};
use shoal_chaos::history::{self, Recorder};

use crate::docker::Cluster;
use crate::nemesis::{Fault, Nemesis, Targeting};
use crate::workload::Clients;

#[derive(Parser)]
#[command(name = "shoal-chaos", about = "Jepsen-style chaos tests for Shoal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a cluster in Docker, run a workload under faults, drain, check.
    Run(RunArgs),
    /// Run the seeded simulation (no Docker): seeds SEED, SEED+1, ... SEED+COUNT-1, each written
    /// to chaos-results/sim-seedS/. The same seed gives the same history.
    Simulate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Simulated seconds of workload under faults.
        #[arg(long, default_value_t = 20)]
        time: u64,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Failpoint: disks report writes durable before they are.
        #[arg(long)]
        lying_disks: bool,
        #[arg(long, default_value = "chaos-results")]
        results: PathBuf,
        #[arg(long, value_enum, default_value = "valid")]
        expect: Expect,
    },
    /// Judge an existing run's history.jsonl again (rewrites verdict.json and timeline.png).
    Check {
        /// The run's directory under chaos-results/.
        run: PathBuf,
        #[arg(long, value_enum, default_value = "queue")]
        workload: WorkloadArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum WorkloadArg {
    Queue,
    Fifo,
    /// One topic fanned out to several queues, some with a filter policy.
    Sns,
}

impl From<WorkloadArg> for Workload {
    fn from(arg: WorkloadArg) -> Workload {
        match arg {
            WorkloadArg::Queue => Workload::Queue,
            WorkloadArg::Fifo => Workload::Fifo,
            WorkloadArg::Sns => Workload::Sns,
        }
    }
}

/// Which node a kill, pause or clock fault hits.
#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    /// The leader of some group 7 times in 10, else any node.
    Biased,
    /// The leader of the queue's data group (`sns`: the topic's), for measuring failover.
    QueueLeader,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Expect {
    Valid,
    /// For a deliberately broken build: succeed only when the checker catches it.
    Invalid,
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Seconds of workload under faults, before healing and the final drain.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Faults to draw from, comma separated: kill, pause, partition, clock, restart ("" for none).
    #[arg(long, default_value = "kill,pause,partition")]
    nemesis: String,
    /// Which node a kill, pause or clock fault (or an isolating partition) hits.
    #[arg(long, value_enum, default_value = "biased")]
    target: TargetArg,
    #[arg(long, value_enum, default_value = "queue")]
    workload: WorkloadArg,
    /// Seeds the fault schedule and the clients' choices (random when not given; printed).
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value_t = 2)]
    data_groups: u32,
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Consumers (`sns`: per queue).
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// The shoal binary to put in the image (default: $SHOAL_BIN, else the debug build).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Extra environment for every node, NAME=VALUE (repeatable), e.g. a failpoint.
    #[arg(long = "node-env")]
    node_env: Vec<String>,
    #[arg(long, default_value = "chaos-results")]
    results: PathBuf,
    /// Leave the containers running after the run.
    #[arg(long)]
    keep: bool,
    #[arg(long, value_enum, default_value = "valid")]
    expect: Expect,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The simulation runs its own runtimes, one per simulated host, so it runs outside ours.
    let result = if let Command::Simulate { seed, count, time, nodes, lying_disks, results, expect } = cli.command {
        simulate(SimulateArgs { seed, count, time, nodes, lying_disks, results, expect })
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async {
            match cli.command {
                Command::Simulate { .. } => unreachable!("handled above"),
                Command::Run(args) => run(args).await,
                Command::Check { run, workload } => {
                    let events = history::read(&run.join("history.jsonl"))?;
                    let verdict = check(&events, workload.into());
                    write_outputs(&run, &events, &verdict, serde_json::Value::Null)?;
                    Ok((verdict, Expect::Valid))
                }
            }
        })
    };
    match result {
        Ok((verdict, expect)) => {
            println!("{}", verdict.recovery_summary());
            println!("{}", verdict.summary());
            let met = match expect {
                Expect::Valid => verdict.valid == Validity::Valid,
                Expect::Invalid => verdict.valid == Validity::Invalid,
            };
            if met {
                std::process::ExitCode::SUCCESS
            } else if verdict.valid == Validity::Unknown {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("shoal-chaos: error: {error:#}");
            println!("verdict: none (the run did not complete: {error})");
            std::process::ExitCode::from(3)
        }
    }
}

struct SimulateArgs {
    seed: u64,
    count: u64,
    time: u64,
    nodes: usize,
    lying_disks: bool,
    results: PathBuf,
    expect: Expect,
}

/// Runs seeds of the simulation; the verdict reported is the first that missed the
/// expectation, else the last.
fn simulate(args: SimulateArgs) -> anyhow::Result<(Verdict, Expect)> {
    let SimulateArgs { seed, count, time, nodes, lying_disks, results, expect } = args;
    let options = shoal_chaos::sim::SimOptions {
        nodes,
        duration: std::time::Duration::from_secs(time),
        lying_disks,
        ..Default::default()
    };
    let mut worst: Option<Verdict> = None;
    for seed in seed..seed.saturating_add(count) {
        let run = shoal_chaos::sim::simulate(seed, &options)?;
        let directory = results.join(format!("sim-seed{seed}"));
        std::fs::create_dir_all(&directory)?;
        let parameters = serde_json::json!({ "simulation": true, "seed": seed, "nodes": nodes,
            "time_s": time, "lying_disks": lying_disks });
        write_outputs(&directory, &run.events, &run.verdict, parameters)?;
        eprintln!("seed {seed}: {} ({})", run.verdict.summary(), directory.display());
        let missed = match expect {
            Expect::Valid => run.verdict.valid != Validity::Valid,
            Expect::Invalid => run.verdict.valid != Validity::Invalid,
        };
        if worst.is_none() || missed {
            worst = Some(run.verdict);
        }
    }
    Ok((worst.ok_or_else(|| anyhow::anyhow!("--count must be at least 1"))?, expect))
}

fn default_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("SHOAL_BIN") {
        return PathBuf::from(binary);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("debug").join("shoal")
}

async fn run(args: RunArgs) -> anyhow::Result<(Verdict, Expect)> {
    let faults: BTreeSet<Fault> = args
        .nemesis
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.parse::<Fault>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let seed = args.seed.unwrap_or_else(rand::random);
    let binary = args.binary.clone().unwrap_or_else(default_binary);
    anyhow::ensure!(binary.exists(), "no shoal binary at {} (build it, or pass --binary)", binary.display());
    let workload: Workload = args.workload.into();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let directory = args.results.join(format!("{started}-{}-seed{seed}", format!("{workload:?}").to_lowercase()));
    std::fs::create_dir_all(&directory).with_context(|| format!("creating {}", directory.display()))?;
    eprintln!("shoal-chaos: run {} (seed {seed}, binary {})", directory.display(), binary.display());

    let faketime = faults.contains(&Fault::Clock);
    docker::build_image(&binary, &directory.join("image"), faketime).await.context("building the node image")?;
    let cluster = Cluster::start(args.nodes, args.data_groups, &directory.join("clock"), faketime, &args.node_env)
        .await
        .context("starting the cluster")?;
    let outcome = exercise(&args, &cluster, workload, seed, &faults, &directory).await;
    cluster.save_logs(&directory).await;
    if !args.keep {
        cluster.remove().await?;
    }
    let _ = std::fs::remove_dir_all(directory.join("image"));
    let (events, parameters) = outcome?;
    let verdict = check(&events, workload);
    write_outputs(&directory, &events, &verdict, parameters)?;
    eprintln!("shoal-chaos: results in {}", directory.display());
    Ok((verdict, args.expect))
}

/// Runs the workload and the nemesis on a started cluster, heals it, drains, and returns the
/// history.
async fn exercise(
    args: &RunArgs,
    cluster: &Cluster,
    workload: Workload,
    seed: u64,
    faults: &BTreeSet<Fault>,
    directory: &Path,
) -> anyhow::Result<(Vec<history::Event>, serde_json::Value)> {
    let targeting = match args.target {
        TargetArg::Biased => Targeting::Biased,
        TargetArg::QueueLeader => {
            let shards = shoal_sharding::Shards::new(args.data_groups).map_err(anyhow::Error::msg)?;
            Targeting::Leader(u64::from(shards.group_of(workload::queue_name(workload))))
        }
    };
    let endpoints: Vec<(String, String)> =
        cluster.nodes.iter().map(|node| (node.name.clone(), node.endpoint())).collect();
    anyhow::ensure!(cluster.wait_healthy(limits::STARTUP_BOUND).await, "the cluster did not elect its leaders");
    let mut clients = Clients::new(&endpoints, workload);
    // The history begins with the setup: the `sns` workload records its subscriptions.
    let recorder = Recorder::new();
    if workload == Workload::Sns {
        sns::set_up(&mut clients, &recorder, args.data_groups, limits::STARTUP_BOUND).await?;
    } else {
        clients.create_queue(limits::STARTUP_BOUND).await?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for number in 0..args.producers {
        tasks.push(tokio::spawn(workload::produce(clients.clone(), recorder.clone(), number, seed, stop.clone())));
    }
    // `sns`: each queue has consumers of its own (`--consumers` per queue), as each
    // subscriber of a topic has, and the queues together take several times what is published.
    for queue in 0..clients.queues.len() {
        let readers = clients.only_queue(queue);
        for consumer in 0..args.consumers {
            let number = queue * args.consumers + consumer;
            tasks.push(tokio::spawn(workload::consume(readers.clone(), recorder.clone(), number, stop.clone())));
        }
    }
    // The probes send as the producer after the last.
    tasks.push(tokio::spawn(workload::probe(clients.clone(), recorder.clone(), args.producers, stop.clone())));
    let rng = rand::rngs::StdRng::seed_from_u64(seed);
    let nemesis = Nemesis::new(cluster.clone(), recorder.clone(), faults.clone(), targeting, rng);
    let time_s = args.time as f64;
    let nemesis = tokio::spawn(nemesis.run(time_s));
    tokio::time::sleep(std::time::Duration::from_secs(args.time)).await;
    nemesis.await.context("the nemesis task")?;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.context("a client task")?;
    }

    eprintln!("shoal-chaos: {:.1}s healing", recorder.elapsed_s());
    let problems = nemesis::heal_all(cluster).await;
    for problem in &problems {
        eprintln!("shoal-chaos: heal: {problem}");
    }
    let healthy = cluster.wait_healthy(limits::HEAL_BOUND).await;
    eprintln!("shoal-chaos: {:.1}s draining (cluster healthy: {healthy})", recorder.elapsed_s());
    let complete = workload::drain(&clients, &recorder).await;
    eprintln!("shoal-chaos: {:.1}s drain complete: {complete}", recorder.elapsed_s());
    let parameters = serde_json::json!({
        "nodes": args.nodes,
        "time_s": args.time,
        "nemesis": faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "target": format!("{targeting:?}"),
        "workload": workload,
        "seed": seed,
        "data_groups": args.data_groups,
        "producers": args.producers,
        "consumers": args.consumers,
        "node_env": args.node_env,
        "directory": directory.display().to_string(),
    });
    Ok((recorder.events(), parameters))
}

fn write_outputs(
    directory: &Path,
    events: &[history::Event],
    verdict: &Verdict,
    parameters: serde_json::Value,
) -> anyhow::Result<()> {
    history::write(&directory.join("history.jsonl"), events)?;
    let mut document = serde_json::to_value(verdict)?;
    if !parameters.is_null() {
        document["run"] = parameters;
    }
    std::fs::write(directory.join("verdict.json"), serde_json::to_string_pretty(&document)?)?;
    if let Err(error) = timeline::draw(&directory.join("timeline.png"), events, verdict) {
        eprintln!("shoal-chaos: warning: no timeline: {error:#}");
    }
    Ok(())
}
