//! The `shoal` binary: `shoal serve` runs one node of a Shoal cluster. With no `--peers` it is
//! a complete single-node broker on an embedded RocksDB. Configuration and wiring only: the
//! cluster layer is `shoal-cluster`, the front door `shoal-api`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shoal_engine::EngineConfig;

use shoal_api::{http, limits as api_limits, listener, ApiCluster, ApiService};
use shoal_cluster::{limits, parse_peers, Cluster, ClusterConfig, FlowControl};
use shoal_raft::clock::SystemClocks;

/// mimalloc rather than glibc's malloc: a broker allocates and frees small buffers per request
/// on many threads (see docs/benchmarks.md for the measured difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "shoal", version, about = "an SQS-compatible message broker")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the broker.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where the RocksDB data lives.
    #[arg(long, env = "SHOAL_DATA_DIR", default_value = "./shoal-data")]
    data_dir: PathBuf,
    /// Address of the HTTP API (SQS JSON and Query protocols).
    #[arg(long, env = "SHOAL_HTTP_ADDR", default_value = "127.0.0.1:9324")]
    http_addr: SocketAddr,
    /// Address of the node-to-node gRPC service (Raft and forwarded requests).
    #[arg(long, env = "SHOAL_RAFT_ADDR", default_value = "127.0.0.1:9325")]
    raft_addr: SocketAddr,
    /// This node's id in the cluster (1 or more).
    #[arg(long, env = "SHOAL_NODE_ID", default_value_t = 1)]
    node_id: u64,
    /// Every node of the cluster as `ID=HOST:PORT` of its gRPC service, comma separated, this
    /// node included. Empty: a single-node cluster of this node at --raft-addr.
    #[arg(long, env = "SHOAL_PEERS", default_value = "")]
    peers: String,
    /// Data Raft groups queues are sharded over; fixed when the cluster is created.
    #[arg(long, env = "SHOAL_DATA_GROUPS", default_value_t = 1)]
    data_groups: u32,
    /// Log entries of a group between its snapshots.
    #[arg(long, env = "SHOAL_SNAPSHOT_ENTRIES", default_value_t = limits::RAFT_SNAPSHOT_ENTRIES)]
    snapshot_entries: u64,
    /// Account id in queue URLs and ARNs.
    #[arg(long, env = "SHOAL_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Region in ARNs.
    #[arg(long, env = "SHOAL_REGION", default_value = "us-east-1")]
    region: String,
    /// After SIGTERM, how long open connections get to finish before they are dropped.
    #[arg(long, env = "SHOAL_SHUTDOWN_GRACE_MS", default_value_t = api_limits::SHUTDOWN_GRACE_MS)]
    shutdown_grace_ms: u64,
    /// Open client connections at once; one more is answered 503 and closed.
    #[arg(long, env = "SHOAL_HTTP_CONNECTIONS_MAX", default_value_t = api_limits::HTTP_CONNECTIONS_MAX)]
    http_connections_max: usize,
    /// A request's headers must arrive within this time; an idle kept-alive connection is
    /// closed after it.
    #[arg(long, env = "SHOAL_HTTP_HEADER_TIMEOUT_MS", default_value_t = api_limits::HTTP_HEADER_TIMEOUT_MS)]
    http_header_timeout_ms: u64,
    /// `on`: a send to a queue whose consumers fall behind waits until they catch up, and is
    /// refused as RequestThrottled (which SDKs retry) after 2 s; queues nobody is receiving
    /// from are never held. `off`: sends are never held, as in SQS.
    #[arg(long, env = "SHOAL_PRODUCER_FLOW_CONTROL", default_value = "on", value_parser = ["on", "off"])]
    producer_flow_control: String,
    /// The highest write level (the formats of log entries, snapshots and calls) this node
    /// takes part in. Below this build's highest, the cluster keeps writing what the build of
    /// that level reads, so a node can still go back to it. Once a level has been written it
    /// is never lowered: holding a node lower later does not undo it.
    #[arg(long, env = "SHOAL_WRITE_LEVEL_MAX", default_value_t = shoal_cluster::level::WRITE_LEVEL_MAX)]
    write_level_max: u32,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Commands::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(args))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let mut peers = parse_peers(&args.peers).map_err(|e| anyhow::anyhow!("--peers: {e}"))?;
    if peers.is_empty() {
        peers.insert(args.node_id, args.raft_addr.to_string());
    }
    let config = ClusterConfig {
        node_id: args.node_id,
        peers,
        raft_addr: args.raft_addr,
        data_dir: args.data_dir.clone(),
        data_groups: args.data_groups,
        engine: EngineConfig::new(&args.account_id, &args.region),
        snapshot_entries: args.snapshot_entries.max(1),
        time: Arc::new(SystemClocks::new()),
        flow_control: if args.producer_flow_control == "off" { FlowControl::Off } else { FlowControl::On },
        write_level_max: args.write_level_max,
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let (cluster, workers): (Arc<ApiCluster>, _) =
        Cluster::start(config, stopping.clone(), Arc::new(ApiService)).await?;

    let http_listener =
        tokio::net::TcpListener::bind(args.http_addr).await.with_context(|| format!("binding {}", args.http_addr))?;
    tracing::info!(
        node = args.node_id,
        address = %args.http_addr,
        cluster_address = %args.raft_addr,
        data_dir = %args.data_dir.display(),
        "shoal is serving"
    );
    let stopping_cluster = cluster.clone();
    let shutdown = async move {
        shutdown_signal().await;
        for broker in stopping_cluster.brokers() {
            broker.begin_shutdown();
        }
    };
    // After the signal, connections get a bounded time to finish; a client that never
    // finishes its request cannot keep the process waiting.
    let bounds = listener::Bounds {
        connections_max: args.http_connections_max.max(1),
        header_timeout: Duration::from_millis(args.http_header_timeout_ms.max(1)),
        shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
    };
    listener::serve(http_listener, http::router(cluster.clone()), bounds, shutdown).await;
    for worker in workers {
        worker.abort();
        let _ = worker.await;
    }
    tracing::info!("http server stopped; stopping the raft groups");
    for broker in cluster.brokers() {
        if let Err(error) = broker.raft().shutdown().await {
            tracing::warn!(group = broker.group, %error, "raft group did not stop cleanly");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
