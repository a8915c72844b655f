//! One account's IAM as a scan read it (the adapter fills this in), and its findings:
//! long-lived keys, console access without MFA, unused roles and users, empty groups,
//! policies attached to nothing, stint's roles no live grant holds, and every policy and
//! trust policy linted. Time is the scan's `now`, from the clock port.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;

use super::policy::lint_policy;
use super::rules::{
    CONSOLE_NO_MFA, FULL_WILDCARD, GROUP_EMPTY, KEY_ACTIVE, KEY_UNUSED, POLICY_UNATTACHED,
    ROLE_UNUSED, Rule, SERVICE_WILDCARD, STINT_ROLE_ORPHANED, USER_UNUSED,
};
use super::trust::{TrustContext, lint_trust};
use super::{Finding, Severity, sort_findings};

/// The path stint's temporary roles live under.
pub const STINT_ROLE_PATH: &str = "/stint/";

/// What a scan judges an account by.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub now: OffsetDateTime,
    /// No activity for this long is "unused".
    pub unused_after: Duration,
    /// The organisation's accounts (the catalog's).
    pub org_accounts: BTreeSet<String>,
    /// Names of stint's roles that live grants hold.
    pub live_stint_roles: BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountInventory {
    pub account: String,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub groups: Vec<Group>,
    /// Customer managed policies (AWS managed ones are AWS's to fix).
    pub policies: Vec<ManagedPolicy>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub arn: String,
    pub created: OffsetDateTime,
    pub password_last_used: Option<OffsetDateTime>,
    pub console_access: bool,
    pub mfa_devices: usize,
    pub keys: Vec<AccessKey>,
    /// Inline policies: name and document.
    pub inline_policies: Vec<(String, String)>,
    /// ARNs of the managed policies attached to the user.
    pub attached: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
    pub created: OffsetDateTime,
    pub last_used: Option<KeyUse>,
}

/// When, where and for what a key was last used.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub date: OffsetDateTime,
    pub service: String,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub created: OffsetDateTime,
    pub last_used: Option<OffsetDateTime>,
    pub trust_policy: String,
    pub inline_policies: Vec<(String, String)>,
    /// ARNs of the managed policies attached to the role.
    pub attached: Vec<String>,
    /// The role's tags (stint's roles carry their transaction id).
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub members: usize,
    pub inline_policies: Vec<(String, String)>,
    /// ARNs of the managed policies attached to the group.
    pub attached: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub name: String,
    pub arn: String,
    pub attachments: usize,
    /// The default version's document.
    pub document: String,
}

/// Every finding of one account, worst first.
pub fn lint_account(inventory: &AccountInventory, settings: &ScanSettings) -> Vec<Finding> {
    let mut found = Vec::new();
    let trust = TrustContext {
        own_account: Some(inventory.account.clone()),
        org_accounts: settings.org_accounts.clone(),
    };
    for user in &inventory.users {
        found.extend(user_findings(user, settings));
        found.extend(inline(&user.arn, &user.inline_policies));
        found.extend(aws_managed(&user.arn, &user.attached));
    }
    for role in &inventory.roles {
        found.extend(role_findings(role, settings));
        found.extend(lint_trust(&role.arn, &role.trust_policy, &trust));
        found.extend(inline(&role.arn, &role.inline_policies));
        found.extend(aws_managed(&role.arn, &role.attached));
    }
    for group in &inventory.groups {
        if group.members == 0 {
            found.push(Finding::new(
                &GROUP_EMPTY,
                &group.arn,
                "the group has no members",
            ));
        }
        found.extend(inline(&group.arn, &group.inline_policies));
        found.extend(aws_managed(&group.arn, &group.attached));
    }
    for policy in &inventory.policies {
        if policy.attachments == 0 {
            let why = "attached to no user, group or role";
            found.push(Finding::new(&POLICY_UNATTACHED, &policy.arn, why));
        }
        found.extend(lint_policy(&policy.arn, &policy.document));
    }
    let mut found: Vec<Finding> = found
        .into_iter()
        .map(|f| f.in_account(&inventory.account))
        .collect();
    sort_findings(&mut found);
    found
}

/// AWS managed policies whose documents the scan does not read (AWS maintains them) but
/// whose grant is known: every action, or every IAM action.
const BROAD_AWS_MANAGED: &[(&str, &Rule, Severity)] = &[
    (
        "arn:aws:iam::aws:policy/AdministratorAccess",
        &FULL_WILDCARD,
        Severity::Critical,
    ),
    (
        "arn:aws:iam::aws:policy/IAMFullAccess",
        &SERVICE_WILDCARD,
        Severity::High,
    ),
];

fn aws_managed(owner: &str, attached: &[String]) -> Vec<Finding> {
    BROAD_AWS_MANAGED
        .iter()
        .filter(|(arn, _, _)| attached.iter().any(|a| a == arn))
        .map(|(arn, rule, severity)| {
            let why = format!("the AWS managed policy {arn} is attached");
            Finding::new(rule, format!("{owner}#{arn}"), why).with_severity(*severity)
        })
        .collect()
}

fn inline(owner: &str, policies: &[(String, String)]) -> Vec<Finding> {
    policies
        .iter()
        .flat_map(|(name, document)| lint_policy(&format!("{owner}/inline/{name}"), document))
        .collect()
}

/// Whole days from `then` to `now` (0 if `then` is in the future).
fn days(now: OffsetDateTime, then: OffsetDateTime) -> i64 {
    (now - then).whole_days().max(0)
}

fn user_findings(user: &User, settings: &ScanSettings) -> Vec<Finding> {
    let now = settings.now;
    let limit = (settings.unused_after.as_secs() / 86_400) as i64;
    let mut found = Vec::new();
    for key in user.keys.iter().filter(|k| k.active) {
        let at = format!("{}/access-key/{}", user.arn, key.id);
        let age = days(now, key.created);
        let mut why = format!("active key {} days old", age);
        let unused = match &key.last_used {
            None => {
                why.push_str(", never used");
                age >= limit
            }
            Some(used) => {
                let idle = days(now, used.date);
                why.push_str(&format!(
                    ", last used {idle} days ago ({} in {})",
                    used.service, used.region
                ));
                idle >= limit
            }
        };
        why.push_str(&format!(
            "; console access: {}; MFA devices: {}",
            if user.console_access { "yes" } else { "no" },
            user.mfa_devices
        ));
        let rule = if unused { &KEY_UNUSED } else { &KEY_ACTIVE };
        found.push(Finding::new(rule, at, why));
    }
    if user.console_access && user.mfa_devices == 0 {
        found.push(Finding::new(
            &CONSOLE_NO_MFA,
            &user.arn,
            "console password, no MFA device",
        ));
    }
    let last_activity = user
        .keys
        .iter()
        .filter_map(|k| k.last_used.as_ref().map(|u| u.date))
        .chain(user.password_last_used)
        .max()
        .unwrap_or(user.created);
    let idle = days(now, last_activity);
    if idle >= limit {
        let why = format!("no sign-in or key use for {idle} days");
        found.push(Finding::new(&USER_UNUSED, &user.arn, why));
    }
    found
}

fn role_findings(role: &Role, settings: &ScanSettings) -> Vec<Finding> {
    if role.path == STINT_ROLE_PATH || role.path.starts_with(STINT_ROLE_PATH) {
        if settings.live_stint_roles.contains(&role.name) {
            return Vec::new();
        }
        let why = "a stint role that no live grant in the ledger holds";
        return vec![Finding::new(&STINT_ROLE_ORPHANED, &role.arn, why)];
    }
    // Service-linked roles are AWS's; their use is not the account owner's to judge.
    if role.path.starts_with("/aws-service-role/") || role.path.starts_with("/aws-reserved/") {
        return Vec::new();
    }
    let limit = (settings.unused_after.as_secs() / 86_400) as i64;
    let idle = days(settings.now, role.last_used.unwrap_or(role.created));
    if idle < limit {
        return Vec::new();
    }
    let why = match role.last_used {
        Some(_) => format!("last used {idle} days ago"),
        None => format!("never used in the {idle} days since it was created"),
    };
    vec![Finding::new(&ROLE_UNUSED, &role.arn, why)]
}
