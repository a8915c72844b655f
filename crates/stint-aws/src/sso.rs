//! IAM Identity Center account assignments (sso-admin) as stint's `AccountAssigner`.
//!
//! AWS makes and removes an assignment asynchronously: the create or delete call answers a
//! request id with `IN_PROGRESS`, and only the status call tells when it `SUCCEEDED` or
//! `FAILED` (with a reason). Tools that do not poll show access that never arrived; here every
//! change is polled with backoff to its outcome, up to a bound, past which the answer is
//! `InProgress` and the grant's owner (or the reaper) looks again later.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ssoadmin::Client;
use aws_sdk_ssoadmin::error::SdkError;
use aws_sdk_ssoadmin::types::{
    AccountAssignmentOperationStatus, PermissionSetProvisioningStatus, PrincipalType,
    ProvisionTargetType, StatusValues, TargetType,
};
use stint_core::ids::AccountId;
use stint_core::policy;
use stint_core::ports::{AccountAssigner, Assignment, AssignmentStatus, PortError};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::calls::AwsCallCounter;
use crate::error::port_error;

/// How long a permission set's ARN is trusted for its name (a permission set deleted and made
/// again gets a new ARN; a stale one fails the assignment, it never grants another set).
const PERMISSION_SET_TTL: Duration = Duration::from_secs(300);

/// How an asynchronous change is waited for: the first look after `first`, each next one
/// twice as late up to `longest`, and no look started after `bound`.
#[derive(Debug, Clone, Copy)]
pub struct StatusPolling {
    pub first: Duration,
    pub longest: Duration,
    pub bound: Duration,
}

impl Default for StatusPolling {
    fn default() -> Self {
        // AWS usually settles an assignment in one to a few seconds.
        Self {
            first: Duration::from_millis(250),
            longest: Duration::from_secs(2),
            bound: Duration::from_secs(60),
        }
    }
}

pub struct IdentityCenterAssigner {
    client: Client,
    /// For the user names Identity Center names sessions after.
    identity_store: aws_sdk_identitystore::Client,
    identity_store_id: String,
    /// From the catalog, or the only instance ListInstances names (looked up once).
    instance_arn: Mutex<Option<String>>,
    permission_sets: Mutex<HashMap<String, (String, Instant)>>,
    polling: StatusPolling,
}

/// Which of the two asynchronous changes is being waited for.
#[derive(Debug, Clone, Copy)]
enum Change {
    Creation,
    Deletion,
    /// A permission set provisioned to an account.
    Provisioning,
}

impl IdentityCenterAssigner {
    pub fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        instance_arn: Option<String>,
        identity_store_id: impl Into<String>,
    ) -> Self {
        let config = aws_sdk_ssoadmin::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build();
        let store = aws_sdk_identitystore::config::Builder::from(sdk)
            .interceptor(counter)
            .build();
        Self {
            client: Client::from_conf(config),
            identity_store: aws_sdk_identitystore::Client::from_conf(store),
            identity_store_id: identity_store_id.into(),
            instance_arn: Mutex::new(instance_arn),
            permission_sets: Mutex::new(HashMap::new()),
            polling: StatusPolling::default(),
        }
    }

    pub fn with_polling(mut self, polling: StatusPolling) -> Self {
        self.polling = polling;
        self
    }

    /// The instance assignments are made in: the catalog's, or the only one there is.
    pub async fn instance_arn(&self) -> Result<String, PortError> {
        let mut known = self.instance_arn.lock().await;
        if let Some(arn) = known.as_ref() {
            return Ok(arn.clone());
        }
        let listed = self
            .client
            .list_instances()
            .send()
            .await
            .map_err(|e| port_error("listing Identity Center instances", e))?;
        let arns: Vec<&str> = listed
            .instances()
            .iter()
            .filter_map(|i| i.instance_arn())
            .collect();
        let arn = match arns.as_slice() {
            [only] => (*only).to_owned(),
            [] => {
                return Err(PortError::new(
                    "finding the Identity Center instance",
                    "this account has no Identity Center instance; enable IAM Identity Center \
                     or name one in [people] instance_arn",
                ));
            }
            many => {
                return Err(PortError::new(
                    "finding the Identity Center instance",
                    format!(
                        "there are {} instances; name the one to use in [people] instance_arn",
                        many.len()
                    ),
                ));
            }
        };
        *known = Some(arn.clone());
        Ok(arn)
    }

    /// Every permission set of the instance by name (ListPermissionSets, DescribePermissionSet).
    async fn permission_sets_by_name(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, PortError> {
        let arns = permission_set_arns(&self.client, instance).await?;
        let mut by_name = HashMap::new();
        for arn in arns {
            let described = self
                .client
                .describe_permission_set()
                .instance_arn(instance)
                .permission_set_arn(&arn)
                .send()
                .await
                .map_err(|e| port_error(format!("describing permission set {arn}"), e))?;
            if let Some(name) = described.permission_set().and_then(|p| p.name()) {
                by_name.insert(name.to_owned(), arn);
            }
        }
        Ok(by_name)
    }

    /// Waits for a change's outcome, starting from the status its own call answered
    /// (`first`, and the request id to ask about).
    async fn settle(
        &self,
        instance: &str,
        change: Change,
        first: AssignmentStatus,
        request_id: Option<&str>,
    ) -> Result<AssignmentStatus, PortError> {
        let mut status = first;
        let Some(request_id) = request_id else {
            return Ok(status);
        };
        let started = Instant::now();
        let mut wait = self.polling.first;
        while status == AssignmentStatus::InProgress && started.elapsed() < self.polling.bound {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.polling.longest);
            status = self.status(instance, change, request_id).await?;
        }
        Ok(status)
    }

    async fn status(
        &self,
        instance: &str,
        change: Change,
        request_id: &str,
    ) -> Result<AssignmentStatus, PortError> {
        let context = format!("reading the status of request {request_id}");
        match change {
            Change::Creation => {
                let answer = self
                    .client
                    .describe_account_assignment_creation_status()
                    .instance_arn(instance)
                    .account_assignment_creation_request_id(request_id)
                    .send()
                    .await
                    .map_err(|e| port_error(context, e))?;
                Ok(assignment_outcome(
                    answer.account_assignment_creation_status(),
                ))
            }
            Change::Deletion => {
                let answer = self
                    .client
                    .describe_account_assignment_deletion_status()
                    .instance_arn(instance)
                    .account_assignment_deletion_request_id(request_id)
                    .send()
                    .await
                    .map_err(|e| port_error(context, e))?;
                Ok(assignment_outcome(
                    answer.account_assignment_deletion_status(),
                ))
            }
            Change::Provisioning => {
                let answer = self
                    .client
                    .describe_permission_set_provisioning_status()
                    .instance_arn(instance)
                    .provision_permission_set_request_id(request_id)
                    .send()
                    .await
                    .map_err(|e| port_error(context, e))?;
                Ok(provisioning_outcome(
                    answer.permission_set_provisioning_status(),
                ))
            }
        }
    }

    /// The permission set's inline policy as Identity Center holds it (`""`: none).
    async fn inline_policy(
        &self,
        instance: &str,
        permission_set_arn: &str,
    ) -> Result<String, PortError> {
        let answer = self
            .client
            .get_inline_policy_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(permission_set_arn)
            .send()
            .await
            .map_err(|e| {
                port_error(
                    format!("reading the inline policy of {permission_set_arn}"),
                    e,
                )
            })?;
        Ok(answer.inline_policy().unwrap_or_default().to_owned())
    }

    /// Writes the permission set's inline policy (`None`: removes it) and provisions the set
    /// to `accounts`, waiting for each to succeed.
    async fn set_inline_policy(
        &self,
        instance: &str,
        permission_set_arn: &str,
        document: Option<String>,
        accounts: &[String],
    ) -> Result<(), PortError> {
        let context = format!("writing the inline policy of {permission_set_arn}");
        match document {
            Some(document) => self
                .client
                .put_inline_policy_to_permission_set()
                .instance_arn(instance)
                .permission_set_arn(permission_set_arn)
                .inline_policy(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| port_error(context, e))?,
            None => self
                .client
                .delete_inline_policy_from_permission_set()
                .instance_arn(instance)
                .permission_set_arn(permission_set_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| port_error(context, e))?,
        }
        for account in accounts {
            let answer = self
                .client
                .provision_permission_set()
                .instance_arn(instance)
                .permission_set_arn(permission_set_arn)
                .target_type(ProvisionTargetType::AwsAccount)
                .target_id(account)
                .send()
                .await
                .map_err(|e| {
                    port_error(format!("provisioning {permission_set_arn} to {account}"), e)
                })?;
            let first = answer.permission_set_provisioning_status();
            let request_id = first.and_then(|s| s.request_id());
            let context = || format!("provisioning {permission_set_arn} to {account}");
            match self
                .settle(
                    instance,
                    Change::Provisioning,
                    provisioning_outcome(first),
                    request_id,
                )
                .await?
            {
                AssignmentStatus::Succeeded => {}
                AssignmentStatus::Failed { reason } => {
                    return Err(PortError::new(context(), reason));
                }
                AssignmentStatus::InProgress => {
                    return Err(PortError::new(
                        context(),
                        "still in progress; the reaper tries again",
                    ));
                }
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        account: &AccountId,
        permission_set_arn: &str,
    ) -> Result<Vec<Assignment>, PortError> {
        let instance = self.instance_arn().await?;
        let context = format!("listing assignments of {permission_set_arn} on {account}");
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_account_assignments()
                .instance_arn(&instance)
                .account_id(account.as_str())
                .permission_set_arn(permission_set_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| port_error(context.clone(), e))?;
            for row in page.account_assignments() {
                if row.principal_type() != Some(&PrincipalType::User) {
                    continue;
                }
                if let Some(user_id) = row.principal_id() {
                    found.push(Assignment {
                        account: account.clone(),
                        permission_set_arn: permission_set_arn.to_owned(),
                        user_id: user_id.to_owned(),
                    });
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        // The emulator stores a repeated assignment twice; AWS keeps one. Either way it is one.
        found.sort();
        found.dedup();
        Ok(found)
    }
}

/// A status answer as stint reads it; no answer at all is still in progress.
fn outcome(status: Option<&StatusValues>, failure_reason: Option<&str>) -> AssignmentStatus {
    match status {
        Some(StatusValues::Succeeded) => AssignmentStatus::Succeeded,
        Some(StatusValues::Failed) => AssignmentStatus::Failed {
            reason: failure_reason.unwrap_or("AWS gave no reason").to_owned(),
        },
        _ => AssignmentStatus::InProgress,
    }
}

fn assignment_outcome(status: Option<&AccountAssignmentOperationStatus>) -> AssignmentStatus {
    outcome(
        status.and_then(|s| s.status()),
        status.and_then(|s| s.failure_reason()),
    )
}

fn provisioning_outcome(status: Option<&PermissionSetProvisioningStatus>) -> AssignmentStatus {
    outcome(
        status.and_then(|s| s.status()),
        status.and_then(|s| s.failure_reason()),
    )
}

#[async_trait]
impl AccountAssigner for IdentityCenterAssigner {
    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, PortError> {
        let mut cache = self.permission_sets.lock().await;
        if let Some((arn, at)) = cache.get(name)
            && at.elapsed() < PERMISSION_SET_TTL
        {
            return Ok(Some(arn.clone()));
        }
        let instance = self.instance_arn().await?;
        let by_name = self.permission_sets_by_name(&instance).await?;
        let now = Instant::now();
        cache.clear();
        cache.extend(by_name.into_iter().map(|(name, arn)| (name, (arn, now))));
        Ok(cache.get(name).map(|(arn, _)| arn.clone()))
    }

    async fn assign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError> {
        let instance = self.instance_arn().await?;
        let answer = self
            .client
            .create_account_assignment()
            .instance_arn(&instance)
            .target_id(assignment.account.as_str())
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&assignment.permission_set_arn)
            .principal_type(PrincipalType::User)
            .principal_id(&assignment.user_id)
            .send()
            .await
            .map_err(|e| port_error(describe("assigning", assignment), e))?;
        let first = answer.account_assignment_creation_status();
        let request_id = first.and_then(|s| s.request_id());
        self.settle(
            &instance,
            Change::Creation,
            assignment_outcome(first),
            request_id,
        )
        .await
    }

    async fn unassign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError> {
        let instance = self.instance_arn().await?;
        let result = self
            .client
            .delete_account_assignment()
            .instance_arn(&instance)
            .target_id(assignment.account.as_str())
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&assignment.permission_set_arn)
            .principal_type(PrincipalType::User)
            .principal_id(&assignment.user_id)
            .send()
            .await;
        match result {
            Ok(answer) => {
                let first = answer.account_assignment_deletion_status();
                let request_id = first.and_then(|s| s.request_id());
                self.settle(
                    &instance,
                    Change::Deletion,
                    assignment_outcome(first),
                    request_id,
                )
                .await
            }
            // Already gone: what was asked for holds.
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                Ok(AssignmentStatus::Succeeded)
            }
            Err(e) => Err(port_error(describe("removing", assignment), e)),
        }
    }

    async fn is_assigned(&self, assignment: &Assignment) -> Result<bool, PortError> {
        let listed = self
            .list(&assignment.account, &assignment.permission_set_arn)
            .await?;
        Ok(listed.contains(assignment))
    }

    async fn assignments(
        &self,
        account: &AccountId,
        permission_set_arn: &str,
    ) -> Result<Vec<Assignment>, PortError> {
        self.list(account, permission_set_arn).await
    }

    async fn cut_sessions(
        &self,
        assignment: &Assignment,
        before: OffsetDateTime,
    ) -> Result<(), PortError> {
        let described = self
            .identity_store
            .describe_user()
            .identity_store_id(&self.identity_store_id)
            .user_id(&assignment.user_id)
            .send()
            .await
            .map_err(|e| port_error(format!("reading user {}", assignment.user_id), e))?;
        let user_name = described.user_name().ok_or_else(|| {
            PortError::new(
                format!("reading user {}", assignment.user_id),
                "the identity store has no user name for this user",
            )
        })?;
        let instance = self.instance_arn().await?;
        let ps = &assignment.permission_set_arn;
        let existing = self.inline_policy(&instance, ps).await?;
        let account = assignment.account.as_str();
        let document = policy::with_session_deny(&existing, user_name, account, before)
            .map_err(|m| PortError::new(format!("cutting sessions on {ps}"), m))?;
        self.set_inline_policy(&instance, ps, Some(document), &[account.to_owned()])
            .await
    }

    async fn lift_session_denies(
        &self,
        permission_set_arn: &str,
        older_than: OffsetDateTime,
    ) -> Result<u64, PortError> {
        let instance = self.instance_arn().await?;
        let existing = self.inline_policy(&instance, permission_set_arn).await?;
        let (document, accounts) = policy::without_old_session_denies(&existing, older_than)
            .map_err(|m| PortError::new(format!("lifting denies on {permission_set_arn}"), m))?;
        if accounts.is_empty() {
            return Ok(0);
        }
        self.set_inline_policy(&instance, permission_set_arn, document, &accounts)
            .await?;
        Ok(accounts.len() as u64)
    }
}

fn describe(doing: &str, assignment: &Assignment) -> String {
    format!(
        "{doing} permission set {} for user {} on {}",
        assignment.permission_set_arn, assignment.user_id, assignment.account
    )
}

/// Every permission set ARN of the instance, across ListPermissionSets' pages.
pub(crate) async fn permission_set_arns(
    client: &Client,
    instance: &str,
) -> Result<Vec<String>, PortError> {
    let context = "listing Identity Center permission sets";
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_permission_sets()
            .instance_arn(instance)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| port_error(context, e))?;
        arns.extend(page.permission_sets().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(arns);
        }
    }
}
