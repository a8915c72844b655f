//! The HTTP door. One `router(app)` serves `stint serve` and the tests alike:
//!
//! - `POST /v1/provision`, `POST /v1/deprovision`: the pipeline contract's JSON in and out
//!   (a provisioning sent again by the same job, or with the same `Idempotency-Key`, gets the
//!   grant the first made);
//! - `POST /v1/job/deprovision`: the give-back step, ending every grant of the calling job;
//! - `POST /v1/requests` (a person asks), `GET /v1/requests/{id}`, and `…/approve`, `…/deny`,
//!   `…/withdraw`: people's access, with the person's ID token as the bearer;
//! - `GET /v1/transactions/{id}`: a transaction and its events;
//! - `POST /v1/transactions/{id}/revoke`: end a grant now, cutting off issued sessions;
//! - `GET /healthz`; `GET /metrics` (Prometheus text).
//!
//! Errors are `{"status": "rejected"|"failed", "error": {"code", "message"}}`: 4xx when the
//! caller is at fault, 502 when AWS is, 500 when stint is, every refusal with its own code,
//! those the framework would make too (a body too large or not JSON, an unknown route, a wrong
//! method). Internals (AWS and SQLite messages beyond the summary) are logged, not returned.

mod body;
mod caller;
mod job;
mod v1;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use stint_core::error::{BrokerError, ErrorClass, ErrorCode};

use crate::app::App;
use crate::ops::error_chain;
use crate::wire;

pub use body::{JsonBody, OptionalJsonBody};
pub use caller::{Authenticated, unverified_issuer};
pub use job::Job;

/// Requests are a few hundred bytes; anything large is not a stint request.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: App) -> Router {
    let api = people_routes()
        .route("/v1/provision", post(v1::provision))
        .route("/v1/deprovision", post(v1::deprovision))
        .route("/v1/job/deprovision", post(v1::deprovision_job))
        .route("/v1/transactions/{id}", get(v1::transaction))
        .route("/v1/transactions/{id}/revoke", post(v1::revoke))
        .route("/metrics", get(v1::metrics));
    let api = finish(api, app.clone());
    // The web page for people (web/), beside the API when the catalog has [people].
    match crate::web::router(&app) {
        Some(web) => api.merge(web),
        None => api,
    }
}

/// People's part of the API alone, for the Lambda door's `people` function (a function URL
/// that must serve nothing else: no operator route may be reachable there).
pub fn people_router(app: App) -> Router {
    finish(people_routes(), app)
}

fn people_routes() -> Router<App> {
    Router::new()
        .route(
            "/v1/requests",
            post(v1::request_access).get(v1::access_requests),
        )
        .route("/v1/grants", get(v1::grants))
        .route("/v1/eligibility", get(v1::eligibility))
        .route("/v1/requests/{id}", get(v1::access_request))
        .route("/v1/requests/{id}/approve", post(v1::approve))
        .route("/v1/requests/{id}/deny", post(v1::deny))
        .route("/v1/requests/{id}/withdraw", post(v1::withdraw))
        .route("/healthz", get(v1::healthz))
}

fn finish(routes: Router<App>, app: App) -> Router {
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
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
        ErrorClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorClass::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorClass::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorClass::Upstream => StatusCode::BAD_GATEWAY,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let transaction_id = error.transaction_id.as_deref();
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

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError(BrokerError::new(
        ErrorCode::UnknownRoute,
        format!("no such route {}; the API is under /v1/", uri.path()),
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(BrokerError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    ))
}
