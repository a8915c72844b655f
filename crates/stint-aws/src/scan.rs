//! Reading one account's IAM for `stint scan`, through the read-only auditor role
//! (`deploy/member.yaml`'s `stint-auditor`): the account's authorization details (users,
//! groups, roles, customer managed policies with their documents; paginated), and per user
//! its keys, their last use, its console password and MFA devices. The result is
//! `stint_core::lint::AccountInventory`, which the core judges; nothing here decides.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::{EntityType, StatusType};
use stint_core::ids::AccountId;
use stint_core::lint::{AccessKey, AccountInventory, Group, KeyUse, ManagedPolicy, Role, User};
use stint_core::ports::PortError;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::error::port_error;
use crate::member_session::MemberSessions;

/// How many users' credentials are read at once in one account.
const USER_READS_IN_FLIGHT: usize = 8;

/// Reads an account's IAM as an `AccountInventory`.
pub async fn read_inventory(
    sessions: &MemberSessions,
    account: &AccountId,
) -> Result<AccountInventory, PortError> {
    let iam = sessions.iam(account).await?;
    let mut inventory = authorization_details(&iam, account).await?;
    let password_use = password_last_used(&iam, account).await?;
    for user in &mut inventory.users {
        user.password_last_used = password_use.get(&user.name).copied().flatten();
    }
    read_credentials(&iam, account, &mut inventory.users).await?;
    Ok(inventory)
}

fn time_of(value: Option<&aws_smithy_types::DateTime>) -> OffsetDateTime {
    value
        .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A policy document as IAM returns it: URL-encoded JSON from AWS, raw JSON from some
/// emulators. Decoded only when it is not JSON already.
fn document(text: Option<&str>) -> String {
    let text = text.unwrap_or_default();
    if text.trim_start().starts_with('{') {
        return text.to_owned();
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn inline(list: &[aws_sdk_iam::types::PolicyDetail]) -> Vec<(String, String)> {
    list.iter()
        .map(|p| {
            (
                p.policy_name().unwrap_or_default().to_owned(),
                document(p.policy_document()),
            )
        })
        .collect()
}

fn attached(list: &[aws_sdk_iam::types::AttachedPolicy]) -> Vec<String> {
    list.iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

/// GetAccountAuthorizationDetails, every page, for users, groups, roles and customer
/// managed policies (AWS managed ones are left out: AWS maintains them).
async fn authorization_details(
    iam: &IamClient,
    account: &AccountId,
) -> Result<AccountInventory, PortError> {
    let context = format!("reading the authorization details of {account}");
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Role)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .into_paginator()
        .send();
    let mut inventory = AccountInventory {
        account: account.to_string(),
        ..AccountInventory::default()
    };
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| port_error(&context, e))?;
        for u in page.user_detail_list() {
            for group in u.group_list() {
                *members.entry(group.clone()).or_default() += 1;
            }
            inventory.users.push(User {
                name: u.user_name().unwrap_or_default().to_owned(),
                arn: u.arn().unwrap_or_default().to_owned(),
                created: time_of(u.create_date()),
                password_last_used: None,
                console_access: false,
                mfa_devices: 0,
                keys: Vec::new(),
                inline_policies: inline(u.user_policy_list()),
                attached: attached(u.attached_managed_policies()),
            });
        }
        for r in page.role_detail_list() {
            inventory.roles.push(Role {
                name: r.role_name().unwrap_or_default().to_owned(),
                arn: r.arn().unwrap_or_default().to_owned(),
                path: r.path().unwrap_or("/").to_owned(),
                created: time_of(r.create_date()),
                last_used: r
                    .role_last_used()
                    .and_then(|u| u.last_used_date())
                    .map(|d| time_of(Some(d))),
                trust_policy: document(r.assume_role_policy_document()),
                inline_policies: inline(r.role_policy_list()),
                attached: attached(r.attached_managed_policies()),
                tags: r
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            });
        }
        for g in page.group_detail_list() {
            inventory.groups.push(Group {
                name: g.group_name().unwrap_or_default().to_owned(),
                arn: g.arn().unwrap_or_default().to_owned(),
                members: 0,
                inline_policies: inline(g.group_policy_list()),
                attached: attached(g.attached_managed_policies()),
            });
        }
        for p in page.policies() {
            let default = p
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version());
            inventory.policies.push(ManagedPolicy {
                name: p.policy_name().unwrap_or_default().to_owned(),
                arn: p.arn().unwrap_or_default().to_owned(),
                // A permissions boundary in use counts: it is not "attached to nothing".
                attachments: (p.attachment_count().unwrap_or_default()
                    + p.permissions_boundary_usage_count().unwrap_or_default())
                .max(0) as usize,
                document: document(default.and_then(|v| v.document())),
            });
        }
    }
    for group in &mut inventory.groups {
        group.members = members.get(&group.name).copied().unwrap_or_default();
    }
    Ok(inventory)
}

/// ListUsers, every page: when each user's password was last used (GetAccountAuthorization-
/// Details does not say).
async fn password_last_used(
    iam: &IamClient,
    account: &AccountId,
) -> Result<HashMap<String, Option<OffsetDateTime>>, PortError> {
    let context = format!("listing the users of {account}");
    let mut pages = iam.list_users().into_paginator().send();
    let mut used = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| port_error(&context, e))?;
        for user in page.users() {
            let last = user.password_last_used().map(|d| time_of(Some(d)));
            used.insert(user.user_name().to_owned(), last);
        }
    }
    Ok(used)
}

/// Each user's keys (with their last use), console password and MFA devices, a few users at
/// a time.
async fn read_credentials(
    iam: &IamClient,
    account: &AccountId,
    users: &mut [User],
) -> Result<(), PortError> {
    for chunk in users.chunks_mut(USER_READS_IN_FLIGHT) {
        let mut reads = JoinSet::new();
        for (at, user) in chunk.iter().enumerate() {
            let (iam, name) = (iam.clone(), user.name.clone());
            let context = format!("reading the credentials of user {name} in {account}");
            reads.spawn(async move { (at, user_credentials(&iam, &name, &context).await) });
        }
        while let Some(joined) = reads.join_next().await {
            let (at, read) =
                joined.map_err(|e| PortError::new("reading user credentials", e.to_string()))?;
            let (keys, console, mfa) = read?;
            if let Some(user) = chunk.get_mut(at) {
                user.keys = keys;
                user.console_access = console;
                user.mfa_devices = mfa;
            }
        }
    }
    Ok(())
}

async fn user_credentials(
    iam: &IamClient,
    name: &str,
    context: &str,
) -> Result<(Vec<AccessKey>, bool, usize), PortError> {
    let listed = iam
        .list_access_keys()
        .user_name(name)
        .send()
        .await
        .map_err(|e| port_error(context, e))?;
    let mut keys = Vec::new();
    for meta in listed.access_key_metadata() {
        let id = meta.access_key_id().unwrap_or_default().to_owned();
        let used = iam
            .get_access_key_last_used()
            .access_key_id(&id)
            .send()
            .await
            .map_err(|e| port_error(context, e))?;
        let last_used = used.access_key_last_used().and_then(|u| {
            u.last_used_date().map(|d| KeyUse {
                date: time_of(Some(d)),
                service: u.service_name().to_owned(),
                region: u.region().to_owned(),
            })
        });
        keys.push(AccessKey {
            id,
            active: meta.status() == Some(&StatusType::Active),
            created: time_of(meta.create_date()),
            last_used,
        });
    }
    let console = match iam.get_login_profile().user_name(name).send().await {
        Ok(_) => true,
        Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => false,
        Err(e) => return Err(port_error(context, e)),
    };
    let mfa = iam
        .list_mfa_devices()
        .user_name(name)
        .send()
        .await
        .map_err(|e| port_error(context, e))?
        .mfa_devices()
        .len();
    Ok((keys, console, mfa))
}
