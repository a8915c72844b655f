//! A GitHub Actions OIDC issuer on loopback for the benchmark: discovery document and JWKS
//! from the test fixtures' key, served from a thread (and runtime) of its own so it takes no
//! time from the runtime being measured; tokens are minted in the caller's thread.

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use stint_core::ports::Clock as _;
use stint_server::clock::SystemClock;

use anyhow::{Context as _, anyhow};

pub const KID: &str = "bench-key-1";
pub const AUDIENCE: &str = "stint";
/// The GitHub user the catalog maps to alice@example.com.
pub const ACTOR_ID: u64 = 1001;
/// The repository the catalog's pipeline rule admits.
pub const REPOSITORY_ID: u64 = 500;
const ISSUER_KEY: &[u8] = include_bytes!("../../tests/it/fixtures/issuer-key.pem");
const ISSUER_JWK: &str = include_str!("../../tests/it/fixtures/issuer-jwk.json");

pub struct Issuer {
    pub url: String,
    /// The public key as published (with our kid).
    pub jwk: Value,
    key: EncodingKey,
    header: Header,
}

impl Issuer {
    pub fn start() -> anyhow::Result<Self> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the test issuer")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let mut jwk: Value = serde_json::from_str(ISSUER_JWK).context("the fixture JWK")?;
        jwk["kid"] = json!(KID);
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
        let jwks = json!({ "keys": [jwk.clone()] });
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route("/jwks", get(move || async move { Json(jwks) }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the issuer's runtime")?;
        std::thread::Builder::new()
            .name("bench-issuer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(listener, router).await;
                    }
                });
            })
            .context("starting the issuer's thread")?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        Ok(Self {
            url,
            jwk,
            key: EncodingKey::from_rsa_pem(ISSUER_KEY).context("the fixture private key")?,
            header,
        })
    }

    /// The RSA modulus size in bits.
    pub fn key_bits(&self) -> usize {
        self.jwk["n"]
            .as_str()
            .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
            .map_or(0, |n| n.len() * 8)
    }

    /// Claims shaped like GitHub's for a push to main of acme/infra (id 500) by alice (1001),
    /// with a fresh `jti`.
    pub fn claims(&self) -> Value {
        let iat = SystemClock.now().unix_timestamp();
        json!({
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "repo:acme/infra:ref:refs/heads/main",
            "iat": iat,
            "nbf": iat - 5,
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
            "job_workflow_ref": "acme/stint/.github/workflows/jit.yml@refs/heads/main",
            "job_workflow_sha": "f6e5d4c3b2a1",
            "run_id": "9001",
            "run_number": "17",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        })
    }

    /// A fresh RS256 token signed with the issuer's key.
    pub fn mint(&self) -> anyhow::Result<String> {
        jsonwebtoken::encode(&self.header, &self.claims(), &self.key)
            .map_err(|e| anyhow!("minting a token: {e}"))
    }

    /// The catalog text that turns on authentication against this issuer for `base`'s nonprod
    /// Product-Deployers.
    pub fn catalog_addition(&self) -> String {
        format!(
            r#"
# Added by scripts/bench: authenticate callers with tokens from the benchmark's issuer.
[oidc]
issuer = "{url}"
audience = "{AUDIENCE}"

[[identities]]
github_actor_id = {ACTOR_ID}
email = "alice@example.com"

[[pipelines]]
repository_ids = [{REPOSITORY_ID}]
environments = ["nonprod"]
personas = ["Product-Deployers"]
"#,
            url = self.url
        )
    }
}
