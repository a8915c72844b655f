//! Provisioning a temporary role for a pipeline (or an operator): validate; record the intent
//! (`processing`) while Identity Center authorizes, and before any AWS write; create the role
//! with its expiry written into the trust and inline policies; issue credentials; record the
//! outcome (`provisioned`, with the steps between) in a second write. Any failure after the
//! intent removes what was created and records why.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join;
use serde_json::json;
use time::OffsetDateTime;
use tracing::Instrument as _;

use crate::catalog::{Catalog, Delivery};
use crate::credentials::Credentials;
use crate::error::{BrokerError, ErrorCode};
use crate::grant::{
    Batch, Caller, Failure, Grant, INLINE_POLICY_NAME, Journal, Kind, Mechanism, ROLE_PATH, Step,
    Target, Terms, aws_error, ledger_error,
};
use crate::ids::{RoleName, TransactionId};
use crate::policy::{PolicyDocument, grant_inline_policy, trust_policy, web_identity_trust_policy};
use crate::ports::{
    CredentialIssuer, Directory, Filing, LedgerError, Membership, RolePermissions, RoleProvisioner,
    RoleSpec, SessionRequest,
};
use crate::record::{Action, State};
use crate::subject::{Actor, Origin, Subject};
use crate::time_fmt::{iam_time, whole_seconds};

use super::job::JobContext;
use super::replay::Taken;
use super::request::{ProvisionAsk, ProvisionRequest};

/// AssumeRole made with role credentials is capped at one hour (role chaining).
pub const CHAINED_SESSION_MAX: Duration = Duration::from_secs(3600);
/// The audience of the token a workflow presents to AWS STS, as GitHub's own AWS guide has it.
/// It differs from the broker's audience on purpose: a token sent to stint cannot be used to
/// assume the role, so stint never holds credentials for an `oidc` role.
pub const AWS_STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The longest session IAM allows a role.
pub const WEB_IDENTITY_SESSION_MAX: Duration = Duration::from_secs(43_200);
/// AssumeRole's shortest session.
pub const SESSION_MIN: Duration = Duration::from_secs(900);

/// A successful provisioning: the grant's outputs plus expiry and credentials.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub transaction_id: TransactionId,
    pub role_arn: String,
    pub role_name: RoleName,
    pub ttl: Duration,
    pub expires_at: OffsetDateTime,
    pub delivery: Delivery,
    /// Issued by stint with `broker` delivery; with `oidc` the workflow assumes the role itself.
    pub credentials: Option<Credentials>,
}

/// The provisioning use case, over the ports it needs.
#[derive(Clone)]
pub struct Provision {
    pub catalog: Arc<Catalog>,
    pub journal: Journal,
    pub directory: Arc<dyn Directory>,
    pub roles: Arc<dyn RoleProvisioner>,
    pub issuer: Arc<dyn CredentialIssuer>,
}

impl Provision {
    /// Provisions what `input` asks for `caller`, from the job `context` names. Sent again
    /// under the same request key, it answers the grant the first attempt made.
    pub async fn run(
        &self,
        input: &ProvisionAsk<'_>,
        caller: &Caller,
        context: &JobContext,
    ) -> Result<Provisioned, BrokerError> {
        let request = ProvisionRequest::parse(input, &self.catalog, caller)?;
        let filing = context.filing(caller, &request, self.journal.now())?;
        let grant = self.new_grant(&request)?;
        let span = tracing::info_span!("provision", transaction_id = %grant.id);
        self.saga(grant, request, filing, caller)
            .instrument(span)
            .await
    }

    /// The saga, once the request is valid and has its transaction id. Two ledger writes: the
    /// intent (`requested`, filed under its job and request key), made while Identity Center
    /// is asked (a read) and landed before the first AWS write, and the outcome, which carries
    /// every step between.
    async fn saga(
        &self,
        grant: Grant,
        request: ProvisionRequest,
        filing: Filing,
        caller: &Caller,
    ) -> Result<Provisioned, BrokerError> {
        let actor = &caller.actor();
        let reason = format!(
            "{} asks for {} in {}",
            request.email, request.group_type, request.account.name
        );
        let data = json!({
            "branch": request.branch,
            "group_type": request.group_type,
            "caller": request.claims,
        });
        let step = Step::new(actor, Action::Requested, reason).data(data);
        let fingerprint = filing.request_key.as_ref().map(|k| k.fingerprint.clone());
        let mut intent = Batch::default();
        self.journal.stage(&mut intent, &grant, step);
        intent.file(&grant.id, filing);
        let (intent, authorized) =
            join(self.journal.write(intent), self.authorize(&request, actor)).await;
        match (intent, fingerprint) {
            (Ok(()), _) => {}
            // Asked before: that grant is the answer, to a caller who is still a member.
            (
                Err(LedgerError::KeyTaken {
                    transaction_id,
                    fingerprint: first,
                    ..
                }),
                Some(fingerprint),
            ) => {
                authorized?;
                let taken = Taken {
                    transaction_id,
                    fingerprint: first,
                };
                return self.replay(taken, &fingerprint, &request, caller).await;
            }
            // No intent, no AWS write: nothing was created, and the ledger's error is the answer.
            (Err(error), _) => return Err(ledger_error(error).in_transaction(&grant.id)),
        }

        let mut outcome = Batch::default();
        let grant = match authorized.and_then(|step| {
            self.journal
                .stage_transition(&mut outcome, &grant, State::Processing, step, |_| {})
        }) {
            Ok(authorized) => authorized,
            Err(error) => {
                return Err(self
                    .end(outcome, &grant, State::Rejected, error, actor)
                    .await);
            }
        };
        match self
            .create_role(&mut outcome, &grant, &request, actor)
            .await
        {
            Ok((provisioned, created)) => {
                self.finish(outcome, &created, &provisioned, &request, actor)
                    .await?;
                Ok(provisioned)
            }
            Err((error, created)) => {
                let error = self.remove_partial_role(&grant, error).await;
                let current = created.as_ref().unwrap_or(&grant);
                Err(self
                    .end(outcome, current, State::Failed, error, actor)
                    .await)
            }
        }
    }

    fn new_grant(&self, request: &ProvisionRequest) -> Result<Grant, BrokerError> {
        let id = self.journal.new_id();
        let origin = match &request.claims {
            Some(claims) => Origin::Pipeline {
                claims: Box::new(claims.clone()),
            },
            None => Origin::Operator,
        };
        let terms = Terms {
            subject: Subject {
                requester: request.email.clone(),
                origin,
            },
            target: Target {
                account_id: request.account.id.clone(),
                account_name: request.account.name.clone(),
                persona: request.group_type.clone(),
            },
            mechanism: Mechanism::Role {
                name: RoleName::for_transaction(&self.catalog.role_name_prefix, &id)?,
                arn: None,
                managed_policies: request.grant.managed_policies(&request.account.id),
            },
            branch: Some(request.branch.clone()),
            ttl_seconds: request.grant.ttl.as_secs(),
        };
        Ok(Grant::new(
            id,
            Kind::Provision,
            State::Processing,
            terms,
            self.journal.now(),
        ))
    }

    /// Looks the user up and checks membership of the group for this account and persona:
    /// reads only. Answers the `authorized` step to record.
    async fn authorize(
        &self,
        request: &ProvisionRequest,
        actor: &Actor,
    ) -> Result<Step, BrokerError> {
        let user = self
            .directory
            .user_by_email(&request.email)
            .await
            .map_err(aws_error)?
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorCode::UnknownUser,
                    format!("no Identity Center user has the email {}", request.email),
                )
            })?;
        let group = self
            .catalog
            .group_name(&request.account.id, &request.group_type);
        let not_member = |why: &str| {
            BrokerError::new(
                ErrorCode::NotAMember,
                format!("{} is not a member of {group}{why}", request.email),
            )
        };
        match self
            .directory
            .membership(&user, &group)
            .await
            .map_err(aws_error)?
        {
            Membership::Member => {}
            Membership::NotMember => return Err(not_member("")),
            Membership::NoSuchGroup => return Err(not_member(" (the group does not exist)")),
        }
        let data = json!({ "user_id": user.user_id, "group": group });
        Ok(Step::new(actor, Action::Authorized, format!("member of {group}")).data(data))
    }

    /// Creates the role, grants it its permissions and issues credentials, staging
    /// `role_created` in `outcome`. On failure, answers the error and the grant as staged
    /// so far (with the role's ARN once the role exists).
    async fn create_role(
        &self,
        outcome: &mut Batch,
        grant: &Grant,
        request: &ProvisionRequest,
        actor: &Actor,
    ) -> Result<(Provisioned, Grant), (BrokerError, Option<Grant>)> {
        let expires_at = whole_seconds(self.journal.now() + request.grant.ttl);
        let account = &request.account.id;
        let role = grant.role().map_err(|e| (e, None))?;
        let spec = self
            .role_spec(grant, request, expires_at)
            .map_err(|e| (e, None))?;
        let role_arn = self
            .roles
            .create_role(&spec)
            .await
            .map_err(|e| (aws_error(e), None))?;
        let step = Step::new(actor, Action::RoleCreated, "temporary role created")
            .data(json!({ "role_arn": role_arn }));
        let created = self
            .journal
            .stage_transition(outcome, grant, State::Processing, step, |next| {
                next.set_role_arn(role_arn.clone());
                next.expires_at = Some(expires_at);
            })
            .map_err(|e| (e, None))?;
        let failed = |error: BrokerError| (error, Some(created.clone()));

        // The session is opened while the permissions go on: nobody holds it before both are
        // done (the answer waits for both), and one call's time is off the critical path.
        let permissions = self.permissions(request, expires_at);
        let (granted, credentials) = join(
            self.roles.grant(account, role, &permissions),
            self.issue(grant, request, &role_arn, expires_at),
        )
        .await;
        granted.map_err(|e| failed(aws_error(e)))?;
        let credentials = credentials.map_err(failed)?;
        let provisioned = Provisioned {
            transaction_id: grant.id.clone(),
            role_arn,
            role_name: role.clone(),
            ttl: request.grant.ttl,
            expires_at,
            delivery: request.account.delivery,
            credentials,
        };
        Ok((provisioned, created))
    }

    /// The outcome write of a provisioning that worked: everything staged, and `provisioned`.
    async fn finish(
        &self,
        mut outcome: Batch,
        created: &Grant,
        provisioned: &Provisioned,
        request: &ProvisionRequest,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        let data = json!({
            "role_arn": provisioned.role_arn,
            "expires_at": iam_time(provisioned.expires_at),
            "managed_policies": request.grant.managed_policies(&request.account.id),
            "delivery": request.account.delivery,
            "access_key_id": provisioned.credentials.as_ref().map(|c| c.access_key_id.clone()),
        });
        let step = Step::new(
            actor,
            Action::Provisioned,
            "role ready and credentials issued",
        )
        .data(data);
        self.journal
            .stage_transition(&mut outcome, created, State::Provisioned, step, |_| {})?;
        self.journal.commit(outcome).await
    }

    fn permissions(
        &self,
        request: &ProvisionRequest,
        expires_at: OffsetDateTime,
    ) -> RolePermissions {
        RolePermissions {
            managed_policies: request.grant.managed_policies(&request.account.id),
            inline_policy_name: INLINE_POLICY_NAME.to_owned(),
            inline_policy: grant_inline_policy(&request.grant.statements, expires_at),
        }
    }

    /// The temporary role: its trust policy, tags, boundary and session ceiling.
    fn role_spec(
        &self,
        grant: &Grant,
        request: &ProvisionRequest,
        expires_at: OffsetDateTime,
    ) -> Result<RoleSpec, BrokerError> {
        let account = &request.account.id;
        let (trust_policy, max_session) = self.trust(request, expires_at)?;
        Ok(RoleSpec {
            account: account.clone(),
            path: ROLE_PATH.to_owned(),
            name: grant.role()?.clone(),
            description: format!(
                "stint {} for {} until {}",
                request.group_type,
                request.email,
                iam_time(expires_at)
            ),
            trust_policy,
            tags: vec![
                ("stint:transaction-id".to_owned(), grant.id.to_string()),
                ("stint:requester".to_owned(), request.email.to_string()),
                ("stint:branch".to_owned(), request.branch.to_string()),
                (
                    "stint:group-type".to_owned(),
                    request.group_type.to_string(),
                ),
                ("stint:expires-at".to_owned(), iam_time(expires_at)),
            ],
            permissions_boundary: self.catalog.permissions_boundary(account),
            max_session,
        })
    }

    /// Credentials for the new role with `broker` delivery; none with `oidc`.
    pub(super) async fn issue(
        &self,
        grant: &Grant,
        request: &ProvisionRequest,
        role_arn: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Option<Credentials>, BrokerError> {
        match request.account.delivery {
            Delivery::Broker => {
                let session = SessionRequest {
                    role_arn: role_arn.to_owned(),
                    session_name: grant.role()?.to_string(),
                    source_identity: request.email.to_string(),
                    duration: session_duration(self.journal.now(), expires_at),
                };
                Ok(Some(self.issuer.issue(&session).await.map_err(aws_error)?))
            }
            Delivery::Oidc => Ok(None),
        }
    }

    /// The trust policy and session ceiling for the role, by the account's delivery.
    fn trust(
        &self,
        request: &ProvisionRequest,
        expires_at: OffsetDateTime,
    ) -> Result<(PolicyDocument, Duration), BrokerError> {
        match request.account.delivery {
            Delivery::Broker => Ok((
                trust_policy(
                    &self.catalog.pipeline_principal_arn,
                    expires_at,
                    request.email.as_str(),
                ),
                CHAINED_SESSION_MAX,
            )),
            Delivery::Oidc => {
                let (Some(oidc), Some(claims)) = (self.catalog.oidc(), &request.claims) else {
                    return Err(BrokerError::new(
                        ErrorCode::DeliveryNeedsPipeline,
                        "oidc delivery needs a verified pipeline token",
                    ));
                };
                let document = web_identity_trust_policy(
                    &oidc.provider_arn(&request.account.id),
                    oidc.provider_host(),
                    AWS_STS_AUDIENCE,
                    &claims.sub,
                    expires_at,
                );
                // The workflow's own session may last as long as the grant, within IAM's range.
                let ceiling = request
                    .grant
                    .ttl
                    .clamp(CHAINED_SESSION_MAX, WEB_IDENTITY_SESSION_MAX);
                Ok((document, ceiling))
            }
        }
    }

    /// Deletes whatever part of the role a failed provisioning created. If that fails too,
    /// the error says so; the role keeps its expiry in its policies and its name ties it to
    /// this transaction, so it is powerless after expiry and can be found and swept.
    async fn remove_partial_role(&self, grant: &Grant, error: BrokerError) -> BrokerError {
        let Some(role) = grant.role_name() else {
            return error;
        };
        match self
            .roles
            .delete_role(grant.account_id(), role, &grant.role_contents(false))
            .await
        {
            Ok(_) => error,
            Err(cleanup) => BrokerError {
                message: format!(
                    "{}; removing the partial role also failed: {cleanup}",
                    error.message
                ),
                ..error
            },
        }
    }

    /// Records the terminal state for `error`, with whatever `outcome` staged, and returns
    /// the error tagged with the transaction.
    async fn end(
        &self,
        mut outcome: Batch,
        grant: &Grant,
        state: State,
        error: BrokerError,
        actor: &Actor,
    ) -> BrokerError {
        let error = error.in_transaction(&grant.id);
        let step = self.failure_step(&error, state, actor);
        let failure = self.failure(&error);
        let staged = self
            .journal
            .stage_transition(&mut outcome, grant, state, step, |next| {
                next.failure = Some(failure)
            });
        let ended = match staged {
            Ok(_) => self.journal.commit(outcome).await,
            Err(illegal) => Err(illegal),
        };
        let ended = match ended {
            // The reaper may have moved the grant meanwhile: end it from what is stored.
            Err(conflict) if conflict.code == ErrorCode::WriteConflict => {
                self.end_from_stored(grant, state, &error, actor).await
            }
            other => other,
        };
        match ended {
            Ok(()) => error,
            // The caller still gets the original error; the stuck `processing` record is
            // what a later sweep finds.
            Err(ledger) => BrokerError {
                message: format!(
                    "{}; recording the outcome also failed: {}",
                    error.message, ledger.message
                ),
                ..error
            },
        }
    }

    /// Ends the grant as the ledger now holds it, unless it has ended already.
    async fn end_from_stored(
        &self,
        grant: &Grant,
        state: State,
        error: &BrokerError,
        actor: &Actor,
    ) -> Result<(), BrokerError> {
        let Some(current) = self.journal.find(&grant.id).await? else {
            return Ok(());
        };
        if !current.state.allows(state) {
            return Ok(());
        }
        let step = self.failure_step(error, state, actor);
        let failure = self.failure(error);
        self.journal
            .transition_with(&current, state, step, |next| next.failure = Some(failure))
            .await
            .map(|_| ())
    }

    fn failure_step(&self, error: &BrokerError, state: State, actor: &Actor) -> Step {
        let action = if state == State::Rejected {
            Action::Rejected
        } else {
            Action::Failed
        };
        Step::new(actor, action, error.message.clone()).data(json!({ "code": error.code.as_str() }))
    }

    fn failure(&self, error: &BrokerError) -> Failure {
        Failure {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        }
    }
}

/// As long as the grant has left, but never beyond the role-chaining cap, nor under
/// AssumeRole's minimum (the expiry deny ends a session that would outlive the grant).
fn session_duration(now: OffsetDateTime, expires_at: OffsetDateTime) -> Duration {
    let left = Duration::try_from(expires_at - now).unwrap_or(Duration::ZERO);
    left.min(CHAINED_SESSION_MAX).max(SESSION_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sessions_never_outlive_the_grant_or_the_chaining_cap() {
        let now = datetime!(2026-11-22 10:00:00 UTC);
        assert_eq!(
            session_duration(now, now + Duration::from_secs(86400)),
            CHAINED_SESSION_MAX
        );
        assert_eq!(
            session_duration(now, now + Duration::from_secs(1800)),
            Duration::from_secs(1800)
        );
        assert_eq!(
            session_duration(now, now + Duration::from_secs(60)),
            SESSION_MIN
        );
    }
}
