//! The broker: the catalog plus the ports, and the read-side operations. The write-side use
//! cases live in `provision.rs` and `deprovision.rs`.

use std::sync::Arc;

use serde_json::Value;

use crate::audit::ChainReport;
use crate::caller::Caller;
use crate::catalog::Catalog;
use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::ports::{Clock, CredentialIssuer, Directory, Ledger, LedgerError, RoleProvisioner};
use crate::transaction::{Action, Event, NewEvent, Transaction};

/// Everything the use cases need, behind `Arc<dyn …>` so the server, the CLI and tests wire
/// the same broker with different adapters.
#[derive(Clone)]
pub struct Broker {
    pub catalog: Arc<Catalog>,
    pub ledger: Arc<dyn Ledger>,
    pub directory: Arc<dyn Directory>,
    pub roles: Arc<dyn RoleProvisioner>,
    pub issuer: Arc<dyn CredentialIssuer>,
    pub clock: Arc<dyn Clock>,
}

/// Who asked: recorded as the actor of the events a request causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Broker {
    /// A transaction and its events, oldest first.
    pub async fn transaction(
        &self,
        id: &TransactionId,
        caller: &Caller,
    ) -> Result<(Transaction, Vec<Event>), BrokerError> {
        let txn = self
            .ledger
            .get(id)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| unknown_transaction(id))?;
        caller.check_owner(&txn)?;
        let events = self.ledger.events(id).await.map_err(ledger_error)?;
        Ok((txn, events))
    }

    /// Checks the ledger's hash chain.
    pub async fn verify_audit(&self) -> Result<ChainReport, BrokerError> {
        self.ledger.verify().await.map_err(ledger_error)
    }

    pub(crate) fn new_transaction_id(&self) -> TransactionId {
        let now = self.clock.now();
        let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        TransactionId::new_at(secs, now.nanosecond())
    }

    pub(crate) fn event(
        &self,
        actor: &Actor,
        action: Action,
        reason: impl Into<String>,
        data: Value,
    ) -> NewEvent {
        NewEvent {
            at: self.clock.now(),
            actor: actor.0.clone(),
            action,
            reason: reason.into(),
            data,
        }
    }

    /// Appends `event` moving `txn` to `next`; the conditional write is the concurrency guard.
    pub(crate) async fn record(
        &self,
        next: &Transaction,
        event: NewEvent,
    ) -> Result<(), BrokerError> {
        // One log line per ledger event, each naming its transaction.
        tracing::info!(
            transaction_id = %next.id,
            action = event.action.as_str(),
            state = %next.state,
            actor = %event.actor,
            "{}",
            event.reason
        );
        self.ledger
            .append(next, event)
            .await
            .map(|_| ())
            .map_err(|e| ledger_error(e).in_transaction(&next.id))
    }
}

pub(crate) fn ledger_error(error: LedgerError) -> BrokerError {
    BrokerError::new(
        ErrorCode::LedgerError,
        "the transaction ledger could not be read or written",
    )
    .with_cause(error)
}

pub(crate) fn unknown_transaction(id: &TransactionId) -> BrokerError {
    BrokerError::new(
        ErrorCode::UnknownTransaction,
        format!("no transaction {id}"),
    )
}
