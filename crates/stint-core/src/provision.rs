//! Provisioning, in the order the articles give and with stint's guarantees: validate; record
//! `processing` before any AWS write; authorize against Identity Center; create the role with
//! its expiry written into the trust and inline policies; issue credentials; record
//! `provisioned`. Any failure after the record removes what was created and records why.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use tracing::Instrument as _;

use crate::broker::{Actor, Broker};
use crate::caller::Caller;
use crate::catalog::Delivery;
use crate::credentials::Credentials;
use crate::error::{BrokerError, ErrorCode};
use crate::ids::{RoleName, TransactionId};
use crate::policy::{PolicyDocument, grant_inline_policy, trust_policy, web_identity_trust_policy};
use crate::ports::{Membership, PortError, RolePermissions, RoleSpec, SessionRequest};
use crate::request::{ProvisionInput, ProvisionRequest};
use crate::time_fmt::{iam_time, whole_seconds};
use crate::transaction::{Action, Failure, Kind, State, Transaction};

/// Temporary roles live under this path, so they can be listed and swept.
pub const ROLE_PATH: &str = "/stint/";
/// The inline policy stint puts on every temporary role.
pub const INLINE_POLICY_NAME: &str = "stint-grant";
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

/// A successful provisioning: the articles' outputs plus expiry and credentials.
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

impl Broker {
    pub async fn provision(
        &self,
        input: &ProvisionInput,
        caller: &Caller,
    ) -> Result<Provisioned, BrokerError> {
        let request = ProvisionRequest::parse(input, &self.catalog, caller)?;
        let txn = self.new_provisioning(&request)?;
        let span = tracing::info_span!("provision", transaction_id = %txn.id);
        self.run_provisioning(txn, request, caller)
            .instrument(span)
            .await
    }

    /// The saga, once the request is valid and has its transaction id.
    async fn run_provisioning(
        &self,
        txn: Transaction,
        request: ProvisionRequest,
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
        self.record(&txn, self.event(actor, Action::Requested, reason, data))
            .await?;

        let txn = match self.authorize(txn.clone(), &request, actor).await {
            Ok(authorized) => authorized,
            Err(error) => return Err(self.end(&txn, State::Rejected, error, actor).await),
        };
        match self.create_grant(&txn, &request, actor).await {
            Ok(provisioned) => Ok(provisioned),
            Err(error) => {
                let error = self.remove_partial_role(&txn, error).await;
                Err(self.end(&txn, State::Failed, error, actor).await)
            }
        }
    }

    fn new_provisioning(&self, request: &ProvisionRequest) -> Result<Transaction, BrokerError> {
        let now = self.clock.now();
        let id = self.new_transaction_id();
        Ok(Transaction {
            role_name: RoleName::for_transaction(&self.catalog.role_name_prefix, &id)?,
            id,
            kind: Kind::Provision,
            state: State::Processing,
            version: 1,
            account_id: request.account.id.clone(),
            account_name: request.account.name.clone(),
            group_type: request.group_type.clone(),
            requester: request.email.clone(),
            branch: Some(request.branch.clone()),
            role_arn: None,
            ttl_seconds: request.grant.ttl.as_secs(),
            created_at: now,
            updated_at: now,
            expires_at: None,
            original_transaction_id: None,
            deprovisioning_transaction_id: None,
            failure: None,
            caller: request.claims.clone(),
        })
    }

    /// Looks the user up and checks membership of the group for this account and persona.
    async fn authorize(
        &self,
        txn: Transaction,
        request: &ProvisionRequest,
        actor: &Actor,
    ) -> Result<Transaction, BrokerError> {
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
        let next = txn
            .advance(State::Processing, self.clock.now())
            .map_err(illegal)?;
        let data = json!({ "user_id": user.user_id, "group": group });
        self.record(
            &next,
            self.event(
                actor,
                Action::Authorized,
                format!("member of {group}"),
                data,
            ),
        )
        .await?;
        Ok(next)
    }

    async fn create_grant(
        &self,
        txn: &Transaction,
        request: &ProvisionRequest,
        actor: &Actor,
    ) -> Result<Provisioned, BrokerError> {
        let now = self.clock.now();
        let expires_at = whole_seconds(now + request.grant.ttl);
        let account = &request.account.id;
        let (trust_policy, max_session) = self.trust(request, expires_at)?;
        let spec = RoleSpec {
            account: account.clone(),
            path: ROLE_PATH.to_owned(),
            name: txn.role_name.clone(),
            description: format!(
                "stint {} for {} until {}",
                request.group_type,
                request.email,
                iam_time(expires_at)
            ),
            trust_policy,
            tags: vec![
                ("stint:transaction-id".to_owned(), txn.id.to_string()),
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
        };
        let role_arn = self.roles.create_role(&spec).await.map_err(aws_error)?;
        let mut created = txn
            .advance(State::Processing, self.clock.now())
            .map_err(illegal)?;
        created.role_arn = Some(role_arn.clone());
        created.expires_at = Some(expires_at);
        self.record(
            &created,
            self.event(
                actor,
                Action::RoleCreated,
                "temporary role created",
                json!({ "role_arn": role_arn }),
            ),
        )
        .await?;

        let permissions = RolePermissions {
            managed_policies: request.grant.managed_policies(account),
            inline_policy_name: INLINE_POLICY_NAME.to_owned(),
            inline_policy: grant_inline_policy(&request.grant.statements, expires_at),
        };
        self.roles
            .grant(account, &txn.role_name, &permissions)
            .await
            .map_err(aws_error)?;

        let credentials = match request.account.delivery {
            Delivery::Broker => {
                let session = SessionRequest {
                    role_arn: role_arn.clone(),
                    session_name: txn.role_name.to_string(),
                    source_identity: request.email.to_string(),
                    duration: session_duration(self.clock.now(), expires_at),
                };
                Some(self.issuer.issue(&session).await.map_err(aws_error)?)
            }
            Delivery::Oidc => None,
        };

        let provisioned = created
            .advance(State::Provisioned, self.clock.now())
            .map_err(illegal)?;
        let data = json!({
            "role_arn": role_arn,
            "expires_at": iam_time(expires_at),
            "managed_policies": permissions.managed_policies,
            "delivery": request.account.delivery,
            "access_key_id": credentials.as_ref().map(|c| c.access_key_id.clone()),
        });
        self.record(
            &provisioned,
            self.event(
                actor,
                Action::Provisioned,
                "role ready and credentials issued",
                data,
            ),
        )
        .await?;
        Ok(Provisioned {
            transaction_id: txn.id.clone(),
            role_arn,
            role_name: txn.role_name.clone(),
            ttl: request.grant.ttl,
            expires_at,
            delivery: request.account.delivery,
            credentials,
        })
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
                Ok((
                    document,
                    request
                        .grant
                        .ttl
                        .clamp(CHAINED_SESSION_MAX, WEB_IDENTITY_SESSION_MAX),
                ))
            }
        }
    }

    /// Deletes whatever part of the role a failed provisioning created. If that fails too, the
    /// error says so; the role keeps its expiry in its policies and its name ties it to this
    /// transaction, so it is powerless after expiry and can be found and swept.
    async fn remove_partial_role(&self, txn: &Transaction, error: BrokerError) -> BrokerError {
        match self
            .roles
            .delete_role(&txn.account_id, &txn.role_name)
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

    /// Records the terminal state for `error` and returns it, tagged with the transaction.
    async fn end(
        &self,
        txn: &Transaction,
        state: State,
        error: BrokerError,
        actor: &Actor,
    ) -> BrokerError {
        let error = error.in_transaction(&txn.id);
        // Re-read: the transaction may have advanced past `txn` before the failure.
        let current = match self.ledger.get(&txn.id).await {
            Ok(Some(current)) => current,
            _ => txn.clone(),
        };
        let Ok(mut next) = current.advance(state, self.clock.now()) else {
            return error;
        };
        next.failure = Some(Failure {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        });
        let action = if state == State::Rejected {
            Action::Rejected
        } else {
            Action::Failed
        };
        let data = json!({ "code": error.code.as_str() });
        if let Err(ledger) = self
            .record(
                &next,
                self.event(actor, action, error.message.clone(), data),
            )
            .await
        {
            // The caller still gets the original error; the stuck `processing` record is what
            // a later sweep finds.
            return BrokerError {
                message: format!(
                    "{}; recording the outcome also failed: {}",
                    error.message, ledger.message
                ),
                ..error
            };
        }
        error
    }
}

/// As long as the grant has left, but never beyond the role-chaining cap, nor under
/// AssumeRole's minimum (the expiry deny ends a session that would outlive the grant).
fn session_duration(now: OffsetDateTime, expires_at: OffsetDateTime) -> Duration {
    let left = Duration::try_from(expires_at - now).unwrap_or(Duration::ZERO);
    left.min(CHAINED_SESSION_MAX).max(SESSION_MIN)
}

pub(crate) fn aws_error(error: PortError) -> BrokerError {
    BrokerError::new(ErrorCode::AwsError, error.to_string()).with_cause(error)
}

pub(crate) fn illegal(error: crate::transaction::IllegalTransition) -> BrokerError {
    BrokerError::new(ErrorCode::LedgerError, error.to_string())
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
