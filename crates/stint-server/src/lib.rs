//! stint's server side: wiring (`app`), the operations layer every door runs through
//! (`ops`), the doors themselves (`http`, `lambda`, the `stint` CLI in `main.rs`), token
//! verification, the SQLite ledger, metrics, notice channels (`notify`), and the wire format.

pub mod app;
pub mod clock;
pub mod function_url;
pub mod http;
pub mod lambda;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod oidc_client;
pub mod ops;
pub mod scan_cli;
pub mod tokens;
pub mod web;
pub mod wire;

use std::net::SocketAddr;

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: app::App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs a reaper pass every `interval` until the process ends. Passes from several servers on
/// one ledger are safe: each transaction is moved by exactly one of them.
pub fn spawn_reaper(
    app: app::App,
    settings: stint_core::grant::ReapSettings,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // The pass counts and logs itself; a failed pass is retried at the next tick.
            let _ = app.ops.reap(&settings).await;
        }
    })
}

/// Delivers queued notices every `interval` until the process ends (several servers on one
/// ledger record each attempt once; a notice may reach a channel twice, never zero times).
pub fn spawn_outbox(app: app::App, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let _ = app.ops.deliver_notices().await;
        }
    })
}

/// Without an OIDC issuer to authenticate callers, the API must not be reachable from other
/// machines.
pub fn check_listen_address(addr: &SocketAddr, authenticated: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || authenticated {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr}: without an [oidc] issuer in the catalog to authenticate callers, stint serve binds to loopback only"
        ))
    }
}
