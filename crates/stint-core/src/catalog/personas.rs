//! Personas (`group_type`s) and the grant each gets per environment: managed policy ARNs,
//! inline statements and a TTL, checked against IAM's limits at load.

use std::collections::BTreeMap;
use std::time::Duration;

use super::accounts::Environment;
use super::duration::{format_ttl, parse_ttl};
use super::limits::INLINE_POLICY_MAX;
use super::raw::{RawOverride, RawPersona};
use super::{CatalogError, SIZE_PROBE_EXPIRY, err};
use crate::ids::{AccountId, GroupType, is_iam_name_char};
use crate::policy::{self, Statement};

/// Stands for the member account id inside policy ARNs of the catalog.
const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

#[derive(Debug, Clone)]
pub struct Persona {
    pub name: GroupType,
    pub description: String,
    prod: Grant,
    nonprod: Grant,
}

impl Persona {
    pub fn grant(&self, environment: Environment) -> &Grant {
        match environment {
            Environment::Prod => &self.prod,
            Environment::Nonprod => &self.nonprod,
        }
    }
}

/// What a persona gets in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Managed policy ARNs, possibly holding `{account_id}`.
    managed_policies: Vec<String>,
    pub statements: Vec<Statement>,
    pub ttl: Duration,
}

impl Grant {
    /// The managed policy ARNs for one member account.
    pub fn managed_policies(&self, account: &AccountId) -> Vec<String> {
        self.managed_policies
            .iter()
            .map(|arn| in_account(arn, account))
            .collect()
    }
}

/// A catalog policy ARN with `{account_id}` replaced by `account`.
pub(super) fn in_account(arn: &str, account: &AccountId) -> String {
    arn.replace(ACCOUNT_PLACEHOLDER, account.as_str())
}

/// `name` (found at `key`) as a group type that is one of `personas`.
pub(super) fn known_persona(
    key: String,
    name: &str,
    personas: &BTreeMap<GroupType, Persona>,
) -> Result<GroupType, CatalogError> {
    let persona = GroupType::parse(name).map_err(|e| err(&key, e.message))?;
    if !personas.contains_key(&persona) {
        return Err(err(key, format!("{persona} is not one of the personas")));
    }
    Ok(persona)
}

/// Every `[personas.NAME]` table, keyed by its group type.
pub(super) fn validate_personas(
    raw: BTreeMap<String, RawPersona>,
    managed_limit: usize,
) -> Result<BTreeMap<GroupType, Persona>, CatalogError> {
    let mut personas = BTreeMap::new();
    for (name, persona) in raw {
        let key = format!("personas.{name}");
        let group_type = GroupType::parse(&name).map_err(|e| err(&key, e.message))?;
        let persona = validate_persona(&key, group_type.clone(), persona, managed_limit)?;
        personas.insert(group_type, persona);
    }
    Ok(personas)
}

fn validate_persona(
    key: &str,
    name: GroupType,
    raw: RawPersona,
    managed_limit: usize,
) -> Result<Persona, CatalogError> {
    let base = validate_grant(
        key,
        raw.managed_policies,
        raw.statements,
        &raw.ttl,
        managed_limit,
    )?;
    let resolve = |env: &str, over: Option<RawOverride>| match over {
        None => Ok(base.clone()),
        Some(o) => validate_grant(
            &format!("{key}.{env}"),
            o.managed_policies
                .unwrap_or_else(|| base.managed_policies.clone()),
            o.statements.unwrap_or_else(|| base.statements.clone()),
            &o.ttl.unwrap_or_else(|| format_ttl(base.ttl)),
            managed_limit,
        ),
    };
    Ok(Persona {
        prod: resolve("prod", raw.prod)?,
        nonprod: resolve("nonprod", raw.nonprod)?,
        name,
        description: raw.description,
    })
}

fn validate_grant(
    key: &str,
    managed: Vec<String>,
    statements: Vec<Statement>,
    ttl: &str,
    managed_limit: usize,
) -> Result<Grant, CatalogError> {
    let ttl = parse_ttl(ttl).map_err(|m| err(format!("{key}.ttl"), m))?;
    check_managed_policies(key, &managed, managed_limit)?;
    if managed.is_empty() && statements.is_empty() {
        return Err(err(
            key,
            "grants nothing: give managed_policies or statements",
        ));
    }
    check_statements(key, &statements)?;
    Ok(Grant {
        managed_policies: managed,
        statements,
        ttl,
    })
}

/// No more than a role takes, each a policy ARN, none twice.
fn check_managed_policies(
    key: &str,
    managed: &[String],
    managed_limit: usize,
) -> Result<(), CatalogError> {
    if managed.len() > managed_limit {
        return Err(err(
            format!("{key}.managed_policies"),
            format!(
                "{} policies, but a role takes at most {managed_limit} (managed_policies_per_role)",
                managed.len()
            ),
        ));
    }
    for (i, arn) in managed.iter().enumerate() {
        check_policy_arn(arn).map_err(|m| err(format!("{key}.managed_policies[{i}]"), m))?;
        if managed[..i].contains(arn) {
            return Err(err(
                format!("{key}.managed_policies[{i}]"),
                format!("{arn} appears twice"),
            ));
        }
    }
    Ok(())
}

/// Each statement on its own, then the inline policy they make against IAM's size limit.
fn check_statements(key: &str, statements: &[Statement]) -> Result<(), CatalogError> {
    for (i, statement) in statements.iter().enumerate() {
        check_statement(statement).map_err(|m| err(format!("{key}.statements[{i}]"), m))?;
    }
    let size = policy::grant_inline_policy(statements, SIZE_PROBE_EXPIRY).iam_size();
    if size > INLINE_POLICY_MAX {
        return Err(err(
            format!("{key}.statements"),
            format!("make an inline policy of {size} characters, over IAM's {INLINE_POLICY_MAX}"),
        ));
    }
    Ok(())
}

pub(super) fn check_statement(statement: &Statement) -> Result<(), String> {
    if statement.principal.is_some() {
        return Err("a permission statement may not name a Principal".to_owned());
    }
    if let Some(sid) = &statement.sid
        && (!sid.chars().all(|c| c.is_ascii_alphanumeric()) || sid.starts_with("Stint"))
    {
        return Err(format!(
            "Sid {sid:?} must be alphanumeric and not start with Stint (reserved)"
        ));
    }
    let has = |a: &Option<policy::OneOrMany>| a.as_ref().is_some_and(|v| !v.is_empty());
    if has(&statement.action) == has(&statement.not_action) {
        return Err("needs exactly one of Action and NotAction".to_owned());
    }
    if has(&statement.resource) == has(&statement.not_resource) {
        return Err("needs exactly one of Resource and NotResource".to_owned());
    }
    Ok(())
}

/// An IAM policy ARN owned by AWS, by an account, or by whichever member account the grant is
/// for (`{account_id}`).
pub(super) fn check_policy_arn(arn: &str) -> Result<(), String> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":policy/"))
        .is_some_and(|(owner, name)| {
            (owner == "aws" || owner == ACCOUNT_PLACEHOLDER || AccountId::parse(owner).is_ok())
                && !name.is_empty()
                && name.len() <= 640
                && name.chars().all(|c| is_iam_name_char(c) || c == '/')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a policy ARN (arn:aws:iam::aws|<account>|{{account_id}}:policy/Name)"
        ))
    }
}
