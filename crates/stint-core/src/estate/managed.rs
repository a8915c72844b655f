//! What stint manages of the estate, as the ledger records it: one record per catalog
//! (company and org), whose body names every permission set (with its ARN and the accounts it
//! was provisioned to) and every target role stint made. A resource enters the record before
//! the AWS call that makes it and leaves it after the call that deletes it, so a crash between
//! the two never leaves stint's own resource looking foreign. Each apply step is an event on
//! this record, so every change is in the ledger's hash chain.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::RoleKey;
use crate::ids::{AccountId, TransactionId};
use crate::record::{Body, Status, StoredRecord};
use crate::time_fmt::serde_rfc3339;

/// The schema of a stored estate body.
pub const SCHEMA: u64 = 1;
/// The record kind.
pub const KIND: &str = "estate";

/// A permission set stint manages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedSet {
    /// `None` between the record of the intent and Identity Center's answer.
    pub arn: Option<String>,
    /// The accounts it has been provisioned to (the emulator's own listing of them is not
    /// reliable, and provisioning is what `apply` did).
    pub accounts: BTreeSet<AccountId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub id: TransactionId,
    pub version: u64,
    pub permission_sets: BTreeMap<String, ManagedSet>,
    pub roles: BTreeSet<RoleKey>,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Managed {
    /// The record's id for a catalog, the same for everyone who computes it.
    pub fn id_for(company: &str, org: &str) -> TransactionId {
        TransactionId::derived(&json!(["estate", company, org]))
    }

    /// Nothing managed yet (version 0: not stored).
    pub fn empty(id: TransactionId, at: OffsetDateTime) -> Self {
        Self {
            id,
            version: 0,
            permission_sets: BTreeMap::new(),
            roles: BTreeSet::new(),
            updated_at: at,
        }
    }

    /// The record as stored. Its status is `kept`: the estate record never ends (and is none
    /// of the statuses the reaper sweeps).
    pub fn encode(&self) -> StoredRecord {
        StoredRecord {
            id: self.id.clone(),
            kind: KIND,
            status: Status::Estate,
            version: self.version,
            expires_at: None,
            updated_at: self.updated_at,
            body: Body::json(SCHEMA, self),
        }
    }

    pub fn decode(record: &StoredRecord) -> Result<Self, String> {
        if record.kind != KIND {
            return Err(format!(
                "record {} is a {}, not the estate",
                record.id, record.kind
            ));
        }
        Body::<Managed>::read(&record.body)
    }

    /// The next version, stamped at `at`.
    pub fn next(&self, at: OffsetDateTime) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = at;
        next
    }
}
