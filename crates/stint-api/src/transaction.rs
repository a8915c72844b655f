//! `GET /v1/transactions/{id}`: a transaction and its events, as the API shows them: one flat
//! object per transaction, as it always was, whatever shape the ledger stores. Every field is
//! always present (`null` when empty), so the JSON is the same byte for byte as the broker has
//! always answered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionResponse {
    pub transaction: TransactionView,
    /// In the order they happened.
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionView {
    pub id: String,
    /// `provision`, `deprovision` or `orphan`.
    pub kind: String,
    /// `processing`, `provisioned`, `deprovisioning`, `deprovisioned`, `rejected` or `failed`.
    pub state: String,
    pub version: u64,
    pub account_id: String,
    pub account_name: String,
    pub group_type: String,
    /// Who the grant is for.
    pub requester: String,
    pub branch: Option<String>,
    pub role_name: String,
    pub role_arn: Option<String>,
    pub ttl_seconds: u64,
    /// RFC 3339, as are the other times.
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    /// On a deprovisioning record: the provisioning transaction it ends.
    pub original_transaction_id: Option<String>,
    /// On a provisioning record: the deprovisioning transaction that ended (or is ending) it.
    pub deprovisioning_transaction_id: Option<String>,
    /// Why it ended `rejected` or `failed`.
    pub failure: Option<FailureView>,
    /// The verified pipeline that asked, when a pipeline asked.
    #[serde(default)]
    pub caller: Option<CallerView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureView {
    pub code: String,
    pub message: String,
}

/// The claims of the GitHub Actions OIDC token the broker verified and recorded. GitHub sends
/// ids as strings, and so are they here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerView {
    pub sub: String,
    pub actor: String,
    pub actor_id: String,
    pub repository: String,
    pub repository_id: String,
    pub repository_owner: String,
    pub repository_owner_id: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub ref_protected: Option<String>,
    pub sha: String,
    pub event_name: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub workflow: String,
    pub job_workflow_ref: String,
    pub run_id: String,
    pub run_attempt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    /// Position in the ledger's chain, from 1.
    pub seq: u64,
    pub transaction_id: String,
    /// The transaction's version this event produced.
    pub version: u64,
    /// RFC 3339.
    pub at: String,
    pub actor: String,
    /// What happened: `requested`, `authorized`, `role_created`, `provisioned`, …
    pub action: String,
    /// The transaction's state after this event.
    pub state: String,
    pub reason: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}
