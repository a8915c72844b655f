//! Writing grants to the ledger: the one place a grant is created, moved and loaded. Every
//! change goes through `transition` (or is staged with `stage_transition` and written with
//! others by `commit`), which checks the state machine, stamps the time, appends the event (a
//! compare-and-set on the version) and logs one line naming the transaction; `load` answers
//! `unknown_transaction` for an id the ledger does not hold.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::notice::{Notice, NoticeAbout, NoticeKind};
use crate::ports::{Clock, Filing, Ledger, LedgerError, PortError, RecordWrite};
use crate::record::{Action, Event, NewEvent, State, StoredRecord};
use crate::subject::Actor;

use super::model::{Grant, IllegalTransition};
use super::stored::{self, StoredError};

/// What an event says: who, what, why, and details.
#[derive(Debug, Clone)]
pub struct Step {
    pub actor: String,
    pub action: Action,
    pub reason: String,
    pub data: Value,
}

impl Step {
    pub fn new(actor: &Actor, action: Action, reason: impl Into<String>) -> Self {
        Self {
            actor: actor.0.clone(),
            action,
            reason: reason.into(),
            data: Value::Object(Default::default()),
        }
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Steps staged for one or more records, written together by `Journal::commit`: one
/// conditional ledger write however many steps a saga took between two writes, and one for
/// a grant and its linked record.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    writes: Vec<RecordWrite>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Files record `id`, staged here at its first version, under `filing`.
    pub fn file(&mut self, id: &TransactionId, filing: Filing) {
        if let Some(write) = self.writes.iter_mut().find(|w| &w.record.id == id) {
            write.filing = filing;
        }
    }
}

/// The ledger and the clock, as the grant use cases write through them.
#[derive(Clone)]
pub struct Journal {
    pub ledger: Arc<dyn Ledger>,
    pub clock: Arc<dyn Clock>,
    /// Whether notices are queued (a broker with somewhere to deliver them).
    pub notices: bool,
}

impl Journal {
    pub fn new(ledger: Arc<dyn Ledger>, clock: Arc<dyn Clock>) -> Self {
        Self {
            ledger,
            clock,
            notices: false,
        }
    }

    /// The same journal, queueing notices (or not).
    pub fn with_notices(mut self, on: bool) -> Self {
        self.notices = on;
        self
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// A fresh transaction id, ordered by the clock.
    pub fn new_id(&self) -> TransactionId {
        let now = self.clock.now();
        let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        TransactionId::new_at(secs, now.nanosecond())
    }

    /// Appends `step` for `grant` as it now stands (version 1 creates it). The conditional
    /// write is the concurrency guard: a lost race is a `write_conflict`.
    pub async fn record(&self, grant: &Grant, step: Step) -> Result<(), BrokerError> {
        let mut batch = Batch::default();
        self.stage(&mut batch, grant, step);
        self.commit(batch).await
    }

    /// Appends `step` for any stored record (a grant, an access request).
    pub async fn append(&self, record: StoredRecord, step: Step) -> Result<(), BrokerError> {
        let mut batch = Batch::default();
        self.stage_record(&mut batch, record, step);
        self.commit(batch).await
    }

    /// Moves `grant` to `to`, records `step`, and returns the new version.
    pub async fn transition(
        &self,
        grant: &Grant,
        to: State,
        step: Step,
    ) -> Result<Grant, BrokerError> {
        self.transition_with(grant, to, step, |_| {}).await
    }

    /// As `transition`, letting `change` fill in what the move sets (an ARN, a failure).
    pub async fn transition_with(
        &self,
        grant: &Grant,
        to: State,
        step: Step,
        change: impl FnOnce(&mut Grant),
    ) -> Result<Grant, BrokerError> {
        let mut batch = Batch::default();
        let next = self.stage_transition(&mut batch, grant, to, step, change)?;
        self.commit(batch).await?;
        Ok(next)
    }

    /// Stages `step` for `grant` as it now stands, to be written by `commit`. The event is
    /// stamped now, when the step happened, not when it is written.
    pub fn stage(&self, batch: &mut Batch, grant: &Grant, step: Step) {
        self.stage_record(batch, stored::encode(grant), step);
    }

    /// Stages the move of `grant` to `to` (the state machine decides now) and returns the
    /// grant as the move leaves it.
    pub fn stage_transition(
        &self,
        batch: &mut Batch,
        grant: &Grant,
        to: State,
        step: Step,
        change: impl FnOnce(&mut Grant),
    ) -> Result<Grant, BrokerError> {
        let mut next = grant.advance(to, self.clock.now()).map_err(illegal)?;
        change(&mut next);
        self.stage(batch, &next, step);
        Ok(next)
    }

    /// Stages `step` for any stored record as it now stands (a holding, a request).
    pub fn stage_record(&self, batch: &mut Batch, record: StoredRecord, step: Step) {
        let event = NewEvent {
            at: self.clock.now(),
            actor: step.actor,
            action: step.action,
            reason: step.reason,
            data: step.data,
        };
        let event = (record.status, event);
        match batch.writes.iter_mut().find(|w| w.record.id == record.id) {
            Some(write) => {
                write.record = record;
                write.events.push(event);
            }
            None => batch.writes.push(RecordWrite {
                record,
                events: vec![event],
                filing: Filing::default(),
            }),
        }
    }

    /// Stages a new notice for the outbox, in the write of the change it tells of: written
    /// together or not at all, and delivered later, never in the caller's way.
    pub fn stage_notice(
        &self,
        batch: &mut Batch,
        actor: &Actor,
        kind: NoticeKind,
        text: impl Into<String>,
        about: NoticeAbout,
    ) {
        if !self.notices {
            return;
        }
        let notice = Notice::new(self.new_id(), kind, text, about, self.now());
        let step = Step::new(actor, Action::Queued, kind.as_str());
        self.stage_record(batch, notice.encode(), step);
    }

    /// Stages a notice about `grant` ("alice's access to P on A {what}") when people are told
    /// of its changes (a person's grant).
    pub fn stage_grant_notice(
        &self,
        batch: &mut Batch,
        actor: &Actor,
        grant: &Grant,
        kind: NoticeKind,
        what: &str,
    ) {
        if !grant.is_persons() {
            return;
        }
        let target = &grant.terms.target;
        let text = format!(
            "{}'s access to {} on {} {what}",
            grant.terms.subject.requester, target.persona, target.account_name
        );
        self.stage_notice(batch, actor, kind, text, grant.notice_about());
    }

    /// Writes everything staged in `batch` in one conditional ledger write.
    pub async fn commit(&self, batch: Batch) -> Result<(), BrokerError> {
        let first = batch.writes.first().map(|w| w.record.id.clone());
        self.write(batch).await.map_err(|e| match &first {
            Some(id) => ledger_error(e).in_transaction(id),
            None => ledger_error(e),
        })
    }

    /// As `commit`, answering the ledger's own error (for a caller that handles `KeyTaken`).
    pub async fn write(&self, batch: Batch) -> Result<(), LedgerError> {
        if batch.is_empty() {
            return Ok(());
        }
        for write in &batch.writes {
            for (status, event) in &write.events {
                // One log line per ledger event, each naming its transaction.
                tracing::info!(
                    transaction_id = %write.record.id,
                    action = event.action.as_str(),
                    state = %status,
                    actor = %event.actor,
                    "{}",
                    event.reason
                );
            }
        }
        self.ledger.write(&batch.writes).await.map(|_| ())
    }

    /// The grant `id`, or `unknown_transaction`.
    pub async fn load(&self, id: &TransactionId) -> Result<Grant, BrokerError> {
        self.find(id).await?.ok_or_else(|| unknown_transaction(id))
    }

    /// The grant `id`, if the ledger holds one.
    pub async fn find(&self, id: &TransactionId) -> Result<Option<Grant>, BrokerError> {
        match self.ledger.get(id).await.map_err(ledger_error)? {
            Some(record) => stored::decode(&record).map(Some).map_err(unreadable),
            None => Ok(None),
        }
    }

    /// The grants filed under pipeline job `run`, oldest first.
    pub async fn by_run(&self, run: &str) -> Result<Vec<Grant>, BrokerError> {
        let records = self.ledger.by_run(run).await.map_err(ledger_error)?;
        records
            .iter()
            .map(|record| stored::decode(record).map_err(unreadable))
            .collect()
    }

    /// A grant's events, oldest first.
    pub async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, BrokerError> {
        self.ledger.events(id).await.map_err(ledger_error)
    }
}

/// A ledger failure as the caller sees it: a lost race is a conflict, anything else the
/// ledger's own fault.
pub fn ledger_error(error: LedgerError) -> BrokerError {
    match error {
        LedgerError::Conflict { .. } | LedgerError::KeyTaken { .. } => BrokerError::new(
            ErrorCode::WriteConflict,
            "the transaction changed while this request was handling it; read it and try again",
        )
        .with_cause(error),
        LedgerError::Storage(_) => BrokerError::new(
            ErrorCode::LedgerError,
            "the transaction ledger could not be read or written",
        )
        .with_cause(error),
    }
}

pub fn unreadable(error: StoredError) -> BrokerError {
    BrokerError::new(ErrorCode::LedgerError, error.to_string())
}

pub fn unknown_transaction(id: &TransactionId) -> BrokerError {
    BrokerError::new(
        ErrorCode::UnknownTransaction,
        format!("no transaction {id}"),
    )
}

pub fn illegal(error: IllegalTransition) -> BrokerError {
    BrokerError::new(ErrorCode::LedgerError, error.to_string())
}

/// An AWS call that failed, in stint's words; the SDK's detail stays in the cause.
pub fn aws_error(error: PortError) -> BrokerError {
    BrokerError::new(ErrorCode::AwsError, error.to_string()).with_cause(error)
}
