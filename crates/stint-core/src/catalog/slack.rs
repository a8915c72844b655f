//! `[slack]`: approving from chat. Slack signs every button callback with the app's signing
//! secret (read from the environment variable or the file named here, never from the
//! catalog), and names the Slack user who clicked; `users` maps that user to the person the
//! identity store knows, who is then held to the same rules as on the page.
//!
//! ```toml
//! [slack]
//! signing_secret_env = "STINT_SLACK_SIGNING_SECRET"   # the default
//! users = { U024BE7LH = "bob@example.com" }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{CatalogError, err};
use crate::ids::Email;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    #[serde(default = "default_secret_env")]
    signing_secret_env: String,
    /// A file holding the secret instead (a mounted secret), read at start.
    #[serde(default)]
    signing_secret_file: Option<String>,
    /// Slack user id → the person's email in the identity store.
    #[serde(default)]
    users: BTreeMap<String, String>,
}

fn default_secret_env() -> String {
    "STINT_SLACK_SIGNING_SECRET".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackSettings {
    /// The environment variable holding the app's signing secret.
    pub signing_secret_env: String,
    /// A file holding it instead; read at start, trimmed.
    pub signing_secret_file: Option<String>,
    users: BTreeMap<String, Email>,
}

impl SlackSettings {
    /// The directory user a Slack user is, if the catalog says.
    pub fn person(&self, slack_user: &str) -> Option<&Email> {
        self.users.get(slack_user)
    }
}

pub(super) fn validate_slack(raw: RawSlack) -> Result<SlackSettings, CatalogError> {
    let valid_env = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    if raw.signing_secret_env.is_empty() || !raw.signing_secret_env.chars().all(valid_env) {
        return Err(err(
            "slack.signing_secret_env",
            "must name an environment variable (A-Z, 0-9, _)",
        ));
    }
    let mut users = BTreeMap::new();
    for (id, email) in raw.users {
        let key = format!("slack.users.{id}");
        // Slack user ids: U… or W… (Enterprise Grid), upper-case letters and digits.
        let valid_id = id.len() >= 3
            && id.len() <= 32
            && (id.starts_with('U') || id.starts_with('W'))
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !valid_id {
            return Err(err(&key, "is not a Slack user id (U… or W…)"));
        }
        let email = Email::parse(&email).map_err(|e| err(&key, e.message))?;
        users.insert(id, email);
    }
    Ok(SlackSettings {
        signing_secret_env: raw.signing_secret_env,
        signing_secret_file: raw.signing_secret_file,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> RawSlack {
        toml::from_str(toml_text).expect("raw slack table")
    }

    #[test]
    fn users_map_slack_ids_to_directory_people() {
        let settings = validate_slack(raw(r#"users = { U024BE7LH = "bob@example.com" }"#)).unwrap();
        assert_eq!(
            settings.person("U024BE7LH").map(|e| e.to_string()),
            Some("bob@example.com".to_owned())
        );
        assert_eq!(settings.person("U999"), None);
        assert_eq!(settings.signing_secret_env, "STINT_SLACK_SIGNING_SECRET");
    }

    #[test]
    fn bad_ids_and_emails_name_their_key() {
        let error = validate_slack(raw(r#"users = { bob = "bob@example.com" }"#)).unwrap_err();
        assert_eq!(error.key, "slack.users.bob");
        let error = validate_slack(raw(r#"users = { U1234 = "not an email" }"#)).unwrap_err();
        assert_eq!(error.key, "slack.users.U1234");
        let error = validate_slack(raw(r#"signing_secret_env = "lower""#)).unwrap_err();
        assert_eq!(error.key, "slack.signing_secret_env");
    }
}
