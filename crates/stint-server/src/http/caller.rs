//! The caller as an axum extractor: with an OIDC issuer configured, the pipeline its bearer
//! token proves (a request without a valid token is refused before its body is read);
//! otherwise a local operator (the server then listens on loopback only).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::grant::Caller;

use super::ApiError;
use crate::app::App;

/// A caller who has proved who they are (or a local operator).
pub struct Authenticated(pub Caller);

impl FromRequestParts<App> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Some(verifier) = &app.verifier else {
            return Ok(Self(Caller::operator("api")));
        };
        let token = parts
            .headers
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
        Ok(Self(Caller::Pipeline(Box::new(claims))))
    }
}
