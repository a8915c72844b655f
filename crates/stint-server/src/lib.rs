//! stint's server side: wiring (`app`), the SQLite ledger, the HTTP API, and the wire format
//! shared by the API and the CLI. The `stint` binary (`main.rs`) is a thin layer over these.

pub mod api;
pub mod app;
pub mod clock;
pub mod ledger;
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

/// Until callers are authenticated, the API must not be reachable from other machines.
pub fn check_listen_address(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr}: until caller authentication exists, stint serve binds to loopback only"
        ))
    }
}
