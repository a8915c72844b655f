//! The client side of OpenID Connect's authorization-code flow with PKCE (S256), shared by
//! `stint login` (a loopback redirect) and the web page (its own callback): one sign-in's
//! secrets, the URL that sends a browser to the provider, and the code's exchange for an ID
//! token. What each then checks (state, nonce, the token) stays with the caller.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One sign-in: what its redirect and ID token are checked against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier (64 characters, within RFC 7636's 43 to 128).
    pub verifier: String,
    pub redirect_uri: String,
}

impl Authorization {
    /// A sign-in with fresh random secrets, answered at `redirect_uri`.
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        Self {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            redirect_uri: redirect_uri.into(),
        }
    }

    /// The provider's `authorization_endpoint` with this sign-in's request, and `extra`
    /// parameters (`login_hint`, `prompt`, `max_age`, `acr_values`).
    pub fn url(
        &self,
        authorization_endpoint: &str,
        client_id: &str,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> Result<reqwest::Url, url::ParseError> {
        let mut url = reqwest::Url::parse(authorization_endpoint)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &pkce_challenge(&self.verifier))
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        Ok(url)
    }
}

/// Why the code could not be exchanged for an ID token.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("the token endpoint {url} could not be reached")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the token endpoint {url} answered HTTP {status} without JSON")]
    NotJson { url: String, status: u16 },
    #[error("the token endpoint refused the code (HTTP {status}): {error}{description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("the token endpoint {url} answered no id_token")]
    NoIdToken { url: String },
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Exchanges `code` for the ID token at `token_endpoint`, proving the sign-in with its PKCE
/// verifier (and the client secret, for a confidential client).
pub async fn exchange(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    client_secret: Option<&str>,
    sign_in: &Authorization,
    code: &str,
) -> Result<String, ExchangeError> {
    let url = token_endpoint.to_owned();
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", sign_in.redirect_uri.as_str()),
        ("client_id", client_id),
        ("code_verifier", sign_in.verifier.as_str()),
    ];
    if let Some(secret) = client_secret {
        pairs.push(("client_secret", secret));
    }
    let unreachable = |source| ExchangeError::Unreachable {
        url: url.clone(),
        source,
    };
    let response = http
        .post(token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form(&pairs))
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    let answer: TokenAnswer = serde_json::from_str(&text).map_err(|_| ExchangeError::NotJson {
        url: url.clone(),
        status: status.as_u16(),
    })?;
    match (status.is_success(), answer.id_token) {
        (true, Some(token)) if !token.is_empty() && answer.error.is_none() => Ok(token),
        (true, _) if answer.error.is_none() => Err(ExchangeError::NoIdToken { url }),
        _ => Err(ExchangeError::Refused {
            status: status.as_u16(),
            error: answer.error.unwrap_or_else(|| "no error code".to_owned()),
            description: answer
                .error_description
                .map_or(String::new(), |d| format!(": {d}")),
        }),
    }
}

/// `application/x-www-form-urlencoded`.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// BASE64URL(SHA256(verifier)): RFC 7636's S256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 244 random bits as 64 hex digits (two v4 UUIDs): state, nonce, PKCE verifier, CSRF token.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_rfc_7636s_s256_and_the_secrets_are_long_enough() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let sign_in = Authorization::new("http://127.0.0.1:1/callback");
        assert_eq!(sign_in.verifier.len(), 64);
        assert_ne!(sign_in.state, sign_in.nonce);
    }

    #[test]
    fn the_request_carries_the_challenge_not_the_verifier() {
        let sign_in = Authorization::new("http://127.0.0.1:1/callback");
        let url = sign_in
            .url(
                "https://op.example/authorize?x=1",
                "stint",
                "openid",
                &[("login_hint", "a@b")],
            )
            .unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["x"], "1");
        assert_eq!(query["code_challenge"], pkce_challenge(&sign_in.verifier));
        assert_eq!(query["login_hint"], "a@b");
        assert!(!url.as_str().contains(&sign_in.verifier));
    }
}
