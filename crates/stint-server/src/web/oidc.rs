//! Sign-in with the organisation's OpenID provider: the authorization-code flow with PKCE
//! (S256), `state` and `nonce` checked, the ID token verified by the API's own verifier; and
//! sign-out. A re-authentication (`reauth`) asks the provider for a new sign-in now
//! (`prompt=login`, `max_age=0`), at the assurance level an action needs (`acr_values`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::session::{
    LOGIN_COOKIE, LOGIN_LIFETIME_SECS, SESSION_LIFETIME_SECS, Session, safe_next, same,
};
use super::{Web, WebError, WebState};
use crate::oidc_client::{Authorization, ExchangeError, exchange, random_token};
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
    #[serde(flatten)]
    sign_in: Authorization,
    next: String,
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

    /// Trades the code for the ID token at the provider, proving the sign-in is ours (PKCE).
    async fn exchange(&self, code: &str, pending: &Pending) -> Result<String, WebError> {
        let endpoints = self.endpoints().await?;
        let secret = self.client_secret.as_deref();
        let token_endpoint = &endpoints.token_endpoint;
        exchange(
            &self.http,
            token_endpoint,
            &self.client_id,
            secret,
            &pending.sign_in,
            code,
        )
        .await
        .map_err(|e| match e {
            ExchangeError::Unreachable { source, .. } => WebError::ProviderUnavailable(source),
            refused => WebError::Provider(refused.to_string()),
        })
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
        sign_in: Authorization::new(format!("{origin}/auth/callback")),
        next: safe_next(query.next.as_deref()),
    };
    // On a re-authentication the person is who the session says.
    let hint = match (&query.login_hint, query.reauth.is_some()) {
        (Some(hint), _) => Some(hint.trim().to_owned()),
        (None, true) => web.signed_in(&headers).await.map(|me| me.email()),
        (None, false) => None,
    };
    let mut extra = Vec::new();
    if let Some(hint) = hint.as_deref().filter(|h| !h.is_empty()) {
        extra.push(("login_hint", hint));
    }
    if query.reauth.is_some() {
        extra.extend([("prompt", "login"), ("max_age", "0")]);
    }
    if let Some(acr) = query.acr_values.as_deref().filter(|a| !a.is_empty()) {
        extra.push(("acr_values", acr));
    }
    let scope = "openid email profile";
    let url = pending
        .sign_in
        .url(
            &endpoints.authorization_endpoint,
            &web.client_id,
            scope,
            &extra,
        )
        .map_err(|e| WebError::Provider(format!("authorization_endpoint: {e}")))?;
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
        .is_some_and(|s| same(s.as_bytes(), pending.sign_in.state.as_bytes()));
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
    if !nonce.is_some_and(|n| same(n.as_bytes(), pending.sign_in.nonce.as_bytes())) {
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
