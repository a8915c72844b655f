//! The session: the person's ID token and a CSRF token, in a cookie encrypted and
//! authenticated with the server's key (AES-256-GCM, the cookie's name bound in), `HttpOnly`,
//! `SameSite=Lax`, `Secure` unless the page is plain http on loopback. Nothing is stored on
//! the server, so a session works on every replica and on Lambda.
//!
//! Every request verifies the ID token again with the verifier the API uses for bearer
//! tokens (issuer, audience, signature, expiry, `max_token_age`), so a session lasts as long
//! as its token would be accepted as a bearer, and the rules about `amr`, `acr` and
//! `auth_time` see exactly what the provider said at sign-in.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use stint_core::grant::Caller;
use stint_core::subject::PersonClaims;

use super::{Web, WebError, WebState};

/// The cookie of a sign-in under way (state, nonce, PKCE verifier), for ten minutes.
pub const LOGIN_COOKIE: &str = "stint_login";
pub const LOGIN_LIFETIME_SECS: i64 = 600;
/// The most a session cookie is kept; the token's own expiry usually ends it sooner.
pub const SESSION_LIFETIME_SECS: i64 = 12 * 3600;

#[derive(Serialize, Deserialize)]
pub struct Session {
    /// The ID token, as the provider issued it.
    pub token: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

/// A person with a valid session.
pub struct SignedIn {
    pub caller: Caller,
    pub csrf: String,
}

impl SignedIn {
    pub fn person(&self) -> Option<&PersonClaims> {
        self.caller.person()
    }

    pub fn email(&self) -> String {
        self.person()
            .map(|p| p.email.to_string())
            .unwrap_or_default()
    }
}

impl Web {
    /// `__Host-` pins the cookie to this origin, path `/`, over https only.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-stint_session"
        } else {
            "stint_session"
        }
    }

    /// `Set-Cookie` for `value`, encrypted, kept `max_age` seconds.
    pub fn seal(&self, name: &str, value: String, max_age: i64) -> Option<HeaderValue> {
        let cookie = Cookie::build((name.to_owned(), value))
            .http_only(true)
            .secure(self.secure_cookies())
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age))
            .build();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        let sealed = jar.get(name)?;
        HeaderValue::from_str(&sealed.to_string()).ok()
    }

    /// `Set-Cookie` that removes `name`.
    pub fn clear(&self, name: &str) -> HeaderValue {
        let secure = if self.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("stint_session=; Max-Age=0; Path=/"))
    }

    /// The decrypted value of cookie `name`, if it is there and was sealed with this key.
    pub fn open(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for cookie in Cookie::split_parse(text.to_owned()).flatten() {
                if cookie.name() == name {
                    jar.add_original(cookie.into_owned());
                }
            }
        }
        jar.private(&self.key)
            .get(name)
            .map(|c| c.value().to_owned())
    }

    /// The person signed in on this request, if their session is valid now.
    pub async fn signed_in(&self, headers: &HeaderMap) -> Option<SignedIn> {
        let session: Session =
            serde_json::from_str(&self.open(headers, self.session_cookie())?).ok()?;
        match self
            .verifier
            .verify_person(&session.token, &self.user_claim)
            .await
        {
            Ok(person) => Some(SignedIn {
                caller: Caller::Person(Box::new(person)),
                csrf: session.csrf,
            }),
            Err(error) => {
                tracing::debug!(code = %error.code, "web session ended: {}", error.message);
                None
            }
        }
    }

    /// A form post is the page's own: sent from this origin (`Origin`, or `Referer` where a
    /// browser sends no `Origin`), with this session's CSRF token.
    pub fn check_post(
        &self,
        headers: &HeaderMap,
        me: &SignedIn,
        csrf: Option<&str>,
    ) -> Result<(), WebError> {
        let origin = self.origin(headers)?;
        let header_text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let sent = match (header_text(header::ORIGIN), header_text(header::REFERER)) {
            (Some(sent), _) => sent.to_owned(),
            (None, Some(referer)) => reqwest::Url::parse(referer)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        if sent != origin {
            return Err(WebError::Origin(if sent.is_empty() {
                "no Origin header".to_owned()
            } else {
                format!("Origin {sent}")
            }));
        }
        match csrf {
            Some(token) if same(token.as_bytes(), me.csrf.as_bytes()) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }
}

/// A page that needs a session sends the browser to sign in, and back here after.
impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &WebState) -> Result<Self, Response> {
        match web.signed_in(&parts.headers).await {
            Some(me) => Ok(me),
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let next = if parts.method == axum::http::Method::GET {
                    here
                } else {
                    "/access"
                };
                Err(Redirect::to(&local_url("/signin", &[("next", next)])).into_response())
            }
        }
    }
}

/// Equal, in time that depends only on the lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A path on this site with a query, each value encoded.
pub fn local_url(path: &str, pairs: &[(&str, &str)]) -> String {
    let Ok(mut url) = reqwest::Url::parse("http://page.invalid/") else {
        return path.to_owned();
    };
    url.set_path(path);
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Where to go after signing in: a path on this site only (`//host` and `/\host` would leave
/// it), else My access.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/access".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/requests/1?x=y")), "/requests/1?x=y");
        assert_eq!(safe_next(Some("//evil.example/")), "/access");
        assert_eq!(safe_next(Some("/\\evil.example/")), "/access");
        assert_eq!(safe_next(Some("https://evil.example/")), "/access");
        assert_eq!(safe_next(None), "/access");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn local_urls_encode_their_values() {
        assert_eq!(
            local_url("/signin", &[("next", "/requests/1?a=b&c")]),
            "/signin?next=%2Frequests%2F1%3Fa%3Db%26c"
        );
        assert_eq!(local_url("/access", &[]), "/access");
    }
}
