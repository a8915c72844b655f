//! Identity Center assignments shared by overlapping grants. Each (account, permission set,
//! user) has a holding record in the ledger naming the live grants that hold it. A grant joins
//! the holding when it starts and leaves it when it ends, each in the same conditional write as
//! its own move, so two grants racing are ordered by the ledger: the assignment is made by the
//! first holder, removed only when the last one leaves, and never removed if Identity Center
//! already had it before stint (standing access is recorded as held, not taken away).
//! A persona activated by group membership works the same way, over (group, user).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::notice::NoticeKind;
use crate::ports::{
    AccountAssigner, Assignment, AssignmentStatus, GroupMembers, GroupMembership, PortError,
};
use crate::record::{Action, Body, HoldingState, StoredRecord, Versioned, advanced};
use crate::subject::Actor;
use crate::time_fmt::serde_rfc3339;

use super::journal::{Batch, Journal, Step, aws_error, unreadable};
use super::model::Grant;
use super::stored::StoredError;

/// The schema of a stored holding body.
pub const SCHEMA: u64 = 1;

/// What a person's grant holds in Identity Center: an account assignment, or a membership
/// of a group that carries one. Stored under its kind's name (`"assignment": {…}` is what
/// holdings have always held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    Assignment(Assignment),
    Membership(GroupMembership),
}

impl Held {
    /// The permission set the user reaches on the account through it.
    pub fn reach(&self) -> Assignment {
        match self {
            Self::Assignment(assignment) => assignment.clone(),
            Self::Membership(m) => Assignment {
                account: m.account.clone(),
                permission_set_arn: m.permission_set_arn.clone(),
                user_id: m.user_id.clone(),
            },
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            Self::Assignment(_) => "assignment",
            Self::Membership(_) => "group membership",
        }
    }

    /// The key of its holding: every grant computing it for the same thing gets the same.
    fn key(&self) -> serde_json::Value {
        match self {
            Self::Assignment(a) => json!([
                "holding",
                a.account.as_str(),
                a.permission_set_arn,
                a.user_id
            ]),
            Self::Membership(m) => json!(["membership", m.group_id, m.user_id]),
        }
    }
}

/// Who among stint's grants holds one assignment (or group membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub id: TransactionId,
    pub state: HoldingState,
    pub version: u64,
    #[serde(flatten)]
    pub held: Held,
    /// The live grants holding it, oldest first.
    pub holders: Vec<TransactionId>,
    /// Identity Center had the assignment before stint: stint never removes it.
    pub standing: bool,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Holding {
    /// The holding's record id, the same for everyone who computes it: a UUID from a hash of
    /// what is held.
    pub fn id_for(held: &Held) -> TransactionId {
        TransactionId::derived(&held.key())
    }

    /// Nobody holds `assignment` yet (version 0: not stored).
    fn unheld(held: &Held, at: OffsetDateTime) -> Self {
        Self {
            id: Self::id_for(held),
            state: HoldingState::Released,
            version: 0,
            held: held.clone(),
            holders: Vec::new(),
            standing: false,
            updated_at: at,
        }
    }

    pub fn encode(&self) -> StoredRecord {
        StoredRecord {
            id: self.id.clone(),
            kind: "holding",
            status: self.state.into(),
            version: self.version,
            expires_at: None,
            updated_at: self.updated_at,
            body: Body::json(SCHEMA, self),
        }
    }

    pub fn decode(record: &StoredRecord) -> Result<Self, StoredError> {
        let unreadable = |message: String| StoredError::Unreadable {
            id: record.id.to_string(),
            message,
        };
        if record.kind != "holding" {
            return Err(unreadable(format!("a {} is not a holding", record.kind)));
        }
        Body::<Holding>::read(&record.body).map_err(unreadable)
    }

    /// The next version in `state` with `holders`, stamped at `at`.
    fn next(&self, state: HoldingState, holders: Vec<TransactionId>, at: OffsetDateTime) -> Self {
        let mut next = advanced(self, state, at).unwrap_or_else(|| self.clone());
        next.holders = holders;
        next
    }
}

impl Versioned for Holding {
    type State = HoldingState;
    fn state(&self) -> HoldingState {
        self.state
    }
    fn allows(_: HoldingState, _: HoldingState) -> bool {
        true
    }
    fn stamp(&mut self, to: HoldingState, at: OffsetDateTime) {
        (self.state, self.version, self.updated_at) = (to, self.version + 1, at);
    }
}

/// How a grant came to hold its assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Joined {
    /// stint made the assignment for this grant.
    Created,
    /// Another live grant already held it.
    Shared,
    /// Identity Center had it before stint; it stays when the grant ends.
    Standing,
}

/// What a grant's leaving asks of AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leave {
    /// Others still hold it, or it is standing access: nothing to remove.
    Keep,
    /// This was the last holder of an assignment stint made: remove it. The holding as left.
    Unassign(Holding),
}

/// The assignments and group-membership ports and the holdings in the ledger, as grants
/// join and leave them.
#[derive(Clone)]
pub struct Assignments {
    pub journal: Journal,
    pub assigner: Arc<dyn AccountAssigner>,
    /// Group memberships, for personas activated by membership (`None`: none are).
    pub members: Option<Arc<dyn GroupMembers>>,
}

/// Another grant is changing the assignment right now.
fn busy(holding: &Holding) -> BrokerError {
    BrokerError::new(
        ErrorCode::InProgress,
        format!(
            "the {} is {} for another grant; try again in a moment",
            holding.held.noun(),
            holding.state
        ),
    )
}

impl Assignments {
    /// The group-membership port, or why there is none.
    pub fn members(&self) -> Result<&Arc<dyn GroupMembers>, BrokerError> {
        self.members.as_ref().ok_or_else(|| {
            BrokerError::new(
                ErrorCode::NoAccessGroup,
                "this broker has no identity store to manage group memberships in",
            )
        })
    }

    /// Whether Identity Center has `held` now (for anyone's reason).
    async fn exists(&self, held: &Held) -> Result<bool, BrokerError> {
        match held {
            Held::Assignment(a) => self.assigner.is_assigned(a).await.map_err(aws_error),
            Held::Membership(m) => self.members()?.is_member(m).await.map_err(aws_error),
        }
    }

    /// Makes `held` and waits for the outcome (a membership is made at once).
    async fn make(&self, held: &Held) -> Result<AssignmentStatus, PortError> {
        match held {
            Held::Assignment(a) => self.assigner.assign(a).await,
            Held::Membership(m) => self
                .member_port()?
                .add(m)
                .await
                .map(|()| AssignmentStatus::Succeeded),
        }
    }

    /// Takes `held` away and waits for the outcome; already gone is success.
    async fn take_away(&self, held: &Held) -> Result<AssignmentStatus, PortError> {
        match held {
            Held::Assignment(a) => self.assigner.unassign(a).await,
            Held::Membership(m) => self
                .member_port()?
                .remove(m)
                .await
                .map(|()| AssignmentStatus::Succeeded),
        }
    }

    fn member_port(&self) -> Result<&Arc<dyn GroupMembers>, PortError> {
        self.members
            .as_ref()
            .ok_or_else(|| PortError::new("changing a group membership", "no identity store port"))
    }

    /// The holding of `held` as stored, or an unheld one.
    pub async fn holding(&self, held: &Held) -> Result<Holding, BrokerError> {
        let id = Holding::id_for(held);
        match self
            .journal
            .ledger
            .get(&id)
            .await
            .map_err(super::journal::ledger_error)?
        {
            Some(record) => Holding::decode(&record).map_err(unreadable),
            None => Ok(Holding::unheld(held, self.journal.now())),
        }
    }

    /// Makes `grant` a holder of its assignment and `provisioned` (until `expires_at`):
    /// sharing a live holding, taking standing access as it is, or making the assignment.
    /// `intent` holds the grant's first version (`processing`) and whatever the caller staged
    /// with it; it lands in the same write as the holding's first move, so no write is spent
    /// on the intent alone, and it still lands before any AWS write. Answers how it joined and
    /// the grant as written.
    /// On an error either nothing was written (the grant is not in the ledger), or nothing
    /// holds the assignment for this grant and the caller ends the grant.
    pub async fn join(
        &self,
        intent: Batch,
        grant: &Grant,
        expires_at: OffsetDateTime,
        actor: &Actor,
    ) -> Result<(Joined, Grant), BrokerError> {
        let held = grant.held().ok_or_else(|| not_assignment(grant))?;
        let mut attempts = 0;
        loop {
            let holding = self.holding(&held).await?;
            let intent = intent.clone();
            let result = match holding.state {
                HoldingState::Assigning | HoldingState::Releasing => return Err(busy(&holding)),
                HoldingState::Held => self.share(intent, grant, &holding, expires_at, actor).await,
                HoldingState::Released => {
                    self.assign_first(intent, grant, &holding, expires_at, actor)
                        .await
                }
            };
            match result {
                Err(error) if error.code == ErrorCode::WriteConflict && attempts < 3 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    async fn share(
        &self,
        intent: Batch,
        grant: &Grant,
        holding: &Holding,
        expires_at: OffsetDateTime,
        actor: &Actor,
    ) -> Result<(Joined, Grant), BrokerError> {
        let mut holders = holding.holders.clone();
        holders.push(grant.id.clone());
        let reason = format!(
            "shares the {} with {} live grant(s)",
            holding.held.noun(),
            holding.holders.len()
        );
        let how = if holding.standing {
            Joined::Standing
        } else {
            Joined::Shared
        };
        let provisioned = self
            .commit_joined(
                intent,
                grant,
                holding,
                holders,
                HoldingState::Held,
                expires_at,
                how,
                &reason,
                actor,
            )
            .await?;
        Ok((how, provisioned))
    }

    /// No live grant holds it: take it as standing if Identity Center has it already, else
    /// claim the holding (`assigning`, a conditional write: one of two racing grants wins),
    /// make the assignment and wait for its outcome.
    async fn assign_first(
        &self,
        intent: Batch,
        grant: &Grant,
        holding: &Holding,
        expires_at: OffsetDateTime,
        actor: &Actor,
    ) -> Result<(Joined, Grant), BrokerError> {
        let held = &holding.held;
        if self.exists(held).await? {
            let mut standing = holding.clone();
            standing.standing = true;
            let reason = format!(
                "Identity Center already has this {}; stint will not remove it",
                held.noun()
            );
            let reason = reason.as_str();
            let holders = vec![grant.id.clone()];
            let provisioned = self
                .commit_joined(
                    intent,
                    grant,
                    &standing,
                    holders,
                    HoldingState::Held,
                    expires_at,
                    Joined::Standing,
                    reason,
                    actor,
                )
                .await?;
            return Ok((Joined::Standing, provisioned));
        }
        let mut claiming = holding.clone();
        claiming.standing = false;
        let claim = claiming.next(
            HoldingState::Assigning,
            vec![grant.id.clone()],
            self.journal.now(),
        );
        let mut batch = intent;
        let step = Step::new(
            actor,
            Action::Joined,
            format!("{} makes the {}", grant.id, held.noun()),
        )
        .data(json!({ "transaction_id": grant.id }));
        self.journal.stage_record(&mut batch, claim.encode(), step);
        self.journal.commit(batch).await?;

        let status = self.make(held).await;
        match status {
            Ok(AssignmentStatus::Succeeded) => {
                let reason = format!("{} made", held.noun());
                let reason = reason.as_str();
                let provisioned = self
                    .commit_joined(
                        Batch::default(),
                        grant,
                        &claim,
                        claim.holders.clone(),
                        HoldingState::Held,
                        expires_at,
                        Joined::Created,
                        reason,
                        actor,
                    )
                    .await?;
                Ok((Joined::Created, provisioned))
            }
            Ok(AssignmentStatus::Failed { reason }) => {
                self.release_claim(&claim, actor, &reason).await?;
                Err(BrokerError::new(
                    ErrorCode::AssignmentFailed,
                    format!("Identity Center could not make the assignment: {reason}"),
                ))
            }
            // Still in progress: the grant stays `processing` and the holding `assigning`;
            // the reaper ends both (and removes the assignment) if nobody finishes them.
            Ok(AssignmentStatus::InProgress) => Err(BrokerError::new(
                ErrorCode::InProgress,
                "Identity Center is still making the assignment",
            )),
            Err(error) => {
                // Unknown whether it was made: keep the claim for the reaper to resolve.
                Err(aws_error(error))
            }
        }
    }

    /// The holding with `holders` in `state`, and the grant `provisioned`, in one write;
    /// answers the grant as written.
    #[allow(clippy::too_many_arguments)]
    async fn commit_joined(
        &self,
        mut batch: Batch,
        grant: &Grant,
        holding: &Holding,
        holders: Vec<TransactionId>,
        state: HoldingState,
        expires_at: OffsetDateTime,
        how: Joined,
        reason: &str,
        actor: &Actor,
    ) -> Result<Grant, BrokerError> {
        let next = holding.next(state, holders, self.journal.now());
        let action = if how == Joined::Created {
            Action::Assigned
        } else {
            Action::Joined
        };
        let step = Step::new(actor, action, reason).data(json!({ "transaction_id": grant.id }));
        self.journal.stage_record(&mut batch, next.encode(), step);
        let reach = holding.held.reach();
        let mut data = json!({
            "account_id": reach.account,
            "permission_set_arn": reach.permission_set_arn,
            "user_id": reach.user_id,
            "expires_at": crate::time_fmt::rfc3339(expires_at),
            "held": how,
        });
        if let Held::Membership(m) = &holding.held {
            data["group"] = json!(m.group);
            data["group_id"] = json!(m.group_id);
        }
        let step = Step::new(actor, Action::Provisioned, reason).data(data);
        let provisioned = self.journal.stage_transition(
            &mut batch,
            grant,
            crate::record::State::Provisioned,
            step,
            |next| next.expires_at = Some(expires_at),
        )?;
        let until = format!("started, until {}", crate::time_fmt::rfc3339(expires_at));
        self.journal
            .stage_grant_notice(&mut batch, actor, grant, NoticeKind::GrantStarted, &until);
        self.journal.commit(batch).await?;
        Ok(provisioned)
    }

    /// A failed or abandoned first assignment: nobody holds it.
    async fn release_claim(
        &self,
        claim: &Holding,
        actor: &Actor,
        why: &str,
    ) -> Result<(), BrokerError> {
        let mut batch = Batch::default();
        let next = claim.next(HoldingState::Released, Vec::new(), self.journal.now());
        let step = Step::new(actor, Action::Left, format!("assignment not made: {why}"));
        self.journal.stage_record(&mut batch, next.encode(), step);
        self.journal.commit(batch).await
    }

    /// Stages `grant` leaving its assignment's holding, for the write that claims the grant's
    /// ending: the holding is conditional on its version, so of two grants ending at once one
    /// writes first and the other sees it. Answers whether the assignment must go.
    pub async fn stage_leave(
        &self,
        batch: &mut Batch,
        grant: &Grant,
        actor: &Actor,
    ) -> Result<Leave, BrokerError> {
        let held = grant.held().ok_or_else(|| not_assignment(grant))?;
        let holding = self.holding(&held).await?;
        if !holding.holders.contains(&grant.id) {
            return Ok(Leave::Keep);
        }
        let holders: Vec<_> = holding
            .holders
            .iter()
            .filter(|id| **id != grant.id)
            .cloned()
            .collect();
        let now = self.journal.now();
        let (next, leave, reason) = if !holders.is_empty() {
            let reason = format!("{} live grant(s) still hold the assignment", holders.len());
            (
                holding.next(HoldingState::Held, holders, now),
                false,
                reason,
            )
        } else if holding.standing {
            let reason =
                "the last grant ended; the assignment was there before stint and stays".to_owned();
            (
                holding.next(HoldingState::Released, holders, now),
                false,
                reason,
            )
        } else {
            let reason = "the last grant ended; removing the assignment".to_owned();
            (
                holding.next(HoldingState::Releasing, holders, now),
                true,
                reason,
            )
        };
        let step =
            Step::new(actor, Action::Left, reason).data(json!({ "transaction_id": grant.id }));
        self.journal.stage_record(batch, next.encode(), step);
        Ok(if leave {
            Leave::Unassign(next)
        } else {
            Leave::Keep
        })
    }

    /// For the reaper: takes an interrupted grant out of its assignment's holding and, if it
    /// was the last holder of an assignment stint made (or one left `assigning` or
    /// `releasing` by a crash), removes the assignment. Safe to run again.
    pub async fn settle(&self, grant: &Grant, actor: &Actor) -> Result<(), BrokerError> {
        let held = grant.held().ok_or_else(|| not_assignment(grant))?;
        let holding = self.holding(&held).await?;
        let holders: Vec<_> = holding
            .holders
            .iter()
            .filter(|id| **id != grant.id)
            .cloned()
            .collect();
        let must_go =
            holders.is_empty() && !holding.standing && holding.state != HoldingState::Released;
        let was_holder = holders.len() != holding.holders.len();
        let now = self.journal.now();
        let reason = format!("the reaper settles {}", grant.id);
        let step = Step::new(actor, Action::Left, reason);
        let mut batch = Batch::default();
        if must_go {
            let releasing = holding.next(HoldingState::Releasing, Vec::new(), now);
            self.journal
                .stage_record(&mut batch, releasing.encode(), step);
            self.journal.commit(batch).await?;
            let mut outcome = Batch::default();
            self.unassign(&mut outcome, &releasing, actor).await?;
            return self.journal.commit(outcome).await;
        }
        if was_holder {
            let state = if holders.is_empty() {
                HoldingState::Released
            } else {
                holding.state
            };
            let next = holding.next(state, holders, now);
            self.journal.stage_record(&mut batch, next.encode(), step);
            self.journal.commit(batch).await?;
        }
        Ok(())
    }

    /// For the reaper: holdings untouched since `before` that no live grant holds (a crash
    /// between a grant's end and its leaving, or an assignment left `assigning` or
    /// `releasing`). An assignment stint made is removed; standing access is only released.
    /// Answers how many assignments it removed, and how many holdings it left for the next
    /// pass after an error.
    pub async fn sweep(
        &self,
        before: OffsetDateTime,
        limit: usize,
        actor: &Actor,
    ) -> Result<(u64, u64), BrokerError> {
        let (mut removed, mut errors) = (0, 0);
        for state in [
            HoldingState::Held,
            HoldingState::Assigning,
            HoldingState::Releasing,
        ] {
            let stale = self
                .journal
                .ledger
                .stale(state.into(), before, limit)
                .await
                .map_err(super::journal::ledger_error)?;
            for record in &stale {
                match self.sweep_one(record, actor).await {
                    Ok(true) => removed += 1,
                    Ok(false) => {}
                    // A grant joined or left meanwhile: it decides.
                    Err(e) if e.is_conflict() => {}
                    Err(e) => {
                        tracing::warn!(code = %e.code, "reaper: sweeping a holding: {}", e.message);
                        errors += 1;
                    }
                }
            }
        }
        Ok((removed, errors))
    }

    async fn sweep_one(&self, record: &StoredRecord, actor: &Actor) -> Result<bool, BrokerError> {
        let holding = Holding::decode(record).map_err(unreadable)?;
        if self.any_live(&holding.holders).await? {
            return Ok(false);
        }
        self.release_abandoned(&holding, actor).await
    }

    async fn any_live(&self, holders: &[TransactionId]) -> Result<bool, BrokerError> {
        for id in holders {
            match self.journal.find(id).await? {
                Some(grant) if !grant.state.is_terminal() => return Ok(true),
                _ => {}
            }
        }
        Ok(false)
    }

    /// Releases a holding nobody live holds, removing the assignment if stint made it.
    async fn release_abandoned(
        &self,
        holding: &Holding,
        actor: &Actor,
    ) -> Result<bool, BrokerError> {
        let now = self.journal.now();
        let reason = "the reaper: no live grant holds the assignment";
        let mut batch = Batch::default();
        if holding.standing {
            let next = holding.next(HoldingState::Released, Vec::new(), now);
            let step = Step::new(actor, Action::Left, reason);
            self.journal.stage_record(&mut batch, next.encode(), step);
            self.journal.commit(batch).await?;
            return Ok(false);
        }
        let releasing = if holding.state == HoldingState::Releasing {
            holding.clone()
        } else {
            let next = holding.next(HoldingState::Releasing, Vec::new(), now);
            let step = Step::new(actor, Action::Left, reason);
            self.journal.stage_record(&mut batch, next.encode(), step);
            self.journal.commit(batch).await?;
            next
        };
        let mut outcome = Batch::default();
        self.unassign(&mut outcome, &releasing, actor).await?;
        self.journal.commit(outcome).await?;
        Ok(true)
    }

    /// Removes the assignment the last holder left, staging `released` in `outcome`.
    pub async fn unassign(
        &self,
        outcome: &mut Batch,
        left: &Holding,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        match self.take_away(&left.held).await.map_err(aws_error)? {
            AssignmentStatus::Succeeded => {
                let next = left.next(HoldingState::Released, Vec::new(), self.journal.now());
                let removed = format!("{} removed", left.held.noun());
                let step = Step::new(actor, Action::Unassigned, removed);
                self.journal.stage_record(outcome, next.encode(), step);
                Ok(())
            }
            AssignmentStatus::Failed { reason } => Err(BrokerError::new(
                ErrorCode::AssignmentFailed,
                format!("Identity Center could not remove the assignment: {reason}"),
            )),
            AssignmentStatus::InProgress => Err(BrokerError::new(
                ErrorCode::InProgress,
                "Identity Center is still removing the assignment",
            )),
        }
    }
}

fn not_assignment(grant: &Grant) -> BrokerError {
    BrokerError::new(
        ErrorCode::NotAProvisioning,
        format!(
            "transaction {} holds no Identity Center assignment",
            grant.id
        ),
    )
}
