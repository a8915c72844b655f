//! The catalog: which accounts exist, which personas (`group_type`s) may be granted there and
//! with what. Loaded in two stages: TOML into raw structs that refuse unknown keys, then a
//! validated `Catalog` that already rejects what AWS would reject later, naming the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use time::macros::datetime;

use crate::ids::{AccountId, AccountName, Email, GroupType, RoleName, is_iam_name_char};
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
    #[serde(default)]
    oidc: Option<RawOidc>,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    #[serde(default)]
    pipelines: Vec<RawPipelineRule>,
}

/// The token issuer pipelines authenticate with (GitHub Actions).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    audience: String,
    #[serde(default = "default_max_token_age")]
    max_token_age: String,
}

fn default_max_token_age() -> String {
    "10m".to_owned()
}

/// A GitHub user (by numeric id) and the directory user it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    github_actor_id: u64,
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipelineRule {
    #[serde(default)]
    repository_ids: Vec<u64>,
    #[serde(default)]
    repository_owner_ids: Vec<u64>,
    environments: Vec<Environment>,
    personas: Vec<String>,
    #[serde(default = "default_event_names")]
    event_names: Vec<String>,
    #[serde(default)]
    require_protected_ref: Option<bool>,
    #[serde(default)]
    github_environment: Option<String>,
    #[serde(default)]
    job_workflow_ref: Option<String>,
}

fn default_event_names() -> Vec<String> {
    vec!["push".to_owned(), "workflow_dispatch".to_owned()]
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
    #[serde(default)]
    delivery: Delivery,
}

/// How a pipeline gets credentials for the temporary role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// stint assumes the role and returns credentials (at most 1 h: role chaining).
    #[default]
    Broker,
    /// The role trusts GitHub's OIDC provider for exactly this run; the workflow assumes it
    /// with AssumeRoleWithWebIdentity and stint never holds credentials.
    Oidc,
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
    oidc: Option<OidcSettings>,
    /// GitHub actor id -> directory email.
    identities: BTreeMap<String, Email>,
    pipelines: Vec<PipelineRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: AccountName,
    pub id: AccountId,
    pub environment: Environment,
    pub delivery: Delivery,
}

/// The OIDC issuer pipelines authenticate with, and what its tokens must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Exact `iss`, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// Exact `aud`.
    pub audience: String,
    /// Tokens issued longer ago than this are refused, whatever their `exp`.
    pub max_token_age: Duration,
}

impl OidcSettings {
    /// The issuer without its scheme: the IAM OIDC provider's name and condition-key prefix.
    pub fn provider_host(&self) -> &str {
        self.issuer
            .split_once("://")
            .map_or(self.issuer.as_str(), |(_, rest)| rest)
    }

    /// The IAM OIDC identity provider for this issuer in `account`.
    pub fn provider_arn(&self, account: &AccountId) -> String {
        format!(
            "arn:aws:iam::{account}:oidc-provider/{}",
            self.provider_host()
        )
    }
}

/// One allow-list entry: which repositories may ask for which personas in which environments,
/// and what their runs must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRule {
    pub repository_ids: Vec<String>,
    pub repository_owner_ids: Vec<String>,
    pub environments: Vec<Environment>,
    pub personas: Vec<GroupType>,
    pub event_names: Vec<String>,
    /// `None`: required for prod, not for nonprod.
    pub require_protected_ref: Option<bool>,
    pub github_environment: Option<String>,
    pub job_workflow_ref: Option<String>,
}

impl PipelineRule {
    pub fn covers(&self, environment: Environment, persona: &GroupType) -> bool {
        self.environments.contains(&environment) && self.personas.contains(persona)
    }

    pub fn admits_repository(&self, repository_id: &str, repository_owner_id: &str) -> bool {
        self.repository_ids.iter().any(|id| id == repository_id)
            || self
                .repository_owner_ids
                .iter()
                .any(|id| id == repository_owner_id)
    }
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

    pub fn oidc(&self) -> Option<&OidcSettings> {
        self.oidc.as_ref()
    }

    pub fn pipeline_rules(&self) -> &[PipelineRule] {
        &self.pipelines
    }

    pub fn github_identity(&self, actor_id: &str) -> Option<&Email> {
        self.identities.get(actor_id)
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

        let oidc = raw.oidc.map(validate_oidc).transpose()?;
        let accounts = validate_accounts(raw.accounts)?;
        if let Some(i) = accounts.iter().position(|a| a.delivery == Delivery::Oidc)
            && oidc.is_none()
        {
            return Err(err(
                format!("accounts[{i}].delivery"),
                "oidc delivery needs an [oidc] issuer",
            ));
        }
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
        let identities = validate_identities(raw.identities)?;
        let pipelines = raw
            .pipelines
            .into_iter()
            .enumerate()
            .map(|(i, rule)| validate_rule(&format!("pipelines[{i}]"), rule, &personas))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            oidc,
            identities,
            pipelines,
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
            delivery: account.delivery,
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

fn validate_oidc(raw: RawOidc) -> Result<OidcSettings, CatalogError> {
    let issuer = raw.issuer.trim_end_matches('/').to_owned();
    // Plain http only for an issuer on this machine (tests, local development).
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| issuer.starts_with(p));
    if !(issuer.starts_with("https://") || loopback) || issuer.contains(char::is_whitespace) {
        return Err(err(
            "oidc.issuer",
            format!("{issuer:?} must be an https:// URL"),
        ));
    }
    if raw.audience.is_empty() || raw.audience.len() > 256 {
        return Err(err("oidc.audience", "must be 1 to 256 characters"));
    }
    let max_token_age = parse_duration(&raw.max_token_age)
        .filter(|d| (60..=3600).contains(&d.as_secs()))
        .ok_or_else(|| {
            err(
                "oidc.max_token_age",
                format!("{:?} must be a duration from 1m to 1h", raw.max_token_age),
            )
        })?;
    Ok(OidcSettings {
        issuer,
        audience: raw.audience,
        max_token_age,
    })
}

fn validate_identities(raw: Vec<RawIdentity>) -> Result<BTreeMap<String, Email>, CatalogError> {
    let mut identities = BTreeMap::new();
    for (i, identity) in raw.into_iter().enumerate() {
        let key = format!("identities[{i}]");
        let email =
            Email::parse(&identity.email).map_err(|e| err(format!("{key}.email"), e.message))?;
        if identities
            .insert(identity.github_actor_id.to_string(), email)
            .is_some()
        {
            return Err(err(
                format!("{key}.github_actor_id"),
                format!("{} appears twice", identity.github_actor_id),
            ));
        }
    }
    Ok(identities)
}

fn validate_rule(
    key: &str,
    raw: RawPipelineRule,
    personas: &BTreeMap<GroupType, Persona>,
) -> Result<PipelineRule, CatalogError> {
    if raw.repository_ids.is_empty() && raw.repository_owner_ids.is_empty() {
        return Err(err(key, "names no repository_ids or repository_owner_ids"));
    }
    if raw.environments.is_empty() {
        return Err(err(format!("{key}.environments"), "is empty"));
    }
    let mut rule_personas = Vec::new();
    for (i, name) in raw.personas.iter().enumerate() {
        let persona =
            GroupType::parse(name).map_err(|e| err(format!("{key}.personas[{i}]"), e.message))?;
        if !personas.contains_key(&persona) {
            return Err(err(
                format!("{key}.personas[{i}]"),
                format!("{persona} is not one of the personas"),
            ));
        }
        rule_personas.push(persona);
    }
    if raw.event_names.is_empty() {
        return Err(err(format!("{key}.event_names"), "is empty"));
    }
    if raw.environments.contains(&Environment::Prod)
        && raw.event_names.iter().any(|e| e == "pull_request_target")
    {
        return Err(err(
            format!("{key}.event_names"),
            "pull_request_target never gets production access",
        ));
    }
    if let Some(pinned) = &raw.job_workflow_ref
        && (!pinned.contains("/.github/workflows/") || !pinned.contains('@'))
    {
        return Err(err(
            format!("{key}.job_workflow_ref"),
            "must look like OWNER/REPO/.github/workflows/FILE.yml@REF",
        ));
    }
    Ok(PipelineRule {
        repository_ids: raw.repository_ids.iter().map(u64::to_string).collect(),
        repository_owner_ids: raw
            .repository_owner_ids
            .iter()
            .map(u64::to_string)
            .collect(),
        environments: raw.environments,
        personas: rule_personas,
        event_names: raw.event_names,
        require_protected_ref: raw.require_protected_ref,
        github_environment: raw.github_environment,
        job_workflow_ref: raw.job_workflow_ref,
    })
}

/// `24h`, `90m`, `1h30m`, `900s`; `None` if it is not such a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
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
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v))?;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

/// A grant's TTL: a duration from 15m to 24h.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 24h, 90m or 1h30m"))?;
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
