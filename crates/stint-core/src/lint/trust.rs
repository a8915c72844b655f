//! The checks of a role's trust policy: who can assume it. Anyone (`*`) without a condition
//! pinning the caller's organisation, account or ARN; a whole account outside the
//! organisation; OIDC providers without a `sub` condition or with wildcards in it (the GitHub
//! Actions misconfiguration that lets any repository assume the role); federation without an
//! audience condition. Also the locked trust policy a remediation plan puts in their place.

use std::collections::BTreeSet;

use super::conditions::{pins, positive};
use super::document::{Principal, Statement, parse_document};
use super::glob::has_wildcard;
use super::rules::{
    INVALID, TRUST_ANYONE, TRUST_FOREIGN_ACCOUNT, TRUST_NO_AUDIENCE, TRUST_OIDC_NO_SUB,
    TRUST_OIDC_SUB_WILDCARD, TRUST_PEOPLE_WITHOUT_IDENTITY_CENTER,
};
use super::{Finding, Severity};

/// Condition keys that pin an anonymous principal to the organisation, an account or an ARN.
const PINNING_KEYS: &[&str] = &[
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOrgID",
];
const GITHUB_OIDC: &str = "token.actions.githubusercontent.com";
/// Providers whose tokens carry the identity pool in `aud` and no meaningful `sub` pin.
const AUDIENCE_ONLY_PROVIDERS: &[&str] = &["cognito-identity.amazonaws.com"];

/// What a trust policy is judged against.
#[derive(Debug, Clone, Default)]
pub struct TrustContext {
    /// The account the role is in (trusting itself is fine).
    pub own_account: Option<String>,
    /// The organisation's accounts (the catalog's); any other account is foreign.
    pub org_accounts: BTreeSet<String>,
}

/// Every finding of the trust policy `text` (JSON) of the role `resource`.
pub fn lint_trust(resource: &str, text: &str, context: &TrustContext) -> Vec<Finding> {
    let statements = match parse_document(text) {
        Ok(statements) => statements,
        Err(error) => return vec![Finding::new(&INVALID, resource, error)],
    };
    let mut found = Vec::new();
    for s in statements.iter().filter(|s| s.allow) {
        let at = format!("{resource}#{}", s.label);
        let Some(principal) = &s.principal else {
            continue;
        };
        found.extend(anyone(&at, s, principal));
        found.extend(foreign_accounts(&at, s, principal, context));
        found.extend(people_without_identity_center(&at, s, principal, context));
        let federated_principals = match principal {
            Principal::Anyone => Vec::new(),
            Principal::Named(_) => principal.of_kind("Federated"),
        };
        for provider in federated_principals {
            found.extend(federated(&at, s, &provider));
        }
    }
    found
}

fn anyone(at: &str, s: &Statement, principal: &Principal) -> Option<Finding> {
    let open =
        matches!(principal, Principal::Anyone) || principal.of_kind("AWS").iter().any(|p| p == "*");
    let pinned = s
        .conditions
        .iter()
        .any(|c| PINNING_KEYS.iter().any(|k| c.key.eq_ignore_ascii_case(k)) && pins(c));
    (open && !pinned).then(|| {
        let why = if s.conditions.is_empty() {
            "Principal \"*\" with no condition".to_owned()
        } else {
            "Principal \"*\" with conditions that pin no organisation, account or ARN".to_owned()
        };
        Finding::new(&TRUST_ANYONE, at, why)
    })
}

/// The account id a principal names as a whole (`arn:aws:iam::ID:root` or a bare `ID`).
fn whole_account(principal: &str) -> Option<&str> {
    let id = principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(principal);
    (id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())).then_some(id)
}

fn foreign_accounts(
    at: &str,
    s: &Statement,
    principal: &Principal,
    context: &TrustContext,
) -> Vec<Finding> {
    let external_id = s.conditions_on("sts:ExternalId").any(pins);
    principal
        .of_kind("AWS")
        .iter()
        .filter_map(|p| whole_account(p).map(|id| (p, id)))
        .filter(|(_, id)| {
            context.own_account.as_deref() != Some(*id) && !context.org_accounts.contains(*id)
        })
        .map(|(p, id)| {
            let mut why =
                format!("trusts every principal of account {id} ({p}), outside the organisation");
            let mut finding = Finding::new(&TRUST_FOREIGN_ACCOUNT, at, "");
            if external_id {
                why.push_str(", with an sts:ExternalId condition");
                finding = finding.with_severity(Severity::Medium);
            }
            finding.evidence = why;
            finding
        })
        .collect()
}

/// Where Identity Center puts its roles in a member account.
const IDENTITY_CENTER_ROLES: &str = ":role/aws-reserved/sso.amazonaws.com/";

/// T006: the account's own principals (its root, i.e. any of its users and roles, or named
/// IAM users) may assume the role, and no condition narrows them to Identity Center's roles:
/// people can reach it with long-lived credentials, beside just-in-time access.
fn people_without_identity_center(
    at: &str,
    s: &Statement,
    principal: &Principal,
    context: &TrustContext,
) -> Option<Finding> {
    let own = context.own_account.as_deref()?;
    let people: Vec<String> = principal
        .of_kind("AWS")
        .into_iter()
        .filter(|p| {
            whole_account(p) == Some(own) || p.starts_with(&format!("arn:aws:iam::{own}:user/"))
        })
        .collect();
    if people.is_empty() {
        return None;
    }
    let fronted = s
        .conditions_on("aws:PrincipalArn")
        .any(|c| positive(c) && c.texts().iter().all(|v| v.contains(IDENTITY_CENTER_ROLES)));
    (!fronted).then(|| {
        let why = format!(
            "trusts {} with no aws:PrincipalArn condition naming Identity Center roles",
            people.join(", ")
        );
        Finding::new(&TRUST_PEOPLE_WITHOUT_IDENTITY_CENTER, at, why)
    })
}

/// The host of an OIDC provider principal (`arn:…:oidc-provider/HOST` or a bare `HOST`), or
/// `None` for a SAML provider.
fn oidc_host(provider: &str) -> Option<&str> {
    if provider.contains(":saml-provider/") {
        return None;
    }
    Some(
        provider
            .split_once(":oidc-provider/")
            .map_or(provider, |(_, host)| host),
    )
}

fn federated(at: &str, s: &Statement, provider: &str) -> Vec<Finding> {
    let Some(host) = oidc_host(provider) else {
        let pinned = s.conditions_on("SAML:aud").any(pins);
        return (!pinned)
            .then(|| {
                let why = format!("SAML provider {provider} with no SAML:aud condition");
                Finding::new(&TRUST_NO_AUDIENCE, at, why)
            })
            .into_iter()
            .collect();
    };
    let mut found = Vec::new();
    let aud_key = format!("{host}:aud");
    if !s.conditions_on(&aud_key).any(pins) {
        let why = format!("OIDC provider {host} with no {aud_key} condition");
        found.push(Finding::new(&TRUST_NO_AUDIENCE, at, why));
    }
    if AUDIENCE_ONLY_PROVIDERS.contains(&host) {
        return found;
    }
    let sub_key = format!("{host}:sub");
    let subs: Vec<String> = s
        .conditions_on(&sub_key)
        .filter(|c| positive(c))
        .flat_map(|c| c.texts())
        .collect();
    if subs.is_empty() {
        let severity = if host == GITHUB_OIDC {
            Severity::Critical
        } else {
            Severity::High
        };
        let why = format!(
            "OIDC provider {host} with no condition pinning {sub_key}: any identity it issues tokens for can assume the role"
        );
        found.push(Finding::new(&TRUST_OIDC_NO_SUB, at, why).with_severity(severity));
    }
    for sub in subs.iter().filter(|v| has_wildcard(v)) {
        let why = format!("{sub_key} allows {sub:?}");
        let finding = Finding::new(&TRUST_OIDC_SUB_WILDCARD, at, why);
        found.push(finding.with_severity(sub_wildcard_severity(host, sub)));
    }
    found
}

/// A wildcard before the repository is fixed lets other repositories in (high, critical for a
/// bare `*`); one after it lets any branch, tag or pull request of that repository in (medium).
fn sub_wildcard_severity(host: &str, sub: &str) -> Severity {
    let fixed = sub.split(['*', '?']).next().unwrap_or_default();
    if fixed.is_empty() {
        return Severity::Critical;
    }
    if host != GITHUB_OIDC {
        return Severity::High;
    }
    // `repo:OWNER/REPO:` fixed means the repository is pinned.
    let repository_pinned = fixed
        .strip_prefix("repo:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(repo, _)| repo.contains('/') && !repo.ends_with('/'));
    if repository_pinned {
        Severity::Medium
    } else {
        Severity::High
    }
}

/// The trust policy a remediation plan puts on a role trusted too widely: the account's own
/// principals, and of those only the Identity Center roles (`AWSReservedSSO_*`), so that
/// people reach the role only through a just-in-time grant.
pub fn locked_trust_policy(account: &str) -> String {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IdentityCenterOnly",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": {
                    "aws:PrincipalArn": format!(
                        "arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_*"
                    )
                }
            }
        }]
    });
    document.to_string()
}
