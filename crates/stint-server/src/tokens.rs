//! Verifies OIDC tokens, so stint trusts only what the issuer signs: GitHub Actions tokens of
//! pipelines, and people's ID tokens from the organisation's identity provider.
//!
//! RS256 only, decided here and never by the token's header (`none` and HS* are refused, which
//! stops the "HS256 signed with the public key" trick); keys come from the issuer's JWKS, cached,
//! refetched when an unknown `kid` shows up but at most once per `REFETCH_INTERVAL`; `iss` and
//! `aud` must match exactly; `exp`, `nbf` and `iat` allow `SKEW` of clock difference and the
//! token may be at most `max_token_age` old; each `jti` is accepted once (the ledger remembers it
//! until the token expires). Every refusal has its own error code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use stint_core::catalog::OidcSettings;
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::ids::Email;
use stint_core::ports::{Clock, Ledger};
use stint_core::subject::{PersonClaims, PipelineClaims};
use time::OffsetDateTime;
use tokio::sync::{Mutex, RwLock};

/// Clock difference tolerated between GitHub and stint.
pub const SKEW: i64 = 60;
/// The least time between two JWKS fetches: an unknown `kid` cannot make stint hammer GitHub.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// A token whose signature and claims check out.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: PipelineClaims,
    pub jti: String,
    /// When the token (plus skew) expires: until then its `jti` is remembered.
    pub expires: OffsetDateTime,
}

pub struct TokenVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ledger: Arc<dyn Ledger>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

/// The registered claims, checked here; the rest become `PipelineClaims`.
#[derive(Deserialize)]
struct Registered {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> BrokerError {
    BrokerError::new(code, message)
}

impl TokenVerifier {
    pub fn new(settings: OidcSettings, clock: Arc<dyn Clock>, ledger: Arc<dyn Ledger>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            http,
            clock,
            ledger,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        }
    }

    /// The exact `iss` this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The claims of a valid, unused token.
    pub async fn verify(&self, token: &str) -> Result<PipelineClaims, BrokerError> {
        let verified = self.check(token).await?;
        self.consume(&verified).await?;
        Ok(verified.claims)
    }

    /// Everything but the one-time use: signature, issuer, audience, times, claims.
    async fn check(&self, token: &str) -> Result<VerifiedToken, BrokerError> {
        let (claims, registered, expires) = self.checked(token).await?;
        let jti = registered
            .jti
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse(ErrorCode::MalformedToken, "token has no jti"))?;
        let claims = serde_json::from_value(claims).map_err(|e| {
            refuse(
                ErrorCode::MalformedToken,
                format!("token lacks GitHub Actions claims: {e}"),
            )
        })?;
        Ok(VerifiedToken {
            claims,
            jti,
            expires,
        })
    }

    /// A person's ID token from the organisation's identity provider: signature, issuer,
    /// audience (the client id) and times as strictly as a pipeline's, then who (`user_claim`,
    /// their email in the identity store) and how they signed in (`amr`, `acr`, `auth_time`).
    /// Not one-time: a person's sign-in carries several calls.
    pub async fn verify_person(
        &self,
        token: &str,
        user_claim: &str,
    ) -> Result<PersonClaims, BrokerError> {
        let (claims, _, _) = self.checked(token).await?;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let email = text(user_claim)
            .ok_or_else(|| {
                refuse(
                    ErrorCode::MalformedToken,
                    format!("the ID token has no {user_claim} claim to name the user"),
                )
            })
            .and_then(|value| Email::parse(&value))?;
        let subject = text("sub")
            .ok_or_else(|| refuse(ErrorCode::MalformedToken, "the ID token has no sub"))?;
        let amr = match claims.get("amr") {
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let auth_time = claims
            .get("auth_time")
            .and_then(serde_json::Value::as_i64)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        Ok(PersonClaims {
            email,
            subject,
            amr,
            acr: text("acr"),
            auth_time,
        })
    }

    /// Signature, issuer, audience and times: the payload, its registered claims, and when
    /// the token (plus skew) expires.
    async fn checked(
        &self,
        token: &str,
    ) -> Result<(serde_json::Value, Registered, OffsetDateTime), BrokerError> {
        let claims = self.verify_signed(token).await?;
        let registered: Registered = serde_json::from_value(claims.clone()).map_err(|e| {
            refuse(
                ErrorCode::MalformedToken,
                format!("token claims are malformed: {e}"),
            )
        })?;
        let expires = self.check_claims(&registered)?;
        Ok((claims, registered, expires))
    }

    /// Records the token's one use; a second use is a replay.
    async fn consume(&self, token: &VerifiedToken) -> Result<(), BrokerError> {
        let first_use = self
            .ledger
            .use_token(&token.jti, token.expires, self.clock.now())
            .await
            .map_err(|e| {
                refuse(
                    ErrorCode::LedgerError,
                    "the token ledger could not be written",
                )
                .with_cause(e)
            })?;
        if first_use {
            Ok(())
        } else {
            Err(refuse(
                ErrorCode::TokenReplayed,
                format!("token {} was already used", token.jti),
            ))
        }
    }

    /// Checks the header and the signature; returns the payload.
    async fn verify_signed(&self, token: &str) -> Result<serde_json::Value, BrokerError> {
        let malformed = || refuse(ErrorCode::MalformedToken, "the bearer token is not a JWT");
        let encoded_header = token.split('.').next().ok_or_else(malformed)?;
        if token.split('.').count() != 3 {
            return Err(malformed());
        }
        let header: Header = URL_SAFE_NO_PAD
            .decode(encoded_header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(malformed)?;
        match header.alg.as_deref() {
            Some("RS256") => {}
            other => {
                return Err(refuse(
                    ErrorCode::UnsupportedAlgorithm,
                    format!("token algorithm {} is not RS256", other.unwrap_or("(none)")),
                ));
            }
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or_else(|| refuse(ErrorCode::MissingKeyId, "token header has no kid"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Times, issuer and audience are checked by `check_claims`, each with its own code.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        match jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => Err(
                refuse(ErrorCode::BadSignature, "token signature does not verify"),
            ),
            Err(e) => Err(refuse(
                ErrorCode::MalformedToken,
                format!("token could not be decoded: {e}"),
            )),
        }
    }

    /// Issuer, audience and times. Returns the expiry, for remembering the `jti`.
    fn check_claims(&self, claims: &Registered) -> Result<OffsetDateTime, BrokerError> {
        if claims.iss.as_deref() != Some(self.settings.issuer.as_str()) {
            return Err(refuse(
                ErrorCode::WrongIssuer,
                format!(
                    "token issuer {:?} is not {}",
                    claims.iss, self.settings.issuer
                ),
            ));
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(aud)) => *aud == self.settings.audience,
            Some(Audience::Many(auds)) => auds.contains(&self.settings.audience),
            None => false,
        };
        if !audience_ok {
            return Err(refuse(
                ErrorCode::WrongAudience,
                format!("token is not for audience {}", self.settings.audience),
            ));
        }
        let now = self.clock.now().unix_timestamp();
        let exp = claims
            .exp
            .ok_or_else(|| refuse(ErrorCode::MalformedToken, "token has no exp"))?;
        let iat = claims
            .iat
            .ok_or_else(|| refuse(ErrorCode::MalformedToken, "token has no iat"))?;
        if now > exp + SKEW {
            return Err(refuse(ErrorCode::TokenExpired, "token has expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + SKEW) || iat > now + SKEW {
            return Err(refuse(
                ErrorCode::TokenNotYetValid,
                "token is not valid yet",
            ));
        }
        let max_age = i64::try_from(self.settings.max_token_age.as_secs()).unwrap_or(i64::MAX);
        if now - iat > max_age {
            return Err(refuse(
                ErrorCode::TokenTooOld,
                format!(
                    "token was issued {} s ago; at most {max_age} s is accepted",
                    now - iat
                ),
            ));
        }
        OffsetDateTime::from_unix_timestamp(exp + SKEW)
            .map_err(|_| refuse(ErrorCode::MalformedToken, "token exp is out of range"))
    }

    /// The key for `kid`, fetching the JWKS when it is unknown (rate-limited).
    async fn key(&self, kid: &str) -> Result<DecodingKey, BrokerError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        {
            let mut last = self.last_fetch.lock().await;
            // Another request may have fetched while this one waited.
            if let Some(key) = self.keys.read().await.get(kid) {
                return Ok(key.clone());
            }
            if last.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL) {
                *last = Some(Instant::now());
                let fetched = self.fetch_keys().await?;
                *self.keys.write().await = fetched;
            }
        }
        self.keys.read().await.get(kid).cloned().ok_or_else(|| {
            refuse(
                ErrorCode::UnknownKeyId,
                format!("no key {kid} in the issuer's JWKS"),
            )
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, reqwest::Error> {
        self.http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, BrokerError> {
        let unavailable = |e: reqwest::Error| {
            refuse(
                ErrorCode::IssuerUnavailable,
                "the token issuer's keys could not be fetched",
            )
            .with_cause(e)
        };
        let discovery_url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let discovery: Discovery = self.get_json(&discovery_url).await.map_err(unavailable)?;
        let jwks: Jwks = self
            .get_json(&discovery.jwks_uri)
            .await
            .map_err(unavailable)?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .filter_map(|k| {
                let key =
                    DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                Some((k.kid?, key))
            })
            .collect();
        Ok(keys)
    }
}

/// A JWT's claims, unverified: only for choosing a verifier, or for a client checking that a
/// token answers its own request (the broker verifies the signature).
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
