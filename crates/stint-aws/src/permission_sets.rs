//! Identity Center's permission sets as `stint catalog plan` reads them and `apply` writes
//! them (sso-admin), with the member accounts' target roles (`member_roles.rs`): together the
//! `EstateStore` port. Provisioning is asynchronous in AWS: each is polled with backoff to
//! `SUCCEEDED` or `FAILED` (with the reason), up to a bound, like assignment changes in
//! `sso.rs`. A permission set still assigned to anyone is never deleted: stint does not
//! remove assignments here, a live grant may hold one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ssoadmin::Client;
use aws_sdk_ssoadmin::types::{
    CustomerManagedPolicyReference, PermissionSetProvisioningStatus, PermissionsBoundary,
    ProvisionTargetType, StatusValues, Tag,
};
use stint_core::catalog::{Boundary, PolicyRef};
use stint_core::estate::{
    EstateStore, LivePermissionSet, LiveRole, MANAGED_TAG, PermissionSetState, RoleKey, RoleState,
    normalise_text,
};
use stint_core::ids::AccountId;
use stint_core::ports::PortError;
use tokio::sync::Mutex;

use crate::calls::AwsCallCounter;
use crate::error::port_error;
use crate::member_roles::MemberRoles;
use crate::sso::StatusPolling;

/// Identity Center permission sets and member-account target roles.
pub struct IdentityCenterEstate {
    client: Client,
    /// From the catalog, or the only instance ListInstances names (looked up once).
    instance_arn: Mutex<Option<String>>,
    roles: MemberRoles,
    polling: StatusPolling,
}

impl IdentityCenterEstate {
    pub fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        instance_arn: Option<String>,
        provisioner_role_name: String,
        external_id: Option<String>,
    ) -> Self {
        let config = aws_sdk_ssoadmin::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build();
        Self {
            client: Client::from_conf(config),
            instance_arn: Mutex::new(instance_arn),
            roles: MemberRoles::new(sdk, counter, provisioner_role_name, external_id),
            polling: StatusPolling::default(),
        }
    }

    pub fn with_polling(mut self, polling: StatusPolling) -> Self {
        self.polling = polling;
        self
    }

    async fn instance(&self) -> Result<String, PortError> {
        let mut known = self.instance_arn.lock().await;
        if let Some(arn) = known.as_ref() {
            return Ok(arn.clone());
        }
        let context = "finding the Identity Center instance";
        let listed = self
            .client
            .list_instances()
            .send()
            .await
            .map_err(|e| port_error(context, e))?;
        let arns: Vec<&str> = listed
            .instances()
            .iter()
            .filter_map(|i| i.instance_arn())
            .collect();
        let [only] = arns.as_slice() else {
            return Err(PortError::new(
                context,
                format!(
                    "{} instances; name the one to use in [people] instance_arn",
                    arns.len()
                ),
            ));
        };
        *known = Some((*only).to_owned());
        Ok((*only).to_owned())
    }

    /// Every permission set's ARN by name. Identity Center refuses a second set of the same
    /// name; the emulator does not, and then the first listed wins.
    async fn arns_by_name(&self, instance: &str) -> Result<BTreeMap<String, String>, PortError> {
        let arns = crate::sso::permission_set_arns(&self.client, instance).await?;
        let mut by_name = BTreeMap::new();
        for arn in arns {
            let described = self.describe(instance, &arn).await?;
            if let Some(name) = described.as_ref().and_then(|p| p.name()) {
                by_name.entry(name.to_owned()).or_insert(arn);
            }
        }
        Ok(by_name)
    }

    async fn describe(
        &self,
        instance: &str,
        arn: &str,
    ) -> Result<Option<aws_sdk_ssoadmin::types::PermissionSet>, PortError> {
        let out = self
            .client
            .describe_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send()
            .await
            .map_err(|e| port_error(format!("describing permission set {arn}"), e))?;
        Ok(out.permission_set().cloned())
    }

    /// One set's content (DescribePermissionSet and its policies).
    async fn read_set(
        &self,
        instance: &str,
        arn: &str,
        with_boundary: bool,
    ) -> Result<PermissionSetState, PortError> {
        let described = self.describe(instance, arn).await?;
        let described = described.as_ref();
        let managed = self
            .client
            .list_managed_policies_in_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .max_results(100)
            .send()
            .await
            .map_err(|e| port_error(format!("listing managed policies of {arn}"), e))?;
        let customer = self
            .client
            .list_customer_managed_policy_references_in_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .max_results(100)
            .send()
            .await
            .map_err(|e| port_error(format!("listing customer managed policies of {arn}"), e))?;
        let inline = self
            .client
            .get_inline_policy_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send()
            .await
            .map_err(|e| port_error(format!("reading the inline policy of {arn}"), e))?;
        let boundary = if with_boundary {
            self.boundary(instance, arn).await?
        } else {
            None
        };
        Ok(PermissionSetState {
            name: described
                .and_then(|p| p.name())
                .unwrap_or_default()
                .to_owned(),
            description: described
                .and_then(|p| p.description())
                .unwrap_or_default()
                .to_owned(),
            session_duration: described
                .and_then(|p| p.session_duration())
                .unwrap_or_default()
                .to_owned(),
            managed_policies: managed
                .attached_managed_policies()
                .iter()
                .filter_map(|p| p.arn())
                .map(str::to_owned)
                .collect(),
            customer_managed_policies: customer
                .customer_managed_policy_references()
                .iter()
                .map(|r| PolicyRef {
                    name: r.name().to_owned(),
                    path: r.path().unwrap_or("/").to_owned(),
                })
                .collect(),
            inline_policy: inline
                .inline_policy()
                .filter(|p| !p.is_empty())
                .map(normalise_text),
            permissions_boundary: boundary,
        })
    }

    async fn boundary(&self, instance: &str, arn: &str) -> Result<Option<Boundary>, PortError> {
        let result = self
            .client
            .get_permissions_boundary_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(aws_sdk_ssoadmin::error::SdkError::ServiceError(e))
                if e.err().is_resource_not_found_exception() =>
            {
                return Ok(None);
            }
            Err(e) => return Err(port_error(format!("reading the boundary of {arn}"), e)),
        };
        Ok(out.permissions_boundary().and_then(|b| {
            b.managed_policy_arn()
                .map(|a| Boundary::ManagedPolicy(a.to_owned()))
                .or_else(|| {
                    b.customer_managed_policy_reference().map(|r| {
                        Boundary::CustomerManaged(PolicyRef {
                            name: r.name().to_owned(),
                            path: r.path().unwrap_or("/").to_owned(),
                        })
                    })
                })
        }))
    }

    /// Waits for one provisioning's outcome from the status its own call answered.
    async fn settle(
        &self,
        instance: &str,
        context: &str,
        first: Option<&PermissionSetProvisioningStatus>,
    ) -> Result<(), PortError> {
        let mut status = first.cloned();
        let started = Instant::now();
        let mut wait = self.polling.first;
        loop {
            match status.as_ref().and_then(|s| s.status()) {
                Some(StatusValues::Succeeded) => return Ok(()),
                Some(StatusValues::Failed) => {
                    let reason = status
                        .as_ref()
                        .and_then(|s| s.failure_reason())
                        .unwrap_or("AWS gave no reason");
                    return Err(PortError::new(context, format!("FAILED: {reason}")));
                }
                _ => {}
            }
            let Some(request_id) = status
                .as_ref()
                .and_then(|s| s.request_id())
                .map(str::to_owned)
            else {
                return Err(PortError::new(context, "no request id to follow"));
            };
            if started.elapsed() >= self.polling.bound {
                return Err(PortError::new(
                    context,
                    format!(
                        "still IN_PROGRESS after {:?} (request {request_id})",
                        self.polling.bound
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.polling.longest);
            let answer = self
                .client
                .describe_permission_set_provisioning_status()
                .instance_arn(instance)
                .provision_permission_set_request_id(&request_id)
                .send()
                .await
                .map_err(|e| port_error(format!("{context}: reading request {request_id}"), e))?;
            status = answer.permission_set_provisioning_status().cloned();
        }
    }

    async fn attach_policies(
        &self,
        instance: &str,
        arn: &str,
        live: &PermissionSetState,
        desired: &PermissionSetState,
    ) -> Result<(), PortError> {
        let c = &self.client;
        for policy in desired.managed_policies.difference(&live.managed_policies) {
            c.attach_managed_policy_to_permission_set()
                .instance_arn(instance)
                .permission_set_arn(arn)
                .managed_policy_arn(policy)
                .send()
                .await
                .map_err(|e| port_error(format!("attaching {policy} to {arn}"), e))?;
        }
        for policy in live.managed_policies.difference(&desired.managed_policies) {
            c.detach_managed_policy_from_permission_set()
                .instance_arn(instance)
                .permission_set_arn(arn)
                .managed_policy_arn(policy)
                .send()
                .await
                .map_err(|e| port_error(format!("detaching {policy} from {arn}"), e))?;
        }
        let reference = |r: &PolicyRef| {
            CustomerManagedPolicyReference::builder()
                .name(&r.name)
                .path(&r.path)
                .build()
                .map_err(|e| PortError::new(format!("naming policy {}", r.name), e.to_string()))
        };
        let (want, have) = (
            &desired.customer_managed_policies,
            &live.customer_managed_policies,
        );
        for r in want.difference(have) {
            c.attach_customer_managed_policy_reference_to_permission_set()
                .instance_arn(instance)
                .permission_set_arn(arn)
                .customer_managed_policy_reference(reference(r)?)
                .send()
                .await
                .map_err(|e| port_error(format!("attaching {} to {arn}", r.name), e))?;
        }
        for r in have.difference(want) {
            c.detach_customer_managed_policy_reference_from_permission_set()
                .instance_arn(instance)
                .permission_set_arn(arn)
                .customer_managed_policy_reference(reference(r)?)
                .send()
                .await
                .map_err(|e| port_error(format!("detaching {} from {arn}", r.name), e))?;
        }
        self.put_inline_and_boundary(instance, arn, live, desired)
            .await
    }

    async fn put_inline_and_boundary(
        &self,
        instance: &str,
        arn: &str,
        live: &PermissionSetState,
        desired: &PermissionSetState,
    ) -> Result<(), PortError> {
        let c = &self.client;
        if live.inline_policy != desired.inline_policy {
            let context = format!("writing the inline policy of {arn}");
            match &desired.inline_policy {
                Some(document) => c
                    .put_inline_policy_to_permission_set()
                    .instance_arn(instance)
                    .permission_set_arn(arn)
                    .inline_policy(document.to_string())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| port_error(context, e))?,
                None => c
                    .delete_inline_policy_from_permission_set()
                    .instance_arn(instance)
                    .permission_set_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| port_error(context, e))?,
            }
        }
        if live.permissions_boundary != desired.permissions_boundary {
            let context = format!("writing the permissions boundary of {arn}");
            match &desired.permissions_boundary {
                Some(boundary) => {
                    let built = match boundary {
                        Boundary::ManagedPolicy(policy) => PermissionsBoundary::builder()
                            .managed_policy_arn(policy)
                            .build(),
                        Boundary::CustomerManaged(r) => PermissionsBoundary::builder()
                            .customer_managed_policy_reference(
                                CustomerManagedPolicyReference::builder()
                                    .name(&r.name)
                                    .path(&r.path)
                                    .build()
                                    .map_err(|e| PortError::new(&context, e.to_string()))?,
                            )
                            .build(),
                    };
                    c.put_permissions_boundary_to_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .permissions_boundary(built)
                        .send()
                        .await
                        .map_err(|e| port_error(context, e))?;
                }
                None => {
                    c.delete_permissions_boundary_from_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .send()
                        .await
                        .map_err(|e| port_error(context, e))?;
                }
            }
        }
        Ok(())
    }

    /// Whether anyone is assigned the set in any of `accounts`.
    async fn assigned(
        &self,
        instance: &str,
        arn: &str,
        accounts: &[AccountId],
    ) -> Result<Option<AccountId>, PortError> {
        for account in accounts {
            let page = self
                .client
                .list_account_assignments()
                .instance_arn(instance)
                .account_id(account.as_str())
                .permission_set_arn(arn)
                .max_results(1)
                .send()
                .await
                .map_err(|e| port_error(format!("listing assignments of {arn} on {account}"), e))?;
            if !page.account_assignments().is_empty() {
                return Ok(Some(account.clone()));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl EstateStore for IdentityCenterEstate {
    async fn permission_sets(
        &self,
        names: &BTreeSet<String>,
        with_boundary: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, LivePermissionSet>, PortError> {
        // A catalog without permission sets, and nothing of stint's: no call at all.
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let instance = self.instance().await?;
        let mut found = BTreeMap::new();
        for (name, arn) in self.arns_by_name(&instance).await? {
            // Only the catalog's and stint's: a foreign set is never read in detail.
            if !names.contains(&name) {
                continue;
            }
            let state = self
                .read_set(&instance, &arn, with_boundary.contains(&name))
                .await?;
            found.insert(name, LivePermissionSet { arn, state });
        }
        Ok(found)
    }

    async fn role(&self, key: &RoleKey) -> Result<Option<LiveRole>, PortError> {
        self.roles.role(key).await
    }

    async fn create_permission_set(
        &self,
        desired: &PermissionSetState,
    ) -> Result<String, PortError> {
        let instance = self.instance().await?;
        let context = format!("creating permission set {}", desired.name);
        let tag = Tag::builder()
            .key(MANAGED_TAG.0)
            .value(MANAGED_TAG.1)
            .build()
            .map_err(|e| PortError::new(&context, e.to_string()))?;
        let mut create = self
            .client
            .create_permission_set()
            .instance_arn(&instance)
            .name(&desired.name)
            .session_duration(&desired.session_duration)
            .tags(tag);
        if !desired.description.is_empty() {
            create = create.description(&desired.description);
        }
        let out = create.send().await.map_err(|e| port_error(&context, e))?;
        let arn = out
            .permission_set()
            .and_then(|p| p.permission_set_arn())
            .ok_or_else(|| PortError::new(&context, "Identity Center answered no ARN"))?
            .to_owned();
        let bare = PermissionSetState {
            managed_policies: BTreeSet::new(),
            customer_managed_policies: BTreeSet::new(),
            inline_policy: None,
            permissions_boundary: None,
            ..desired.clone()
        };
        self.attach_policies(&instance, &arn, &bare, desired)
            .await?;
        Ok(arn)
    }

    async fn update_permission_set(
        &self,
        arn: &str,
        live: &PermissionSetState,
        desired: &PermissionSetState,
    ) -> Result<(), PortError> {
        let instance = self.instance().await?;
        if live.description != desired.description
            || live.session_duration != desired.session_duration
        {
            self.client
                .update_permission_set()
                .instance_arn(&instance)
                .permission_set_arn(arn)
                .description(&desired.description)
                .session_duration(&desired.session_duration)
                .send()
                .await
                .map_err(|e| port_error(format!("updating permission set {arn}"), e))?;
        }
        self.attach_policies(&instance, arn, live, desired).await
    }

    async fn provision(&self, arn: &str, accounts: &[AccountId]) -> Result<(), PortError> {
        let instance = self.instance().await?;
        for account in accounts {
            let context = format!("provisioning {arn} to {account}");
            let answer = self
                .client
                .provision_permission_set()
                .instance_arn(&instance)
                .permission_set_arn(arn)
                .target_type(ProvisionTargetType::AwsAccount)
                .target_id(account.as_str())
                .send()
                .await
                .map_err(|e| port_error(&context, e))?;
            self.settle(
                &instance,
                &context,
                answer.permission_set_provisioning_status(),
            )
            .await?;
        }
        Ok(())
    }

    async fn delete_permission_set(
        &self,
        arn: &str,
        accounts: &[AccountId],
    ) -> Result<(), PortError> {
        let instance = self.instance().await?;
        if let Some(account) = self.assigned(&instance, arn, accounts).await? {
            return Err(PortError::new(
                format!("deleting permission set {arn}"),
                format!(
                    "it is still assigned on {account}; stint never removes an assignment here \
                     (a grant may hold it): end those grants or remove the assignments first"
                ),
            ));
        }
        self.client
            .delete_permission_set()
            .instance_arn(&instance)
            .permission_set_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(format!("deleting permission set {arn}"), e))
    }

    async fn put_role(
        &self,
        key: &RoleKey,
        live: Option<&RoleState>,
        desired: &RoleState,
    ) -> Result<(), PortError> {
        self.roles.put(key, live, desired).await
    }

    async fn delete_role(&self, key: &RoleKey) -> Result<(), PortError> {
        self.roles.delete(key).await
    }
}
