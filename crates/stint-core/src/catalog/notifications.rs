//! `[notifications]`: where people are told of requests and grants. A Slack-compatible
//! incoming webhook (Slack, Mattermost, Rocket.Chat take the same `text` and `blocks`), and a
//! generic JSON webhook whose every body is signed with HMAC-SHA256 (the secret is read from
//! the environment variable or the file the catalog names, never from the catalog). `page_url` is where
//! the links in a notice point (`{page_url}/requests/{id}`).

use super::pipelines::validate_issuer;
use super::raw::RawNotifications;
use super::{CatalogError, err};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    pub slack_webhook_url: Option<String>,
    pub webhook_url: Option<String>,
    /// The environment variable holding the generic webhook's signing secret.
    pub webhook_secret_env: String,
    /// A file holding it instead (a mounted secret); read at start, trimmed.
    pub webhook_secret_file: Option<String>,
    pub page_url: Option<String>,
}

pub(super) fn validate_notifications(
    raw: RawNotifications,
) -> Result<NotificationSettings, CatalogError> {
    let url = |key: &str, value: Option<String>| {
        value
            .map(|v| validate_issuer(&format!("notifications.{key}"), &v))
            .transpose()
    };
    let settings = NotificationSettings {
        slack_webhook_url: url("slack_webhook_url", raw.slack_webhook_url)?,
        webhook_url: url("webhook_url", raw.webhook_url)?,
        webhook_secret_env: raw.webhook_secret_env,
        webhook_secret_file: raw.webhook_secret_file,
        page_url: url("page_url", raw.page_url)?,
    };
    if settings.slack_webhook_url.is_none() && settings.webhook_url.is_none() {
        return Err(err(
            "notifications",
            "names no channel: set slack_webhook_url, webhook_url or both",
        ));
    }
    let valid_env = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    if settings.webhook_secret_env.is_empty() || !settings.webhook_secret_env.chars().all(valid_env)
    {
        return Err(err(
            "notifications.webhook_secret_env",
            "must name an environment variable (A-Z, 0-9, _)",
        ));
    }
    Ok(settings)
}
