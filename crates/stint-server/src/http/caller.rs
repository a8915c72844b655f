//! The caller as an axum extractor: a person, when the bearer token is an ID token of the
//! catalog's `[people]` issuer; with an OIDC issuer configured, the pipeline its bearer token
//! proves (a request without a valid token is refused before its body is read); otherwise a
//! local operator (the server then listens on loopback only).

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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        // A person's ID token names the organisation's identity provider as its issuer; that
        // verifier then checks it as strictly as the pipelines' checks theirs.
        if let (Some(token), Some((people, user_claim))) = (token, &app.people_verifier)
            && unverified_issuer(token).as_deref() == Some(people.issuer())
        {
            let person = people.verify_person(token, user_claim).await?;
            return Ok(Self(Caller::Person(Box::new(person))));
        }
        let Some(verifier) = &app.verifier else {
            return Ok(Self(Caller::operator("api")));
        };
        let token = token.ok_or_else(|| {
            BrokerError::new(
                ErrorCode::MissingToken,
                "send the job's GitHub Actions OIDC token (or a person's ID token) as Authorization: Bearer",
            )
        })?;
        let claims = verifier.verify(token).await?;
        Ok(Self(Caller::Pipeline(Box::new(claims))))
    }
}

/// The `iss` a JWT claims, unverified: only to pick the verifier that then checks everything.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let claims = crate::tokens::unverified_claims(token)?;
    claims.get("iss")?.as_str().map(str::to_owned)
}
