//! The envelope of every refusal and failure:
//! `{"status": "rejected"|"failed", "error": {"code", "message"}, "transaction_id"?}`.
//! `rejected` when the caller is at fault (4xx), `failed` when AWS or stint is (5xx).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `rejected` or `failed`.
    pub status: String,
    pub error: ErrorDetail,
    /// The transaction the error was recorded under, when one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`unknown_persona`); callers match on it.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}
