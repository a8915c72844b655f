//! Sign-in with the organisation's OpenID provider: the authorization-code flow with PKCE
//! (S256), `state` and `nonce` checked, the ID token verified by the API's own verifier; and
//! sign-out. A re-authentication (`reauth`) asks the provider for a new sign-in now
//! (`prompt=login`, `max_age=0`), at the assurance level an action needs (`acr_values`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::session::{
    LOGIN_COOKIE, LOGIN_LIFETIME_SECS, SESSION_LIFETIME_SECS, Session, random_token, safe_next,
    same,
};
use super::{Web, WebError, WebState};
use axum::extract::Form;

/// Where the provider signs people in and hands out tokens (its discovery document).
#[derive(Debug, Deserialize)]
pub struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// A sign-in under way, kept in its own encrypted cookie until the provider answers.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    redirect_uri: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// The user to sign in, passed to the provider as `login_hint`.
    login_hint: Option<String>,
    /// Present: sign in again now, whatever the provider's session says.
    reauth: Option<String>,
    acr_values: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

impl Web {
    async fn endpoints(&self) -> Result<&Endpoints, WebError> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let answer = self.http.get(url).send().await;
                answer
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(WebError::ProviderUnavailable)?
                    .json::<Endpoints>()
                    .await
                    .map_err(WebError::ProviderUnavailable)
            })
            .await
    }

    /// Trades the code for tokens at the provider, proving the sign-in is ours (PKCE).
    async fn exchange(&self, code: &str, pending: &Pending) -> Result<String, WebError> {
        let endpoints = self.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let body = super::session::local_url("/", &form);
        let body = body.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let answer = self
            .http
            .post(&endpoints.token_endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(WebError::ProviderUnavailable)?;
        let status = answer.status();
        let answer: TokenAnswer = answer.json().await.map_err(WebError::ProviderUnavailable)?;
        match (answer.id_token, answer.error) {
            (Some(token), None) if status.is_success() => Ok(token),
            (_, error) => Err(WebError::Provider(format!(
                "{} {}",
                error.unwrap_or_else(|| format!("HTTP {status}")),
                answer.error_description.unwrap_or_default()
            ))),
        }
    }
}

/// Starts a sign-in: remembers state, nonce and PKCE verifier in a cookie, and sends the
/// browser to the provider.
pub async fn login(
    State(web): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let origin = web.origin(&headers)?;
    let endpoints = web.endpoints().await?;
    let pending = Pending {
        state: random_token(),
        nonce: random_token(),
        verifier: random_token(),
        next: safe_next(query.next.as_deref()),
        redirect_uri: format!("{origin}/auth/callback"),
    };
    // On a re-authentication the person is who the session says.
    let hint = match (&query.login_hint, query.reauth.is_some()) {
        (Some(hint), _) => Some(hint.trim().to_owned()),
        (None, true) => web.signed_in(&headers).await.map(|me| me.email()),
        (None, false) => None,
    };
    let mut url = reqwest::Url::parse(&endpoints.authorization_endpoint)
        .map_err(|e| WebError::Provider(format!("authorization_endpoint: {e}")))?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs
            .append_pair("response_type", "code")
            .append_pair("client_id", &web.client_id)
            .append_pair("redirect_uri", &pending.redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pkce_challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = hint.filter(|h| !h.is_empty()) {
            pairs.append_pair("login_hint", &hint);
        }
        if query.reauth.is_some() {
            pairs
                .append_pair("prompt", "login")
                .append_pair("max_age", "0");
        }
        if let Some(acr) = query.acr_values.as_deref().filter(|a| !a.is_empty()) {
            pairs.append_pair("acr_values", acr);
        }
    }
    let pending = serde_json::to_string(&pending).unwrap_or_default();
    let cookie = web.seal(LOGIN_COOKIE, pending, LOGIN_LIFETIME_SECS);
    let mut response = (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The provider's answer: the state must be this browser's, the code is exchanged with the
/// PKCE verifier, the ID token verified as the API verifies bearer tokens, and its nonce must
/// be this sign-in's. Then the session starts.
pub async fn callback(
    State(web): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let pending: Pending = web
        .open(&headers, LOGIN_COOKIE)
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or(WebError::SignInExpired)?;
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|s| same(s.as_bytes(), pending.state.as_bytes()));
    if !state_matches {
        return Err(WebError::State);
    }
    if let Some(error) = query.error {
        return Err(WebError::Provider(format!(
            "{error} {}",
            query.error_description.unwrap_or_default()
        )));
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| WebError::Provider("no code in the answer".to_owned()))?;
    let token = web.exchange(&code, &pending).await?;
    // Signature, issuer, audience and times first; only then is the payload worth reading.
    web.verifier.verify_person(&token, &web.user_claim).await?;
    let nonce = crate::tokens::unverified_claims(&token)
        .and_then(|claims| claims.get("nonce")?.as_str().map(str::to_owned));
    if !nonce.is_some_and(|n| same(n.as_bytes(), pending.nonce.as_bytes())) {
        return Err(WebError::Nonce);
    }
    let session = Session {
        token,
        csrf: random_token(),
    };
    let session = serde_json::to_string(&session).unwrap_or_default();
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, pending.next.clone())],
    )
        .into_response();
    let cookies = response.headers_mut();
    if let Some(cookie) = web.seal(web.session_cookie(), session, SESSION_LIFETIME_SECS) {
        cookies.append(header::SET_COOKIE, cookie);
    }
    cookies.append(header::SET_COOKIE, web.clear(LOGIN_COOKIE));
    Ok(response)
}

/// Ends the session here (the provider's own session is the provider's). A post with the
/// session's CSRF token, so another site cannot sign people out.
pub async fn logout(
    State(web): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    if let Some(me) = web.signed_in(&headers).await {
        web.check_post(&headers, &me, form.csrf.as_deref())?;
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/signin?signed_out=1")],
    )
        .into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, web.clear(web.session_cookie()));
    Ok(response)
}

/// BASE64URL(SHA256(verifier)), RFC 7636's S256.
fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        assert_eq!(
            super::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
