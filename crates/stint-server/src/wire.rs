//! The JSON stint speaks, over HTTP and on the CLI: the articles' field names exactly, plus
//! `expires_at` and `credentials`. This is the one place secrets are revealed, on purpose.

use serde::Serialize;
use serde_json::Value;
use stint_core::BrokerError;
use stint_core::catalog::Delivery;
use stint_core::deprovision::Deprovisioned;
use stint_core::provision::Provisioned;
use stint_core::time_fmt::rfc3339;
use stint_core::transaction::{Event, Transaction};

#[derive(Serialize)]
pub struct ProvisionResponse {
    pub transaction_id: String,
    pub iam_role_arn: String,
    pub role_name: String,
    pub role_ttl_hours: serde_json::Number,
    pub status: &'static str,
    pub expires_at: String,
    /// `broker`: credentials are here; `oidc`: the workflow assumes `iam_role_arn` itself.
    pub delivery: Delivery,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsBody>,
}

/// Credentials in the shape of `aws sts assume-role` output, field names in snake_case.
#[derive(Serialize)]
pub struct CredentialsBody {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

impl From<&Provisioned> for ProvisionResponse {
    fn from(p: &Provisioned) -> Self {
        Self {
            transaction_id: p.transaction_id.to_string(),
            iam_role_arn: p.role_arn.clone(),
            role_name: p.role_name.to_string(),
            role_ttl_hours: ttl_hours(p.ttl.as_secs()),
            status: "provisioned",
            expires_at: rfc3339(p.expires_at),
            delivery: p.delivery,
            credentials: p.credentials.as_ref().map(|c| CredentialsBody {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.expose().to_owned(),
                session_token: c.session_token.expose().to_owned(),
                expiration: rfc3339(c.expiration),
            }),
        }
    }
}

/// Whole hours as an integer (`24`), otherwise hours with two decimals (`1.5`).
fn ttl_hours(seconds: u64) -> serde_json::Number {
    if seconds.is_multiple_of(3600) {
        serde_json::Number::from(seconds / 3600)
    } else {
        let hours = (seconds as f64 / 36.0).round() / 100.0;
        serde_json::Number::from_f64(hours).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

#[derive(Serialize)]
pub struct DeprovisionResponse {
    pub deprovisioning_transaction_id: String,
    pub status: &'static str,
    pub original_transaction_id: String,
    pub already_deprovisioned: bool,
}

impl From<&Deprovisioned> for DeprovisionResponse {
    fn from(d: &Deprovisioned) -> Self {
        Self {
            deprovisioning_transaction_id: d.deprovisioning_transaction_id.to_string(),
            status: "deprovisioned",
            original_transaction_id: d.original_transaction_id.to_string(),
            already_deprovisioned: d.already_deprovisioned,
        }
    }
}

#[derive(Serialize)]
pub struct TransactionResponse<'a> {
    pub transaction: &'a Transaction,
    pub events: &'a [Event],
}

/// `{"status": "rejected"|"failed", "error": {"code", "message"}, "transaction_id"?}`.
pub fn error_body(error: &BrokerError) -> Value {
    let mut body = serde_json::json!({
        "status": if error.class().is_rejection() { "rejected" } else { "failed" },
        "error": { "code": error.code.as_str(), "message": error.message },
    });
    if let (Some(id), Some(map)) = (&error.transaction_id, body.as_object_mut()) {
        map.insert("transaction_id".to_owned(), Value::String(id.to_string()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::ttl_hours;

    #[test]
    fn ttl_hours_are_whole_when_they_can_be() {
        assert_eq!(ttl_hours(86400).to_string(), "24");
        assert_eq!(ttl_hours(5400).to_string(), "1.5");
        assert_eq!(ttl_hours(900).to_string(), "0.25");
    }
}
