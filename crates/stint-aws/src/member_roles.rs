//! The target roles in member accounts that `stint catalog apply` keeps, through the
//! provisioner role in each account (as `iam.rs` does for temporary roles): read, made into
//! what the catalog asks (trust, description, managed and inline policies), tagged as stint's,
//! and deleted with what is on them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_config::SdkConfig;
use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::Tag;
use stint_core::estate::{LiveRole, MANAGED_TAG, RoleKey, RoleState, normalise_text};
use stint_core::ids::AccountId;
use stint_core::ports::PortError;
use tokio::sync::Mutex;

use crate::calls::AwsCallCounter;
use crate::error::port_error;
use crate::member_session::MemberSessions;

pub(crate) struct MemberRoles {
    provisioner: MemberSessions,
    clients: Mutex<HashMap<AccountId, IamClient>>,
}

impl MemberRoles {
    pub(crate) fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        provisioner_role_name: String,
        external_id: Option<String>,
    ) -> Self {
        Self {
            provisioner: MemberSessions::new(sdk, counter, provisioner_role_name, external_id)
                .named("stint-catalog"),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// IAM as the provisioner role in `account` (one session per apply: a CLI run is short).
    async fn client(&self, account: &AccountId) -> Result<IamClient, PortError> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(account) {
            return Ok(client.clone());
        }
        let client = self.provisioner.iam(account).await?;
        clients.insert(account.clone(), client.clone());
        Ok(client)
    }

    pub(crate) async fn role(&self, key: &RoleKey) -> Result<Option<LiveRole>, PortError> {
        let iam = self.client(&key.account).await?;
        let context = format!("reading role {key}");
        let role = match iam.get_role().role_name(key.name.as_str()).send().await {
            Ok(out) => out.role().cloned(),
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => None,
            Err(e) => return Err(port_error(context, e)),
        };
        let Some(role) = role else {
            return Ok(None);
        };
        let tagged = role
            .tags()
            .iter()
            .any(|t| t.key() == MANAGED_TAG.0 && t.value() == MANAGED_TAG.1);
        let trust = decode(role.assume_role_policy_document().unwrap_or_default());
        let state = RoleState {
            description: role.description().unwrap_or_default().to_owned(),
            trust_policy: normalise_text(&trust),
            managed_policies: self.attached(&iam, key).await?,
            inline_policies: self.inline(&iam, key).await?,
        };
        Ok(Some(LiveRole { state, tagged }))
    }

    async fn attached(
        &self,
        iam: &IamClient,
        key: &RoleKey,
    ) -> Result<BTreeSet<String>, PortError> {
        let mut found = BTreeSet::new();
        let mut marker = None;
        loop {
            let page = iam
                .list_attached_role_policies()
                .role_name(key.name.as_str())
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| port_error(format!("listing policies attached to {key}"), e))?;
            found.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .map(str::to_owned),
            );
            marker = page
                .marker()
                .map(str::to_owned)
                .filter(|_| page.is_truncated());
            if marker.is_none() {
                return Ok(found);
            }
        }
    }

    async fn inline(
        &self,
        iam: &IamClient,
        key: &RoleKey,
    ) -> Result<BTreeMap<String, serde_json::Value>, PortError> {
        let listed = iam
            .list_role_policies()
            .role_name(key.name.as_str())
            .send()
            .await
            .map_err(|e| port_error(format!("listing inline policies of {key}"), e))?;
        let mut found = BTreeMap::new();
        for name in listed.policy_names() {
            let out = iam
                .get_role_policy()
                .role_name(key.name.as_str())
                .policy_name(name)
                .send()
                .await
                .map_err(|e| port_error(format!("reading inline policy {name} of {key}"), e))?;
            found.insert(name.clone(), normalise_text(&decode(out.policy_document())));
        }
        Ok(found)
    }

    /// Creates the role or makes the live one into `desired`; an adopted role gets the tag.
    pub(crate) async fn put(
        &self,
        key: &RoleKey,
        live: Option<&RoleState>,
        desired: &RoleState,
    ) -> Result<(), PortError> {
        let iam = self.client(&key.account).await?;
        let name = key.name.as_str();
        let trust = desired.trust_policy.to_string();
        let tag = Tag::builder()
            .key(MANAGED_TAG.0)
            .value(MANAGED_TAG.1)
            .build()
            .map_err(|e| PortError::new(format!("tagging {key}"), e.to_string()))?;
        let empty = RoleState {
            description: desired.description.clone(),
            trust_policy: desired.trust_policy.clone(),
            managed_policies: BTreeSet::new(),
            inline_policies: BTreeMap::new(),
        };
        let live = match live {
            Some(live) => {
                if live.trust_policy != desired.trust_policy {
                    iam.update_assume_role_policy()
                        .role_name(name)
                        .policy_document(&trust)
                        .send()
                        .await
                        .map_err(|e| port_error(format!("writing the trust policy of {key}"), e))?;
                }
                if live.description != desired.description {
                    iam.update_role()
                        .role_name(name)
                        .description(&desired.description)
                        .send()
                        .await
                        .map_err(|e| port_error(format!("describing {key}"), e))?;
                }
                iam.tag_role()
                    .role_name(name)
                    .tags(tag)
                    .send()
                    .await
                    .map_err(|e| port_error(format!("tagging {key}"), e))?;
                live
            }
            None => {
                iam.create_role()
                    .role_name(name)
                    .path("/")
                    .description(&desired.description)
                    .assume_role_policy_document(&trust)
                    .tags(tag)
                    .send()
                    .await
                    .map_err(|e| port_error(format!("creating role {key}"), e))?;
                &empty
            }
        };
        self.put_policies(&iam, key, live, desired).await
    }

    async fn put_policies(
        &self,
        iam: &IamClient,
        key: &RoleKey,
        live: &RoleState,
        desired: &RoleState,
    ) -> Result<(), PortError> {
        let name = key.name.as_str();
        for arn in desired.managed_policies.difference(&live.managed_policies) {
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| port_error(format!("attaching {arn} to {key}"), e))?;
        }
        for arn in live.managed_policies.difference(&desired.managed_policies) {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| port_error(format!("detaching {arn} from {key}"), e))?;
        }
        for (policy, document) in &desired.inline_policies {
            if live.inline_policies.get(policy) != Some(document) {
                iam.put_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        port_error(format!("writing inline policy {policy} of {key}"), e)
                    })?;
            }
        }
        for policy in live.inline_policies.keys() {
            if !desired.inline_policies.contains_key(policy) {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(|e| {
                        port_error(format!("deleting inline policy {policy} of {key}"), e)
                    })?;
            }
        }
        Ok(())
    }

    /// Deletes the role after what is on it; gone already is success.
    pub(crate) async fn delete(&self, key: &RoleKey) -> Result<(), PortError> {
        let Some(live) = self.role(key).await? else {
            return Ok(());
        };
        let iam = self.client(&key.account).await?;
        let bare = RoleState {
            managed_policies: BTreeSet::new(),
            inline_policies: BTreeMap::new(),
            ..live.state.clone()
        };
        self.put_policies(&iam, key, &live.state, &bare).await?;
        match iam.delete_role().role_name(key.name.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => Ok(()),
            Err(e) => Err(port_error(format!("deleting role {key}"), e)),
        }
    }
}

/// IAM answers policy documents URL-encoded.
fn decode(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_owned();
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
