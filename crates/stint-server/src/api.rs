//! The HTTP API. One `router(state)` serves `stint serve` and the tests alike.
//!
//! - `POST /v1/provision`, `POST /v1/deprovision`: the articles' JSON in and out;
//! - `GET /v1/transactions/{id}`: a transaction and its events;
//! - `POST /v1/transactions/{id}/revoke`: end a grant now, cutting off issued sessions;
//! - `GET /healthz`; `GET /metrics` (Prometheus text).
//!
//! Errors are `{"status": "rejected"|"failed", "error": {"code", "message"}}`: 4xx when the
//! caller is at fault, 502 when AWS is, 500 when stint is. Internals (AWS and SQLite messages
//! beyond the summary) are logged, not returned.

use std::fmt::Write as _;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use stint_core::caller::Caller;
use stint_core::error::{BrokerError, ErrorClass, ErrorCode};
use stint_core::ids::TransactionId;
use stint_core::request::{DeprovisionInput, ProvisionInput};

use crate::app::App;
use crate::wire::{self, DeprovisionResponse, ProvisionResponse, TransactionResponse};

/// Requests are a few hundred bytes; anything large is not a stint request.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/v1/provision", post(provision))
        .route("/v1/deprovision", post(deprovision))
        .route("/v1/transactions/{id}", get(transaction))
        .route("/v1/transactions/{id}/revoke", post(revoke))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// A `BrokerError` as an HTTP response; logs the cause chain, returns only code and message.
pub struct ApiError(pub BrokerError);

impl From<BrokerError> for ApiError {
    fn from(error: BrokerError) -> Self {
        Self(error)
    }
}

pub fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::Invalid => StatusCode::BAD_REQUEST,
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Upstream => StatusCode::BAD_GATEWAY,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error and every cause under it, for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let transaction_id = error.transaction_id.as_ref().map(ToString::to_string);
        if error.class().is_rejection() {
            tracing::info!(code = %error.code, transaction_id, "rejected: {}", error.message);
        } else {
            tracing::error!(code = %error.code, transaction_id, "failed: {}", error_chain(&error));
        }
        (
            status_of(error.class()),
            axum::Json(wire::error_body(&error)),
        )
            .into_response()
    }
}

/// Parses a JSON body into `T`, turning every problem into a `malformed_request` that says what.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(BrokerError::new(
            ErrorCode::MalformedRequest,
            format!("request body is not the expected JSON: {e}"),
        ))
    })
}

/// Who is calling: with an OIDC issuer configured, the pipeline its bearer token proves;
/// otherwise a local operator (the server then listens on loopback only).
async fn caller(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(verifier) = &app.verifier else {
        return Ok(Caller::operator("api"));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            BrokerError::new(
                ErrorCode::MissingToken,
                "send the job's GitHub Actions OIDC token as Authorization: Bearer",
            )
        })?;
    let claims = verifier.verify(token).await?;
    Ok(Caller::Pipeline(Box::new(claims)))
}

async fn provision(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ProvisionResponse>, ApiError> {
    let caller = caller(&app, &headers).await?;
    let input: ProvisionInput = parse_body(&body)?;
    let result = app.broker.provision(&input, &caller).await;
    app.metrics.outcome("provision", &result);
    let provisioned = result?;
    tracing::info!(
        transaction_id = %provisioned.transaction_id,
        role_arn = %provisioned.role_arn,
        credentials = ?provisioned.credentials,
        "provisioned"
    );
    Ok(axum::Json(ProvisionResponse::from(&provisioned)))
}

async fn deprovision(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<DeprovisionResponse>, ApiError> {
    let caller = caller(&app, &headers).await?;
    let input: DeprovisionInput = parse_body(&body)?;
    let result = app.broker.deprovision(&input, &caller).await;
    app.metrics.outcome("deprovision", &result);
    let done = result?;
    tracing::info!(
        transaction_id = %done.original_transaction_id,
        deprovisioning_transaction_id = %done.deprovisioning_transaction_id,
        already = done.already_deprovisioned,
        "deprovisioned"
    );
    Ok(axum::Json(DeprovisionResponse::from(&done)))
}

async fn transaction(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&app, &headers).await?;
    let id = TransactionId::parse(&id)?;
    let (txn, events) = app.broker.transaction(&id, &caller).await?;
    Ok(axum::Json(TransactionResponse {
        transaction: &txn,
        events: &events,
    })
    .into_response())
}

/// Ends a grant now and cuts off its sessions: the owning pipeline, or a local operator.
async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<DeprovisionResponse>, ApiError> {
    let caller = caller(&app, &headers).await?;
    let id = TransactionId::parse(&id)?;
    let result = app.broker.revoke(&id, &caller).await;
    app.metrics.outcome("revoke", &result);
    let done = result?;
    tracing::info!(transaction_id = %id, "revoked");
    Ok(axum::Json(DeprovisionResponse::from(&done)))
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let text = app
        .metrics
        .render(app.broker.ledger.as_ref(), &app.aws_calls)
        .await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
