//! IAM in member accounts as stint's `RoleProvisioner`. stint assumes the provisioner role in
//! the target account (the session is cached until five minutes before it ends), then creates,
//! grants and deletes temporary roles with it. Every step is idempotent: creating a role that
//! already exists for the same transaction continues, and deleting what is gone is success.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::Tag;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stint_core::ids::{AccountId, RoleName};
use stint_core::policy::revoke_sessions_policy;
use stint_core::ports::{
    ListedRole, PortError, RoleContents, RoleDeletion, RolePermissions, RoleProvisioner, RoleSpec,
};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::calls::AwsCallCounter;
use crate::error::port_error;
use crate::member_session::MemberSessions;

/// How long a provisioner session is asked for, and how long before its end it is replaced.
const PROVISIONER_SESSION: Duration = Duration::from_secs(3600);
const PROVISIONER_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The inline policy an early revoke puts on a role.
const REVOKE_POLICY_NAME: &str = "stint-revoke";
/// The tag that ties a role to its transaction.
const TRANSACTION_TAG: &str = "stint:transaction-id";

pub struct IamRoleProvisioner {
    provisioner: MemberSessions,
    sessions: Mutex<HashMap<AccountId, (IamClient, Instant)>>,
}

impl IamRoleProvisioner {
    pub fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        provisioner_role_name: impl Into<String>,
        external_id: Option<String>,
    ) -> Self {
        Self {
            provisioner: MemberSessions::new(sdk, counter, provisioner_role_name, external_id)
                .named("stint-provisioner")
                .lasting(PROVISIONER_SESSION),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// An IAM client acting as the provisioner role in `account`.
    async fn client(&self, account: &AccountId) -> Result<IamClient, PortError> {
        let mut sessions = self.sessions.lock().await;
        if let Some((client, valid_until)) = sessions.get(account)
            && Instant::now() < *valid_until
        {
            return Ok(client.clone());
        }
        let started = Instant::now();
        let client = self.provisioner.iam(account).await?;
        let valid_until = started + PROVISIONER_SESSION - PROVISIONER_REFRESH_MARGIN;
        sessions.insert(account.clone(), (client.clone(), valid_until));
        Ok(client)
    }

    /// The ARN of an existing role, if it carries `transaction_id`'s tag; else an error.
    async fn adopt_existing(
        &self,
        iam: &IamClient,
        spec: &RoleSpec,
        transaction_id: &str,
    ) -> Result<String, PortError> {
        let context = format!("creating role {} in {}", spec.name, spec.account);
        let out = iam
            .get_role()
            .role_name(spec.name.as_str())
            .send()
            .await
            .map_err(|e| port_error(&context, e))?;
        let role = out
            .role()
            .ok_or_else(|| PortError::new(&context, "GetRole returned no role"))?;
        let ours = role
            .tags()
            .iter()
            .any(|t| t.key() == TRANSACTION_TAG && t.value() == transaction_id);
        if ours {
            Ok(role.arn().to_owned())
        } else {
            Err(PortError::new(
                context,
                "a role of that name exists and belongs to another transaction",
            ))
        }
    }
}

#[async_trait]
impl RoleProvisioner for IamRoleProvisioner {
    async fn create_role(&self, spec: &RoleSpec) -> Result<String, PortError> {
        let context = format!("creating role {} in {}", spec.name, spec.account);
        let iam = self.client(&spec.account).await?;
        let tags = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PortError::new(&context, e.to_string()))?;
        let result = iam
            .create_role()
            .path(&spec.path)
            .role_name(spec.name.as_str())
            .description(&spec.description)
            .assume_role_policy_document(spec.trust_policy.to_json())
            .max_session_duration(spec.max_session.as_secs() as i32)
            .set_permissions_boundary(spec.permissions_boundary.clone())
            .set_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(out) => out
                .role()
                .map(|r| r.arn().to_owned())
                .ok_or_else(|| PortError::new(context, "CreateRole returned no role")),
            Err(SdkError::ServiceError(e)) if e.err().is_entity_already_exists_exception() => {
                let transaction_id = spec
                    .tags
                    .iter()
                    .find(|(k, _)| k == TRANSACTION_TAG)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                self.adopt_existing(&iam, spec, transaction_id).await
            }
            Err(e) => Err(port_error(context, e)),
        }
    }

    async fn grant(
        &self,
        account: &AccountId,
        role: &RoleName,
        permissions: &RolePermissions,
    ) -> Result<(), PortError> {
        let iam = self.client(account).await?;
        // The attachments and the inline policy are independent: send them together.
        let mut calls: JoinSet<Result<(), PortError>> = JoinSet::new();
        for arn in &permissions.managed_policies {
            let (iam, role, arn) = (iam.clone(), role.to_string(), arn.clone());
            calls.spawn(async move {
                iam.attach_role_policy()
                    .role_name(&role)
                    .policy_arn(&arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| port_error(format!("attaching {arn} to {role}"), e))
            });
        }
        let (role_name, name, document) = (
            role.to_string(),
            permissions.inline_policy_name.clone(),
            permissions.inline_policy.to_json(),
        );
        calls.spawn(async move {
            iam.put_role_policy()
                .role_name(&role_name)
                .policy_name(&name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| port_error(format!("putting inline policy {name} on {role_name}"), e))
        });
        join_all(calls).await
    }

    async fn delete_role(
        &self,
        account: &AccountId,
        role: &RoleName,
        contents: &RoleContents,
    ) -> Result<RoleDeletion, PortError> {
        let iam = self.client(account).await?;
        if !contents.is_empty() {
            // What stint put there, removed without listing: for a one-policy persona that is
            // three calls. IAM refuses the delete if anything else is on the role.
            let mut inline = contents.inline_policies.clone();
            if contents.sessions_revoked {
                inline.push(REVOKE_POLICY_NAME.to_owned());
            }
            remove_policies(&iam, role, contents.managed_policies.clone(), inline).await?;
            match iam.delete_role().role_name(role.as_str()).send().await {
                Ok(_) => return Ok(RoleDeletion::Deleted),
                Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => {
                    return Ok(RoleDeletion::AlreadyGone);
                }
                Err(SdkError::ServiceError(e)) if e.err().is_delete_conflict_exception() => {}
                Err(e) => return Err(port_error(format!("deleting role {role} in {account}"), e)),
            }
        }
        // Contents unknown, or something stint did not put there: list and remove it all. A
        // policy attached between listing and deleting makes DeleteRole conflict: list again.
        for _ in 0..3 {
            let (attached, inline) =
                tokio::join!(attached_policies(&iam, role), inline_policies(&iam, role));
            let (Some(attached), Some(inline)) = (attached?, inline?) else {
                return Ok(RoleDeletion::AlreadyGone);
            };
            remove_policies(&iam, role, attached, inline).await?;
            match iam.delete_role().role_name(role.as_str()).send().await {
                Ok(_) => return Ok(RoleDeletion::Deleted),
                Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => {
                    return Ok(RoleDeletion::AlreadyGone);
                }
                Err(SdkError::ServiceError(e)) if e.err().is_delete_conflict_exception() => {
                    continue;
                }
                Err(e) => return Err(port_error(format!("deleting role {role} in {account}"), e)),
            }
        }
        Err(PortError::new(
            format!("deleting role {role} in {account}"),
            "policies kept being attached while the role was being deleted",
        ))
    }
    async fn role_exists(&self, account: &AccountId, role: &RoleName) -> Result<bool, PortError> {
        let iam = self.client(account).await?;
        match iam.get_role().role_name(role.as_str()).send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => Ok(false),
            Err(e) => Err(port_error(
                format!("looking up role {role} in {account}"),
                e,
            )),
        }
    }

    async fn list_roles(
        &self,
        account: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, PortError> {
        let iam = self.client(account).await?;
        let context = format!("listing roles under {path} in {account}");
        let mut roles = Vec::new();
        let mut marker = None;
        loop {
            let page = iam
                .list_roles()
                .path_prefix(path)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| port_error(&context, e))?;
            for role in page.roles() {
                let created = role.create_date();
                let created_at =
                    OffsetDateTime::from_unix_timestamp(created.secs()).map_err(|e| {
                        PortError::new(&context, format!("role creation date out of range: {e}"))
                    })?;
                roles.push(ListedRole {
                    name: role.role_name().to_owned(),
                    arn: role.arn().to_owned(),
                    created_at,
                });
            }
            match page.marker().filter(|_| page.is_truncated()) {
                Some(next) => marker = Some(next.to_owned()),
                None => return Ok(roles),
            }
        }
    }

    async fn revoke_sessions(
        &self,
        account: &AccountId,
        role: &RoleName,
        issued_before: OffsetDateTime,
    ) -> Result<(), PortError> {
        let iam = self.client(account).await?;
        iam.put_role_policy()
            .role_name(role.as_str())
            .policy_name(REVOKE_POLICY_NAME)
            .policy_document(revoke_sessions_policy(issued_before).to_json())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(format!("revoking sessions of {role} in {account}"), e))
    }
}

/// Managed policy ARNs on the role, or None if the role does not exist.
async fn attached_policies(
    iam: &IamClient,
    role: &RoleName,
) -> Result<Option<Vec<String>>, PortError> {
    all_pages(
        format!("listing policies attached to {role}"),
        |marker| async move {
            let page = iam
                .list_attached_role_policies()
                .role_name(role.as_str())
                .set_marker(marker)
                .send()
                .await?;
            let arns = page
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            Ok((
                arns,
                page.marker()
                    .filter(|_| page.is_truncated())
                    .map(str::to_owned),
            ))
        },
    )
    .await
}

/// Inline policy names on the role, or None if the role does not exist.
async fn inline_policies(
    iam: &IamClient,
    role: &RoleName,
) -> Result<Option<Vec<String>>, PortError> {
    all_pages(
        format!("listing inline policies of {role}"),
        |marker| async move {
            let page = iam
                .list_role_policies()
                .role_name(role.as_str())
                .set_marker(marker)
                .send()
                .await?;
            Ok((
                page.policy_names().to_vec(),
                page.marker()
                    .filter(|_| page.is_truncated())
                    .map(str::to_owned),
            ))
        },
    )
    .await
}

/// Follows IAM's `Marker` paging to the end; `None` when the role does not exist.
async fn all_pages<E, F, Fut>(
    context: String,
    mut page: F,
) -> Result<Option<Vec<String>>, PortError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<
            Output = Result<(Vec<String>, Option<String>), SdkError<E, HttpResponse>>,
        >,
{
    let mut items = Vec::new();
    let mut marker = None;
    loop {
        match page(marker).await {
            Ok((more, next)) => {
                items.extend(more);
                match next {
                    Some(next) => marker = Some(next),
                    None => return Ok(Some(items)),
                }
            }
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(port_error(context, e)),
        }
    }
}

/// Detaches and deletes, all at once; a policy already gone is fine.
async fn remove_policies(
    iam: &IamClient,
    role: &RoleName,
    attached: Vec<String>,
    inline: Vec<String>,
) -> Result<(), PortError> {
    let mut calls: JoinSet<Result<(), PortError>> = JoinSet::new();
    for arn in attached {
        let (iam, role) = (iam.clone(), role.to_string());
        calls.spawn(async move {
            match iam
                .detach_role_policy()
                .role_name(&role)
                .policy_arn(&arn)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => Ok(()),
                Err(e) => Err(port_error(format!("detaching {arn} from {role}"), e)),
            }
        });
    }
    for name in inline {
        let (iam, role) = (iam.clone(), role.to_string());
        calls.spawn(async move {
            match iam
                .delete_role_policy()
                .role_name(&role)
                .policy_name(&name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => Ok(()),
                Err(e) => Err(port_error(
                    format!("deleting inline policy {name} of {role}"),
                    e,
                )),
            }
        });
    }
    join_all(calls).await
}

/// Waits for every call and returns the first error, after all have finished (so nothing is
/// left running against a role that is about to be deleted).
async fn join_all(mut calls: JoinSet<Result<(), PortError>>) -> Result<(), PortError> {
    let mut first_error = None;
    while let Some(joined) = calls.join_next().await {
        let result =
            joined.unwrap_or_else(|e| Err(PortError::new("running an IAM call", e.to_string())));
        if let (Err(e), None) = (result, &first_error) {
            first_error = Some(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
