//! stint's server side: wiring (`app`), the SQLite ledger, the HTTP API, and the wire format
//! shared by the API and the CLI. The `stint` binary (`main.rs`) is a thin layer over these.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod ledger;
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
