//! What the broker answers to a provisioning, a deprovisioning (or revoke) and a health check.
//! Every part of the credentials in a provisioning answer is a `Secret`, the access key id too:
//! AWS does not count it secret, but a job masks it in its log like the rest, so it is kept out
//! of Debug as well.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Secret;

/// `POST /v1/provision`: the pipeline contract's outputs, plus `expires_at`, `delivery` and,
/// with `broker` delivery, `credentials`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionResponse {
    pub transaction_id: String,
    pub iam_role_arn: String,
    pub role_name: String,
    /// Whole hours as an integer (`24`), otherwise hours with two decimals (`1.5`).
    pub role_ttl_hours: serde_json::Number,
    /// Always `provisioned`.
    pub status: String,
    /// RFC 3339, as the broker wrote it.
    pub expires_at: String,
    /// `broker`: credentials are here; `oidc`: the workflow assumes `iam_role_arn` itself.
    pub delivery: Delivery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsBody>,
}

/// Credentials in the shape of `aws sts assume-role` output, field names in snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsBody {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// RFC 3339, as the broker wrote it.
    pub expiration: String,
}

/// How a pipeline gets credentials for its temporary role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Broker,
    Oidc,
    /// A way a newer broker delivers that this client does not know. The rest of the answer
    /// still reads, so the client can give the grant back rather than leave it behind.
    #[serde(untagged)]
    Other(String),
}

impl Delivery {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Broker => "broker",
            Self::Oidc => "oidc",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/deprovision` and `POST /v1/transactions/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprovisionResponse {
    pub deprovisioning_transaction_id: String,
    /// Always `deprovisioned`.
    pub status: String,
    pub original_transaction_id: String,
    /// True when an earlier request had already deprovisioned this grant.
    pub already_deprovisioned: bool,
}

/// `POST /v1/job/deprovision`: every grant of the calling job, given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDeprovisionResponse {
    /// Always `deprovisioned`.
    pub status: String,
    /// The job, as `repository_id/run_id/run_attempt/job`.
    pub run: String,
    /// Each grant the job held, now ended (or ended before: `already_deprovisioned`).
    pub deprovisioned: Vec<DeprovisionResponse>,
    /// Grants still being provisioned or deprovisioned: the reaper ends them if nobody does.
    pub in_progress: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"transaction_id":"0191d1c4-8f3a-7000-8000-000000000000","iam_role_arn":"arn:aws:iam::222222222222:role/stint/stint-0191d1c4-8f3a-7000-8000-000000000000","role_name":"stint-0191d1c4-8f3a-7000-8000-000000000000","role_ttl_hours":1.5,"status":"provisioned","expires_at":"2026-11-22T12:00:00Z","delivery":"broker","credentials":{"access_key_id":"ASIAKEYIDEXAMPLE","secret_access_key":"wJalrXUtnFEMI-very-secret","session_token":"FwoGZXIvYXdzE-token","expiration":"2026-11-22T11:00:00Z"}}"#;

    #[test]
    fn credentials_never_print_in_debug_or_display() {
        let answer: ProvisionResponse = serde_json::from_str(ANSWER).unwrap();
        let credentials = answer.credentials.as_ref().unwrap();
        let shown = format!(
            "{answer:?} {answer:#?} {} {} {}",
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        );
        for value in [
            "ASIAKEYIDEXAMPLE",
            "wJalrXUtnFEMI-very-secret",
            "FwoGZXIvYXdzE-token",
        ] {
            assert!(!shown.contains(value), "{value} printed: {shown}");
        }
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(shown.contains("stint-0191d1c4"), "{shown}");
    }

    #[test]
    fn a_provisioning_answer_reads_and_writes_back_the_same_json() {
        let answer: ProvisionResponse = serde_json::from_str(ANSWER).unwrap();
        assert_eq!(answer.delivery, Delivery::Broker);
        let credentials = answer.credentials.as_ref().unwrap();
        assert_eq!(credentials.session_token.expose(), "FwoGZXIvYXdzE-token");
        assert_eq!(serde_json::to_string(&answer).unwrap(), ANSWER);

        let oidc = ProvisionResponse {
            delivery: Delivery::Oidc,
            credentials: None,
            ..answer
        };
        let text = serde_json::to_string(&oidc).unwrap();
        assert!(text.ends_with(r#""delivery":"oidc"}"#), "{text}");
    }

    #[test]
    fn an_unknown_delivery_is_still_read() {
        let text = ANSWER.replace(r#""delivery":"broker""#, r#""delivery":"sso""#);
        let answer: ProvisionResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(answer.delivery, Delivery::Other("sso".into()));
        assert_eq!(answer.delivery.to_string(), "sso");
        assert_eq!(serde_json::to_string(&answer).unwrap(), text);
    }
}
