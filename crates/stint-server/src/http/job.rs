//! The job a request comes from, as an axum extractor: `Stint-Job` (the GitHub job's name,
//! which the OIDC token does not carry) and `Idempotency-Key` (a caller's own retry key).
//! Checked by the use case; a header that is not text is refused here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use stint_api::{IDEMPOTENCY_KEY_HEADER, JOB_HEADER};
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::pipeline::JobContext;

use super::ApiError;
use crate::app::App;

pub struct Job(pub JobContext);

impl FromRequestParts<App> for Job {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        let header = |name: &str, code: ErrorCode| -> Result<Option<String>, BrokerError> {
            match parts.headers.get(name) {
                None => Ok(None),
                Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
                    BrokerError::new(code, format!("the {name} header must be ASCII text"))
                }),
            }
        };
        Ok(Self(JobContext {
            job: header(JOB_HEADER, ErrorCode::InvalidJob)?,
            idempotency_key: header(IDEMPOTENCY_KEY_HEADER, ErrorCode::InvalidIdempotencyKey)?,
        }))
    }
}
