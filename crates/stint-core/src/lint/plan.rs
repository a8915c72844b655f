//! The remediation plan `stint scan --plan` writes and `--apply` carries out exactly: each
//! change names its account, the finding it answers and one IAM action, with an id that
//! `--undo` takes. Built from a scan's findings and inventories; pure.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::account::AccountInventory;
use super::trust::locked_trust_policy;
use super::{Finding, Severity};

/// The plan's format version, refused by `--apply` when it differs.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// When the plan was made (RFC 3339).
    pub created: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `c001`, `c002`, …: what `--undo` names.
    pub id: String,
    pub account: String,
    /// The rule of the finding this change answers.
    pub finding: String,
    #[serde(flatten)]
    pub action: Action,
}

/// One IAM change. `DeleteKey` waits for `not_before` (the grace period after the key was
/// deactivated) and cannot be undone; the others can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    DeactivateKey {
        user: String,
        key_id: String,
    },
    DeleteKey {
        user: String,
        key_id: String,
        not_before: String,
    },
    ReplaceTrust {
        role: String,
        document: String,
    },
    DetachRolePolicy {
        role: String,
        policy_arn: String,
    },
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::DeactivateKey { user, key_id } => {
                format!("deactivate access key {key_id} of user {user}")
            }
            Action::DeleteKey {
                user,
                key_id,
                not_before,
            } => format!("delete access key {key_id} of user {user} (not before {not_before})"),
            Action::ReplaceTrust { role, .. } => {
                format!("replace the trust policy of role {role} with the locked one")
            }
            Action::DetachRolePolicy { role, policy_arn } => {
                format!("detach {policy_arn} from unused role {role}")
            }
        }
    }
}

/// What a change replaced: enough to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "snake_case")]
pub enum Previous {
    KeyStatus {
        status: String,
    },
    /// A deleted key cannot come back.
    KeyDeleted,
    TrustPolicy {
        document: String,
    },
    Attached {
        policy_arn: String,
    },
}

/// Trust findings whose fix is the locked trust policy: anyone, a foreign account, an OIDC
/// provider with no `sub` at all, the account's own principals without Identity Center.
const TRUST_RULES_LOCKED: &[&str] = &["STINT-T001", "STINT-T002", "STINT-T003", "STINT-T006"];

/// The plan for `findings` over the accounts read in `inventories`: every active key flagged
/// is deactivated, then deleted `grace` later; every role trusted too widely gets the locked
/// trust policy; every unused role loses its managed policies.
pub fn plan(
    findings: &[Finding],
    inventories: &[AccountInventory],
    now: OffsetDateTime,
    grace: Duration,
) -> Plan {
    let not_before = crate::time_fmt::rfc3339(now + grace);
    let mut actions: Vec<(String, &str, Action)> = Vec::new();
    for inventory in inventories {
        let account = inventory.account.clone();
        let of = |resource: &str, rules: &[&str]| -> Option<&'static str> {
            findings
                .iter()
                .filter(|f| f.account.as_deref() == Some(&account))
                .filter(|f| {
                    f.resource == resource || f.resource.starts_with(&format!("{resource}#"))
                })
                .find(|f| rules.contains(&f.rule))
                .map(|f| f.rule)
        };
        for user in &inventory.users {
            for key in &user.keys {
                let at = format!("{}/access-key/{}", user.arn, key.id);
                if let Some(rule) = of(&at, &["STINT-K001", "STINT-K002"]) {
                    let (u, k) = (user.name.clone(), key.id.clone());
                    let deactivate = Action::DeactivateKey {
                        user: u.clone(),
                        key_id: k.clone(),
                    };
                    actions.push((account.clone(), rule, deactivate));
                    let delete = Action::DeleteKey {
                        user: u,
                        key_id: k,
                        not_before: not_before.clone(),
                    };
                    actions.push((account.clone(), rule, delete));
                }
            }
        }
        for role in &inventory.roles {
            if let Some(rule) = of(&role.arn, TRUST_RULES_LOCKED) {
                let document = locked_trust_policy(&account);
                let replace = Action::ReplaceTrust {
                    role: role.name.clone(),
                    document,
                };
                actions.push((account.clone(), rule, replace));
            }
            if let Some(rule) = of(&role.arn, &["STINT-U001"]) {
                for policy_arn in &role.attached {
                    let detach = Action::DetachRolePolicy {
                        role: role.name.clone(),
                        policy_arn: policy_arn.clone(),
                    };
                    actions.push((account.clone(), rule, detach));
                }
            }
        }
    }
    let changes = actions
        .into_iter()
        .enumerate()
        .map(|(i, (account, rule, action))| Change {
            id: format!("c{:03}", i + 1),
            account,
            finding: rule.to_owned(),
            action,
        })
        .collect();
    Plan {
        version: PLAN_VERSION,
        created: crate::time_fmt::rfc3339(now),
        changes,
    }
}

/// Whether any finding is at `threshold` or worse.
pub fn any_at_least(findings: &[Finding], threshold: Severity) -> bool {
    findings.iter().any(|f| f.severity >= threshold)
}
