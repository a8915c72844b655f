//! Ending a grant, whoever asks (a pipeline, an operator's revoke, the reaper): claim it and
//! write a linked deprovisioning record in one conditional write (so two enders cannot both
//! end it), optionally cut off the sessions already issued, remove the access through its
//! mechanism, and mark both ended in a second write. A failed removal hands the grant back.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::notice::NoticeKind;
use crate::ports::{RoleDeletion, RoleProvisioner};
use crate::record::{Action, State};
use crate::subject::Actor;
use crate::time_fmt::iam_time;

use super::assignment::{Assignments, Leave};
use super::journal::{Batch, Journal, Step, aws_error};
use super::model::{Failure, Grant};

/// Why and how a grant ends.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    pub why: &'a str,
    pub action: Action,
    /// Cut off sessions already issued before removing the access (an early revoke).
    pub revoke_sessions: bool,
}

impl Ending<'_> {
    pub const REQUESTED: Ending<'static> = Ending {
        why: "deprovisioning requested",
        action: Action::DeprovisionStarted,
        revoke_sessions: false,
    };
    pub const REVOKED: Ending<'static> = Ending {
        why: "early revoke",
        action: Action::DeprovisionStarted,
        revoke_sessions: true,
    };
    pub const EXPIRED: Ending<'static> = Ending {
        why: "expired",
        action: Action::Expired,
        revoke_sessions: false,
    };
}

/// A grant ended (the deprovisioning outputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprovisioned {
    pub deprovisioning_transaction_id: TransactionId,
    pub original_transaction_id: TransactionId,
    /// True when an earlier request had already deprovisioned this grant.
    pub already_deprovisioned: bool,
}

/// Ends grants through their mechanism's port.
#[derive(Clone)]
pub struct GrantEnder {
    pub journal: Journal,
    pub roles: Arc<dyn RoleProvisioner>,
    /// For grants delivered as Identity Center assignments (none without `[people]`).
    pub assignments: Option<Assignments>,
}

impl GrantEnder {
    /// Ends the grant if it is live; says so if it already ended; refuses otherwise.
    pub async fn end_in_any_state(
        &self,
        grant: Grant,
        actor: &Actor,
        ending: Ending<'_>,
    ) -> Result<Deprovisioned, BrokerError> {
        match grant.state {
            State::Provisioned => self.end(grant, actor, ending).await,
            State::Deprovisioned => Ok(Deprovisioned {
                deprovisioning_transaction_id: grant
                    .links
                    .deprovisioning
                    .clone()
                    .unwrap_or_else(|| grant.id.clone()),
                original_transaction_id: grant.id,
                already_deprovisioned: true,
            }),
            State::Processing | State::Deprovisioning => Err(BrokerError::new(
                ErrorCode::InProgress,
                format!(
                    "transaction {} is {}; try again when it settles",
                    grant.id, grant.state
                ),
            )),
            State::Rejected | State::Failed => Err(BrokerError::new(
                ErrorCode::NotProvisioned,
                format!(
                    "transaction {} ended {}; it holds no role",
                    grant.id, grant.state
                ),
            )),
        }
    }

    /// Ends a provisioned grant in two ledger writes: claim it and create the linked record
    /// (one write), optionally cut off its sessions, delete the role, and mark both ended
    /// (the second).
    pub async fn end(
        &self,
        grant: Grant,
        actor: &Actor,
        ending: Ending<'_>,
    ) -> Result<Deprovisioned, BrokerError> {
        let record_id = self.journal.new_id();
        let (grant, claimed, record, leave) = self.claim(grant, actor, &ending, &record_id).await?;

        let mut outcome = Batch::default();
        let claimed = if ending.revoke_sessions && grant.role_name().is_some() {
            self.revoke_sessions(&mut outcome, claimed, actor).await?
        } else {
            claimed
        };
        let mut sessions_cut = None;
        let removal = match &leave {
            Some(leave) => {
                let cut = ending.revoke_sessions.then_some(&mut sessions_cut);
                self.leave(&mut outcome, leave, actor, cut).await
            }
            None => self.remove(&grant, ending.revoke_sessions).await,
        };
        match removal {
            Removal::Removed(deletion) => {
                let gone = deletion == RoleDeletion::AlreadyGone;
                let reason = match (&leave, gone) {
                    (Some(Leave::Keep), _) => {
                        "assignment kept: other grants or standing access hold it"
                    }
                    (Some(Leave::Unassign(_)), _) => "assignment removed",
                    (None, true) => "role was already gone",
                    (None, false) => "role deleted",
                };
                let mut data = json!({ "role_arn": grant.role_arn(), "already_gone": gone });
                if let Some(cut) = sessions_cut {
                    data["sessions_cut"] = json!(cut);
                }
                for ended in [&record, &claimed] {
                    let step = Step::new(actor, Action::Deprovisioned, reason).data(data.clone());
                    self.journal.stage_transition(
                        &mut outcome,
                        ended,
                        State::Deprovisioned,
                        step,
                        |_| {},
                    )?;
                }
                let ended = format!("ended ({}): {reason}", ending.why);
                self.journal.stage_grant_notice(
                    &mut outcome,
                    actor,
                    &grant,
                    NoticeKind::GrantEnded,
                    &ended,
                );
                self.journal.commit(outcome).await?;
                Ok(Deprovisioned {
                    deprovisioning_transaction_id: record_id,
                    original_transaction_id: grant.id,
                    already_deprovisioned: false,
                })
            }
            Removal::StillThere(error) => {
                let error = error.in_transaction(&record_id);
                self.hand_back(outcome, &record, claimed, actor, &error)
                    .await?;
                Err(error)
            }
            // Unknown whether the role is gone: leave the grant `deprovisioning`; the reaper
            // finishes it.
            Removal::Unknown(error) => {
                self.journal.commit(outcome).await?;
                Err(error.in_transaction(&record_id))
            }
        }
    }

    /// Claims a provisioned grant (`provisioned → deprovisioning`) and creates its linked
    /// deprovisioning record, in one conditional write: if another caller got there, the
    /// write conflicts and nothing else happens. When two claims collide and neither lands
    /// (a store that cancels both), it tries again from what is stored. Answers the grant
    /// as claimed from, the claimed grant and the record.
    async fn claim(
        &self,
        mut grant: Grant,
        actor: &Actor,
        ending: &Ending<'_>,
        record_id: &TransactionId,
    ) -> Result<(Grant, Grant, Grant, Option<Leave>), BrokerError> {
        let mut attempts = 0;
        loop {
            let mut batch = Batch::default();
            let step = Step::new(actor, ending.action, ending.why)
                .data(json!({ "deprovisioning_transaction_id": record_id }));
            let claimed = self.journal.stage_transition(
                &mut batch,
                &grant,
                State::Deprovisioning,
                step,
                |next| next.links.deprovisioning = Some(record_id.clone()),
            )?;
            let record = grant.deprovisioning_record(record_id.clone(), self.journal.now());
            let reason = format!(
                "deprovisioning {} for {}",
                grant.id, grant.terms.subject.requester
            );
            let step = Step::new(actor, Action::Requested, reason)
                .data(json!({ "original_transaction_id": grant.id }));
            self.journal.stage(&mut batch, &record, step);
            // An assignment's holding moves in the same write: of two grants ending at once,
            // only the later one sees itself the last holder.
            let leave = match &self.assignments {
                Some(assignments) if grant.held().is_some() => {
                    Some(assignments.stage_leave(&mut batch, &grant, actor).await?)
                }
                _ => None,
            };
            let error = match self.journal.commit(batch).await {
                Ok(()) => return Ok((grant, claimed, record, leave)),
                Err(error) => error,
            };
            match self.journal.find(&grant.id).await {
                Ok(Some(current)) if current.state != State::Provisioned => {
                    return Err(BrokerError::new(
                        ErrorCode::InProgress,
                        format!("transaction {} is already being deprovisioned", grant.id),
                    ));
                }
                Ok(Some(current)) if attempts < 3 => {
                    attempts += 1;
                    grant = current;
                }
                _ => return Err(error),
            }
        }
    }

    /// Deletes the grant's role. A failed delete may have landed anyway (a timeout, a lost
    /// answer): IAM is asked before the failure is believed.
    async fn remove(&self, grant: &Grant, sessions_revoked: bool) -> Removal {
        let account = grant.account_id();
        let Some(role) = grant.role_name() else {
            return Removal::Unknown(BrokerError::new(
                ErrorCode::NotAProvisioning,
                format!("transaction {} has no access stint can remove", grant.id),
            ));
        };
        let contents = grant.role_contents(sessions_revoked);
        match self.roles.delete_role(account, role, &contents).await {
            Ok(deletion) => Removal::Removed(deletion),
            Err(error) => match self.roles.role_exists(account, role).await {
                Ok(false) => Removal::Removed(RoleDeletion::Deleted),
                Ok(true) => Removal::StillThere(aws_error(error)),
                Err(_) => Removal::Unknown(aws_error(error)),
            },
        }
    }

    /// For the reaper, whose claims are its own: removes an interrupted grant's access by its
    /// mechanism (the role, or its part in an assignment).
    pub async fn remove_access(
        &self,
        grant: &Grant,
        sessions_revoked: bool,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        match (grant.role_name(), &self.assignments) {
            (Some(role), _) => self
                .roles
                .delete_role(
                    grant.account_id(),
                    role,
                    &grant.role_contents(sessions_revoked),
                )
                .await
                .map(|_| ())
                .map_err(aws_error),
            (None, Some(assignments)) => assignments.settle(grant, actor).await,
            (None, None) => Err(BrokerError::new(
                ErrorCode::NotAProvisioning,
                format!(
                    "transaction {} is an Identity Center grant, and this broker has no [people]",
                    grant.id
                ),
            )),
        }
    }

    /// An assignment grant's part: remove the assignment if it was the last holder of one
    /// stint made. A failure leaves the grant `deprovisioning` and the holding `releasing`
    /// for the reaper to finish: the assignment must not outlive every grant.
    /// On an early revoke (`cut` given), the person's live sessions are cut off too once the
    /// assignment is gone; `cut` says how that went (it never fails the ending: the access
    /// itself is gone, and the sessions end with their duration in any case).
    async fn leave(
        &self,
        outcome: &mut Batch,
        leave: &Leave,
        actor: &Actor,
        cut: Option<&mut Option<String>>,
    ) -> Removal {
        let (Leave::Unassign(left), Some(assignments)) = (leave, &self.assignments) else {
            return Removal::Removed(RoleDeletion::Deleted);
        };
        if let Err(error) = assignments.unassign(outcome, left, actor).await {
            return Removal::Unknown(error);
        }
        if let Some(cut) = cut {
            let before = self.journal.now();
            *cut = Some(
                match assignments
                    .assigner
                    .cut_sessions(&left.held.reach(), before)
                    .await
                {
                    Ok(()) => format!("sessions issued before {} denied", iam_time(before)),
                    Err(error) => {
                        tracing::warn!("cutting off live sessions failed: {error}");
                        format!("not cut off: {error}")
                    }
                },
            );
        }
        Removal::Removed(RoleDeletion::Deleted)
    }

    /// Records a failed removal, with whatever `outcome` already staged: the record ends
    /// `failed` and the grant goes back to `provisioned`, so it can be ended again.
    async fn hand_back(
        &self,
        mut outcome: Batch,
        record: &Grant,
        claimed: Grant,
        actor: &Actor,
        error: &BrokerError,
    ) -> Result<(), BrokerError> {
        let failure = Failure {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        };
        let step = Step::new(actor, Action::Failed, error.message.clone());
        self.journal
            .stage_transition(&mut outcome, record, State::Failed, step, |next| {
                next.failure = Some(failure)
            })?;
        let step = Step::new(actor, Action::DeprovisionFailed, error.message.clone())
            .data(json!({ "deprovisioning_transaction_id": record.id }));
        self.journal.stage_transition(
            &mut outcome,
            &claimed,
            State::Provisioned,
            step,
            |next| {
                next.links.deprovisioning = None;
            },
        )?;
        self.journal.commit(outcome).await
    }

    /// Puts the session-revoking deny on a claimed grant's role and stages the event. If AWS
    /// refuses, the record says so and deprovisioning goes on: deleting the role ends the
    /// sessions too.
    async fn revoke_sessions(
        &self,
        outcome: &mut Batch,
        claimed: Grant,
        actor: &Actor,
    ) -> Result<Grant, BrokerError> {
        // Whole seconds in the policy: a session issued within this second is cut off too.
        let cutoff = self.journal.now() + Duration::from_secs(1);
        let result = self
            .roles
            .revoke_sessions(claimed.account_id(), claimed.role()?, cutoff)
            .await;
        let (reason, data) = match &result {
            Ok(()) => (
                format!("sessions issued before {} are denied", iam_time(cutoff)),
                json!({ "issued_before": iam_time(cutoff) }),
            ),
            Err(error) => (
                format!("could not deny existing sessions ({error}); deleting the role ends them"),
                json!({ "error": error.to_string() }),
            ),
        };
        let step = Step::new(actor, Action::SessionsRevoked, reason).data(data);
        self.journal
            .stage_transition(outcome, &claimed, State::Deprovisioning, step, |_| {})
    }
}

/// What removing a grant's access came to.
enum Removal {
    Removed(RoleDeletion),
    /// The delete failed and the role is still there.
    StillThere(BrokerError),
    /// The removal failed and AWS cannot say whether the access is gone.
    Unknown(BrokerError),
}
