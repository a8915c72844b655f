//! The reaper: one pass ends every grant past its expiry, resolves transactions stuck
//! mid-way (a crash), and sweeps stint's role path in every catalog account for roles with no
//! live transaction. Every change is a conditional ledger write, so several reapers, and a
//! request racing a reaper, are safe together: exactly one wins each transaction, the rest skip.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::broker::{Actor, Broker, ledger_error};
use crate::catalog::Account;
use crate::deprovision::Ending;
use crate::error::{BrokerError, ErrorCode};
use crate::ids::{AccountName, Email, GroupType, RoleName, TransactionId};
use crate::ports::{LedgerError, ListedRole};
use crate::provision::{ROLE_PATH, illegal};
use crate::transaction::{Action, Failure, Kind, State, Transaction};

#[derive(Debug, Clone, Copy)]
pub struct ReapSettings {
    /// A transaction still `processing` (or `deprovisioning`) this long after its last change
    /// has lost its worker.
    pub stuck_after: Duration,
    /// Roles younger than this are left alone by the sweep: their transaction may be mid-way.
    pub orphan_grace: Duration,
    /// At most this many transactions of each kind per pass.
    pub batch: usize,
}

impl Default for ReapSettings {
    fn default() -> Self {
        Self {
            stuck_after: Duration::from_secs(600),
            orphan_grace: Duration::from_secs(300),
            batch: 1000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReapReport {
    /// Grants past their expiry, deprovisioned.
    pub expired: u64,
    /// Transactions stuck mid-way, resolved.
    pub stuck: u64,
    /// Roles with no live transaction, deleted.
    pub orphans: u64,
    /// Items that failed and are left for the next pass.
    pub errors: u64,
}

/// The actor of everything the reaper does.
pub const REAPER: &str = "reaper";

impl Broker {
    pub async fn reap(&self, settings: &ReapSettings) -> Result<ReapReport, BrokerError> {
        let actor = Actor(REAPER.to_owned());
        let mut report = ReapReport::default();
        self.reap_expired(settings, &actor, &mut report).await?;
        self.reap_stuck(settings, &actor, &mut report).await?;
        for account in self.catalog.accounts() {
            self.sweep(account, settings, &actor, &mut report).await;
        }
        Ok(report)
    }

    async fn reap_expired(
        &self,
        settings: &ReapSettings,
        actor: &Actor,
        report: &mut ReapReport,
    ) -> Result<(), BrokerError> {
        let now = self.clock.now();
        let due = self
            .ledger
            .expired(now, settings.batch)
            .await
            .map_err(ledger_error)?;
        let ending = Ending {
            why: "expired",
            action: Action::Expired,
            revoke_sessions: false,
        };
        for txn in due {
            match self.end_grant(txn, actor, ending).await {
                Ok(_) => report.expired += 1,
                // Someone else (a request, another reaper) got there first.
                Err(e) if e.code == ErrorCode::InProgress => {}
                Err(e) => {
                    tracing::warn!(code = %e.code, "reaper: ending an expired grant failed: {}", e.message);
                    report.errors += 1;
                }
            }
        }
        Ok(())
    }

    async fn reap_stuck(
        &self,
        settings: &ReapSettings,
        actor: &Actor,
        report: &mut ReapReport,
    ) -> Result<(), BrokerError> {
        let before = self.clock.now() - settings.stuck_after;
        // Grants whose deprovisioning died: finish it.
        let ending = self
            .ledger
            .stale(State::Deprovisioning, before, settings.batch)
            .await
            .map_err(ledger_error)?;
        for txn in ending {
            count(self.finish_deprovisioning(txn, actor).await, report, |r| {
                r.stuck += 1
            });
        }
        // Provisionings (and deprovisioning records) whose worker died: fail them, remove the role.
        let started = self
            .ledger
            .stale(State::Processing, before, settings.batch)
            .await
            .map_err(ledger_error)?;
        for txn in started {
            count(self.fail_stuck(txn, actor).await, report, |r| r.stuck += 1);
        }
        Ok(())
    }

    /// Claims a stuck `deprovisioning` grant (a version bump), deletes its role, and marks it
    /// and its record ended.
    async fn finish_deprovisioning(
        &self,
        txn: Transaction,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        let claimed = txn
            .advance(State::Deprovisioning, self.clock.now())
            .map_err(illegal)?;
        self.record(
            &claimed,
            self.event(
                actor,
                Action::Unstuck,
                "deprovisioning was interrupted; finishing it",
                json!({}),
            ),
        )
        .await?;
        self.roles
            .delete_role(&txn.account_id, &txn.role_name)
            .await
            .map_err(crate::provision::aws_error)?;
        let ended = claimed
            .advance(State::Deprovisioned, self.clock.now())
            .map_err(illegal)?;
        self.record(
            &ended,
            self.event(
                actor,
                Action::Deprovisioned,
                "role deleted by the reaper",
                json!({ "role_arn": txn.role_arn }),
            ),
        )
        .await?;
        if let Some(record_id) = &txn.deprovisioning_transaction_id
            && let Ok(Some(record)) = self.ledger.get(record_id).await
            && record.state == State::Processing
        {
            let done = record
                .advance(State::Deprovisioned, self.clock.now())
                .map_err(illegal)?;
            self.record(
                &done,
                self.event(
                    actor,
                    Action::Deprovisioned,
                    "finished by the reaper",
                    json!({}),
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Fails a stuck `processing` transaction first (the claim: a late worker's own write then
    /// conflicts and it cleans up after itself), then removes whatever role it may have made.
    async fn fail_stuck(&self, txn: Transaction, actor: &Actor) -> Result<(), BrokerError> {
        if txn.kind == Kind::Deprovision {
            // Its grant is `deprovisioning` and is finished by `finish_deprovisioning`.
            let mut failed = txn
                .advance(State::Failed, self.clock.now())
                .map_err(illegal)?;
            failed.failure = Some(Failure {
                code: "interrupted".into(),
                message: "the deprovisioning worker stopped".into(),
            });
            return self
                .record(
                    &failed,
                    self.event(
                        actor,
                        Action::Unstuck,
                        "deprovisioning record interrupted",
                        json!({}),
                    ),
                )
                .await;
        }
        let mut failed = txn
            .advance(State::Failed, self.clock.now())
            .map_err(illegal)?;
        let message = "provisioning was interrupted; any role it made is removed".to_owned();
        failed.failure = Some(Failure {
            code: "interrupted".into(),
            message: message.clone(),
        });
        self.record(
            &failed,
            self.event(actor, Action::Unstuck, message, json!({})),
        )
        .await?;
        self.roles
            .delete_role(&txn.account_id, &txn.role_name)
            .await
            .map_err(crate::provision::aws_error)?;
        Ok(())
    }

    /// Deletes every role under stint's path in `account` that no live transaction holds.
    async fn sweep(
        &self,
        account: &Account,
        settings: &ReapSettings,
        actor: &Actor,
        report: &mut ReapReport,
    ) {
        let roles = match self.roles.list_roles(&account.id, ROLE_PATH).await {
            Ok(roles) => roles,
            Err(_) => {
                report.errors += 1;
                return;
            }
        };
        let now = self.clock.now();
        for role in roles {
            if role.created_at + settings.orphan_grace > now {
                continue;
            }
            let id = self.transaction_of(&role);
            let txn = match &id {
                Some(id) => match self.ledger.get(id).await {
                    Ok(txn) => txn,
                    Err(_) => {
                        report.errors += 1;
                        continue;
                    }
                },
                None => None,
            };
            if txn
                .as_ref()
                .is_some_and(|t| self.holds(t, account, settings))
            {
                continue;
            }
            count(
                self.remove_orphan(account, &role, id, txn, actor).await,
                report,
                |r| r.orphans += 1,
            );
        }
    }

    /// The transaction id in a role name `<prefix>-<id>`.
    fn transaction_of(&self, role: &ListedRole) -> Option<TransactionId> {
        let prefix = format!("{}-", self.catalog.role_name_prefix);
        TransactionId::parse(role.name.strip_prefix(&prefix)?).ok()
    }

    /// Whether `txn` still legitimately holds its role in `account`.
    fn holds(&self, txn: &Transaction, account: &Account, settings: &ReapSettings) -> bool {
        let now = self.clock.now();
        txn.kind == Kind::Provision
            && txn.account_id == account.id
            && match txn.state {
                State::Provisioned => txn.expires_at.is_some_and(|at| at > now),
                // Mid-way: its worker, or the stuck-transaction pass, owns the role.
                State::Processing | State::Deprovisioning => {
                    txn.updated_at + settings.stuck_after > now
                }
                State::Deprovisioned | State::Rejected | State::Failed => false,
            }
    }

    async fn remove_orphan(
        &self,
        account: &Account,
        role: &ListedRole,
        id: Option<TransactionId>,
        txn: Option<Transaction>,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        let name = RoleName::parse(&role.name)?;
        // A live grant could be reaped by the expiry pass between listing and now: re-check
        // nothing; deleting a role twice is success, and the record below is conditional.
        self.roles
            .delete_role(&account.id, &name)
            .await
            .map_err(crate::provision::aws_error)?;
        let data = json!({ "role_arn": role.arn, "created_at": crate::time_fmt::rfc3339(role.created_at) });
        let reason = format!("orphaned role {} removed", role.name);
        match txn {
            Some(txn) => {
                let noted = txn.advance(txn.state, self.clock.now()).map_err(illegal)?;
                self.record(
                    &noted,
                    self.event(actor, Action::OrphanRemoved, reason, data),
                )
                .await
            }
            None => {
                let record = self.orphan_record(account, name, role, id)?;
                match self
                    .ledger
                    .append(
                        &record,
                        self.event(actor, Action::OrphanRemoved, reason, data),
                    )
                    .await
                {
                    // Another reaper recorded the same orphan.
                    Ok(_) | Err(LedgerError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(ledger_error(e)),
                }
            }
        }
    }

    /// A record for a role whose transaction is unknown, under the id its name carries.
    fn orphan_record(
        &self,
        account: &Account,
        role_name: RoleName,
        role: &ListedRole,
        id: Option<TransactionId>,
    ) -> Result<Transaction, BrokerError> {
        let now = self.clock.now();
        Ok(Transaction {
            id: id.unwrap_or_else(|| self.new_transaction_id()),
            kind: Kind::Orphan,
            state: State::Deprovisioned,
            version: 1,
            account_id: account.id.clone(),
            account_name: AccountName::parse(account.name.as_str())?,
            group_type: GroupType::parse("unknown")?,
            requester: Email::parse("unknown@stint.invalid")?,
            branch: None,
            role_name,
            role_arn: Some(role.arn.clone()),
            ttl_seconds: 0,
            created_at: now,
            updated_at: now,
            expires_at: None,
            original_transaction_id: None,
            deprovisioning_transaction_id: None,
            failure: None,
            caller: None,
        })
    }
}

/// Counts a success with `ok`; a conflict (another actor won) as nothing; any other failure as
/// an error left for the next pass.
fn count(
    result: Result<(), BrokerError>,
    report: &mut ReapReport,
    ok: impl FnOnce(&mut ReapReport),
) {
    match result {
        Ok(()) => ok(report),
        Err(e) if e.code == ErrorCode::LedgerError && is_conflict(&e) => {}
        Err(e) => {
            tracing::warn!(code = %e.code, "reaper: {}", e.message);
            report.errors += 1;
        }
    }
}

fn is_conflict(error: &BrokerError) -> bool {
    error
        .cause
        .as_deref()
        .and_then(|c| c.downcast_ref::<LedgerError>())
        .is_some_and(|e| matches!(e, LedgerError::Conflict { .. }))
}
