//! A GitHub Actions OIDC issuer on loopback, with its own RSA keys, discovery document and
//! JWKS, that mints tokens shaped like GitHub's; plus the forgeries the verifier must refuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const KID: &str = "test-key-1";
/// The job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN` in tests.
pub const RUNNER_REQUEST_TOKEN: &str = "runner-request-token";

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    audience: String,
}
const ISSUER_KEY: &[u8] = include_bytes!("fixtures/issuer-key.pem");
const ISSUER_PUBLIC: &[u8] = include_bytes!("fixtures/issuer-public.pem");
const ISSUER_JWK: &str = include_str!("fixtures/issuer-jwk.json");
const ATTACKER_KEY: &[u8] = include_bytes!("fixtures/attacker-key.pem");

pub struct TestIssuer {
    pub url: String,
    /// How many times the JWKS was fetched.
    pub jwks_fetches: Arc<AtomicUsize>,
}

#[allow(clippy::disallowed_methods)] // the test issuer stands for GitHub, which has its own clock
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestIssuer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let mut jwk: Value = serde_json::from_str(ISSUER_JWK).unwrap();
        jwk["kid"] = json!(KID);
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/.well-known/jwks") });
        let fetches = jwks_fetches.clone();
        let token_url = url.clone();
        let router = axum::Router::new()
            .route(
                "/token",
                get(
                    move |headers: axum::http::HeaderMap,
                          query: axum::extract::Query<TokenQuery>| {
                        let issuer = TestIssuer {
                            url: token_url.clone(),
                            jwks_fetches: Arc::default(),
                        };
                        async move { issuer.runner_token(&headers, &query.audience) }
                    },
                ),
            )
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/.well-known/jwks",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Json(json!({ "keys": [jwk] }))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, jwks_fetches }
    }

    /// Claims as GitHub sends them for a push to main of acme/infra (id 500) by alice (1001),
    /// run through the central reusable workflow.
    pub fn claims(&self) -> Value {
        let iat = now();
        json!({
            "iss": self.url,
            "aud": "stint",
            "sub": "repo:acme/infra:ref:refs/heads/main",
            "iat": iat,
            "nbf": iat - 600,
            "exp": iat + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "actor": "alice",
            "actor_id": "1001",
            "repository": "acme/infra",
            "repository_id": "500",
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
            "job_workflow_ref": crate::harness::JIT_WORKFLOW,
            "job_workflow_sha": "f6e5d4c3b2a1",
            "run_id": "9001",
            "run_number": "17",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        })
    }

    /// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`: a token for the asked audience, to the holder of
    /// the job's request token only.
    fn runner_token(
        &self,
        headers: &axum::http::HeaderMap,
        audience: &str,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("bearer {RUNNER_REQUEST_TOKEN}"));
        if !authorized {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        let token = self.mint_with(|c| c["aud"] = json!(audience));
        Json(json!({ "value": token })).into_response()
    }

    /// A token for `claims`, signed by the issuer.
    pub fn mint(&self, claims: &Value) -> String {
        sign(
            claims,
            KID,
            &EncodingKey::from_rsa_pem(ISSUER_KEY).unwrap(),
            Algorithm::RS256,
        )
    }

    /// A valid token for the default claims changed by `change`.
    pub fn mint_with(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        change(&mut claims);
        self.mint(&claims)
    }
}

pub fn sign(claims: &Value, kid: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Signed by another key under the issuer's kid.
pub fn forged(claims: &Value) -> String {
    sign(
        claims,
        KID,
        &EncodingKey::from_rsa_pem(ATTACKER_KEY).unwrap(),
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
    sign(
        claims,
        "test-key-9",
        &EncodingKey::from_rsa_pem(ISSUER_KEY).unwrap(),
        Algorithm::RS256,
    )
}

/// Signed, but with no kid in the header.
pub fn without_kid(claims: &Value) -> String {
    let header = Header::new(Algorithm::RS256);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(ISSUER_KEY).unwrap(),
    )
    .unwrap()
}
