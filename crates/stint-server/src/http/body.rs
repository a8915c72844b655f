//! The request body as an extractor: JSON by its content type, at most the body limit, and
//! parsed into the operation's input; each refusal in the API's own envelope and code rather
//! than the framework's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse as _;
use serde::de::DeserializeOwned;
use stint_core::error::{BrokerError, ErrorCode};

use super::{ApiError, BODY_LIMIT};

/// A JSON request body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json(content_type) {
            return Err(ApiError(BrokerError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "send the request as Content-Type: application/json, not {:?}",
                    content_type
                ),
            )));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let too_large = rejection.into_response().status() == StatusCode::PAYLOAD_TOO_LARGE;
                ApiError(if too_large {
                    BrokerError::new(
                        ErrorCode::BodyTooLarge,
                        format!("the request body is larger than {BODY_LIMIT} bytes"),
                    )
                } else {
                    BrokerError::new(
                        ErrorCode::MalformedRequest,
                        "the request body could not be read",
                    )
                })
            })?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            ApiError(BrokerError::new(
                ErrorCode::MalformedRequest,
                format!("request body is not the expected JSON: {e}"),
            ))
        })
    }
}

/// A JSON body that may be left out (no body and no content type): then `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = request.headers().contains_key(header::CONTENT_TYPE);
        let length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if !typed && length.unwrap_or(0) == 0 {
            return Ok(Self(T::default()));
        }
        JsonBody::from_request(request, state)
            .await
            .map(|JsonBody(body)| Self(body))
    }
}

/// `application/json`, with parameters (`; charset=utf-8`) or as a `+json` suffix.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.rsplit_once('+').is_some_and(|(kind, suffix)| {
            kind.starts_with("application/") && suffix.eq_ignore_ascii_case("json")
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_is_told_by_its_essence() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(super::is_json(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "text/json+x",
        ] {
            assert!(!super::is_json(no), "{no}");
        }
    }
}
