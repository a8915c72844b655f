//! The notice channels of `[notifications]`, as the core's `Notifier`: a Slack-compatible
//! incoming webhook (a `text` fallback and Block Kit `blocks` with a link to the request), and
//! a generic JSON webhook, every body signed with HMAC-SHA256 over `v1:{timestamp}:{body}`
//! (`Stint-Signature: v1=<hex>`, `Stint-Timestamp`), so a receiver can check that stint sent
//! it and refuse a replay. Both carry the notice id (`Stint-Notice-Id`): delivery is at least
//! once.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use stint_core::catalog::NotificationSettings;
use stint_core::notice::Notice;
use stint_core::ports::{Clock, Notifier, PortError};

/// A shared HMAC secret, read from a file or the environment at start: the generic
/// webhook's, and the Slack app's (`web/slack.rs`).
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

pub struct WebhookNotifier {
    http: reqwest::Client,
    slack_url: Option<String>,
    webhook: Option<(String, SigningSecret)>,
    page_url: Option<String>,
    clock: Arc<dyn Clock>,
    /// Approve and Deny buttons on request-created messages (with `[slack]` in the catalog,
    /// whose callbacks `web/slack.rs` takes).
    buttons: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "[notifications] webhook_url needs its signing secret in the {0}, which is unset or empty; put a long random string there that the receiver also knows"
)]
pub struct MissingSecret(pub String);

impl WebhookNotifier {
    /// The channels `settings` names; the generic webhook's secret from its environment
    /// variable (refused when missing or empty).
    pub fn from_settings(
        settings: &NotificationSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MissingSecret> {
        let webhook = match &settings.webhook_url {
            Some(url) => {
                let file = settings.webhook_secret_file.as_deref();
                let secret = SigningSecret::read(file, &settings.webhook_secret_env)
                    .map_err(MissingSecret)?;
                Some((url.clone(), secret))
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Ok(Self {
            http,
            slack_url: settings.slack_webhook_url.clone(),
            webhook,
            page_url: settings.page_url.clone(),
            clock,
            buttons: false,
        })
    }

    /// Puts Approve and Deny buttons on request-created Slack messages.
    pub fn with_buttons(mut self, on: bool) -> Self {
        self.buttons = on;
        self
    }

    fn link(&self, notice: &Notice) -> Option<String> {
        let page = self.page_url.as_ref()?;
        let id = notice.about.request_id.as_ref()?;
        Some(format!("{page}/requests/{id}"))
    }

    async fn post(
        &self,
        url: &str,
        body: String,
        headers: &[(&str, String)],
    ) -> Result<(), PortError> {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let context = "posting a notice";
        let response = request
            .send()
            .await
            .map_err(|e| PortError::new(context, format!("{}: {e}", redact_url(url))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(PortError::new(
            context,
            format!("{} answered {status}", redact_url(url)),
        ))
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn deliver(&self, notice: &Notice) -> Result<(), PortError> {
        let link = self.link(notice);
        let id_header = ("stint-notice-id", notice.id.to_string());
        if let Some(url) = &self.slack_url {
            let mut message = slack_message(notice, link.as_deref());
            if self.buttons {
                add_decision_buttons(&mut message, notice);
            }
            let body = message.to_string();
            self.post(url, body, std::slice::from_ref(&id_header))
                .await?;
        }
        if let Some((url, secret)) = &self.webhook {
            let body = webhook_body(notice, link.as_deref()).to_string();
            let timestamp = self.clock.now().unix_timestamp().to_string();
            let signature = sign(secret, &timestamp, &body);
            let headers = [
                id_header.clone(),
                ("stint-timestamp", timestamp),
                ("stint-signature", format!("v1={signature}")),
            ];
            self.post(url, body, &headers).await?;
        }
        Ok(())
    }
}

/// HMAC-SHA256 over `v1:{timestamp}:{body}`, hex.
pub fn sign(secret: &SigningSecret, timestamp: &str, body: &str) -> String {
    secret.signature("v1", timestamp, body.as_bytes())
}

impl SigningSecret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(secret.into())
    }

    /// The secret in `file` if named, else in the environment variable `env`, trimmed; an
    /// error names where it was looked for when it is missing or empty.
    pub fn read(file: Option<&str>, env: &str) -> Result<Self, String> {
        let (found, place) = match file {
            Some(path) => (std::fs::read_to_string(path).ok(), format!("file {path}")),
            None => (
                std::env::var(env).ok(),
                format!("environment variable {env}"),
            ),
        };
        found
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(|s| Self(s.into_bytes()))
            .ok_or(place)
    }

    /// Hex HMAC-SHA256 over `{version}:{timestamp}:{body}` (stint's `v1`, Slack's `v0`).
    pub fn signature(&self, version: &str, timestamp: &str, body: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(format!("{version}:{timestamp}:").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A webhook URL carries its own secret (Slack's path is one): logs name only its host.
fn redact_url(url: &str) -> String {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("the webhook");
    format!("webhook at {host}")
}

/// Slack's incoming-webhook message: `text` for notifications and old clients, `blocks` for
/// the message itself.
fn slack_message(notice: &Notice, link: Option<&str>) -> Value {
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": escape_mrkdwn(&notice.text) }
    })];
    let about = &notice.about;
    let mut context = format!(
        "{} · {} ({}) · {}",
        about.persona,
        about.account_name,
        about.account_id,
        notice.kind.as_str()
    );
    if !about.approver_groups.is_empty() {
        context.push_str(&format!(
            " · approvers: {}",
            about.approver_groups.join(", ")
        ));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": escape_mrkdwn(&context) }]
    }));
    if let Some(link) = link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": "Open the request" },
                "url": link
            }]
        }));
    }
    json!({ "text": notice.text, "blocks": blocks })
}

/// Approve and Deny (Block Kit buttons whose value is the request id) on a request that waits
/// for approvers; Slack posts the click to `/slack/actions`.
fn add_decision_buttons(message: &mut Value, notice: &Notice) {
    let (stint_core::notice::NoticeKind::RequestCreated, Some(id)) =
        (notice.kind, &notice.about.request_id)
    else {
        return;
    };
    let Some(blocks) = message["blocks"].as_array_mut() else {
        return;
    };
    let button = |action: &str, label: &str, style: &str| {
        json!({
            "type": "button", "action_id": action, "value": id.to_string(), "style": style,
            "text": { "type": "plain_text", "text": label },
        })
    };
    blocks.push(json!({
        "type": "actions",
        "block_id": format!("stint-decide-{id}"),
        "elements": [
            button("stint_approve", "Approve", "primary"),
            button("stint_deny", "Deny", "danger"),
        ]
    }));
}

/// The generic webhook's body: the notice as stint holds it, and the link.
fn webhook_body(notice: &Notice, link: Option<&str>) -> Value {
    json!({
        "id": notice.id,
        "kind": notice.kind.as_str(),
        "text": notice.text,
        "about": notice.about,
        "created_at": stint_core::time_fmt::rfc3339(notice.created_at),
        "link": link,
    })
}

/// What a person typed (a reason) must not become a mention or a link in Slack.
fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::{SigningSecret, escape_mrkdwn, redact_url, sign};

    #[test]
    fn the_signature_is_hmac_sha256_over_version_timestamp_and_body() {
        // Python: hmac.new(b"key", b"v1:1700000000:{}", hashlib.sha256).hexdigest()
        let secret = SigningSecret::new("key");
        assert_eq!(
            sign(&secret, "1700000000", "{}"),
            "584e59c409146d134b9c5f3551be5110dcd1cf3262710509ae10c5cc17a991cb"
        );
        assert_ne!(
            sign(&secret, "1700000001", "{}"),
            sign(&secret, "1700000000", "{}")
        );
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }

    #[test]
    fn a_webhook_without_its_secret_is_refused_at_start() {
        let settings = stint_core::catalog::NotificationSettings {
            slack_webhook_url: None,
            webhook_url: Some("https://hooks.example.com/stint".into()),
            webhook_secret_env: "STINT_TEST_NO_SUCH_VARIABLE".into(),
            webhook_secret_file: None,
            page_url: None,
        };
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        let error = super::WebhookNotifier::from_settings(&settings, clock.clone())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("STINT_TEST_NO_SUCH_VARIABLE"), "{error}");
        let settings = stint_core::catalog::NotificationSettings {
            webhook_secret_file: Some("/nonexistent/stint-secret".into()),
            ..settings
        };
        let error = super::WebhookNotifier::from_settings(&settings, clock)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/stint-secret"), "{error}");
    }

    #[test]
    fn typed_text_cannot_mention_or_link_in_slack() {
        assert_eq!(
            escape_mrkdwn("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T/B/secret"),
            "webhook at hooks.slack.com"
        );
    }
}
