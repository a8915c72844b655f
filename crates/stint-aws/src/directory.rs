//! The Identity Center identity store as stint's `Directory`: users by email (GetUserId) and
//! group membership (IsMemberInGroups). Group ids are cached for a few minutes and user ids
//! for a minute (a stale id can only deny); membership itself is never cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_identitystore::Client;
use aws_sdk_identitystore::error::SdkError;
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use aws_smithy_types::Document;
use stint_core::ids::Email;
use stint_core::ports::{
    Directory, DirectoryGroup, DirectoryUser, GroupMembers, GroupMembership, Membership, PortError,
};

use crate::calls::AwsCallCounter;
use crate::error::port_error;

/// How long a group's id is trusted before it is looked up again (a deleted and re-created
/// group gets a new id; until then a stale id can only deny, never allow).
const GROUP_ID_TTL: Duration = Duration::from_secs(300);

/// How long an email's user id is trusted. A user deleted and made again gets a new id, so a
/// stale one can only fail a membership check (deny); an email moved from one existing user
/// to another takes effect within this minute.
const USER_ID_TTL: Duration = Duration::from_secs(60);

pub struct IdentityStoreDirectory {
    client: Client,
    identity_store_id: String,
    group_ids: Mutex<HashMap<String, (String, Instant)>>,
    user_ids: Mutex<HashMap<String, (String, Instant)>>,
}

impl IdentityStoreDirectory {
    pub fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        identity_store_id: impl Into<String>,
    ) -> Self {
        let config = aws_sdk_identitystore::config::Builder::from(sdk)
            .interceptor(counter)
            .build();
        Self {
            client: Client::from_conf(config),
            identity_store_id: identity_store_id.into(),
            group_ids: Mutex::new(HashMap::new()),
            user_ids: Mutex::new(HashMap::new()),
        }
    }

    async fn group_id(&self, group_name: &str) -> Result<Option<String>, PortError> {
        let cached = self.group_ids.lock().ok().and_then(|cache| {
            cache
                .get(group_name)
                .filter(|(_, at)| at.elapsed() < GROUP_ID_TTL)
                .map(|(id, _)| id.clone())
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let identifier = unique_attribute("displayName", group_name)?;
        let result = self
            .client
            .get_group_id()
            .identity_store_id(&self.identity_store_id)
            .alternate_identifier(identifier)
            .send()
            .await;
        match result {
            Ok(found) => {
                let id = found.group_id().to_owned();
                if let Ok(mut cache) = self.group_ids.lock() {
                    cache.insert(group_name.to_owned(), (id.clone(), Instant::now()));
                }
                Ok(Some(id))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(port_error(format!("looking up group {group_name}"), e)),
        }
    }
}

impl IdentityStoreDirectory {
    /// IsMemberInGroups for one user and one group, asked afresh.
    async fn is_member_of(
        &self,
        user_id: &str,
        group_id: &str,
        group_name: &str,
    ) -> Result<bool, PortError> {
        let found = self
            .client
            .is_member_in_groups()
            .identity_store_id(&self.identity_store_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .group_ids(group_id)
            .send()
            .await
            .map_err(|e| port_error(format!("checking membership of {group_name}"), e))?;
        Ok(found
            .results()
            .iter()
            .any(|r| r.group_id() == Some(group_id) && r.membership_exists()))
    }
}

fn unique_attribute(path: &str, value: &str) -> Result<AlternateIdentifier, PortError> {
    let attribute = UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_owned()))
        .build()
        .map_err(|e| PortError::new(format!("building the {path} lookup"), e.to_string()))?;
    Ok(AlternateIdentifier::UniqueAttribute(attribute))
}

#[async_trait]
impl Directory for IdentityStoreDirectory {
    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, PortError> {
        let cached = self.user_ids.lock().ok().and_then(|cache| {
            cache
                .get(email.as_str())
                .filter(|(_, at)| at.elapsed() < USER_ID_TTL)
                .map(|(id, _)| id.clone())
        });
        if let Some(user_id) = cached {
            return Ok(Some(DirectoryUser { user_id }));
        }
        let result = self
            .client
            .get_user_id()
            .identity_store_id(&self.identity_store_id)
            .alternate_identifier(unique_attribute("emails.value", email.as_str())?)
            .send()
            .await;
        match result {
            Ok(found) => {
                let user_id = found.user_id().to_owned();
                if let Ok(mut cache) = self.user_ids.lock() {
                    cache.insert(email.as_str().to_owned(), (user_id.clone(), Instant::now()));
                }
                Ok(Some(DirectoryUser { user_id }))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(port_error(format!("looking up user {email}"), e)),
        }
    }

    async fn membership(
        &self,
        user: &DirectoryUser,
        group_name: &str,
    ) -> Result<Membership, PortError> {
        let Some(group_id) = self.group_id(group_name).await? else {
            return Ok(Membership::NoSuchGroup);
        };
        let member = self
            .is_member_of(&user.user_id, &group_id, group_name)
            .await?;
        Ok(if member {
            Membership::Member
        } else {
            Membership::NotMember
        })
    }
}

/// Group memberships for personas activated by membership. Membership is read afresh every
/// time; only the group's id is cached (as for the eligibility checks).
#[async_trait]
impl GroupMembers for IdentityStoreDirectory {
    async fn group(&self, name: &str) -> Result<Option<DirectoryGroup>, PortError> {
        let Some(group_id) = self.group_id(name).await? else {
            return Ok(None);
        };
        let described = self
            .client
            .describe_group()
            .identity_store_id(&self.identity_store_id)
            .group_id(&group_id)
            .send()
            .await;
        match described {
            Ok(group) => Ok(Some(DirectoryGroup {
                group_id,
                externally_provisioned: !group.external_ids().is_empty(),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(port_error(format!("describing group {name}"), e)),
        }
    }

    async fn add(&self, membership: &GroupMembership) -> Result<(), PortError> {
        let result = self
            .client
            .create_group_membership()
            .identity_store_id(&self.identity_store_id)
            .group_id(&membership.group_id)
            .member_id(MemberId::UserId(membership.user_id.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already a member: what was asked for is so.
            Err(SdkError::ServiceError(e)) if e.err().is_conflict_exception() => Ok(()),
            Err(e) => Err(port_error(
                format!(
                    "adding {} to group {}",
                    membership.user_id, membership.group
                ),
                e,
            )),
        }
    }

    async fn remove(&self, membership: &GroupMembership) -> Result<(), PortError> {
        let context = || {
            format!(
                "removing {} from group {}",
                membership.user_id, membership.group
            )
        };
        let found = self
            .client
            .get_group_membership_id()
            .identity_store_id(&self.identity_store_id)
            .group_id(&membership.group_id)
            .member_id(MemberId::UserId(membership.user_id.clone()))
            .send()
            .await;
        let membership_id = match found {
            Ok(found) => found.membership_id().to_owned(),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                return Ok(());
            }
            Err(e) => return Err(port_error(context(), e)),
        };
        let deleted = self
            .client
            .delete_group_membership()
            .identity_store_id(&self.identity_store_id)
            .membership_id(membership_id)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(()),
            Err(e) => Err(port_error(context(), e)),
        }
    }

    async fn is_member(&self, membership: &GroupMembership) -> Result<bool, PortError> {
        self.is_member_of(&membership.user_id, &membership.group_id, &membership.group)
            .await
    }
}
