//! The HTTP listener, with the bounds a front door needs: at most `connections_max` connections
//! at once (one more is answered `503` and closed, which SDKs retry), request headers that must
//! arrive within `header_timeout` (a client that sends them slowly, or leaves a kept-alive
//! connection idle that long, is disconnected), and a graceful shutdown that lets open requests
//! finish within a grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What a connection over the cap is told before it is closed.
const OVER_CAPACITY_REPLY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n";

#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub connections_max: usize,
    pub header_timeout: Duration,
    /// After the shutdown signal, how long open connections get to finish.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes and the open connections have
/// finished (or the grace period ran out).
pub async fn serve(listener: TcpListener, router: Router, bounds: Bounds, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(bounds.connections_max));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(bounds.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(crate::limits::HTTP_ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: too many open connections");
            tokio::spawn(async move {
                let _ = stream.write_all(OVER_CAPACITY_REPLY).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(bounds.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}
