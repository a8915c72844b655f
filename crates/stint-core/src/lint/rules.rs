//! The rules: one stable id each, with a title, a default severity and the fix. Ids never
//! change meaning; a retired rule keeps its number unused.

use super::Severity;

#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub fix: &'static str,
}

const fn r(id: &'static str, title: &'static str, severity: Severity, fix: &'static str) -> Rule {
    Rule {
        id,
        title,
        severity,
        fix,
    }
}

use Severity::{Critical, High, Low, Medium};

pub static INVALID: Rule = r(
    "STINT-P000",
    "Policy document cannot be read",
    High,
    "Rewrite the document as IAM policy JSON (Version 2012-10-17, Statement objects).",
);
pub static FULL_WILDCARD: Rule = r(
    "STINT-P001",
    "Allow of every action (`Action: *`)",
    Critical,
    "Name the actions the principal needs; give administrators access through a just-in-time grant instead.",
);
pub static SERVICE_WILDCARD: Rule = r(
    "STINT-P002",
    "Allow of every action of a service (`service:*`)",
    Medium,
    "List the service's actions the principal uses (the access levels it needs).",
);
pub static WRITE_ON_ANY_RESOURCE: Rule = r(
    "STINT-P003",
    "Write actions on `Resource: *`",
    Medium,
    "Name the resources (ARNs) these write actions may change.",
);
pub static ALLOW_NOT_ACTION: Rule = r(
    "STINT-P004",
    "`NotAction` with `Allow`",
    High,
    "Allow a list of actions instead; `NotAction` with Allow grants every action not listed, including future ones.",
);
pub static ALLOW_NOT_RESOURCE: Rule = r(
    "STINT-P005",
    "`NotResource` with `Allow`",
    Medium,
    "Allow a list of resources instead; `NotResource` with Allow grants every resource not listed.",
);
pub static ESCALATION: Rule = r(
    "STINT-P006",
    "Privilege escalation path",
    High,
    "Remove one action of each path, or scope it (iam:PassRole to named roles with iam:PassedToService, IAM writes to named principals).",
);
pub static UNKNOWN_SERVICE: Rule = r(
    "STINT-P007",
    "Unknown service prefix",
    Medium,
    "Correct the service prefix; an unknown prefix matches nothing, so the statement does not do what it says.",
);
pub static UNKNOWN_ACTION: Rule = r(
    "STINT-P008",
    "Unknown action",
    Medium,
    "Correct the action name (see the service's actions in the IAM service authorization reference).",
);
pub static CONDITION_NEVER_MATCHES: Rule = r(
    "STINT-P009",
    "Condition that cannot match",
    Medium,
    "Correct the condition operator or value; as written the statement never applies.",
);
pub static ASSUME_ANY_ROLE: Rule = r(
    "STINT-P010",
    "`sts:AssumeRole` on any role",
    High,
    "Name the roles that may be assumed.",
);
pub static TRUST_ANYONE: Rule = r(
    "STINT-T001",
    "Role assumable by anyone (`Principal: *`)",
    Critical,
    "Name the principals, or pin them with aws:PrincipalOrgID / aws:PrincipalAccount / aws:PrincipalArn conditions.",
);
pub static TRUST_FOREIGN_ACCOUNT: Rule = r(
    "STINT-T002",
    "Role trusts a whole account outside the organisation",
    High,
    "Trust the specific role of that account, with an sts:ExternalId condition, or remove it.",
);
pub static TRUST_OIDC_NO_SUB: Rule = r(
    "STINT-T003",
    "OIDC trust without a `sub` condition",
    Critical,
    "Add a StringEquals condition on the provider's `sub` naming the exact subject (for GitHub: repo:OWNER/REPO:ref:refs/heads/BRANCH or :environment:NAME).",
);
pub static TRUST_OIDC_SUB_WILDCARD: Rule = r(
    "STINT-T004",
    "OIDC trust with a wildcard in `sub`",
    High,
    "Replace the wildcard with the exact subjects (StringEquals), at least the repository and the branch or environment.",
);
pub static TRUST_NO_AUDIENCE: Rule = r(
    "STINT-T005",
    "Federated trust without an audience (`aud`) condition",
    Medium,
    "Add a StringEquals condition on the provider's `aud` (sts.amazonaws.com for GitHub; SAML:aud for SAML).",
);
pub static TRUST_PEOPLE_WITHOUT_IDENTITY_CENTER: Rule = r(
    "STINT-T006",
    "Role people can assume without Identity Center",
    Medium,
    "Trust only the account's Identity Center roles (aws:PrincipalArn like role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_*), so people reach it through a just-in-time grant.",
);
pub static KEY_ACTIVE: Rule = r(
    "STINT-K001",
    "Active long-lived access key",
    Medium,
    "Replace the key with just-in-time access (stint), then deactivate and delete it.",
);
pub static KEY_UNUSED: Rule = r(
    "STINT-K002",
    "Active access key never used or unused for a long time",
    High,
    "Deactivate the key now and delete it after a grace period.",
);
pub static CONSOLE_NO_MFA: Rule = r(
    "STINT-K003",
    "Console password without MFA",
    High,
    "Require MFA for the user, or remove the console password and use Identity Center.",
);
pub static ROLE_UNUSED: Rule = r(
    "STINT-U001",
    "Role unused",
    Low,
    "Delete the role if nothing needs it.",
);
pub static USER_UNUSED: Rule = r(
    "STINT-U002",
    "User unused",
    Medium,
    "Delete the user (its keys, password and policies first).",
);
pub static GROUP_EMPTY: Rule = r(
    "STINT-U003",
    "Group without members",
    Low,
    "Delete the group if nothing needs it.",
);
pub static POLICY_UNATTACHED: Rule = r(
    "STINT-U004",
    "Managed policy attached to nothing",
    Low,
    "Delete the policy if nothing needs it.",
);
pub static STINT_ROLE_ORPHANED: Rule = r(
    "STINT-S001",
    "stint role without a live grant",
    High,
    "Run `stint reap`; it removes roles no live grant holds.",
);
pub static ANALYZER_EXTERNAL_ACCESS: Rule = r(
    "STINT-A001",
    "External access found by IAM Access Analyzer",
    High,
    "Review the resource policy Access Analyzer names; remove the outside principal or archive the finding if intended.",
);
pub static ANALYZER_UNUSED_PERMISSION: Rule = r(
    "STINT-A002",
    "Unused access found by IAM Access Analyzer",
    Low,
    "Remove the unused permissions or principal Access Analyzer names.",
);
pub static PERSONA_REFUSED: Rule = r(
    "STINT-C001",
    "Prod persona with a finding above the allowed severity",
    High,
    "Fix the persona's policies, or raise the catalog's lint threshold deliberately.",
);

/// Every rule, in id order (SARIF's rule list).
pub static RULES: &[&Rule] = &[
    &INVALID,
    &FULL_WILDCARD,
    &SERVICE_WILDCARD,
    &WRITE_ON_ANY_RESOURCE,
    &ALLOW_NOT_ACTION,
    &ALLOW_NOT_RESOURCE,
    &ESCALATION,
    &UNKNOWN_SERVICE,
    &UNKNOWN_ACTION,
    &CONDITION_NEVER_MATCHES,
    &ASSUME_ANY_ROLE,
    &TRUST_ANYONE,
    &TRUST_FOREIGN_ACCOUNT,
    &TRUST_OIDC_NO_SUB,
    &TRUST_OIDC_SUB_WILDCARD,
    &TRUST_NO_AUDIENCE,
    &TRUST_PEOPLE_WITHOUT_IDENTITY_CENTER,
    &KEY_ACTIVE,
    &KEY_UNUSED,
    &CONSOLE_NO_MFA,
    &ROLE_UNUSED,
    &USER_UNUSED,
    &GROUP_EMPTY,
    &POLICY_UNATTACHED,
    &STINT_ROLE_ORPHANED,
    &PERSONA_REFUSED,
    &ANALYZER_EXTERNAL_ACCESS,
    &ANALYZER_UNUSED_PERMISSION,
];

/// The rule with `id`, if there is one.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}
