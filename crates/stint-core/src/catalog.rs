//! The catalog: which accounts exist, which personas (`group_type`s) may be granted there and
//! with what. Loaded in two stages: TOML into raw structs that refuse unknown keys, then a
//! validated `Catalog` that already rejects what AWS would reject later, naming the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use time::macros::datetime;

use crate::ids::{AccountId, AccountName, GroupType, RoleName, is_iam_name_char};
use crate::policy::{self, Statement};

/// AssumeRole's shortest session: a grant shorter than this could not issue credentials.
pub const MIN_TTL: Duration = Duration::from_secs(900);
/// The longest grant: the articles' default. Anything longer is standing access.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// IAM's limits (see shared/notes/aws-limits.md).
pub const INLINE_POLICY_MAX: usize = 10_240;
pub const TRUST_POLICY_MAX: usize = 2_048;
pub const DEFAULT_MANAGED_POLICIES_PER_ROLE: usize = 10;
pub const HARD_MANAGED_POLICIES_PER_ROLE: usize = 20;
/// Role names are `<prefix>-<uuid>`: 36 characters of id, one dash, at most 64 in all.
const ROLE_PREFIX_MAX: usize = 64 - 37;
/// Stands for the member account id inside policy ARNs of the catalog.
const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

/// A catalog that failed to load: the key at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog key `{key}`: {message}")]
pub struct CatalogError {
    pub key: String,
    pub message: String,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> CatalogError {
    CatalogError {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Nonprod,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    company: String,
    org: String,
    identity_store_id: String,
    provisioner_role_name: String,
    #[serde(default)]
    provisioner_external_id: Option<String>,
    pipeline_principal_arn: String,
    #[serde(default)]
    permissions_boundary_arn: Option<String>,
    #[serde(default = "default_group_type")]
    default_group_type: String,
    #[serde(default = "default_role_prefix")]
    role_name_prefix: String,
    #[serde(default = "default_managed_limit")]
    managed_policies_per_role: usize,
    accounts: Vec<RawAccount>,
    personas: BTreeMap<String, RawPersona>,
}

fn default_group_type() -> String {
    "Product-Deployers".to_owned()
}
fn default_role_prefix() -> String {
    "stint".to_owned()
}
fn default_managed_limit() -> usize {
    DEFAULT_MANAGED_POLICIES_PER_ROLE
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    id: String,
    environment: Environment,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersona {
    #[serde(default)]
    description: String,
    #[serde(default)]
    managed_policies: Vec<String>,
    #[serde(default)]
    statements: Vec<Statement>,
    ttl: String,
    #[serde(default)]
    prod: Option<RawOverride>,
    #[serde(default)]
    nonprod: Option<RawOverride>,
}

/// Per-environment replacement of a persona's grant; absent members keep the persona's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    managed_policies: Option<Vec<String>>,
    statements: Option<Vec<Statement>>,
    ttl: Option<String>,
}

/// A validated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub company: String,
    pub org: String,
    pub identity_store_id: String,
    /// The role stint assumes in every member account to create temporary roles.
    pub provisioner_role_name: RoleName,
    pub provisioner_external_id: Option<String>,
    /// The only principal a temporary role trusts.
    pub pipeline_principal_arn: String,
    permissions_boundary_arn: Option<String>,
    pub default_group_type: GroupType,
    pub role_name_prefix: String,
    accounts: Vec<Account>,
    personas: BTreeMap<GroupType, Persona>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: AccountName,
    pub id: AccountId,
    pub environment: Environment,
}

#[derive(Debug, Clone)]
pub struct Persona {
    pub name: GroupType,
    pub description: String,
    prod: Grant,
    nonprod: Grant,
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
            .map(|arn| arn.replace(ACCOUNT_PLACEHOLDER, account.as_str()))
            .collect()
    }
}

impl Persona {
    pub fn grant(&self, environment: Environment) -> &Grant {
        match environment {
            Environment::Prod => &self.prod,
            Environment::Nonprod => &self.nonprod,
        }
    }
}

impl Catalog {
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            let key = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| format!("line {}", before.lines().count().max(1)))
                .unwrap_or_else(|| "(document)".to_owned());
            err(key, message)
        })?;
        Self::validate(raw)
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn account_by_name(&self, name: &AccountName) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.name == name)
    }

    pub fn account_by_id(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.id == id)
    }

    pub fn persona(&self, group_type: &GroupType) -> Option<&Persona> {
        self.personas.get(group_type)
    }

    pub fn personas(&self) -> impl Iterator<Item = &Persona> {
        self.personas.values()
    }

    /// The Identity Center group whose members may have `group_type` in `account`:
    /// `Company_Org_AccountId_Persona`, as in the articles.
    pub fn group_name(&self, account: &AccountId, group_type: &GroupType) -> String {
        format!("{}_{}_{}_{}", self.company, self.org, account, group_type)
    }

    pub fn permissions_boundary(&self, account: &AccountId) -> Option<String> {
        self.permissions_boundary_arn
            .as_ref()
            .map(|arn| arn.replace(ACCOUNT_PLACEHOLDER, account.as_str()))
    }

    fn validate(raw: RawCatalog) -> Result<Self, CatalogError> {
        for (key, value) in [("company", &raw.company), ("org", &raw.org)] {
            // `_` separates the parts of a group name, so it may not appear inside one.
            if value.is_empty()
                || value.len() > 64
                || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(err(
                    key,
                    format!(
                        "{value:?} must be 1 to 64 of [A-Za-z0-9-] (`_` separates group-name parts)"
                    ),
                ));
            }
        }
        let store = &raw.identity_store_id;
        if store.is_empty()
            || store.len() > 36
            || !store.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(err(
                "identity_store_id",
                format!("{store:?} is not an identity store id such as d-1234567890"),
            ));
        }
        let provisioner_role_name = RoleName::parse(&raw.provisioner_role_name)
            .map_err(|e| err("provisioner_role_name", e.message))?;
        if let Some(external_id) = &raw.provisioner_external_id {
            let ok = (2..=1224).contains(&external_id.len())
                && external_id
                    .chars()
                    .all(|c| is_iam_name_char(c) || c == ':' || c == '/');
            if !ok {
                return Err(err(
                    "provisioner_external_id",
                    "must be 2 to 1224 of [A-Za-z0-9+=,.@:/_-]",
                ));
            }
        }
        check_principal_arn(&raw.pipeline_principal_arn)?;
        if let Some(arn) = &raw.permissions_boundary_arn {
            check_policy_arn(arn).map_err(|m| err("permissions_boundary_arn", m))?;
        }
        let prefix = &raw.role_name_prefix;
        if prefix.is_empty()
            || prefix.len() > ROLE_PREFIX_MAX
            || !prefix.chars().all(is_iam_name_char)
        {
            return Err(err(
                "role_name_prefix",
                format!(
                    "{prefix:?} must be 1 to {ROLE_PREFIX_MAX} of [A-Za-z0-9+=,.@_-] so role names stay within 64 characters"
                ),
            ));
        }
        if !(1..=HARD_MANAGED_POLICIES_PER_ROLE).contains(&raw.managed_policies_per_role) {
            return Err(err(
                "managed_policies_per_role",
                format!("must be 1 to {HARD_MANAGED_POLICIES_PER_ROLE}"),
            ));
        }
        // A 64-character SourceIdentity is the longest a trust policy will ever carry.
        let sample = datetime!(2000-01-01 00:00:00 UTC);
        let trust_size =
            policy::trust_policy(&raw.pipeline_principal_arn, sample, &"x".repeat(64)).iam_size();
        if trust_size > TRUST_POLICY_MAX {
            return Err(err(
                "pipeline_principal_arn",
                format!(
                    "makes a trust policy of {trust_size} characters, over IAM's {TRUST_POLICY_MAX}"
                ),
            ));
        }

        let accounts = validate_accounts(raw.accounts)?;
        let mut personas = BTreeMap::new();
        for (name, persona) in raw.personas {
            let key = format!("personas.{name}");
            let group_type = GroupType::parse(&name).map_err(|e| err(&key, e.message))?;
            let persona = validate_persona(
                &key,
                group_type.clone(),
                persona,
                raw.managed_policies_per_role,
            )?;
            personas.insert(group_type, persona);
        }
        let default_group_type = GroupType::parse(&raw.default_group_type)
            .map_err(|e| err("default_group_type", e.message))?;
        if !personas.contains_key(&default_group_type) {
            return Err(err(
                "default_group_type",
                format!("{default_group_type} is not one of the personas"),
            ));
        }
        Ok(Self {
            company: raw.company,
            org: raw.org,
            identity_store_id: raw.identity_store_id,
            provisioner_role_name,
            provisioner_external_id: raw.provisioner_external_id,
            pipeline_principal_arn: raw.pipeline_principal_arn,
            permissions_boundary_arn: raw.permissions_boundary_arn,
            default_group_type,
            role_name_prefix: raw.role_name_prefix,
            accounts,
            personas,
        })
    }
}

fn validate_accounts(raw: Vec<RawAccount>) -> Result<Vec<Account>, CatalogError> {
    if raw.is_empty() {
        return Err(err("accounts", "at least one account is required"));
    }
    let mut accounts: Vec<Account> = Vec::with_capacity(raw.len());
    for (i, account) in raw.into_iter().enumerate() {
        let key = format!("accounts[{i}]");
        let name =
            AccountName::parse(&account.name).map_err(|e| err(format!("{key}.name"), e.message))?;
        let id = AccountId::parse(&account.id).map_err(|e| err(format!("{key}.id"), e.message))?;
        if accounts.iter().any(|a| a.name == name) {
            return Err(err(format!("{key}.name"), format!("{name} appears twice")));
        }
        if accounts.iter().any(|a| a.id == id) {
            return Err(err(format!("{key}.id"), format!("{id} appears twice")));
        }
        accounts.push(Account {
            name,
            id,
            environment: account.environment,
        });
    }
    Ok(accounts)
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
    if managed.is_empty() && statements.is_empty() {
        return Err(err(
            key,
            "grants nothing: give managed_policies or statements",
        ));
    }
    for (i, statement) in statements.iter().enumerate() {
        check_statement(statement).map_err(|m| err(format!("{key}.statements[{i}]"), m))?;
    }
    let size =
        policy::grant_inline_policy(&statements, datetime!(2000-01-01 00:00:00 UTC)).iam_size();
    if size > INLINE_POLICY_MAX {
        return Err(err(
            format!("{key}.statements"),
            format!("make an inline policy of {size} characters, over IAM's {INLINE_POLICY_MAX}"),
        ));
    }
    Ok(Grant {
        managed_policies: managed,
        statements,
        ttl,
    })
}

fn check_statement(statement: &Statement) -> Result<(), String> {
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

fn check_principal_arn(arn: &str) -> Result<(), CatalogError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(account, resource)| {
            AccountId::parse(account).is_ok()
                && (resource == "root"
                    || resource.starts_with("role/")
                    || resource.starts_with("user/"))
        });
    if ok {
        Ok(())
    } else {
        Err(err(
            "pipeline_principal_arn",
            format!("{arn:?} is not an IAM role, user or account-root ARN"),
        ))
    }
}

fn check_policy_arn(arn: &str) -> Result<(), String> {
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

/// `24h`, `90m`, `1h30m`, `900s`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 24h, 90m or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    let ttl = Duration::from_secs(total);
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(format!(
            "{text} is outside 15m (AssumeRole's shortest session) to 24h"
        ));
    }
    Ok(ttl)
}

fn format_ttl(ttl: Duration) -> String {
    format!("{}s", ttl.as_secs())
}

#[cfg(test)]
mod tests;
