//! stint's server side: wiring (`app`), the SQLite ledger, the HTTP API, and the wire format
//! shared by the API and the CLI. The `stint` binary (`main.rs`) is a thin layer over these.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod lambda;
pub mod ledger;
pub mod metrics;
pub mod pipeline;
pub mod wire;

use std::net::SocketAddr;

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: app::App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, api::router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs a reaper pass every `interval` until the process ends. Passes from several servers on
/// one ledger are safe: each transaction is moved by exactly one of them.
pub fn spawn_reaper(
    app: app::App,
    settings: stint_core::reap::ReapSettings,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let result = app.broker.reap(&settings).await;
            if let Ok(report) = &result {
                app.metrics.reaped(report);
            }
            match result {
                Ok(report) if report == Default::default() => {
                    tracing::debug!("reaper: nothing to do")
                }
                Ok(report) => tracing::info!(
                    expired = report.expired,
                    stuck = report.stuck,
                    orphans = report.orphans,
                    errors = report.errors,
                    "reaper pass"
                ),
                Err(error) => tracing::error!("reaper pass failed: {}", api::error_chain(&error)),
            }
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
