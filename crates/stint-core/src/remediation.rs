//! A `stint scan` remediation plan as the ledger records it: one record per plan (its id from
//! the plan's `created`, filed under the run `remediation` so every plan can be found), whose
//! body lists each change's outcomes with what it replaced, and one event per step: before the
//! AWS call (`remediation_applying`, with the previous key status or trust document), after
//! it (`remediation_applied`, `_failed`, `_waiting`), and at an undo (`remediation_undone`).
//! So every cleanup change is in the ledger's hash chain, and `--undo` reads what to restore
//! from it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::ids::TransactionId;
use crate::lint::{Change, Previous};
use crate::ports::{Clock, Filing, Ledger, LedgerError, RecordWrite};
use crate::record::{Action, Body, NewEvent, Status, StoredRecord};
use crate::time_fmt::{rfc3339, serde_rfc3339};

/// The record kind, and the run every remediation record is filed under.
pub const KIND: &str = "remediation";
pub const RUN: &str = "remediation";
/// The schema of a stored remediation body.
pub const SCHEMA: u64 = 1;

/// One step of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The `created` of the plan the change is from.
    pub plan: String,
    pub change: Change,
    /// `applying`, `applied`, `failed`, `waiting`, `undone`, `undo_failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
}

impl Entry {
    pub fn new(plan: &str, change: &Change, outcome: &str, at: OffsetDateTime) -> Self {
        Self {
            plan: plan.to_owned(),
            change: change.clone(),
            outcome: outcome.to_owned(),
            previous: None,
            error: None,
            at: rfc3339(at),
        }
    }

    fn action(&self) -> Action {
        match self.outcome.as_str() {
            "applying" => Action::RemediationApplying,
            "applied" => Action::RemediationApplied,
            "waiting" => Action::RemediationWaiting,
            "undone" => Action::RemediationUndone,
            _ => Action::RemediationFailed,
        }
    }
}

/// A plan's record: every step taken so far, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    pub id: TransactionId,
    pub version: u64,
    pub plan: String,
    pub entries: Vec<Entry>,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Remediation {
    /// The record's id for the plan made at `created`, the same for everyone who computes it.
    pub fn id_for(created: &str) -> TransactionId {
        TransactionId::derived(&json!(["remediation", created]))
    }

    fn encode(&self) -> StoredRecord {
        StoredRecord {
            id: self.id.clone(),
            kind: KIND,
            // Kept like the estate record: it never ends and no reaper query reads it.
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
                "record {} is a {}, not a remediation",
                record.id, record.kind
            ));
        }
        Body::<Remediation>::read(&record.body)
    }

    /// The latest entry of `change_id` with one of `outcomes`.
    pub fn latest(&self, change_id: &str, outcomes: &[&str]) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.change.id == change_id && outcomes.contains(&e.outcome.as_str()))
    }
}

/// Reads and writes remediation records.
#[derive(Clone)]
pub struct RemediationLedger {
    pub ledger: Arc<dyn Ledger>,
    pub clock: Arc<dyn Clock>,
    /// Who makes the changes, as the ledger names them.
    pub actor: String,
}

impl RemediationLedger {
    /// The record of the plan made at `created` (empty, version 0, when there is none).
    pub async fn load(&self, created: &str) -> Result<Remediation, LedgerError> {
        let id = Remediation::id_for(created);
        match self.ledger.get(&id).await? {
            Some(record) => {
                Remediation::decode(&record).map_err(|e| LedgerError::Storage(e.into()))
            }
            None => Ok(Remediation {
                id,
                version: 0,
                plan: created.to_owned(),
                entries: Vec::new(),
                updated_at: self.clock.now(),
            }),
        }
    }

    /// Every remediation record, newest change last.
    pub async fn all(&self) -> Result<Vec<Remediation>, LedgerError> {
        let mut found = Vec::new();
        for record in self.ledger.by_run(RUN).await? {
            found.push(Remediation::decode(&record).map_err(|e| LedgerError::Storage(e.into()))?);
        }
        found.sort_by_key(|r| r.updated_at);
        Ok(found)
    }

    /// Appends `entry` to `record` as its next version, with its event; the record as stored.
    pub async fn record(
        &self,
        record: &Remediation,
        entry: Entry,
    ) -> Result<Remediation, LedgerError> {
        let now = self.clock.now();
        let mut next = record.clone();
        next.version += 1;
        next.updated_at = now;
        let event = NewEvent {
            at: now,
            actor: self.actor.clone(),
            action: entry.action(),
            reason: entry.change.action.describe(),
            data: serde_json::to_value(&entry).unwrap_or_default(),
        };
        next.entries.push(entry);
        let filing = match record.version {
            0 => Filing {
                request_key: None,
                run: Some(RUN.to_owned()),
            },
            _ => Filing::default(),
        };
        let write = RecordWrite {
            record: next.encode(),
            events: vec![(Status::Estate, event)],
            filing,
        };
        self.ledger.write(&[write]).await?;
        Ok(next)
    }
}
