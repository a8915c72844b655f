//! The JSON stint speaks, over HTTP, in Lambda events and on the CLI: the pipeline
//! contract's field names exactly, plus `expires_at` and `credentials`. The public shapes are
//! kept apart from the ledger's stored ones; this is the one place secrets are revealed, on
//! purpose.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stint_core::BrokerError;
use stint_core::catalog::Delivery;
use stint_core::grant::{Deprovisioned, Failure, Grant, Kind};
use stint_core::pipeline::{DeprovisionAsk, ProvisionAsk, Provisioned};
use stint_core::record::{Event, State};
use stint_core::subject::PipelineClaims;
use stint_core::time_fmt::rfc3339;

/// The provisioning input, field names exactly as the pipeline contract has them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionInput {
    pub email: Option<String>,
    pub branch: Option<String>,
    pub target_aws_account: Option<String>,
    pub target_aws_account_id: Option<String>,
    /// Defaults to the catalog's `default_group_type` (`Product-Deployers`).
    pub group_type: Option<String>,
}

impl ProvisionInput {
    pub fn ask(&self) -> ProvisionAsk<'_> {
        ProvisionAsk {
            email: self.email.as_deref(),
            branch: self.branch.as_deref(),
            target_aws_account: self.target_aws_account.as_deref(),
            target_aws_account_id: self.target_aws_account_id.as_deref(),
            group_type: self.group_type.as_deref(),
        }
    }
}

/// The deprovisioning input, field names exactly as the pipeline contract has them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionInput {
    pub transaction_id: Option<String>,
    pub target_aws_account: Option<String>,
    pub role_arn: Option<String>,
}

impl DeprovisionInput {
    pub fn ask(&self) -> DeprovisionAsk<'_> {
        DeprovisionAsk {
            transaction_id: self.transaction_id.as_deref(),
            target_aws_account: self.target_aws_account.as_deref(),
            role_arn: self.role_arn.as_deref(),
        }
    }
}

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

/// A transaction as `GET /v1/transactions/{id}` shows it: one flat object, as it always was,
/// whatever shape the ledger stores.
#[derive(Serialize)]
pub struct TransactionView {
    pub id: String,
    pub kind: Kind,
    pub state: State,
    pub version: u64,
    pub account_id: String,
    pub account_name: String,
    pub group_type: String,
    pub requester: String,
    pub branch: Option<String>,
    pub role_name: String,
    pub role_arn: Option<String>,
    pub ttl_seconds: u64,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    pub original_transaction_id: Option<String>,
    pub deprovisioning_transaction_id: Option<String>,
    pub failure: Option<Failure>,
    pub caller: Option<PipelineClaims>,
}

impl From<&Grant> for TransactionView {
    fn from(g: &Grant) -> Self {
        let terms = &g.terms;
        Self {
            id: g.id.to_string(),
            kind: g.kind,
            state: g.state,
            version: g.version,
            account_id: terms.target.account_id.to_string(),
            account_name: terms.target.account_name.to_string(),
            group_type: terms.target.persona.to_string(),
            requester: terms.subject.requester.to_string(),
            branch: terms.branch.as_ref().map(ToString::to_string),
            role_name: g.role_name().to_string(),
            role_arn: g.role_arn().map(str::to_owned),
            ttl_seconds: terms.ttl_seconds,
            created_at: rfc3339(g.created_at),
            updated_at: rfc3339(g.updated_at),
            expires_at: g.expires_at.map(rfc3339),
            original_transaction_id: g.links.original.as_ref().map(ToString::to_string),
            deprovisioning_transaction_id: g.links.deprovisioning.as_ref().map(ToString::to_string),
            failure: g.failure.clone(),
            caller: terms.subject.pipeline().cloned(),
        }
    }
}

#[derive(Serialize)]
pub struct TransactionResponse {
    pub transaction: TransactionView,
    pub events: Vec<Event>,
}

/// `{"status": "rejected"|"failed", "error": {"code", "message"}, "transaction_id"?}`.
pub fn error_body(error: &BrokerError) -> Value {
    let mut body = serde_json::json!({
        "status": if error.class().is_rejection() { "rejected" } else { "failed" },
        "error": { "code": error.code.as_str(), "message": error.message },
    });
    if let (Some(id), Some(map)) = (&error.transaction_id, body.as_object_mut()) {
        map.insert("transaction_id".to_owned(), Value::String(id.clone()));
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
