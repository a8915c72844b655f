//! People's just-in-time access: a signed-in person asks for a persona on an account for a
//! while, with a reason; approvers approve (or deny, or the person withdraws); once enough
//! approvals are in, the grant starts as an Identity Center assignment of the persona's
//! permission set, shared with the person's other live grants of it. Every refusal happens
//! before anything is written. Ending the grant (expiry, revoke) goes through `GrantEnder`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::catalog::{
    AccessRules, Account, Activation, Catalog, PeoplePersona, PeopleSettings, parse_duration,
};
use crate::error::{BrokerError, ErrorCode};
use crate::grant::{
    Assignments, Batch, Caller, Failure, Grant, Joined, Journal, Kind, Mechanism, Step, Target,
    Terms, aws_error, ledger_error,
};
use crate::ids::{AccountId, AccountName, Email, GroupType, TransactionId};
use crate::notice::{NoticeAbout, NoticeKind};
use crate::ports::{Directory, DirectoryGroup, DirectoryUser, Filing, Membership};
use crate::record::{Action, RequestState, State, Status};
use crate::subject::{Actor, Origin, PersonClaims, Subject};
use crate::time_fmt::whole_seconds;

use super::request::{AccessRequest, Approval, RequestTerms};
use super::rules::{self, Approver, Tally};

/// What a person asks for, as the door read it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessAsk<'a> {
    /// The account's name or id.
    pub account: Option<&'a str>,
    pub persona: Option<&'a str>,
    /// `2h`, `90m`.
    pub duration: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub ticket: Option<&'a str>,
    /// Break-glass: self-activated at once, where the rules allow it.
    pub break_glass: bool,
}

/// A request and, once approved, the grant it started.
#[derive(Debug, Clone)]
pub struct Decided {
    pub request: AccessRequest,
    pub grant: Option<Grant>,
    /// How the grant holds its assignment, when it started.
    pub joined: Option<Joined>,
}

/// The people use cases, over the ports they need.
#[derive(Clone)]
pub struct PeopleAccess {
    pub catalog: Arc<Catalog>,
    pub journal: Journal,
    pub directory: Arc<dyn Directory>,
    pub assignments: Assignments,
}

/// What a request is for, resolved against the catalog.
struct Resolved<'c> {
    account: &'c Account,
    persona: &'c PeoplePersona,
    rules: &'c AccessRules,
}

impl PeopleAccess {
    fn settings(&self) -> Result<&PeopleSettings, BrokerError> {
        self.catalog.people().ok_or_else(|| {
            BrokerError::new(
                ErrorCode::PeopleNotEnabled,
                "this broker's catalog has no [people] table",
            )
        })
    }

    /// Asks for access. With no approvals needed the grant starts at once.
    pub async fn ask(&self, ask: &AccessAsk<'_>, caller: &Caller) -> Result<Decided, BrokerError> {
        let person = person(caller)?;
        let account = self.account(ask.account)?;
        let persona_name = ask
            .persona
            .ok_or_else(|| missing("persona"))
            .and_then(GroupType::parse)?;
        let resolved = self.resolve(&account.id, &persona_name)?;
        let break_glass_rules;
        let resolved = if ask.break_glass {
            break_glass_rules = rules::break_glass(resolved.rules)?;
            Resolved {
                rules: &break_glass_rules,
                ..resolved
            }
        } else {
            resolved
        };
        let duration = ask.duration.ok_or_else(|| missing("duration"))?;
        let duration = parse_duration(duration).ok_or_else(|| {
            BrokerError::new(
                ErrorCode::InvalidDuration,
                format!("duration {duration:?} is not a duration such as 2h or 90m"),
            )
        })?;
        let reason = ask.reason.unwrap_or("").trim();
        rules::check_ask(resolved.rules, duration, reason, ask.ticket)?;
        rules::check_sign_in(resolved.rules, person, self.journal.now())?;
        let user = self.user(&person.email).await?;
        self.check_eligible(&user, &person.email, &resolved).await?;

        let now = self.journal.now();
        let terms = RequestTerms {
            requester: person.email.clone(),
            target: Target {
                account_id: resolved.account.id.clone(),
                account_name: resolved.account.name.clone(),
                persona: resolved.persona.name.clone(),
            },
            duration_seconds: duration.as_secs(),
            reason: reason.to_owned(),
            ticket: ask.ticket.map(str::trim).map(str::to_owned),
            break_glass: ask.break_glass,
        };
        let timeout = time::Duration::try_from(resolved.rules.request_timeout).unwrap_or_default();
        let request = AccessRequest::new(self.journal.new_id(), terms, now, now + timeout);
        let actor = caller.actor();
        let why = format!(
            "{} asks for {} on {} for {}: {}",
            person.email,
            resolved.persona.name,
            resolved.account.name,
            crate::catalog::format_duration(duration),
            if reason.is_empty() {
                "(no reason)"
            } else {
                reason
            }
        );
        let step = Step::new(&actor, Action::Requested, why.clone()).data(json!({
            "duration_seconds": duration.as_secs(),
            "ticket": request.terms.ticket,
            "approvals_needed": resolved.rules.approvals,
            "amr": person.amr,
            "break_glass": ask.break_glass,
        }));
        let mut batch = Batch::default();
        self.journal
            .stage_record(&mut batch, request.encode(), step);
        batch.file(&request.id, person_filing(&person.email));
        if ask.break_glass {
            // Loud: everyone on the channels hears of it, and the record says it wants review.
            let text = format!("BREAK-GLASS: {why}. Self-activated without approval; review it");
            let notice = about(&request, resolved.rules.approver_groups.clone());
            self.journal
                .stage_notice(&mut batch, &actor, NoticeKind::BreakGlassUsed, text, notice);
            let step = Step::new(&actor, Action::Approved, "break-glass: self-activated")
                .data(json!({ "break_glass": true, "review_required": true }));
            return self
                .start(batch, request, step, &user, &resolved, &actor)
                .await;
        }
        if resolved.rules.approvals == 0 {
            // Nobody to wait for: the request is approved as it is made, in the write that
            // records the grant's intent.
            let step = Step::new(&actor, Action::Approved, "no approval needed");
            return self
                .start(batch, request, step, &user, &resolved, &actor)
                .await;
        }
        // A membership persona whose group cannot be used is refused now, not at approval
        // (a request that starts at once looks the group up as it starts).
        self.access_group(&resolved).await?;
        let approvers = resolved.rules.approver_groups.clone();
        let text = format!(
            "{why}. Waiting for {} approval(s) from {}",
            resolved.rules.approvals,
            approvers.join(", ")
        );
        self.journal.stage_notice(
            &mut batch,
            &actor,
            NoticeKind::RequestCreated,
            text,
            about(&request, approvers),
        );
        self.journal.commit(batch).await?;
        Ok(Decided {
            request,
            grant: None,
            joined: None,
        })
    }

    /// An approver says yes. With enough approvals, the grant starts.
    pub async fn approve(
        &self,
        id: &TransactionId,
        caller: &Caller,
        comment: Option<&str>,
    ) -> Result<Decided, BrokerError> {
        let approver = person(caller)?;
        let comment = rules::check_comment(comment)?;
        let request = self.load(id).await?;
        let resolved = self.resolve(
            &request.terms.target.account_id,
            &request.terms.target.persona,
        )?;
        let approver_user = self.user(&approver.email).await?;
        let requester_user = self.user(&request.terms.requester).await?;
        let in_group = self
            .in_any(&approver_user, &resolved.rules.approver_groups)
            .await?;
        let check = Approver {
            person: approver,
            user_id: &approver_user.user_id,
            in_approver_group: in_group,
        };
        let now = self.journal.now();
        let tally = rules::check_approval(
            &request,
            resolved.rules,
            &check,
            &requester_user.user_id,
            now,
        )?;
        let actor = caller.actor();
        let mut approved = request.clone();
        approved.approvals.push(Approval {
            approver: approver.email.to_string(),
            user_id: Some(approver_user.user_id.clone()),
            at: now,
            comment: comment.clone(),
        });
        let said = comment.map(|c| format!(": {c}")).unwrap_or_default();
        match tally {
            Tally::Pending { have, need } => {
                let next = approved
                    .advance(RequestState::Requested, now)
                    .map_err(|e| BrokerError::new(ErrorCode::NotPending, e.to_string()))?;
                let why = format!("approved by {} ({have} of {need}){said}", approver.email);
                let step = Step::new(&actor, Action::Approved, why);
                let mut batch = Batch::default();
                self.journal.stage_record(&mut batch, next.encode(), step);
                self.journal.commit(batch).await?;
                Ok(Decided {
                    request: next,
                    grant: None,
                    joined: None,
                })
            }
            Tally::Approved => {
                let why = format!("approved by {}{said}", approver.email);
                let mut batch = Batch::default();
                let what = format!("was {why}");
                self.stage_told(
                    &mut batch,
                    &actor,
                    NoticeKind::RequestApproved,
                    &approved,
                    &what,
                );
                let step = Step::new(&actor, Action::Approved, why);
                self.start(batch, approved, step, &requester_user, &resolved, &actor)
                    .await
            }
        }
    }

    /// An approver says no: one deny ends the request.
    pub async fn deny(
        &self,
        id: &TransactionId,
        caller: &Caller,
        reason: &str,
    ) -> Result<Decided, BrokerError> {
        let approver = person(caller)?;
        let request = self.load(id).await?;
        rules::check_open(&request, self.journal.now())?;
        if approver.email == request.terms.requester {
            return Err(BrokerError::new(
                ErrorCode::SelfApproval,
                "withdraw your own request instead of denying it",
            ));
        }
        let resolved = self.resolve(
            &request.terms.target.account_id,
            &request.terms.target.persona,
        )?;
        let approver_user = self.user(&approver.email).await?;
        if !self
            .in_any(&approver_user, &resolved.rules.approver_groups)
            .await?
        {
            return Err(BrokerError::new(
                ErrorCode::NotAnApprover,
                format!("{} is not in an approver group for this", approver.email),
            ));
        }
        let why = format!("denied by {}: {}", approver.email, reason.trim());
        self.answer(request, RequestState::Denied, Action::Denied, why, caller)
            .await
    }

    /// The requester takes their request back.
    pub async fn withdraw(
        &self,
        id: &TransactionId,
        caller: &Caller,
    ) -> Result<Decided, BrokerError> {
        let person = person(caller)?;
        let request = self.load(id).await?;
        if person.email != request.terms.requester {
            return Err(BrokerError::new(
                ErrorCode::NotOwner,
                format!("request {id} is not {}'s", person.email),
            ));
        }
        rules::check_open(&request, self.journal.now())?;
        let why = format!("withdrawn by {}", person.email);
        self.answer(
            request,
            RequestState::Withdrawn,
            Action::Withdrawn,
            why,
            caller,
        )
        .await
    }

    /// For the reaper: every request still unanswered past its `answer_by` ends `expired`
    /// (at most `limit` per pass). An approver racing the reaper is ordered by the ledger:
    /// one of the two writes wins. Answers how many expired.
    pub async fn expire_requests(&self, limit: usize, actor: &Actor) -> Result<u64, BrokerError> {
        let now = self.journal.now();
        let mut expired = 0;
        for request in self.open_requests(limit).await? {
            if request.answer_by > now {
                continue;
            }
            let why = format!(
                "not answered by {}",
                crate::time_fmt::rfc3339(request.answer_by)
            );
            let Ok(next) = request.advance(RequestState::Expired, now) else {
                continue;
            };
            let mut batch = Batch::default();
            let what = format!("expired: {why}");
            self.stage_told(&mut batch, actor, NoticeKind::RequestExpired, &next, &what);
            let step = Step::new(actor, Action::Expired, why);
            self.journal.stage_record(&mut batch, next.encode(), step);
            match self.journal.commit(batch).await {
                Ok(()) => expired += 1,
                // Answered meanwhile: the answer stands.
                Err(e) if e.code == ErrorCode::WriteConflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// The caller's own requests and grants, newest first (at most `LISTED` of them).
    pub async fn mine(&self, caller: &Caller) -> Result<Mine, BrokerError> {
        let me = person(caller)?;
        let filed = self
            .journal
            .ledger
            .by_run(&person_key(&me.email))
            .await
            .map_err(ledger_error)?;
        let mut mine = Mine::default();
        for record in filed.iter().rev().take(LISTED) {
            match record.kind {
                "request" => mine.requests.extend(AccessRequest::decode(record).ok()),
                "provision" => mine
                    .grants
                    .extend(crate::grant::stored::decode(record).ok()),
                _ => {}
            }
        }
        Ok(mine)
    }

    /// What the caller may ask for: every account and persona they are eligible for now,
    /// with the rules that would apply.
    pub async fn eligibility(&self, caller: &Caller) -> Result<Vec<Eligible>, BrokerError> {
        let me = person(caller)?;
        let settings = self.settings()?;
        let user = self.user(&me.email).await?;
        let mut eligible = Vec::new();
        for account in self.catalog.accounts() {
            for persona in settings.personas() {
                let resolved = Resolved {
                    account,
                    persona,
                    rules: persona.rules(account.environment),
                };
                match self.check_eligible(&user, &me.email, &resolved).await {
                    Ok(()) => eligible.push(Eligible {
                        account: account.clone(),
                        persona: persona.name.clone(),
                        permission_set: persona.permission_set.clone(),
                        rules: resolved.rules.clone(),
                    }),
                    Err(e) if e.code == ErrorCode::NotEligible => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(eligible)
    }

    /// Open requests the caller may approve now: someone else's, not yet approved by them,
    /// for a persona whose approver groups they are in (at most `LISTED`).
    pub async fn to_approve(&self, caller: &Caller) -> Result<Vec<AccessRequest>, BrokerError> {
        let me = person(caller)?;
        let now = self.journal.now();
        let user = self.user(&me.email).await?;
        let mut approver_of: std::collections::HashMap<Vec<String>, bool> = Default::default();
        let mut waiting = Vec::new();
        for request in self.open_requests(LISTED).await? {
            let answered_by_me = request
                .approvals
                .iter()
                .any(|a| a.user_id.as_deref() == Some(user.user_id.as_str()));
            if request.terms.requester == me.email || answered_by_me || request.answer_by <= now {
                continue;
            }
            let Ok(resolved) = self.resolve(
                &request.terms.target.account_id,
                &request.terms.target.persona,
            ) else {
                continue;
            };
            let groups = resolved.rules.approver_groups.clone();
            let approver = match approver_of.get(&groups) {
                Some(known) => *known,
                None => {
                    let known = self.in_any(&user, &groups).await?;
                    approver_of.insert(groups, known);
                    known
                }
            };
            if approver {
                waiting.push(request);
            }
        }
        waiting.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(waiting)
    }

    /// Stages a notice about `request`: "alice's request for P on A {what}".
    fn stage_told(
        &self,
        batch: &mut Batch,
        actor: &Actor,
        kind: NoticeKind,
        request: &AccessRequest,
        what: &str,
    ) {
        let text = format!(
            "{}'s request for {} on {} {what}",
            request.terms.requester,
            request.terms.target.persona,
            request.terms.target.account_name
        );
        self.journal
            .stage_notice(batch, actor, kind, text, about(request, Vec::new()));
    }

    /// Requests waiting for an answer (at most `limit`, least recently changed first).
    async fn open_requests(&self, limit: usize) -> Result<Vec<AccessRequest>, BrokerError> {
        let now = self.journal.now();
        let open = self
            .journal
            .ledger
            .stale(Status::Request(RequestState::Requested), now, limit)
            .await
            .map_err(ledger_error)?;
        Ok(open
            .iter()
            .filter_map(|record| AccessRequest::decode(record).ok())
            .collect())
    }

    /// A request, for its requester or anyone who may approve it.
    pub async fn read(
        &self,
        id: &TransactionId,
        caller: &Caller,
    ) -> Result<AccessRequest, BrokerError> {
        let reader = person(caller)?;
        let request = self.load(id).await?;
        if reader.email == request.terms.requester {
            return Ok(request);
        }
        let resolved = self.resolve(
            &request.terms.target.account_id,
            &request.terms.target.persona,
        )?;
        let user = self.user(&reader.email).await?;
        if self.in_any(&user, &resolved.rules.approver_groups).await? {
            return Ok(request);
        }
        Err(BrokerError::new(
            ErrorCode::NotOwner,
            format!(
                "request {id} is neither {}'s nor theirs to approve",
                reader.email
            ),
        ))
    }

    async fn answer(
        &self,
        request: AccessRequest,
        to: RequestState,
        action: Action,
        why: String,
        caller: &Caller,
    ) -> Result<Decided, BrokerError> {
        let next = request
            .advance(to, self.journal.now())
            .map_err(|e| BrokerError::new(ErrorCode::NotPending, e.to_string()))?;
        let actor = caller.actor();
        let mut batch = Batch::default();
        if to == RequestState::Denied {
            let what = format!("was {why}");
            self.stage_told(&mut batch, &actor, NoticeKind::RequestDenied, &next, &what);
        }
        let step = Step::new(&actor, action, why);
        self.journal.stage_record(&mut batch, next.encode(), step);
        self.journal.commit(batch).await?;
        Ok(Decided {
            request: next,
            grant: None,
            joined: None,
        })
    }

    /// Starts the grant of an approved request: the request answered and the grant's intent
    /// in one write (an approver racing another loses here, on the request's version), then
    /// the assignment joined. A failure ends the grant `failed` with AWS's reason: it is never
    /// shown as active.
    async fn start(
        &self,
        mut batch: Batch,
        request: AccessRequest,
        approval: Step,
        requester: &DirectoryUser,
        resolved: &Resolved<'_>,
        actor: &Actor,
    ) -> Result<Decided, BrokerError> {
        let settings = self.settings()?;
        let permission_set = &resolved.persona.permission_set;
        let permission_set_arn = self
            .assignments
            .assigner
            .permission_set_arn(permission_set)
            .await
            .map_err(aws_error)?
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorCode::AssignmentFailed,
                    format!(
                        "Identity Center has no permission set {permission_set} (in {})",
                        settings.instance_arn.as_deref().unwrap_or("the instance")
                    ),
                )
            })?;
        let now = self.journal.now();
        let grant_id = self.journal.new_id();
        let mut grant = Grant::new(
            grant_id.clone(),
            Kind::Provision,
            State::Processing,
            Terms {
                subject: Subject {
                    requester: request.terms.requester.clone(),
                    origin: Origin::Person,
                },
                target: request.terms.target.clone(),
                mechanism: match self.access_group(resolved).await? {
                    None => Mechanism::Assignment {
                        permission_set: permission_set.clone(),
                        permission_set_arn,
                        user_id: requester.user_id.clone(),
                    },
                    Some((group, found)) => Mechanism::Membership {
                        permission_set: permission_set.clone(),
                        permission_set_arn,
                        group,
                        group_id: found.group_id,
                        user_id: requester.user_id.clone(),
                    },
                },
                branch: None,
                ttl_seconds: request.terms.duration_seconds,
            },
            now,
        );
        grant.links.request = Some(request.id.clone());

        let mut approved = request
            .advance(RequestState::Approved, now)
            .map_err(|e| BrokerError::new(ErrorCode::NotPending, e.to_string()))?;
        approved.grant = Some(grant_id.clone());
        self.journal
            .stage_record(&mut batch, approved.encode(), approval);
        let why = format!("grant for request {}", approved.id);
        self.journal
            .stage(&mut batch, &grant, Step::new(actor, Action::Requested, why));
        batch.file(&grant_id, person_filing(&approved.terms.requester));

        // The approval and the grant's intent land with the holding's first move.
        let expires_at = whole_seconds(now + Duration::from_secs(grant.terms.ttl_seconds));
        let error = match self
            .assignments
            .join(batch, &grant, expires_at, actor)
            .await
        {
            Ok((joined, grant)) => {
                return Ok(Decided {
                    request: approved,
                    grant: Some(grant),
                    joined: Some(joined),
                });
            }
            Err(error) => error,
        };
        let stored = self.journal.find(&grant_id).await?;
        // The write that started the grant landed though its answer was lost: it is live.
        if let Some(started) = stored.as_ref().filter(|g| g.state == State::Provisioned) {
            return Ok(Decided {
                request: approved,
                grant: Some(started.clone()),
                joined: None,
            });
        }
        // Nothing was written (another approver got there first, or the assignment is busy
        // for another grant): nothing to clean up, the request is as it was.
        if stored.is_none() {
            let now_stored = self.load(&approved.id).await?;
            if now_stored.state != RequestState::Requested {
                return Err(BrokerError::new(
                    ErrorCode::NotPending,
                    format!(
                        "request {} was {} meanwhile, by someone else",
                        approved.id, now_stored.state
                    ),
                ));
            }
            return Err(error);
        }
        // Identity Center is still busy: the grant stays `processing` for the reaper.
        if error.code == ErrorCode::InProgress {
            return Err(error.in_transaction(&grant_id));
        }
        // The assignment may have been made before the error: take the grant out of its
        // holding (removing the assignment if it was the only holder) before recording the
        // failure. If that fails too, the grant stays `processing` for the reaper.
        match self.assignments.settle(&grant, actor).await {
            Ok(()) => Err(self.fail(&grant, error, actor).await),
            Err(_) => Err(error.in_transaction(&grant_id)),
        }
    }

    async fn fail(&self, grant: &Grant, error: BrokerError, actor: &Actor) -> BrokerError {
        let error = error.in_transaction(&grant.id);
        let failure = Failure {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        };
        let step = Step::new(actor, Action::Failed, error.message.clone())
            .data(json!({ "code": error.code.as_str() }));
        match self
            .journal
            .transition_with(grant, State::Failed, step, |next| {
                next.failure = Some(failure)
            })
            .await
        {
            Ok(_) => error,
            Err(ledger) => BrokerError {
                message: format!(
                    "{}; recording the failure also failed: {}",
                    error.message, ledger.message
                ),
                ..error
            },
        }
    }

    async fn load(&self, id: &TransactionId) -> Result<AccessRequest, BrokerError> {
        let record = self
            .journal
            .ledger
            .get(id)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| crate::grant::unknown_transaction(id))?;
        AccessRequest::decode(&record)
            .map_err(|e| BrokerError::new(ErrorCode::NotARequest, e.to_string()))
    }

    fn account(&self, name_or_id: Option<&str>) -> Result<&Account, BrokerError> {
        let given = name_or_id.ok_or_else(|| missing("account"))?;
        let found = match AccountId::parse(given) {
            Ok(id) => self.catalog.account_by_id(&id),
            Err(_) => AccountName::parse(given)
                .ok()
                .and_then(|name| self.catalog.account_by_name(&name)),
        };
        found.ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownAccount,
                format!("account {given} is not in the catalog"),
            )
        })
    }

    fn resolve(
        &self,
        account: &AccountId,
        persona: &GroupType,
    ) -> Result<Resolved<'_>, BrokerError> {
        let settings = self.settings()?;
        let account = self.catalog.account_by_id(account).ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownAccount,
                format!("account {account} is not in the catalog"),
            )
        })?;
        let persona = settings.persona(persona).ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownPersona,
                format!("people cannot ask for {persona}: it is not under [people.personas]"),
            )
        })?;
        Ok(Resolved {
            account,
            persona,
            rules: persona.rules(account.environment),
        })
    }

    /// For a persona activated by membership: the group that gives it in the account, which
    /// must exist and be Identity Center's own (a group an external identity provider
    /// provisions by SCIM would have stint's memberships undone or fought by its next sync).
    async fn access_group(
        &self,
        resolved: &Resolved<'_>,
    ) -> Result<Option<(String, DirectoryGroup)>, BrokerError> {
        let (persona, account) = (resolved.persona, resolved.account);
        let Activation::Membership { .. } = persona.activation else {
            return Ok(None);
        };
        let group = persona.access_group(&account.id).ok_or_else(|| {
            BrokerError::new(
                ErrorCode::NoAccessGroup,
                format!(
                    "{} is activated by group membership and has no access group for {} ({})",
                    persona.name, account.name, account.id
                ),
            )
        })?;
        let members = self.assignments.members()?;
        let found = members.group(group).await.map_err(aws_error)?;
        let found = found.ok_or_else(|| {
            BrokerError::new(
                ErrorCode::NoAccessGroup,
                format!(
                    "Identity Center has no group {group} (the access group of {} on {})",
                    persona.name, account.name
                ),
            )
        })?;
        if found.externally_provisioned {
            return Err(BrokerError::new(
                ErrorCode::GroupExternallyProvisioned,
                format!(
                    "{group} is provisioned by an external identity provider (SCIM); its next sync would undo stint's membership. Use a group Identity Center holds"
                ),
            ));
        }
        Ok(Some((group.to_owned(), found)))
    }

    async fn user(&self, email: &Email) -> Result<DirectoryUser, BrokerError> {
        self.directory
            .user_by_email(email)
            .await
            .map_err(aws_error)?
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorCode::UnknownUser,
                    format!("no Identity Center user has the email {email}"),
                )
            })
    }

    /// Eligible: a member of `Company_Org_AccountId_Persona` or of an eligible group, now;
    /// while the persona is in a pilot (`[pilots]`), a member of the pilot group instead.
    async fn check_eligible(
        &self,
        user: &DirectoryUser,
        email: &Email,
        resolved: &Resolved<'_>,
    ) -> Result<(), BrokerError> {
        let persona = &resolved.persona.name;
        let pilot = self.catalog.pilot_group(persona);
        let groups = match pilot {
            Some(group) => vec![group.to_owned()],
            None => {
                let mut usual = vec![self.catalog.group_name(&resolved.account.id, persona)];
                usual.extend(resolved.persona.eligible_groups.iter().cloned());
                usual
            }
        };
        if self.in_any(user, &groups).await? {
            return Ok(());
        }
        let why = if pilot.is_some() {
            " (the persona is limited to its pilot group while it is rolled out)"
        } else {
            ""
        };
        Err(BrokerError::new(
            ErrorCode::NotEligible,
            format!(
                "{email} may not ask for {persona} on {}: not a member of {}{why}",
                resolved.account.name,
                groups.join(" or ")
            ),
        ))
    }

    async fn in_any(&self, user: &DirectoryUser, groups: &[String]) -> Result<bool, BrokerError> {
        for group in groups {
            let membership = self
                .directory
                .membership(user, group)
                .await
                .map_err(aws_error)?;
            if membership == Membership::Member {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn person(caller: &Caller) -> Result<&PersonClaims, BrokerError> {
    caller.person().ok_or_else(|| {
        BrokerError::new(
            ErrorCode::NotAPerson,
            "people's access needs a person's sign-in (an ID token from the identity provider)",
        )
    })
}

fn missing(field: &str) -> BrokerError {
    BrokerError::new(ErrorCode::MissingField, format!("`{field}` is required"))
}

/// One account and persona a person may ask for, and the rules there.
#[derive(Debug, Clone)]
pub struct Eligible {
    pub account: Account,
    pub persona: GroupType,
    pub permission_set: String,
    pub rules: AccessRules,
}

/// How many requests or grants a listing shows at most.
pub const LISTED: usize = 200;

/// A person's own requests and grants.
#[derive(Debug, Clone, Default)]
pub struct Mine {
    pub requests: Vec<AccessRequest>,
    pub grants: Vec<Grant>,
}

/// The key a person's requests and grants are filed under in the ledger.
fn person_key(email: &Email) -> String {
    format!("person:{email}")
}

fn person_filing(email: &Email) -> Filing {
    Filing {
        run: Some(person_key(email)),
        request_key: None,
    }
}

/// What a notice about `request` names.
fn about(request: &AccessRequest, approver_groups: Vec<String>) -> NoticeAbout {
    NoticeAbout {
        requester: request.terms.requester.to_string(),
        account_id: request.terms.target.account_id.to_string(),
        account_name: request.terms.target.account_name.to_string(),
        persona: request.terms.target.persona.to_string(),
        request_id: Some(request.id.clone()),
        grant_id: request.grant.clone(),
        approver_groups,
    }
}
