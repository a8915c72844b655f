//! The web page for people, served by `stint serve` beside the API when the catalog has
//! `[people]`: sign-in with the organisation's OpenID provider (`oidc.rs`), a session in an
//! encrypted cookie (`session.rs`), and server-rendered pages (`pages.rs`, `actions.rs`,
//! templates in `views.rs`) that run the same operations as the API (`ops.rs`), never HTTP to
//! itself. Usable without JavaScript; every response carries a strict Content-Security-Policy.
//!
//! Settings come from the environment, so the router needs nothing beyond the `App`:
//! - `STINT_PUBLIC_URL`: the page's address as people reach it (`https://stint.example.com`);
//!   without it the page answers only on loopback hosts, and builds its sign-in redirect from
//!   the request's `Host`;
//! - `STINT_SESSION_KEY`: base64 of at least 64 random bytes, the key sessions are encrypted
//!   with, the same on every replica; without it a key is made at start (sessions then end
//!   with the process and are not shared between replicas);
//! - `STINT_OIDC_CLIENT_SECRET`: for providers that want a confidential client at `/token`.

mod actions;
mod error;
mod oidc;
mod pages;
mod session;
mod slack;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use crate::app::App;
use crate::tokens::TokenVerifier;

pub use error::WebError;

/// Forms are a few hundred bytes.
const BODY_LIMIT: usize = 16 * 1024;

/// What every page handler shares.
pub struct Web {
    pub(crate) app: App,
    /// The same verifier the API checks people's bearer tokens with.
    verifier: Arc<TokenVerifier>,
    user_claim: String,
    client_id: String,
    client_secret: Option<String>,
    issuer: String,
    key: cookie::Key,
    /// `STINT_PUBLIC_URL`, without a trailing slash.
    public_url: Option<String>,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<oidc::Endpoints>,
    /// With `[slack]` in the catalog: the app's signing secret for button callbacks.
    slack: Option<crate::notify::SigningSecret>,
}

type WebState = Arc<Web>;

/// The page's routes, or `None` without `[people]` in the catalog.
pub fn router(app: &App) -> Option<Router> {
    let web = Arc::new(Web::from_env(app)?);
    let csp = HeaderValue::from_str(&content_security_policy(&web.issuer)).ok()?;
    let slack = web.slack.is_some();
    let mut router = Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(pages::sign_in))
        .route("/login", get(oidc::login))
        .route("/auth/callback", get(oidc::callback))
        .route("/logout", post(oidc::logout))
        .route("/access", get(pages::my_access))
        .route("/approvals", get(pages::approvals))
        .route("/requests", post(actions::ask))
        .route("/requests/{id}", get(pages::request))
        .route("/requests/{id}/approve", post(actions::approve))
        .route("/requests/{id}/deny", post(actions::deny))
        .route("/requests/{id}/withdraw", post(actions::withdraw))
        .route("/grants", get(pages::grants))
        .route("/transactions/{id}", get(pages::transaction))
        .route("/static/stint.css", get(stylesheet));
    if slack {
        // Signed by Slack, not posted from the page: no session, no CSRF token.
        router = router.route("/slack/actions", post(slack::actions));
    }
    let router = router
        .layer(axum::middleware::map_response(move |response: Response| {
            security_headers(response, csp.clone())
        }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(web);
    Some(router)
}

impl Web {
    fn from_env(app: &App) -> Option<Self> {
        let (verifier, user_claim) = app.people_verifier.clone()?;
        let people = app.ops.cases.catalog.people()?;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let key = match env("STINT_SESSION_KEY")
            .map(|k| base64::engine::general_purpose::STANDARD.decode(k.trim()))
        {
            Some(Ok(bytes)) if bytes.len() >= 64 => cookie::Key::try_from(bytes.as_slice()).ok()?,
            Some(_) => {
                tracing::error!(
                    "STINT_SESSION_KEY must be base64 of at least 64 bytes; the web page is off"
                );
                return None;
            }
            None => {
                tracing::warn!(
                    "no STINT_SESSION_KEY: web sessions use a key made now; they end when this server stops and are not shared with other replicas"
                );
                cookie::Key::generate()
            }
        };
        let public_url = env("STINT_PUBLIC_URL").map(|u| u.trim().trim_end_matches('/').to_owned());
        if let Some(url) = public_url.as_deref().filter(|u| !is_https_or_loopback(u)) {
            tracing::error!(
                "STINT_PUBLIC_URL {url} must be an https origin (or http on loopback), with no path: session cookies are Secure and the page's routes are at the root; the web page is off"
            );
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Some(Self {
            app: app.clone(),
            verifier,
            user_claim,
            client_id: people.client_id.clone(),
            client_secret: env("STINT_OIDC_CLIENT_SECRET"),
            issuer: people.issuer.clone(),
            key,
            public_url,
            http,
            endpoints: tokio::sync::OnceCell::new(),
            slack: app.ops.cases.catalog.slack().and_then(slack::load_secret),
        })
    }

    /// The page's own origin (`scheme://host[:port]`): the configured public URL, or else
    /// the request's `Host` when it is a loopback name (the sign-in redirect is built from
    /// it, so an arbitrary `Host` must not be trusted).
    fn origin(&self, headers: &HeaderMap) -> Result<String, WebError> {
        if let Some(url) = &self.public_url {
            return Ok(url.clone());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        };
        if matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            Ok(format!("http://{host}"))
        } else {
            Err(WebError::HostNotAllowed(host.to_owned()))
        }
    }

    /// Cookies are `Secure` unless the page is served over plain http on loopback.
    fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

fn is_https_or_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    // An origin only: the page's routes are at the root.
    let bare = parsed.path() == "/" && parsed.query().is_none() && parsed.fragment().is_none();
    bare && parsed.scheme() == "https"
        || (bare
            && parsed.scheme() == "http"
            && matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
}

/// Scripts: none. Styles and images: this origin. Forms: this origin and the identity
/// provider (the sign-in form's redirect goes there). Never framed.
fn content_security_policy(issuer: &str) -> String {
    let provider = reqwest::Url::parse(issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {provider}; frame-ancestors 'none'; base-uri 'none'"
    )
}

async fn security_headers(mut response: Response, csp: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin` keeps the `Origin` header on the page's own form posts (the CSRF check
    // reads it) and tells other sites nothing.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show who holds what: never kept by the browser or a proxy. Only the stylesheet
    // says otherwise.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        views::STYLESHEET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_an_https_origin_or_loopback() {
        assert!(is_https_or_loopback("https://stint.example.com"));
        assert!(is_https_or_loopback("http://127.0.0.1:8080"));
        assert!(!is_https_or_loopback("http://stint.example.com"));
        assert!(!is_https_or_loopback("https://example.com/stint"));
        assert!(!is_https_or_loopback("stint.example.com"));
    }

    #[test]
    fn the_policy_allows_forms_to_the_provider_only_and_no_scripts() {
        let csp = content_security_policy("https://login.example.com/tenant/v2.0");
        assert!(
            csp.contains("form-action 'self' https://login.example.com;"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
