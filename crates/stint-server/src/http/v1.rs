//! The v1 API's handlers: each reads its input, and hands it with the caller to the
//! operations layer; nothing else happens here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use stint_core::error::{BrokerError, ErrorCode};

use super::{ApiError, Authenticated};
use crate::app::App;
use crate::wire::{DeprovisionResponse, ProvisionResponse, TransactionResponse};

/// Parses a JSON body into `T`, turning every problem into a `malformed_request` that says what.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(BrokerError::new(
            ErrorCode::MalformedRequest,
            format!("request body is not the expected JSON: {e}"),
        ))
    })
}

pub async fn provision(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Json<ProvisionResponse>, ApiError> {
    let input = parse_body(&body)?;
    Ok(Json(app.ops.provision(&input, &caller).await?))
}

pub async fn deprovision(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Json<DeprovisionResponse>, ApiError> {
    let input = parse_body(&body)?;
    Ok(Json(app.ops.deprovision(&input, &caller).await?))
}

pub async fn transaction(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<TransactionResponse>, ApiError> {
    Ok(Json(app.ops.transaction(&id, &caller).await?))
}

/// Ends a grant now and cuts off its sessions: the owning pipeline, or a local operator.
pub async fn revoke(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DeprovisionResponse>, ApiError> {
    Ok(Json(app.ops.revoke(&id, &caller).await?))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let text = app.ops.metrics_text(&app.aws_calls).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
