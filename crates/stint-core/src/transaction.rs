//! Transactions and their state machine, and the events that record every change.
//!
//! A provisioning transaction goes `processing → provisioned → deprovisioning → deprovisioned`,
//! or ends `rejected` (the caller may not have it) or `failed` (something broke; whatever was
//! created has been removed). A deprovisioning transaction goes `processing → deprovisioned` or
//! `failed`. Every change bumps `version`; the ledger only accepts version N+1 over version N, so
//! two writers racing on one transaction cannot both win.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::caller::PipelineClaims;
use crate::ids::{AccountId, AccountName, Branch, Email, GroupType, RoleName, TransactionId};
use crate::time_fmt::serde_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Provision,
    Deprovision,
    /// A role found under stint's path with no live transaction, and removed.
    Orphan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Processing,
    Provisioned,
    Deprovisioning,
    Deprovisioned,
    Rejected,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Provisioned => "provisioned",
            Self::Deprovisioning => "deprovisioning",
            Self::Deprovisioned => "deprovisioned",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Processing,
            Self::Provisioned,
            Self::Deprovisioning,
            Self::Deprovisioned,
            Self::Rejected,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Deprovisioned | Self::Rejected | Self::Failed)
    }

    /// The legal moves. Staying in a state is legal, even a terminal one: it records an event
    /// that changes nothing (`role_created`, or an orphaned role found after the end).
    pub fn allows(self, to: State) -> bool {
        use State::*;
        self == to
            || matches!(
                (self, to),
                (Processing, Provisioned | Deprovisioned | Rejected | Failed)
                    | (Provisioned, Deprovisioning)
                    // A failed deprovisioning hands the grant back, still provisioned.
                    | (Deprovisioning, Deprovisioned | Provisioned)
            )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transaction ended `rejected` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// The current state of one transaction: the ledger's projection of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TransactionId,
    pub kind: Kind,
    pub state: State,
    /// Bumped by every event; the ledger accepts only `version + 1` over what it holds.
    pub version: u64,
    pub account_id: AccountId,
    pub account_name: AccountName,
    pub group_type: GroupType,
    /// Who the grant is for.
    pub requester: Email,
    pub branch: Option<Branch>,
    /// Derived from the provisioning transaction id, so it is known before the role exists.
    pub role_name: RoleName,
    pub role_arn: Option<String>,
    pub ttl_seconds: u64,
    #[serde(with = "serde_rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    /// On a deprovisioning record: the provisioning transaction it ends.
    pub original_transaction_id: Option<TransactionId>,
    /// On a provisioning record: the deprovisioning transaction that ended (or is ending) it.
    pub deprovisioning_transaction_id: Option<TransactionId>,
    pub failure: Option<Failure>,
    /// The verified pipeline that asked, when a pipeline asked.
    #[serde(default)]
    pub caller: Option<PipelineClaims>,
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction {id} cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub id: TransactionId,
    pub from: State,
    pub to: State,
}

impl Transaction {
    /// The next version of this transaction in state `to`, stamped at `at`.
    pub fn advance(&self, to: State, at: OffsetDateTime) -> Result<Transaction, IllegalTransition> {
        if !self.state.allows(to) {
            return Err(IllegalTransition {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        let mut next = self.clone();
        next.state = to;
        next.version += 1;
        next.updated_at = at;
        Ok(next)
    }

    /// A deprovisioning record for this provisioning transaction, preserving its data.
    pub fn deprovisioning_record(&self, id: TransactionId, at: OffsetDateTime) -> Transaction {
        Transaction {
            id,
            kind: Kind::Deprovision,
            state: State::Processing,
            version: 1,
            created_at: at,
            updated_at: at,
            original_transaction_id: Some(self.id.clone()),
            deprovisioning_transaction_id: None,
            failure: None,
            ..self.clone()
        }
    }
}

/// What happened, in the ledger's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Requested,
    Authorized,
    Rejected,
    RoleCreated,
    Provisioned,
    Failed,
    DeprovisionStarted,
    Deprovisioned,
    DeprovisionFailed,
    /// The reaper found the grant past its expiry.
    Expired,
    /// The reaper found the transaction stuck mid-way and resolved it.
    Unstuck,
    /// The reaper removed a role with no live transaction.
    OrphanRemoved,
    /// An early revoke: sessions issued before now were cut off.
    SessionsRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Authorized => "authorized",
            Self::Rejected => "rejected",
            Self::RoleCreated => "role_created",
            Self::Provisioned => "provisioned",
            Self::Failed => "failed",
            Self::DeprovisionStarted => "deprovision_started",
            Self::Deprovisioned => "deprovisioned",
            Self::DeprovisionFailed => "deprovision_failed",
            Self::Expired => "expired",
            Self::Unstuck => "unstuck",
            Self::OrphanRemoved => "orphan_removed",
            Self::SessionsRevoked => "sessions_revoked",
        }
    }
}

/// An event about to be appended: time, actor, what, why, and details.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: Action,
    pub reason: String,
    pub data: Value,
}

/// An appended event, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the ledger-wide chain, from 1.
    pub seq: u64,
    pub transaction_id: TransactionId,
    /// The transaction's version this event produced.
    pub version: u64,
    #[serde(with = "serde_rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: Action,
    /// The transaction's state after this event.
    pub state: State,
    pub reason: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn terminal_states_admit_only_notes() {
        for from in [Deprovisioned, Rejected, Failed] {
            for to in [
                Processing,
                Provisioned,
                Deprovisioning,
                Deprovisioned,
                Rejected,
                Failed,
            ] {
                assert_eq!(from.allows(to), from == to, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn grants_cannot_skip_deprovisioning_or_come_back() {
        assert!(Processing.allows(Provisioned));
        assert!(Provisioned.allows(Deprovisioning));
        assert!(!Provisioned.allows(Deprovisioned));
        assert!(!Provisioned.allows(Processing));
        assert!(Deprovisioning.allows(Provisioned));
        assert!(!Processing.allows(Deprovisioning));
        for s in [
            Processing,
            Provisioned,
            Deprovisioning,
            Deprovisioned,
            Rejected,
            Failed,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
