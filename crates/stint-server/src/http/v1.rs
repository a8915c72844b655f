//! The v1 API's handlers: each reads its input, and hands it with the caller to the
//! operations layer; nothing else happens here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, Authenticated, Job, JsonBody, OptionalJsonBody};
use crate::app::App;
use crate::wire::{
    AccessRequestInput, AccessRequestList, AccessRequestResponse, ApproveInput, DenyInput,
    DeprovisionInput, DeprovisionResponse, Eligibility, GrantList, Health, JobDeprovisionResponse,
    ProvisionInput, ProvisionResponse, TransactionResponse,
};

pub async fn provision(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Job(context): Job,
    JsonBody(input): JsonBody<ProvisionInput>,
) -> Result<Json<ProvisionResponse>, ApiError> {
    Ok(Json(app.ops.provision(&input, &caller, &context).await?))
}

/// The give-back step: ends every grant of the calling job, no id needed.
pub async fn deprovision_job(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Job(context): Job,
) -> Result<Json<JobDeprovisionResponse>, ApiError> {
    Ok(Json(app.ops.deprovision_job(&caller, &context).await?))
}

pub async fn deprovision(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<DeprovisionInput>,
) -> Result<Json<DeprovisionResponse>, ApiError> {
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

/// A person asks for access.
pub async fn request_access(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<AccessRequestInput>,
) -> Result<Json<AccessRequestResponse>, ApiError> {
    Ok(Json(app.ops.request_access(&input, &caller).await?))
}

pub async fn access_requests(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
) -> Result<Json<AccessRequestList>, ApiError> {
    Ok(Json(app.ops.access_requests(&caller).await?))
}

pub async fn eligibility(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Eligibility>, ApiError> {
    Ok(Json(app.ops.eligibility(&caller).await?))
}

pub async fn grants(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
) -> Result<Json<GrantList>, ApiError> {
    Ok(Json(app.ops.person_grants(&caller).await?))
}

pub async fn access_request(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccessRequestResponse>, ApiError> {
    Ok(Json(app.ops.access_request(&id, &caller).await?))
}

pub async fn approve(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    OptionalJsonBody(input): OptionalJsonBody<ApproveInput>,
) -> Result<Json<AccessRequestResponse>, ApiError> {
    Ok(Json(app.ops.approve(&id, &input, &caller).await?))
}

pub async fn deny(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<DenyInput>,
) -> Result<Json<AccessRequestResponse>, ApiError> {
    Ok(Json(app.ops.deny(&id, &input, &caller).await?))
}

pub async fn withdraw(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccessRequestResponse>, ApiError> {
    Ok(Json(app.ops.withdraw(&id, &caller).await?))
}

pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let text = app.ops.metrics_text(&app.aws_calls).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
