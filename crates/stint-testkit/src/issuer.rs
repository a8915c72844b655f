//! A GitHub Actions OIDC issuer on loopback, with the fixture RSA key, a discovery document and
//! a JWKS, that mints tokens shaped like GitHub's; its `/token` stands for a job's
//! `ACTIONS_ID_TOKEN_REQUEST_URL`. Plus the forgeries a verifier must refuse.
//!
//! It serves from a thread (and runtime) of its own, so it answers whatever runtime the caller
//! is on (or none), and takes no time from a runtime being measured; tokens are minted in the
//! caller's thread. Dropping the issuer stops its server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

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

        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/.well-known/jwks") });
        let jwks = json!({ "keys": [jwk.clone()] });
        let fetches = jwks_fetches.clone();
        let router = axum::Router::new()
            .route("/token", get(runner_token))
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
            .with_state(signer.clone());

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
    State(signer): State<Arc<Signer>>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("bearer {RUNNER_REQUEST_TOKEN}"));
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let token = signer.mint_with(|c| c["aud"] = json!(query.audience));
    Json(json!({ "value": token })).into_response()
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
