//! Members of identity store groups by display name (GetGroupId, ListGroupMemberships,
//! DescribeUser), for the pilot report of `stint catalog plan`: who would gain and lose a
//! persona when its pilot is lifted. Read only.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_identitystore::Client;
use aws_sdk_identitystore::error::SdkError;
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_smithy_types::Document;
use stint_core::estate::pilot::GroupMembers;
use stint_core::ports::PortError;
use tokio::sync::Mutex;

use crate::calls::AwsCallCounter;
use crate::error::port_error;

pub struct IdentityStoreGroups {
    client: Client,
    identity_store_id: String,
    /// User id -> user name, as read once per run.
    names: Mutex<HashMap<String, String>>,
}

impl IdentityStoreGroups {
    pub fn new(sdk: &SdkConfig, counter: AwsCallCounter, identity_store_id: String) -> Self {
        let config = aws_sdk_identitystore::config::Builder::from(sdk)
            .interceptor(counter)
            .build();
        Self {
            client: Client::from_conf(config),
            identity_store_id,
            names: Mutex::new(HashMap::new()),
        }
    }

    async fn group_id(&self, group: &str) -> Result<Option<String>, PortError> {
        let id = AlternateIdentifier::UniqueAttribute(
            UniqueAttribute::builder()
                .attribute_path("displayName")
                .attribute_value(Document::String(group.to_owned()))
                .build()
                .map_err(|e| PortError::new(format!("naming group {group}"), e.to_string()))?,
        );
        match self
            .client
            .get_group_id()
            .identity_store_id(&self.identity_store_id)
            .alternate_identifier(id)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.group_id().to_owned())),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(port_error(format!("finding group {group}"), e)),
        }
    }

    async fn user_name(&self, user_id: &str) -> Result<String, PortError> {
        let mut names = self.names.lock().await;
        if let Some(name) = names.get(user_id) {
            return Ok(name.clone());
        }
        let out = self
            .client
            .describe_user()
            .identity_store_id(&self.identity_store_id)
            .user_id(user_id)
            .send()
            .await
            .map_err(|e| port_error(format!("reading user {user_id}"), e))?;
        let name = out.user_name().unwrap_or(user_id).to_owned();
        names.insert(user_id.to_owned(), name.clone());
        Ok(name)
    }
}

#[async_trait]
impl GroupMembers for IdentityStoreGroups {
    async fn members(&self, group: &str) -> Result<BTreeSet<String>, PortError> {
        let Some(group_id) = self.group_id(group).await? else {
            return Ok(BTreeSet::new());
        };
        let mut user_ids = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_group_memberships()
                .identity_store_id(&self.identity_store_id)
                .group_id(&group_id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| port_error(format!("listing the members of {group}"), e))?;
            user_ids.extend(
                page.group_memberships()
                    .iter()
                    .filter_map(|m| m.member_id())
                    .filter_map(|m| m.as_user_id().ok().cloned()),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut names = BTreeSet::new();
        for user_id in user_ids {
            names.insert(self.user_name(&user_id).await?);
        }
        Ok(names)
    }
}
