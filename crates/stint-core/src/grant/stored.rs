//! A grant's stored form: the indexed head the ledger queries, and a versioned JSON body.
//! The body is schema 2 (`{"schema": 2, ...}`, the `Grant` shape); bodies written before
//! schema numbers existed (schema 1, one flat object) are read and upgraded here, so a
//! ledger written by any earlier stint stays readable. The public API has its own shape.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::ids::{AccountId, AccountName, Branch, Email, GroupType, RoleName, TransactionId};
use crate::record::{Body, State, StoredRecord};
use crate::subject::{Origin, PipelineClaims, Subject};
use crate::time_fmt::serde_rfc3339;

use super::model::{Failure, Grant, Kind, Links, Mechanism, Target, Terms};

/// The schema this stint writes.
pub const SCHEMA: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("stored record {id} is unreadable: {message}")]
    Unreadable { id: String, message: String },
    #[error("stored record {id} has schema {schema}; this stint reads schemas 1 to {SCHEMA}")]
    UnknownSchema { id: String, schema: u64 },
    #[error("stored record {id} is a {kind}, not a grant")]
    NotAGrant { id: String, kind: &'static str },
}

/// The stored form of `grant`.
pub fn encode(grant: &Grant) -> StoredRecord {
    let body = Body {
        schema: SCHEMA,
        record: grant,
    };
    StoredRecord {
        id: grant.id.clone(),
        kind: grant.kind.as_str(),
        status: grant.state.into(),
        version: grant.version,
        expires_at: grant.expires_at,
        updated_at: grant.updated_at,
        // A grant is strings, numbers and options: serializing it cannot fail.
        body: serde_json::to_string(&body).unwrap_or_default(),
    }
}

/// The grant a stored record holds, whatever schema wrote it.
pub fn decode(record: &StoredRecord) -> Result<Grant, StoredError> {
    if record.kind == "request" {
        return Err(StoredError::NotAGrant {
            id: record.id.to_string(),
            kind: record.kind,
        });
    }
    let unreadable = |e: serde_json::Error| StoredError::Unreadable {
        id: record.id.to_string(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&record.body).map_err(unreadable)?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        None => serde_json::from_value::<GrantV1>(value)
            .map(Grant::from)
            .map_err(unreadable),
        Some(SCHEMA) => serde_json::from_value::<Body<Grant>>(value)
            .map(|v| v.record)
            .map_err(unreadable),
        Some(schema) => Err(StoredError::UnknownSchema {
            id: record.id.to_string(),
            schema,
        }),
    }
}

/// Schema 1: the flat transaction body stint wrote before grants had a subject and a
/// mechanism. Read-only: nothing writes it any more.
#[derive(Deserialize)]
struct GrantV1 {
    id: TransactionId,
    kind: Kind,
    state: State,
    version: u64,
    account_id: AccountId,
    account_name: AccountName,
    group_type: GroupType,
    requester: Email,
    branch: Option<Branch>,
    role_name: RoleName,
    role_arn: Option<String>,
    ttl_seconds: u64,
    #[serde(with = "serde_rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339::option", default)]
    expires_at: Option<OffsetDateTime>,
    original_transaction_id: Option<TransactionId>,
    deprovisioning_transaction_id: Option<TransactionId>,
    failure: Option<Failure>,
    #[serde(default)]
    caller: Option<PipelineClaims>,
}

impl From<GrantV1> for Grant {
    fn from(v1: GrantV1) -> Self {
        let origin = match v1.caller {
            Some(claims) => Origin::Pipeline {
                claims: Box::new(claims),
            },
            None => Origin::Operator,
        };
        Grant {
            id: v1.id,
            kind: v1.kind,
            state: v1.state,
            version: v1.version,
            terms: Terms {
                subject: Subject {
                    requester: v1.requester,
                    origin,
                },
                target: Target {
                    account_id: v1.account_id,
                    account_name: v1.account_name,
                    persona: v1.group_type,
                },
                mechanism: Mechanism::Role {
                    name: v1.role_name,
                    arn: v1.role_arn,
                    managed_policies: Vec::new(),
                },
                branch: v1.branch,
                ttl_seconds: v1.ttl_seconds,
            },
            created_at: v1.created_at,
            updated_at: v1.updated_at,
            expires_at: v1.expires_at,
            links: Links {
                original: v1.original_transaction_id,
                deprovisioning: v1.deprovisioning_transaction_id,
                request: None,
            },
            failure: v1.failure,
        }
    }
}

#[cfg(test)]
mod tests;
