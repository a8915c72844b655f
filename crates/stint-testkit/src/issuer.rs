//! A GitHub Actions OIDC issuer on loopback, with the fixture RSA key, a discovery document and
//! a JWKS, that mints tokens shaped like GitHub's; its `/token` stands for a job's
//! `ACTIONS_ID_TOKEN_REQUEST_URL`. Plus the forgeries a verifier must refuse.
//!
//! It is also the organisation's OpenID provider people sign in at: the authorization-code
//! flow with PKCE (`GET /authorize`, `POST /token`), as a real provider runs it, except that
//! nobody types a password: `/authorize` signs in the user its `login_hint` names, with the
//! `amr` of its `amr` parameter or of `TestIssuer::sign_in_with`.
//!
//! It serves from a thread (and runtime) of its own, so it answers whatever runtime the caller
//! is on (or none), and takes no time from a runtime being measured; tokens are minted in the
//! caller's thread. Dropping the issuer stops its server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Error;

pub const KID: &str = "test-key-1";
/// The audience the issuer's tokens carry by default (stint's).
pub const AUDIENCE: &str = "stint";
/// The GitHub user (`alice`) the tokens name by default.
pub const ACTOR_ID: u64 = 1001;
/// The repository (`acme/infra`) the tokens name by default.
pub const REPOSITORY_ID: u64 = 500;
/// The reusable workflow the default tokens ran through (`job_workflow_ref`).
pub const JIT_WORKFLOW: &str = "acme/stint/.github/workflows/jit.yml@refs/heads/main";
/// The job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN` that `/token` wants.
pub const RUNNER_REQUEST_TOKEN: &str = "runner-request-token";

const ISSUER_KEY: &[u8] = include_bytes!("../fixtures/issuer-key.pem");
const ISSUER_PUBLIC: &[u8] = include_bytes!("../fixtures/issuer-public.pem");
const ISSUER_JWK: &str = include_str!("../fixtures/issuer-jwk.json");
const ATTACKER_KEY: &[u8] = include_bytes!("../fixtures/attacker-key.pem");

pub struct TestIssuer {
    pub url: String,
    /// The public key as the JWKS publishes it (with `KID`).
    pub jwk: Value,
    /// How many times the JWKS was fetched.
    pub jwks_fetches: Arc<AtomicUsize>,
    signer: Arc<Signer>,
    /// The sign-ins under way, shared with `/authorize` and `/token`.
    provider: Arc<Provider>,
    /// Dropped with the issuer: its server's thread then ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// What minting needs, shared with the server's `/token`.
struct Signer {
    url: String,
    key: EncodingKey,
    header: Header,
}

/// The issuer's clock, in Unix seconds.
// The issuer stands for GitHub, which has its own clock, not stint's.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// How long an authorization code may wait for its exchange.
const CODE_LIFETIME: i64 = 60;
/// How long the ID tokens of `/token` (authorization code) last.
const ID_TOKEN_LIFETIME: i64 = 3600;

/// What the server's routes share: the signer, the codes `/authorize` gave out and not yet
/// exchanged, and how the next user signs in.
struct Provider {
    signer: Arc<Signer>,
    /// By code; a code is removed at its first exchange, whether that succeeds or not.
    codes: Mutex<HashMap<String, Authorization>>,
    /// The `amr` of a sign-in whose `/authorize` names none.
    amr: Mutex<Vec<String>>,
}

/// A sign-in `/authorize` made, waiting for its code to be exchanged.
struct Authorization {
    client_id: String,
    redirect_uri: String,
    /// BASE64URL(SHA256(code_verifier)).
    code_challenge: String,
    nonce: Option<String>,
    email: String,
    amr: Vec<String>,
    /// When the user signed in (and the code was issued), Unix seconds.
    auth_time: i64,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    audience: String,
}

impl TestIssuer {
    /// Starts the issuer on a loopback port, on a thread of its own.
    pub fn start() -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(Error::listen("binding the test issuer"))?;
        listener
            .set_nonblocking(true)
            .map_err(Error::listen("setting up the test issuer's listener"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::listen("reading the test issuer's port"))?;
        let url = format!("http://{addr}");
        let mut jwk: Value = serde_json::from_str(ISSUER_JWK).map_err(Error::fixture("JWK"))?;
        jwk["kid"] = json!(KID);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        let signer = Arc::new(Signer {
            url: url.clone(),
            key: EncodingKey::from_rsa_pem(ISSUER_KEY).map_err(Error::fixture("private key"))?,
            header,
        });
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let provider = Arc::new(Provider {
            signer: signer.clone(),
            codes: Mutex::new(HashMap::new()),
            amr: Mutex::new(vec!["pwd".to_owned()]),
        });

        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/.well-known/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email"],
            "token_endpoint_auth_methods_supported": ["none"],
        });
        let jwks = json!({ "keys": [jwk.clone()] });
        let fetches = jwks_fetches.clone();
        let router = axum::Router::new()
            .route("/token", get(runner_token).post(code_token))
            .route("/authorize", get(authorize))
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/.well-known/jwks",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Json(jwks)
                }),
            )
            .with_state(provider.clone());

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::listen("building the test issuer's runtime"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("test-issuer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        // The sender is dropped with the issuer.
                        _ = stopped => {}
                    }
                });
            })
            .map_err(Error::listen("starting the test issuer's thread"))?;
        Ok(Self {
            url,
            jwk,
            jwks_fetches,
            signer,
            provider,
            _stop: stop,
        })
    }

    /// Claims as GitHub sends them for a push to main of acme/infra (id 500) by alice (1001),
    /// run through the central reusable workflow, with a fresh `jti`.
    pub fn claims(&self) -> Value {
        self.signer.claims()
    }

    /// A token for `claims`, signed by the issuer.
    pub fn mint(&self, claims: &Value) -> String {
        self.signer.mint(claims)
    }

    /// A valid token for the default claims changed by `change`.
    pub fn mint_with(&self, change: impl FnOnce(&mut Value)) -> String {
        self.signer.mint_with(change)
    }

    /// The `amr` of the sign-ins that follow, where `/authorize` names none (`["pwd"]` until
    /// this is called).
    pub fn sign_in_with(&self, amr: &[&str]) {
        if let Ok(mut current) = self.provider.amr.lock() {
            *current = amr.iter().map(|m| (*m).to_owned()).collect();
        }
    }

    /// The RSA modulus size in bits.
    pub fn key_bits(&self) -> usize {
        self.jwk["n"]
            .as_str()
            .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
            .map_or(0, |n| n.len() * 8)
    }
}

impl Signer {
    fn claims(&self) -> Value {
        let iat = now();
        json!({
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "repo:acme/infra:ref:refs/heads/main",
            "iat": iat,
            "nbf": iat - 600,
            "exp": iat + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "actor": "alice",
            "actor_id": ACTOR_ID.to_string(),
            "repository": "acme/infra",
            "repository_id": REPOSITORY_ID.to_string(),
            "repository_owner": "acme",
            "repository_owner_id": "77",
            "repository_visibility": "private",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "ref_protected": "true",
            "sha": "a1b2c3d4e5f6",
            "event_name": "push",
            "workflow": "deploy",
            "workflow_ref": "acme/infra/.github/workflows/deploy.yml@refs/heads/main",
            "job_workflow_ref": JIT_WORKFLOW,
            "job_workflow_sha": "f6e5d4c3b2a1",
            "run_id": "9001",
            "run_number": "17",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        })
    }

    fn mint(&self, claims: &Value) -> String {
        // The key is the checked-in fixture, loaded at start: signing cannot fail.
        jsonwebtoken::encode(&self.header, claims, &self.key).expect("the fixture key signs")
    }

    fn mint_with(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        change(&mut claims);
        self.mint(&claims)
    }
}

/// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`: a token for the asked audience, to the holder of
/// the job's request token only.
async fn runner_token(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("bearer {RUNNER_REQUEST_TOKEN}"));
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let token = provider
        .signer
        .mint_with(|c| c["aud"] = json!(query.audience));
    Json(json!({ "value": token })).into_response()
}

/// The authorization endpoint. With no UI, the sign-in is the `login_hint`'s, with the `amr`
/// parameter's methods (space- or comma-separated) or `sign_in_with`'s. Refuses outright
/// (400) a request without a client or a loopback `redirect_uri` (there is no registration
/// to check one against, and an open redirector is what a provider must not be); any other
/// fault goes back to the client as `?error=` with its `state`, as RFC 6749 §4.1.2.1 says.
async fn authorize(
    State(provider): State<Arc<Provider>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let Some(redirect) = param("redirect_uri")
        .and_then(|r| reqwest::Url::parse(&r).ok())
        .filter(is_loopback)
    else {
        return oauth_error(
            "invalid_request",
            "redirect_uri must be an http loopback URL",
        );
    };
    let Some(client_id) = param("client_id") else {
        return oauth_error("invalid_request", "client_id is missing");
    };
    let state = param("state");
    let back = |pairs: &[(&str, &str)]| {
        let mut location = redirect.clone();
        {
            let mut query = location.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = &state {
                query.append_pair("state", state);
            }
        }
        (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, location.to_string())],
        )
            .into_response()
    };
    if param("response_type").as_deref() != Some("code") {
        return back(&[("error", "unsupported_response_type")]);
    }
    let challenge = param("code_challenge");
    let Some(code_challenge) =
        challenge.filter(|_| param("code_challenge_method").as_deref() == Some("S256"))
    else {
        return back(&[
            ("error", "invalid_request"),
            (
                "error_description",
                "PKCE with code_challenge_method=S256 is required",
            ),
        ]);
    };
    let Some(email) = param("login_hint") else {
        return back(&[
            ("error", "login_required"),
            (
                "error_description",
                "the test provider signs in the login_hint's user",
            ),
        ]);
    };
    let amr = match param("amr") {
        Some(methods) => methods
            .split([' ', ','])
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        None => provider.amr.lock().map(|a| a.clone()).unwrap_or_default(),
    };
    let code = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let authorization = Authorization {
        client_id,
        redirect_uri: redirect.to_string(),
        code_challenge,
        nonce: param("nonce"),
        email,
        amr,
        auth_time: now(),
    };
    if let Ok(mut codes) = provider.codes.lock() {
        codes.insert(code.clone(), authorization);
    }
    back(&[("code", &code)])
}

/// An http URL on 127.0.0.1, ::1 or localhost (RFC 8252 §7.3: any port).
fn is_loopback(url: &reqwest::Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
}

/// The token endpoint for the authorization code grant (a form body): the code exists, is
/// exchanged once (it is gone after its first try, right or wrong), within `CODE_LIFETIME`,
/// by the client it was given to, for the same `redirect_uri`, with the verifier whose S256
/// is the challenge. Anything else is a 400 `invalid_grant` (or `invalid_request`).
async fn code_token(State(provider): State<Arc<Provider>>, body: String) -> Response {
    let form: HashMap<String, String> = form_pairs(&body);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return oauth_error(
            "unsupported_grant_type",
            "only authorization_code is served",
        );
    }
    let taken = provider
        .codes
        .lock()
        .ok()
        .and_then(|mut codes| codes.remove(field("code")));
    let Some(granted) = taken else {
        return oauth_error("invalid_grant", "the code is unknown or was used already");
    };
    if now() - granted.auth_time > CODE_LIFETIME {
        return oauth_error("invalid_grant", "the code has expired");
    }
    if field("client_id") != granted.client_id {
        return oauth_error("invalid_grant", "the code was issued to another client");
    }
    if field("redirect_uri") != granted.redirect_uri {
        return oauth_error("invalid_grant", "redirect_uri is not the authorization's");
    }
    if pkce_challenge(field("code_verifier")) != granted.code_challenge {
        return oauth_error(
            "invalid_grant",
            "code_verifier does not match code_challenge",
        );
    }
    let iat = now();
    let mut claims = json!({
        "iss": provider.signer.url,
        "aud": granted.client_id,
        "sub": format!("sub-{}", granted.email),
        "email": granted.email,
        "email_verified": true,
        "iat": iat,
        "exp": iat + ID_TOKEN_LIFETIME,
        "auth_time": granted.auth_time,
        "amr": granted.amr,
    });
    if let Some(nonce) = granted.nonce {
        claims["nonce"] = json!(nonce);
    }
    let id_token = provider.signer.mint(&claims);
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": uuid::Uuid::new_v4().simple().to_string(),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_LIFETIME,
            "scope": "openid email",
            "id_token": id_token,
        })),
    )
        .into_response()
}

/// BASE64URL(SHA256(verifier)), RFC 7636's S256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An `application/x-www-form-urlencoded` body as name → value (the last of a repeated name).
fn form_pairs(body: &str) -> HashMap<String, String> {
    let Ok(mut url) = reqwest::Url::parse("http://form.invalid/") else {
        return HashMap::new();
    };
    url.set_query(Some(body));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

pub fn sign(claims: &Value, kid: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("the fixture key signs")
}

fn issuer_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(ISSUER_KEY).expect("the fixture private key")
}

/// Signed by another key under the issuer's kid.
pub fn forged(claims: &Value) -> String {
    sign(
        claims,
        KID,
        &EncodingKey::from_rsa_pem(ATTACKER_KEY).expect("the fixture attacker key"),
        Algorithm::RS256,
    )
}

/// `alg: none`, no signature.
pub fn unsigned(claims: &Value) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "kid": KID, "typ": "JWT" }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// HS256 keyed with the issuer's public key: the classic algorithm-confusion forgery.
pub fn hs256_with_public_key(claims: &Value) -> String {
    sign(
        claims,
        KID,
        &EncodingKey::from_secret(ISSUER_PUBLIC),
        Algorithm::HS256,
    )
}

/// Signed by the issuer's key but naming a kid the JWKS does not have.
pub fn unknown_kid(claims: &Value) -> String {
    sign(claims, "test-key-9", &issuer_key(), Algorithm::RS256)
}

/// Signed, but with no kid in the header.
pub fn without_kid(claims: &Value) -> String {
    let header = Header::new(Algorithm::RS256);
    jsonwebtoken::encode(&header, claims, &issuer_key()).expect("the fixture key signs")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "stint-cli";
    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

    fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs alice in as `/authorize` does; the redirect's query as name → value.
    async fn sign_in(issuer: &TestIssuer, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut url = reqwest::Url::parse(&format!("{}/authorize", issuer.url)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", "st&te 1")
            .append_pair("nonce", "n-1")
            .append_pair("code_challenge", &pkce_challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", "alice@example.com");
        for (name, value) in extra {
            url.query_pairs_mut().append_pair(name, value);
        }
        let response = browser().get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let location = reqwest::Url::parse(location).unwrap();
        location.query_pairs().into_owned().collect()
    }

    /// Exchanges `code` at `/token`: the status and the JSON answer.
    async fn exchange(issuer: &TestIssuer, code: &str, verifier: &str) -> (u16, Value) {
        let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
        form.query_pairs_mut()
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("client_id", CLIENT)
            .append_pair("code_verifier", verifier);
        let response = browser()
            .post(format!("{}/token", issuer.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap().to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    fn payload(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_code_with_its_verifier_gets_an_id_token_for_the_signed_in_user() {
        let issuer = TestIssuer::start().unwrap();
        issuer.sign_in_with(&["pwd", "mfa"]);
        let redirect = sign_in(&issuer, &[]).await;
        assert_eq!(redirect["state"], "st&te 1");
        let (status, answer) = exchange(&issuer, &redirect["code"], VERIFIER).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["token_type"], "Bearer");
        let claims = payload(answer["id_token"].as_str().unwrap());
        assert_eq!(claims["iss"], json!(issuer.url));
        assert_eq!(claims["aud"], CLIENT);
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["sub"], "sub-alice@example.com");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
        assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

        // The amr parameter overrides the setter's, for one sign-in.
        let redirect = sign_in(&issuer, &[("amr", "pwd hwk")]).await;
        let (_, answer) = exchange(&issuer, &redirect["code"], VERIFIER).await;
        let claims = payload(answer["id_token"].as_str().unwrap());
        assert_eq!(claims["amr"], json!(["pwd", "hwk"]));
    }

    #[tokio::test]
    async fn a_wrong_verifier_is_refused_and_burns_the_code() {
        let issuer = TestIssuer::start().unwrap();
        let redirect = sign_in(&issuer, &[]).await;
        let wrong = "another-verifier-of-at-least-forty-three-characters-00000";
        let (status, answer) = exchange(&issuer, &redirect["code"], wrong).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(answer.get("id_token").is_none());
        let (status, answer) = exchange(&issuer, &redirect["code"], VERIFIER).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once() {
        let issuer = TestIssuer::start().unwrap();
        let redirect = sign_in(&issuer, &[]).await;
        let (status, _) = exchange(&issuer, &redirect["code"], VERIFIER).await;
        assert_eq!(status, 200);
        let (status, answer) = exchange(&issuer, &redirect["code"], VERIFIER).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, answer) = exchange(&issuer, "no-such-code", VERIFIER).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }

    #[tokio::test]
    async fn authorize_redirects_only_to_loopback_and_wants_pkce() {
        let issuer = TestIssuer::start().unwrap();
        let elsewhere = format!(
            "{}/authorize?response_type=code&client_id=c&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge=x&code_challenge_method=S256&login_hint=a%40example.com",
            issuer.url
        );
        let response = browser().get(elsewhere).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let plain = format!(
            "{}/authorize?response_type=code&client_id=c&redirect_uri={}&state=s&code_challenge=x&code_challenge_method=plain&login_hint=a%40example.com",
            issuer.url, "http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
        );
        let response = browser().get(plain).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.contains("error=invalid_request"), "{location}");
        assert!(location.contains("state=s"), "{location}");
        assert!(!location.contains("code="), "{location}");
    }

    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
