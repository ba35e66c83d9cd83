//! The `shoal` binary: `shoal serve` runs a complete single-node broker on an embedded RocksDB.

mod broker;
mod error;
mod http;
mod limits;
mod log;
mod sqs;
mod store;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shoal_engine::{Engine, EngineConfig};
use tokio::sync::Notify;

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
    /// Account id in queue URLs and ARNs.
    #[arg(long, env = "SHOAL_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Region in ARNs.
    #[arg(long, env = "SHOAL_REGION", default_value = "us-east-1")]
    region: String,
    /// After SIGTERM, how long open connections get to finish before they are dropped.
    #[arg(long, env = "SHOAL_SHUTDOWN_GRACE_MS", default_value_t = limits::SHUTDOWN_GRACE_MS)]
    shutdown_grace_ms: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG").unwrap_or_else(|_| "info".into()))
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
    let store = store::Store::open(&args.data_dir.join("db")).context("opening the store")?;
    let config = EngineConfig { account_id: args.account_id.clone(), region: args.region.clone() };
    let (engine, recovered) =
        log::recover(&store, || Engine::new(config.clone())).context("recovering the command log")?;
    if engine.config() != &config {
        anyhow::bail!(
            "the data directory belongs to account {} in region {}; start with those or use another --data-dir",
            engine.config().account_id,
            engine.config().region
        );
    }
    let engine = Arc::new(RwLock::new(engine));
    let applied = Arc::new(Notify::new());
    let (command_log, writer) = log::CommandLog::start(store, engine.clone(), &recovered, applied.clone())?;
    let broker = broker::Broker::new(engine, command_log.clone(), applied);

    let ticker = tokio::spawn(run_ticker(broker.clone()));
    let listener =
        tokio::net::TcpListener::bind(args.http_addr).await.with_context(|| format!("binding {}", args.http_addr))?;
    tracing::info!(address = %args.http_addr, data_dir = %args.data_dir.display(), "shoal is serving");
    let stopping = broker.clone();
    let (signalled, signal_seen) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown_signal().await;
        stopping.begin_shutdown();
        let _ = signalled.send(());
    };
    let server = axum::serve(listener, http::router(broker)).with_graceful_shutdown(shutdown);
    // After the signal, connections get a bounded time to finish; a client that never
    // finishes its request cannot keep the process (and its final snapshot) waiting.
    let grace_ended = async {
        if signal_seen.await.is_ok() {
            tokio::time::sleep(Duration::from_millis(args.shutdown_grace_ms)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server.into_future() => result?,
        () = grace_ended => tracing::warn!("connections still open after the shutdown grace period; closing them"),
    }
    ticker.abort();
    let _ = ticker.await;
    tracing::info!("http server stopped; flushing the command log");
    command_log.stop().await;
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the command log writer panicked"))?;
    Ok(())
}

async fn run_ticker(broker: broker::Broker) {
    let mut interval = tokio::time::interval(Duration::from_millis(limits::TICK_INTERVAL_MS));
    loop {
        interval.tick().await;
        if let Err(error) = broker.tick_if_needed().await {
            tracing::warn!(message = %error.message, "tick failed");
        }
    }
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
