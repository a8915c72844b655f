//! The catalog: which accounts exist, which personas (`group_type`s) may be granted there and
//! with what, and which pipelines may ask. Loaded in two stages: TOML into raw structs that
//! refuse unknown keys (`raw`), then a validated `Catalog` that already rejects what AWS would
//! reject later (`limits`), naming the key. This module owns the `Catalog` itself, its
//! top-level settings and the order in which the parts are checked; each part lives in its
//! own module: `accounts`, `personas`, `pipelines`, `people`, `notifications`, `duration`.

mod accounts;
mod duration;
mod limits;
mod notifications;
mod parse_error;
mod people;
mod permission_sets;
mod personas;
mod pipelines;
mod raw;
mod slack;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use time::OffsetDateTime;
use time::macros::datetime;

pub use self::accounts::{Account, Delivery, Environment};
pub use self::duration::{format_duration, parse_duration, parse_ttl};
pub use self::limits::{
    DEFAULT_MANAGED_POLICIES_PER_ROLE, HARD_MANAGED_POLICIES_PER_ROLE, INLINE_POLICY_MAX, MAX_TTL,
    MIN_TTL, TRUST_POLICY_MAX,
};
pub use self::notifications::NotificationSettings;
pub use self::people::{AccessRules, Activation, PeoplePersona, PeopleSettings, TicketPattern};
pub use self::permission_sets::{
    Boundary, Landing, LandingPersona, PermissionSetDef, PolicyRef, inline_policy, iso_duration,
    iso_session, switch_role_statements,
};
pub use self::personas::{Grant, Persona};
pub use self::pipelines::{OidcSettings, PipelineRule};
pub use self::slack::SlackSettings;

use self::accounts::validate_accounts;
use self::limits::ROLE_PREFIX_MAX;
use self::notifications::validate_notifications;
use self::people::validate_people;
use self::personas::{check_policy_arn, in_account, known_persona, validate_personas};
use self::pipelines::{validate_identities, validate_oidc, validate_rules};
use self::raw::RawCatalog;
use crate::ids::{AccountId, AccountName, Email, GroupType, RoleName, is_iam_name_char};
use crate::policy;

/// Any fixed time: policies are built at load only to measure them, and every expiry
/// timestamp has the same length.
const SIZE_PROBE_EXPIRY: OffsetDateTime = datetime!(2000-01-01 00:00:00 UTC);

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
    people: Option<PeopleSettings>,
    notifications: Option<NotificationSettings>,
    /// Approving from chat (`[slack]`).
    slack: Option<SlackSettings>,
    /// Identity Center permission sets `stint catalog apply` keeps, by name.
    permission_sets: BTreeMap<String, PermissionSetDef>,
    landing: Option<Landing>,
    /// Persona -> the pilot group its eligibility is limited to (`[pilots]`).
    pilots: BTreeMap<GroupType, String>,
}

impl Catalog {
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog =
            toml::from_str(text).map_err(|e| parse_error::from_toml_error(text, &e))?;
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
    /// `Company_Org_AccountId_Persona`, the naming convention of the pipeline contract.
    pub fn group_name(&self, account: &AccountId, group_type: &GroupType) -> String {
        format!("{}_{}_{}_{}", self.company, self.org, account, group_type)
    }

    pub fn oidc(&self) -> Option<&OidcSettings> {
        self.oidc.as_ref()
    }

    /// Where people are told of requests and grants (`[notifications]`).
    pub fn notifications(&self) -> Option<&NotificationSettings> {
        self.notifications.as_ref()
    }

    /// Slack callbacks: the signing secret's source and Slack users' directory emails.
    pub fn slack(&self) -> Option<&SlackSettings> {
        self.slack.as_ref()
    }

    /// People's access through Identity Center, if the catalog has a `[people]` table.
    pub fn people(&self) -> Option<&PeopleSettings> {
        self.people.as_ref()
    }

    /// The permission sets `stint catalog apply` keeps (`[permission_sets.NAME]`), by name.
    pub fn permission_sets(&self) -> &BTreeMap<String, PermissionSetDef> {
        &self.permission_sets
    }

    /// The landing-account model, if the catalog has a `[landing]` table.
    pub fn landing(&self) -> Option<&Landing> {
        self.landing.as_ref()
    }

    /// The pilot group `persona`'s eligibility is limited to, while a rollout is tried.
    pub fn pilot_group(&self, persona: &GroupType) -> Option<&str> {
        self.pilots.get(persona).map(String::as_str)
    }

    /// Every persona limited to a pilot group, with the group.
    pub fn pilots(&self) -> &BTreeMap<GroupType, String> {
        &self.pilots
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
            .map(|arn| in_account(arn, account))
    }

    /// Checks the parts in a fixed order, so that of several faults the same one is reported.
    fn validate(raw: RawCatalog) -> Result<Self, CatalogError> {
        let provisioner_role_name = validate_settings(&raw)?;
        let oidc = raw.oidc.map(validate_oidc).transpose()?;
        let accounts = validate_accounts(raw.accounts)?;
        check_oidc_delivery(&accounts, oidc.as_ref())?;
        let personas = validate_personas(raw.personas, raw.managed_policies_per_role)?;
        let default_group_type = known_persona(
            "default_group_type".to_owned(),
            &raw.default_group_type,
            &personas,
        )?;
        let identities = validate_identities(raw.identities)?;
        let pipelines = validate_rules(raw.pipelines, &personas)?;
        let people = raw
            .people
            .map(|people| validate_people(people, &accounts))
            .transpose()?;
        let notifications = raw.notifications.map(validate_notifications).transpose()?;
        let slack = raw.slack.map(slack::validate_slack).transpose()?;
        let (permission_sets, landing) = permission_sets::validate_estate(
            raw.permission_sets,
            raw.landing,
            &permission_sets::Context {
                accounts: &accounts,
                personas: &personas,
                people: people.as_ref(),
                managed_limit: raw.managed_policies_per_role,
            },
        )?;
        let pilots = permission_sets::validate_pilots(raw.pilots, people.as_ref())?;
        Ok(Self {
            people,
            notifications,
            slack,
            permission_sets,
            landing,
            pilots,
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

/// The top-level keys, in the order they are reported; gives the provisioner role's name.
fn validate_settings(raw: &RawCatalog) -> Result<RoleName, CatalogError> {
    check_names(raw)?;
    let provisioner_role_name = validate_provisioner(raw)?;
    check_principal_arn(&raw.pipeline_principal_arn)?;
    if let Some(arn) = &raw.permissions_boundary_arn {
        check_policy_arn(arn).map_err(|m| err("permissions_boundary_arn", m))?;
    }
    check_role_shape(raw)?;
    check_trust_policy_size(&raw.pipeline_principal_arn)?;
    Ok(provisioner_role_name)
}

/// Whether `value` is `len` bytes long and made of `allowed` characters only.
fn fits(value: &str, len: RangeInclusive<usize>, allowed: impl Fn(char) -> bool) -> bool {
    len.contains(&value.len()) && value.chars().all(allowed)
}

/// The names group names are built from, and the identity store they are looked up in.
fn check_names(raw: &RawCatalog) -> Result<(), CatalogError> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    for (key, value) in [("company", &raw.company), ("org", &raw.org)] {
        // `_` separates the parts of a group name, so it may not appear inside one.
        if !fits(value, 1..=64, name_char) {
            return Err(err(
                key,
                format!(
                    "{value:?} must be 1 to 64 of [A-Za-z0-9-] (`_` separates group-name parts)"
                ),
            ));
        }
    }
    let store = &raw.identity_store_id;
    if !fits(store, 1..=36, name_char) {
        return Err(err(
            "identity_store_id",
            format!("{store:?} is not an identity store id such as d-1234567890"),
        ));
    }
    Ok(())
}

/// The role stint assumes in each member account, and the external id it presents there.
fn validate_provisioner(raw: &RawCatalog) -> Result<RoleName, CatalogError> {
    let name = RoleName::parse(&raw.provisioner_role_name)
        .map_err(|e| err("provisioner_role_name", e.message))?;
    if let Some(external_id) = &raw.provisioner_external_id
        && !fits(external_id, 2..=1224, |c| {
            is_iam_name_char(c) || c == ':' || c == '/'
        })
    {
        return Err(err(
            "provisioner_external_id",
            "must be 2 to 1224 of [A-Za-z0-9+=,.@:/_-]",
        ));
    }
    Ok(name)
}

/// What every temporary role is named and how many managed policies it may take.
fn check_role_shape(raw: &RawCatalog) -> Result<(), CatalogError> {
    let prefix = &raw.role_name_prefix;
    if !fits(prefix, 1..=ROLE_PREFIX_MAX, is_iam_name_char) {
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
    Ok(())
}

/// The principal temporary roles trust must be one IAM identity, never a wildcard.
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

/// The trust policy naming `arn` must fit IAM's limit whatever the request.
fn check_trust_policy_size(arn: &str) -> Result<(), CatalogError> {
    // A 64-character SourceIdentity is the longest a trust policy will ever carry.
    let trust_size = policy::trust_policy(arn, SIZE_PROBE_EXPIRY, &"x".repeat(64)).iam_size();
    if trust_size > TRUST_POLICY_MAX {
        return Err(err(
            "pipeline_principal_arn",
            format!(
                "makes a trust policy of {trust_size} characters, over IAM's {TRUST_POLICY_MAX}"
            ),
        ));
    }
    Ok(())
}

/// An account whose pipelines receive credentials by OIDC needs an issuer to trust.
fn check_oidc_delivery(
    accounts: &[Account],
    oidc: Option<&OidcSettings>,
) -> Result<(), CatalogError> {
    if let Some(i) = accounts.iter().position(|a| a.delivery == Delivery::Oidc)
        && oidc.is_none()
    {
        return Err(err(
            format!("accounts[{i}].delivery"),
            "oidc delivery needs an [oidc] issuer",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
