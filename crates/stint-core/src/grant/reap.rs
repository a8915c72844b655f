//! The reaper: one pass ends every grant past its expiry, resolves transactions stuck
//! mid-way (a crash), and sweeps stint's role path in every catalog account for roles with no
//! live transaction. Every change is a conditional ledger write, so several reapers, and a
//! request racing a reaper, are safe together: exactly one wins each transaction, the rest
//! skip. It ends grants through `GrantEnder`, never by knowing which flow made them.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::catalog::{Account, Catalog};
use crate::error::{BrokerError, ErrorCode};
use crate::ids::{AccountName, Email, GroupType, RoleName, TransactionId};
use crate::ports::{ListedRole, RoleContents};
use crate::record::{Action, State, Status, StoredRecord};
use crate::subject::{Actor, Origin, Subject};
use crate::time_fmt::rfc3339;

use super::ROLE_PATH;
use super::assignment::Assignments;
use super::end::{Ending, GrantEnder};
use super::journal::{Step, aws_error, ledger_error, unreadable};
use super::model::{Failure, Grant, Kind, Mechanism, Target, Terms};
use super::stored;

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
    /// Identity Center assignments no live grant held (a crash between a grant's end and
    /// its leaving), removed. People's counts appear in the JSON only when not zero, so a
    /// broker without people answers as it always did.
    #[serde(skip_serializing_if = "is_zero")]
    pub stray_assignments: u64,
    /// Access requests not answered in time, expired.
    #[serde(skip_serializing_if = "is_zero")]
    pub requests_expired: u64,
    /// Session denies of early revokes lifted, once no session they cut can be alive.
    #[serde(skip_serializing_if = "is_zero")]
    pub session_denies_lifted: u64,
    /// Items that failed and are left for the next pass.
    pub errors: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The longest an Identity Center session lasts (a permission set's session duration).
const LONGEST_SESSION: time::Duration = time::Duration::hours(12);

/// The actor of everything the reaper does.
pub const REAPER: &str = "reaper";

#[derive(Clone)]
pub struct Reaper {
    pub catalog: Arc<Catalog>,
    pub ender: GrantEnder,
}

impl Reaper {
    pub async fn reap(&self, settings: &ReapSettings) -> Result<ReapReport, BrokerError> {
        let actor = Actor(REAPER.to_owned());
        let mut report = ReapReport::default();
        self.reap_expired(settings, &actor, &mut report).await?;
        self.reap_stuck(settings, &actor, &mut report).await?;
        for account in self.catalog.accounts() {
            self.sweep(account, settings, &actor, &mut report).await;
        }
        if let Some(assignments) = &self.ender.assignments {
            let before = self.ender.journal.now() - settings.stuck_after;
            match assignments.sweep(before, settings.batch, &actor).await {
                Ok((removed, errors)) => {
                    report.stray_assignments += removed;
                    report.errors += errors;
                }
                Err(e) => count(Err(e), &mut report, |_| {}),
            }
            self.lift_session_denies(assignments, &mut report).await;
        }
        Ok(report)
    }

    /// Identity Center sessions last at most 12 hours: a deny on sessions issued before a
    /// time older than that cuts nothing any more, and comes off the permission set.
    async fn lift_session_denies(&self, assignments: &Assignments, report: &mut ReapReport) {
        let Some(people) = self.catalog.people() else {
            return;
        };
        let older_than = self.ender.journal.now() - LONGEST_SESSION;
        let assigner = &assignments.assigner;
        for persona in people.personas() {
            let lifted = match assigner.permission_set_arn(&persona.permission_set).await {
                Ok(Some(arn)) => assigner.lift_session_denies(&arn, older_than).await,
                Ok(None) => Ok(0),
                Err(e) => Err(e),
            };
            match lifted {
                Ok(n) => report.session_denies_lifted += n,
                Err(e) => {
                    tracing::warn!("reaper: lifting session denies: {e}");
                    report.errors += 1;
                }
            }
        }
    }

    async fn reap_expired(
        &self,
        settings: &ReapSettings,
        actor: &Actor,
        report: &mut ReapReport,
    ) -> Result<(), BrokerError> {
        let now = self.ender.journal.now();
        let ledger = &self.ender.journal.ledger;
        let due = ledger
            .expired(now, settings.batch)
            .await
            .map_err(ledger_error)?;
        for grant in decode_all(&due, report) {
            match self.ender.end(grant, actor, Ending::EXPIRED).await {
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
        let before = self.ender.journal.now() - settings.stuck_after;
        let ledger = &self.ender.journal.ledger;
        // Grants whose deprovisioning died: finish it.
        let ending = ledger
            .stale(Status::Grant(State::Deprovisioning), before, settings.batch)
            .await
            .map_err(ledger_error)?;
        for grant in decode_all(&ending, report) {
            let result = self.finish_deprovisioning(grant, actor).await;
            count(result, report, |r| r.stuck += 1);
        }
        // Provisionings (and deprovisioning records) whose worker died: fail them, remove the role.
        let started = ledger
            .stale(Status::Grant(State::Processing), before, settings.batch)
            .await
            .map_err(ledger_error)?;
        for grant in decode_all(&started, report) {
            count(self.fail_stuck(grant, actor).await, report, |r| {
                r.stuck += 1
            });
        }
        Ok(())
    }

    /// Claims a stuck `deprovisioning` grant (a version bump), deletes its role, and marks it
    /// and its record ended.
    async fn finish_deprovisioning(&self, grant: Grant, actor: &Actor) -> Result<(), BrokerError> {
        let journal = &self.ender.journal;
        let step = Step::new(
            actor,
            Action::Unstuck,
            "deprovisioning was interrupted; finishing it",
        );
        let claimed = journal
            .transition(&grant, State::Deprovisioning, step)
            .await?;
        // Whether the interrupted ending cut off sessions is not known here: say it did, so
        // that deny is removed too (a policy already gone costs nothing but the call).
        self.ender.remove_access(&grant, true, actor).await?;
        let step = Step::new(actor, Action::Deprovisioned, "role deleted by the reaper")
            .data(json!({ "role_arn": grant.role_arn() }));
        journal
            .transition(&claimed, State::Deprovisioned, step)
            .await?;
        if let Some(record_id) = &grant.links.deprovisioning
            && let Ok(Some(record)) = journal.find(record_id).await
            && record.state == State::Processing
        {
            let step = Step::new(actor, Action::Deprovisioned, "finished by the reaper");
            journal
                .transition(&record, State::Deprovisioned, step)
                .await?;
        }
        Ok(())
    }

    /// Fails a stuck `processing` transaction first (the claim: a late worker's own write
    /// then conflicts and it cleans up after itself), then removes whatever role it may
    /// have made.
    async fn fail_stuck(&self, grant: Grant, actor: &Actor) -> Result<(), BrokerError> {
        let journal = &self.ender.journal;
        // A deprovisioning record's grant is `deprovisioning`, finished by
        // `finish_deprovisioning`; the record itself only needs closing.
        let (reason, message) = match grant.kind {
            Kind::Deprovision => (
                "deprovisioning record interrupted",
                "the deprovisioning worker stopped",
            ),
            Kind::Provision | Kind::Orphan => (
                "provisioning was interrupted; any role it made is removed",
                "provisioning was interrupted; any role it made is removed",
            ),
        };
        let failure = Failure {
            code: "interrupted".into(),
            message: message.into(),
        };
        let step = Step::new(actor, Action::Unstuck, reason);
        journal
            .transition_with(&grant, State::Failed, step, |next| {
                next.failure = Some(failure)
            })
            .await?;
        if grant.kind != Kind::Deprovision {
            self.ender.remove_access(&grant, false, actor).await?;
        }
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
        let roles = match self.ender.roles.list_roles(&account.id, ROLE_PATH).await {
            Ok(roles) => roles,
            Err(_) => {
                report.errors += 1;
                return;
            }
        };
        let now = self.ender.journal.now();
        for role in roles {
            if role.created_at + settings.orphan_grace > now {
                continue;
            }
            let id = self.transaction_of(&role);
            let grant = match &id {
                Some(id) => match self.ender.journal.find(id).await {
                    Ok(grant) => grant,
                    Err(_) => {
                        report.errors += 1;
                        continue;
                    }
                },
                None => None,
            };
            if grant
                .as_ref()
                .is_some_and(|g| self.holds(g, account, settings))
            {
                continue;
            }
            let result = self.remove_orphan(account, &role, id, grant, actor).await;
            count(result, report, |r| r.orphans += 1);
        }
    }

    /// The transaction id in a role name `<prefix>-<id>`.
    fn transaction_of(&self, role: &ListedRole) -> Option<TransactionId> {
        let prefix = format!("{}-", self.catalog.role_name_prefix);
        TransactionId::parse(role.name.strip_prefix(&prefix)?).ok()
    }

    /// Whether `grant` still legitimately holds its role in `account`.
    fn holds(&self, grant: &Grant, account: &Account, settings: &ReapSettings) -> bool {
        let now = self.ender.journal.now();
        grant.is_grant()
            && *grant.account_id() == account.id
            && match grant.state {
                State::Provisioned => grant.expires_at.is_some_and(|at| at > now),
                // Mid-way: its worker, or the stuck-transaction pass, owns the role.
                State::Processing | State::Deprovisioning => {
                    grant.updated_at + settings.stuck_after > now
                }
                State::Deprovisioned | State::Rejected | State::Failed => false,
            }
    }

    async fn remove_orphan(
        &self,
        account: &Account,
        role: &ListedRole,
        id: Option<TransactionId>,
        grant: Option<Grant>,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        let name = RoleName::parse(&role.name)?;
        // A live grant could be reaped by the expiry pass between listing and now: re-check
        // nothing; deleting a role twice is success, and the record below is conditional.
        self.ender
            .roles
            .delete_role(&account.id, &name, &RoleContents::default())
            .await
            .map_err(aws_error)?;
        let data = json!({ "role_arn": role.arn, "created_at": rfc3339(role.created_at) });
        let reason = format!("orphaned role {} removed", role.name);
        let step = Step::new(actor, Action::OrphanRemoved, reason).data(data);
        let journal = &self.ender.journal;
        match grant {
            Some(grant) => journal
                .transition(&grant, grant.state, step)
                .await
                .map(|_| ()),
            None => {
                let record = self.orphan_record(account, name, role, id)?;
                match journal.record(&record, step).await {
                    // Another reaper recorded the same orphan.
                    Err(e) if !e.is_conflict() => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }

    /// A record for a role whose transaction is unknown, under the id its name carries.
    fn orphan_record(
        &self,
        account: &Account,
        name: RoleName,
        role: &ListedRole,
        id: Option<TransactionId>,
    ) -> Result<Grant, BrokerError> {
        let journal = &self.ender.journal;
        let terms = Terms {
            subject: Subject {
                requester: Email::parse("unknown@stint.invalid")?,
                origin: Origin::Operator,
            },
            target: Target {
                account_id: account.id.clone(),
                account_name: AccountName::parse(account.name.as_str())?,
                persona: GroupType::parse("unknown")?,
            },
            mechanism: Mechanism::Role {
                name,
                arn: Some(role.arn.clone()),
                managed_policies: Vec::new(),
            },
            branch: None,
            ttl_seconds: 0,
        };
        let id = id.unwrap_or_else(|| journal.new_id());
        Ok(Grant::new(
            id,
            Kind::Orphan,
            State::Deprovisioned,
            terms,
            journal.now(),
        ))
    }
}

/// The grants in `records`; an unreadable one is counted as an error and skipped.
fn decode_all(records: &[StoredRecord], report: &mut ReapReport) -> Vec<Grant> {
    records
        .iter()
        .filter_map(|record| match stored::decode(record) {
            Ok(grant) => Some(grant),
            Err(e) => {
                tracing::warn!("reaper: {}", unreadable(e).message);
                report.errors += 1;
                None
            }
        })
        .collect()
}

/// Counts a success with `ok`; a conflict (another actor won) as nothing; any other failure
/// as an error left for the next pass.
fn count(
    result: Result<(), BrokerError>,
    report: &mut ReapReport,
    ok: impl FnOnce(&mut ReapReport),
) {
    match result {
        Ok(()) => ok(report),
        Err(e) if e.is_conflict() => {}
        Err(e) => {
            tracing::warn!(code = %e.code, "reaper: {}", e.message);
            report.errors += 1;
        }
    }
}
