//! What the page refuses, each with a stable code and a sentence, shown as a page (never a
//! stack of internals: the cause chain is logged, as the API's errors are).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use stint_core::error::BrokerError;

use super::views;
use crate::http::status_of;
use crate::ops::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A refusal or failure of the operation itself (the API's codes).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(
        "this page answers on loopback only unless STINT_PUBLIC_URL is set (the Host was {0:?})"
    )]
    HostNotAllowed(String),
    #[error("the form's CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("the form was not posted from this page ({0})")]
    Origin(String),
    #[error("the sign-in expired or was started in another browser; sign in again")]
    SignInExpired,
    #[error("the identity provider's answer is not for the sign-in this browser started (state)")]
    State,
    #[error("the ID token was not issued for this sign-in (nonce)")]
    Nonce,
    #[error("the identity provider refused the sign-in: {0}")]
    Provider(String),
    #[error("the identity provider could not be reached")]
    ProviderUnavailable(#[source] reqwest::Error),
}

impl WebError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Broker(error) => error.code.as_str(),
            Self::HostNotAllowed(_) => "host_not_allowed",
            Self::Csrf => "csrf_token_invalid",
            Self::Origin(_) => "cross_origin_post",
            Self::SignInExpired => "sign_in_expired",
            Self::State => "sign_in_state_mismatch",
            Self::Nonce => "nonce_mismatch",
            Self::Provider(_) => "provider_refused",
            Self::ProviderUnavailable(_) => "issuer_unavailable",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Broker(error) => status_of(error.class()),
            Self::HostNotAllowed(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::Csrf | Self::Origin(_) => StatusCode::FORBIDDEN,
            Self::SignInExpired | Self::State | Self::Nonce | Self::Provider(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), "web: {}", error_chain(&self));
        } else {
            tracing::info!(code = self.code(), "web refused: {self}");
        }
        // The code has its own line on the page; the sentence is said once.
        let sentence = match &self {
            Self::Broker(error) => error.message.clone(),
            other => other.to_string(),
        };
        let page = views::error_page(status, self.code(), &sentence);
        (status, Html(page.into_string())).into_response()
    }
}
