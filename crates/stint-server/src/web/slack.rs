//! Approving from Slack: the Approve and Deny buttons of a request-created message post here
//! (`POST /slack/actions`, the Slack app's interactivity URL). Each callback must carry
//! Slack's signature (`X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")`)
//! over a timestamp within five minutes, and is taken once (its signature is remembered in the
//! ledger's one-time store, as token ids are). The Slack user is mapped to a directory person
//! through the catalog's `[slack] users`, and the same operation as the page's runs as that
//! person, under the same rules. Slack vouches for who clicked but not for how they signed in,
//! so a persona that wants a fresh MFA-backed sign-in is refused by those rules, and the
//! answer is a link to the request's page instead.
//!
//! With a `response_url` (Slack's), the click is acknowledged at once and the outcome posted
//! there (an approval may wait on Identity Center longer than Slack's three seconds);
//! without one, the outcome is the answer's body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use stint_api::{ApproveInput, DenyInput};
use stint_core::catalog::SlackSettings;
use stint_core::error::ErrorCode;
use stint_core::grant::Caller;
use stint_core::ids::Email;
use stint_core::subject::PersonClaims;

use super::{Web, WebState};
use crate::notify::SigningSecret;

/// How far a callback's timestamp may be from now (Slack's own advice).
const WINDOW_SECS: i64 = 300;

/// The Slack app's signing secret from the file or environment variable `[slack]` names;
/// `None` (logged) when unset: then every callback is refused.
pub fn load_secret(settings: &SlackSettings) -> Option<SigningSecret> {
    let file = settings.signing_secret_file.as_deref();
    match SigningSecret::read(file, &settings.signing_secret_env) {
        Ok(secret) => Some(secret),
        Err(place) => {
            tracing::error!(
                "[slack] is in the catalog but its signing secret ({place}) is unset or empty: Slack buttons are refused"
            );
            None
        }
    }
}

/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`: Slack's request signature.
pub fn slack_signature(secret: &SigningSecret, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", secret.signature("v0", timestamp, body))
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<SlackAction>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Deserialize)]
struct SlackAction {
    action_id: String,
    #[serde(default)]
    value: String,
}

pub async fn actions(State(web): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(secret), Some(settings)) = (&web.slack, web.app.ops.cases.catalog.slack()) else {
        return refuse(StatusCode::NOT_FOUND, "slack_not_configured");
    };
    if let Err((status, code)) = web.check_callback(secret, &headers, &body).await {
        return refuse(status, code);
    }
    let Some(payload) = payload_of(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "malformed_payload");
    };
    let Some(action) = payload
        .actions
        .first()
        .filter(|_| payload.kind == "block_actions")
    else {
        return refuse(StatusCode::BAD_REQUEST, "not_a_button");
    };
    let Some(email) = settings.person(&payload.user.id).cloned() else {
        tracing::info!(slack_user = %payload.user.id, "slack: an unmapped user clicked");
        return message(&format!(
            "Your Slack user ({}) is not in stint's catalog ([slack] users); use the page instead.",
            payload.user.id
        ));
    };
    let decision = Decision {
        approve: action.action_id == "stint_approve",
        request_id: action.value.clone(),
        caller: slack_person(email, &payload.user.id),
    };
    if action.action_id != "stint_approve" && action.action_id != "stint_deny" {
        return refuse(StatusCode::BAD_REQUEST, "unknown_action");
    }
    match payload.response_url.filter(|u| reachable(u)) {
        Some(url) => {
            let web = web.clone();
            tokio::spawn(async move {
                let text = web.decide(&decision).await;
                let body = json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
                if let Err(error) = web.http.post(&url).json(&body).send().await {
                    tracing::warn!("slack: posting the outcome failed: {error}");
                }
            });
            StatusCode::OK.into_response()
        }
        None => message(&web.decide(&decision).await),
    }
}

/// A Slack user's click, to be run as the directory person they are.
struct Decision {
    approve: bool,
    request_id: String,
    caller: Caller,
}

impl Web {
    /// Signed with the app's secret, within the window, and not seen before.
    async fn check_callback(
        &self,
        secret: &SigningSecret,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), (StatusCode, &'static str)> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let unsigned = (StatusCode::UNAUTHORIZED, "bad_signature");
        let timestamp = text("x-slack-request-timestamp").ok_or(unsigned)?;
        let signature = text("x-slack-signature").ok_or(unsigned)?;
        let at: i64 = timestamp.parse().map_err(|_| unsigned)?;
        let now = self.app.ops.cases.journal.now();
        // abs_diff: a timestamp far in the past or future must not overflow.
        if now.unix_timestamp().abs_diff(at) > WINDOW_SECS.unsigned_abs() {
            return Err((StatusCode::UNAUTHORIZED, "stale_timestamp"));
        }
        let expected = slack_signature(secret, timestamp, body);
        if !super::session::same(expected.as_bytes(), signature.as_bytes()) {
            return Err(unsigned);
        }
        // Once: a replay within the window carries the same signature.
        let until = time::OffsetDateTime::from_unix_timestamp(at + 2 * WINDOW_SECS)
            .map_err(|_| unsigned)?;
        let first = self
            .app
            .ops
            .cases
            .journal
            .ledger
            .use_token(&format!("slack:{signature}"), until, now)
            .await
            .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "ledger_error"))?;
        if first {
            Ok(())
        } else {
            Err((StatusCode::CONFLICT, "callback_replayed"))
        }
    }

    /// Runs the click and says how it went, in a sentence for Slack.
    async fn decide(&self, decision: &Decision) -> String {
        let ops = &self.app.ops;
        let id = &decision.request_id;
        let result = if decision.approve {
            ops.approve(id, &ApproveInput::default(), &decision.caller)
                .await
        } else {
            let input = DenyInput {
                reason: Some("denied from Slack".to_owned()),
            };
            ops.deny(id, &input, &decision.caller).await
        };
        let page = self.page_link(id);
        match result {
            Ok(answer) => format!(
                "Request {} for {} on {} is now {}. {page}",
                answer.request.id,
                answer.request.persona,
                answer.request.account_name,
                answer.request.state
            ),
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::MfaRequired | ErrorCode::ReauthenticationRequired
                ) =>
            {
                format!(
                    "This request needs a fresh, MFA-backed sign-in to approve: open {page} and approve it there."
                )
            }
            Err(error) => format!("Refused ({}): {}", error.code, error.message),
        }
    }

    /// The request's page: the public URL, else the notices' `page_url`, else the path.
    fn page_link(&self, id: &str) -> String {
        let base = self.public_url.clone().or_else(|| {
            self.app
                .ops
                .cases
                .catalog
                .notifications()
                .and_then(|n| n.page_url.clone())
        });
        format!(
            "{}/requests/{id}",
            base.unwrap_or_default().trim_end_matches('/')
        )
    }
}

/// The person Slack says clicked. Slack tells nothing of how they signed in: no `amr`, no
/// `acr`, no `auth_time`, so every sign-in rule that asks for one refuses.
fn slack_person(email: Email, slack_user: &str) -> Caller {
    Caller::Person(Box::new(PersonClaims {
        email,
        subject: format!("slack:{slack_user}"),
        amr: Vec::new(),
        acr: None,
        auth_time: None,
    }))
}

/// The `payload` field of the form body, as JSON.
fn payload_of(body: &[u8]) -> Option<Payload> {
    let text = std::str::from_utf8(body).ok()?;
    let mut form = reqwest::Url::parse("http://form.invalid/").ok()?;
    form.set_query(Some(text));
    let payload = form.query_pairs().find(|(name, _)| name == "payload")?.1;
    serde_json::from_str(&payload).ok()
}

/// Slack's `response_url`s are https; http only to loopback (a test's receiver).
fn reachable(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "https"
            || (u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost")))
    })
}

fn message(text: &str) -> Response {
    axum::Json(json!({ "response_type": "ephemeral", "replace_original": false, "text": text }))
        .into_response()
}

fn refuse(status: StatusCode, code: &str) -> Response {
    tracing::info!(code, "slack callback refused");
    (status, axum::Json(json!({ "error": code }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_slacks_v0() {
        // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
        let secret = SigningSecret::new(b"8f742231b10e8888abcd99yyyzzz85a5".to_vec());
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            slack_signature(&secret, "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }

    #[test]
    fn only_https_or_loopback_answers() {
        assert!(reachable("https://hooks.slack.com/actions/T/1/x"));
        assert!(reachable("http://127.0.0.1:9/x"));
        assert!(!reachable("http://169.254.169.254/latest"));
        assert!(!reachable("file:///etc/passwd"));
    }
}
