//! What people's access is made of, as the catalog defines it: Identity Center permission
//! sets (`[permission_sets.NAME]`) and, for the landing-account model (`[landing]`), per
//! persona the role people switch into in each member account and the roles they must never
//! reach. Checked at load against Identity Center's and IAM's limits, naming the key, so that
//! `stint catalog apply` never sends what AWS (or, worse, only AWS and not the emulator) would
//! refuse.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::accounts::Account;
use super::duration::parse_duration;
use super::people::PeopleSettings;
use super::personas::{Persona, check_policy_arn, check_statement, in_account};
use super::raw::{
    RawBoundary, RawLanding, RawLandingPersona, RawPermissionSet, RawPilot, RawPolicyRef,
};
use super::{CatalogError, err};
use crate::ids::{AccountId, GroupType, RoleName, is_iam_name_char};
use crate::policy::{Effect, OneOrMany, PolicyDocument, Statement};

/// Identity Center: a permission set's name is 1 to 32 of `[\w+=,.@-]`.
pub const PERMISSION_SET_NAME_MAX: usize = 32;
/// Identity Center: a permission set's description is at most 700 characters.
pub const PERMISSION_SET_DESCRIPTION_MAX: usize = 700;
/// Identity Center: a permission set's inline policy is at most 32,768 characters.
pub const PERMISSION_SET_INLINE_MAX: usize = 32_768;
/// Identity Center: AWS and customer managed policies together per permission set.
pub const PERMISSION_SET_POLICIES_MAX: usize = 20;
/// Identity Center: sessions last from 1 to 12 hours.
const SESSION_MIN: Duration = Duration::from_secs(3600);
const SESSION_MAX: Duration = Duration::from_secs(12 * 3600);

/// A customer managed policy, by the name and path it has in every account the permission
/// set is provisioned to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyRef {
    pub name: String,
    pub path: String,
}

/// A permission set's permissions boundary: an AWS managed policy or a customer managed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    ManagedPolicy(String),
    CustomerManaged(PolicyRef),
}

/// One permission set as the catalog defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionSetDef {
    pub name: String,
    pub description: String,
    /// ISO-8601, as Identity Center takes it (`PT4H`).
    pub session_duration: String,
    pub managed_policies: Vec<String>,
    pub customer_managed_policies: Vec<PolicyRef>,
    pub statements: Vec<Statement>,
    pub permissions_boundary: Option<Boundary>,
    /// The accounts it is provisioned to (with the landing account for a landing persona's).
    pub accounts: Vec<AccountId>,
}

/// The landing-account model: people sign in to the landing account through Identity Center
/// and switch roles from there into member accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Landing {
    pub account_id: AccountId,
    /// Sessions switching into a prod account must have signed in with MFA this recently.
    pub prod_mfa_max_age: Option<Duration>,
    personas: BTreeMap<GroupType, LandingPersona>,
}

impl Landing {
    pub fn personas(&self) -> impl Iterator<Item = &LandingPersona> {
        self.personas.values()
    }

    pub fn persona(&self, name: &GroupType) -> Option<&LandingPersona> {
        self.personas.get(name)
    }
}

/// One persona in the landing model: the permission set it signs in to the landing account
/// with, the role it switches into in each of its member accounts, and the roles it must
/// never reach.
#[derive(Debug, Clone, PartialEq)]
pub struct LandingPersona {
    pub persona: GroupType,
    pub permission_set: String,
    pub target_role: RoleName,
    pub accounts: Vec<AccountId>,
    /// The target role's managed policy ARNs, possibly holding `{account_id}`.
    managed_policies: Vec<String>,
    /// The target role's inline statements.
    pub statements: Vec<Statement>,
    pub reserved_roles: Vec<RoleName>,
}

impl LandingPersona {
    /// The target role's managed policy ARNs as the catalog writes them (`{account_id}`
    /// standing for the member account), for templates deployed to many accounts.
    pub fn managed_policy_templates(&self) -> &[String] {
        &self.managed_policies
    }

    /// The target role's managed policy ARNs in `account`.
    pub fn managed_policies(&self, account: &AccountId) -> Vec<String> {
        self.managed_policies
            .iter()
            .map(|arn| in_account(arn, account))
            .collect()
    }
}

/// What the rest of the catalog the estate is checked against.
pub(super) struct Context<'a> {
    pub(super) accounts: &'a [Account],
    pub(super) personas: &'a BTreeMap<GroupType, Persona>,
    pub(super) people: Option<&'a PeopleSettings>,
    pub(super) managed_limit: usize,
}

/// The permission sets by name, and the landing model if there is one.
pub(super) fn validate_estate(
    raw_sets: BTreeMap<String, RawPermissionSet>,
    raw_landing: Option<RawLanding>,
    context: &Context<'_>,
) -> Result<(BTreeMap<String, PermissionSetDef>, Option<Landing>), CatalogError> {
    let mut sets = BTreeMap::new();
    for (name, raw) in raw_sets {
        let set = validate_permission_set(&name, raw, context.accounts)?;
        sets.insert(name, set);
    }
    let landing = raw_landing
        .map(|raw| validate_landing(raw, context, &mut sets))
        .transpose()?;
    for (name, set) in &sets {
        check_inline_size(&format!("permission_sets.{name}.statements"), set, &landing)?;
    }
    Ok((sets, landing))
}

fn validate_permission_set(
    name: &str,
    raw: RawPermissionSet,
    accounts: &[Account],
) -> Result<PermissionSetDef, CatalogError> {
    let key = format!("permission_sets.{name}");
    check_permission_set_name(&key, name)?;
    if raw.description.chars().count() > PERMISSION_SET_DESCRIPTION_MAX
        || raw.description.chars().any(char::is_control)
    {
        return Err(err(
            format!("{key}.description"),
            format!(
                "must be at most {PERMISSION_SET_DESCRIPTION_MAX} characters, none a control character"
            ),
        ));
    }
    let session_duration = iso_session(&raw.session_duration)
        .map_err(|m| err(format!("{key}.session_duration"), m))?;
    check_policy_arns(&format!("{key}.managed_policies"), &raw.managed_policies)?;
    let customer = policy_refs(
        &format!("{key}.customer_managed_policies"),
        raw.customer_managed_policies,
    )?;
    if raw.managed_policies.len() + customer.len() > PERMISSION_SET_POLICIES_MAX {
        return Err(err(
            &key,
            format!(
                "attaches more than Identity Center's {PERMISSION_SET_POLICIES_MAX} managed policies"
            ),
        ));
    }
    check_statements(&format!("{key}.statements"), &raw.statements)?;
    let permissions_boundary = raw
        .permissions_boundary
        .map(|b| boundary(&format!("{key}.permissions_boundary"), b))
        .transpose()?;
    Ok(PermissionSetDef {
        name: name.to_owned(),
        description: raw.description,
        session_duration,
        managed_policies: raw.managed_policies,
        customer_managed_policies: customer,
        statements: raw.statements,
        permissions_boundary,
        accounts: account_ids(&format!("{key}.accounts"), &raw.accounts, accounts)?,
    })
}

fn check_permission_set_name(key: &str, name: &str) -> Result<(), CatalogError> {
    if name.is_empty()
        || name.len() > PERMISSION_SET_NAME_MAX
        || !name.chars().all(is_iam_name_char)
    {
        return Err(err(
            key,
            format!(
                "{name:?} must be 1 to {PERMISSION_SET_NAME_MAX} of letters, digits and +=,.@_-"
            ),
        ));
    }
    Ok(())
}

/// `PT4H`, `PT1H30M`, or a catalog duration (`4h`), as Identity Center's ISO-8601 form; from
/// 1 to 12 hours.
pub fn iso_session(text: &str) -> Result<String, String> {
    let duration = match text.strip_prefix("PT") {
        Some(rest) => parse_duration(&rest.to_ascii_lowercase()),
        None => parse_duration(text),
    }
    .ok_or_else(|| format!("{text:?} is not a duration such as PT4H or 4h"))?;
    if duration < SESSION_MIN || duration > SESSION_MAX {
        return Err(format!(
            "{text} is outside the 1 to 12 hours Identity Center allows"
        ));
    }
    Ok(iso_duration(duration))
}

/// A duration as ISO-8601 (`PT1H30M`), the form Identity Center answers with.
pub fn iso_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = "PT".to_owned();
    for (n, unit) in [(h, 'H'), (m, 'M'), (s, 'S')] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    text
}

fn check_policy_arns(key: &str, arns: &[String]) -> Result<(), CatalogError> {
    for (i, arn) in arns.iter().enumerate() {
        check_policy_arn(arn).map_err(|m| err(format!("{key}[{i}]"), m))?;
        if arns[..i].contains(arn) {
            return Err(err(format!("{key}[{i}]"), format!("{arn} appears twice")));
        }
    }
    Ok(())
}

fn policy_refs(key: &str, raw: Vec<RawPolicyRef>) -> Result<Vec<PolicyRef>, CatalogError> {
    let mut refs: Vec<PolicyRef> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let policy = policy_ref(&format!("{key}[{i}]"), r)?;
        if refs.contains(&policy) {
            return Err(err(format!("{key}[{i}]"), "appears twice"));
        }
        refs.push(policy);
    }
    Ok(refs)
}

/// IAM: a policy name is 1 to 128 of `[\w+=,.@-]`; a path `/` or `/a/b/`, at most 512.
fn policy_ref(key: &str, raw: RawPolicyRef) -> Result<PolicyRef, CatalogError> {
    if raw.name.is_empty() || raw.name.len() > 128 || !raw.name.chars().all(is_iam_name_char) {
        return Err(err(
            format!("{key}.name"),
            "must be 1 to 128 of letters, digits and +=,.@_-",
        ));
    }
    let path_ok = raw.path.starts_with('/')
        && raw.path.ends_with('/')
        && raw.path.len() <= 512
        && !raw.path.contains("//")
        && raw.path.chars().all(|c| is_iam_name_char(c) || c == '/');
    if !path_ok {
        return Err(err(
            format!("{key}.path"),
            format!("{:?} must be / or /a/b/ (at most 512 characters)", raw.path),
        ));
    }
    Ok(PolicyRef {
        name: raw.name,
        path: raw.path,
    })
}

fn boundary(key: &str, raw: RawBoundary) -> Result<Boundary, CatalogError> {
    match raw {
        RawBoundary {
            managed_policy: Some(arn),
            customer_managed: None,
        } => {
            check_policy_arn(&arn).map_err(|m| err(format!("{key}.managed_policy"), m))?;
            Ok(Boundary::ManagedPolicy(arn))
        }
        RawBoundary {
            managed_policy: None,
            customer_managed: Some(r),
        } => Ok(Boundary::CustomerManaged(policy_ref(
            &format!("{key}.customer_managed"),
            r,
        )?)),
        _ => Err(err(
            key,
            "needs exactly one of managed_policy and customer_managed",
        )),
    }
}

fn check_statements(key: &str, statements: &[Statement]) -> Result<(), CatalogError> {
    for (i, statement) in statements.iter().enumerate() {
        check_statement(statement).map_err(|m| err(format!("{key}[{i}]"), m))?;
    }
    Ok(())
}

/// Account names (or ids) of the catalog's `[[accounts]]`, as ids, none twice.
fn account_ids(
    key: &str,
    names: &[String],
    accounts: &[Account],
) -> Result<Vec<AccountId>, CatalogError> {
    let mut ids: Vec<AccountId> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let found = accounts
            .iter()
            .find(|a| a.name.as_str() == name || a.id.as_str() == name)
            .ok_or_else(|| {
                err(
                    format!("{key}[{i}]"),
                    format!("{name} is not one of the accounts"),
                )
            })?;
        if ids.contains(&found.id) {
            return Err(err(format!("{key}[{i}]"), format!("{name} appears twice")));
        }
        ids.push(found.id.clone());
    }
    Ok(ids)
}

/// `[pilots.PERSONA] group = "…"`: while a rollout is tried, only members of the pilot group
/// are eligible for the persona (its usual groups are not); lifting the limit restores them.
pub(super) fn validate_pilots(
    raw: BTreeMap<String, RawPilot>,
    people: Option<&PeopleSettings>,
) -> Result<BTreeMap<GroupType, String>, CatalogError> {
    let mut pilots = BTreeMap::new();
    for (name, pilot) in raw {
        let key = format!("pilots.{name}");
        let persona = GroupType::parse(&name).map_err(|e| err(&key, e.message))?;
        if people.and_then(|p| p.persona(&persona)).is_none() {
            return Err(err(
                key,
                format!(
                    "{persona} is not one of [people.personas]: only people ask by eligibility"
                ),
            ));
        }
        if pilot.group.trim().is_empty() || pilot.group.len() > 1024 {
            return Err(err(
                format!("{key}.group"),
                "must name an Identity Center group",
            ));
        }
        pilots.insert(persona, pilot.group);
    }
    Ok(pilots)
}

/// The landing account and its personas; each landing persona's permission set gets the
/// landing account among its accounts.
fn validate_landing(
    raw: RawLanding,
    context: &Context<'_>,
    sets: &mut BTreeMap<String, PermissionSetDef>,
) -> Result<Landing, CatalogError> {
    let account_id =
        AccountId::parse(&raw.account_id).map_err(|e| err("landing.account_id", e.message))?;
    if context.accounts.iter().any(|a| a.id == account_id) {
        return Err(err(
            "landing.account_id",
            "the landing account may not also be a member account people switch into",
        ));
    }
    let prod_mfa_max_age = raw
        .prod_mfa_max_age
        .map(|text| {
            parse_duration(&text).ok_or_else(|| {
                err(
                    "landing.prod_mfa_max_age",
                    format!("{text:?} is not a duration such as 1h"),
                )
            })
        })
        .transpose()?;
    let mut personas = BTreeMap::new();
    for (name, persona) in raw.personas {
        let key = format!("landing.personas.{name}");
        let persona = validate_landing_persona(&key, &name, persona, context)?;
        if let Some(other) = personas
            .values()
            .find(|p: &&LandingPersona| p.permission_set == persona.permission_set)
        {
            return Err(err(
                format!("{key}.permission_set"),
                format!(
                    "{} is already {}'s: each landing persona needs its own permission set, which its target roles trust",
                    persona.permission_set, other.persona
                ),
            ));
        }
        let set = sets.get_mut(&persona.permission_set).ok_or_else(|| {
            err(
                format!("{key}.permission_set"),
                format!("define [permission_sets.{}]", persona.permission_set),
            )
        })?;
        if !set.accounts.contains(&account_id) {
            set.accounts.insert(0, account_id.clone());
        }
        personas.insert(persona.persona.clone(), persona);
    }
    Ok(Landing {
        account_id,
        prod_mfa_max_age,
        personas,
    })
}

fn validate_landing_persona(
    key: &str,
    name: &str,
    raw: RawLandingPersona,
    context: &Context<'_>,
) -> Result<LandingPersona, CatalogError> {
    let persona = GroupType::parse(name).map_err(|e| err(key, e.message))?;
    if !context.personas.contains_key(&persona) {
        return Err(err(key, format!("{persona} is not one of the personas")));
    }
    let people_set = context
        .people
        .and_then(|p| p.persona(&persona))
        .map(|p| p.permission_set.clone());
    let permission_set = match (raw.permission_set, people_set) {
        (Some(own), Some(people)) if own != people => {
            return Err(err(
                format!("{key}.permission_set"),
                format!("{own} differs from [people.personas.{name}] permission_set = {people:?}"),
            ));
        }
        (Some(own), _) => own,
        (None, Some(people)) => people,
        (None, None) => {
            return Err(err(
                format!("{key}.permission_set"),
                "name the permission set people sign in to the landing account with",
            ));
        }
    };
    check_permission_set_name(&format!("{key}.permission_set"), &permission_set)?;
    let target_role = RoleName::parse(&raw.target_role)
        .map_err(|e| err(format!("{key}.target_role"), e.message))?;
    let accounts = if raw.accounts.is_empty() {
        context.accounts.iter().map(|a| a.id.clone()).collect()
    } else {
        account_ids(&format!("{key}.accounts"), &raw.accounts, context.accounts)?
    };
    if raw.managed_policies.len() > context.managed_limit {
        return Err(err(
            format!("{key}.managed_policies"),
            format!(
                "a role takes at most {} (managed_policies_per_role)",
                context.managed_limit
            ),
        ));
    }
    check_policy_arns(&format!("{key}.managed_policies"), &raw.managed_policies)?;
    check_statements(&format!("{key}.statements"), &raw.statements)?;
    if raw.managed_policies.is_empty() && raw.statements.is_empty() {
        return Err(err(
            key,
            "the target role grants nothing: give managed_policies or statements",
        ));
    }
    let reserved_roles = reserved(key, &raw.reserved_roles, &target_role)?;
    Ok(LandingPersona {
        persona,
        permission_set,
        target_role,
        accounts,
        managed_policies: raw.managed_policies,
        statements: raw.statements,
        reserved_roles,
    })
}

/// The roles a persona must never reach: valid names, and never its own target role.
fn reserved(key: &str, names: &[String], target: &RoleName) -> Result<Vec<RoleName>, CatalogError> {
    let mut roles = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let at = format!("{key}.reserved_roles[{i}]");
        let role = RoleName::parse(name).map_err(|e| err(&at, e.message))?;
        if &role == target {
            return Err(err(
                at,
                format!(
                    "{role} is the persona's target_role: it cannot be both allowed and denied"
                ),
            ));
        }
        roles.push(role);
    }
    Ok(roles)
}

/// The inline policy Identity Center will hold (the catalog's statements and, for a landing
/// persona's set, the switch-role statements) must fit its limit.
fn check_inline_size(
    key: &str,
    set: &PermissionSetDef,
    landing: &Option<Landing>,
) -> Result<(), CatalogError> {
    let Some(document) = inline_policy(set, landing.as_ref()) else {
        return Ok(());
    };
    let size = document.iam_size();
    if size > PERMISSION_SET_INLINE_MAX {
        return Err(err(
            key,
            format!(
                "make an inline policy of {size} characters, over Identity Center's {PERMISSION_SET_INLINE_MAX}"
            ),
        ));
    }
    Ok(())
}

/// The permission set's inline policy: its statements, then the switch-role statements of the
/// landing persona that signs in with it. `None`: no inline policy.
pub fn inline_policy(set: &PermissionSetDef, landing: Option<&Landing>) -> Option<PolicyDocument> {
    let mut statements = set.statements.clone();
    if let Some(landing) = landing
        && let Some(persona) = landing.personas().find(|p| p.permission_set == set.name)
    {
        statements.extend(switch_role_statements(
            &persona
                .accounts
                .iter()
                .map(|a| format!("arn:aws:iam::{a}:role/{}", persona.target_role))
                .collect::<Vec<_>>(),
            &persona
                .reserved_roles
                .iter()
                .map(|r| format!("arn:aws:iam::*:role/{r}"))
                .collect::<Vec<_>>(),
        ));
    }
    (!statements.is_empty()).then(|| PolicyDocument::new(statements))
}

/// The landing account's switch-role statements: `sts:AssumeRole` allowed on the persona's
/// target roles, one per account, and denied on the reserved roles in every account (an
/// explicit deny wins over any allow another policy gives).
pub fn switch_role_statements(targets: &[String], reserved: &[String]) -> Vec<Statement> {
    let assume = |sid: &str, effect: Effect, resources: &[String]| Statement {
        sid: Some(sid.to_owned()),
        effect,
        principal: None,
        action: Some(OneOrMany::One("sts:AssumeRole".to_owned())),
        not_action: None,
        resource: Some(OneOrMany::Many(resources.to_vec())),
        not_resource: None,
        condition: None,
    };
    let mut statements = vec![assume("StintSwitchRole", Effect::Allow, targets)];
    if !reserved.is_empty() {
        statements.push(assume("StintNeverReservedRoles", Effect::Deny, reserved));
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use super::*;

    const LANDING: &str = include_str!("../../../../examples/catalog-landing.toml");

    fn load_with(from: &str, to: &str) -> CatalogError {
        assert!(LANDING.contains(from), "example lacks {from:?}");
        match Catalog::from_toml(&LANDING.replacen(from, to, 1)) {
            Ok(_) => panic!("{to:?} loaded"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_landing_example_loads_with_its_sets_and_roles() -> Result<(), CatalogError> {
        let catalog = Catalog::from_toml(LANDING)?;
        let sets = catalog.permission_sets();
        assert_eq!(sets.len(), 2);
        let deployers = &sets["Acme-Product-Deployers"];
        assert_eq!(deployers.session_duration, "PT2H");
        // The landing persona's set is provisioned to the landing account.
        assert_eq!(
            deployers
                .accounts
                .iter()
                .map(AccountId::as_str)
                .collect::<Vec<_>>(),
            ["111111111111"]
        );
        let landing = catalog.landing().ok_or_else(|| err("landing", "absent"))?;
        let persona = landing
            .persona(&GroupType::parse("Product-Deployers").map_err(|e| err("p", e.message))?)
            .ok_or_else(|| err("persona", "absent"))?;
        assert_eq!(persona.target_role.as_str(), "ProductDeployer");
        assert_eq!(persona.accounts.len(), 2);
        assert_eq!(landing.prod_mfa_max_age, Some(Duration::from_secs(3600)));
        Ok(())
    }

    #[test]
    fn the_other_examples_still_load_without_the_new_tables() {
        for text in [
            include_str!("../../../../examples/catalog.toml"),
            include_str!("../../../../examples/catalog-github.toml"),
        ] {
            let catalog = Catalog::from_toml(text);
            assert!(
                catalog
                    .as_ref()
                    .is_ok_and(|c| c.permission_sets().is_empty() && c.landing().is_none()),
                "{catalog:?}"
            );
        }
    }

    #[test]
    fn session_durations_are_identity_centers() {
        assert_eq!(iso_session("PT4H"), Ok("PT4H".to_owned()));
        assert_eq!(iso_session("1h30m"), Ok("PT1H30M".to_owned()));
        assert_eq!(iso_session("PT1H30M"), Ok("PT1H30M".to_owned()));
        for bad in ["PT59M", "PT13H", "P1D", "4", "", "PT12H1S"] {
            assert!(iso_session(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults_name_their_key() {
        let cases = [
            (
                "[permission_sets.Acme-Auditors]",
                "[permission_sets.Acme-Auditors-With-A-Name-Far-Too-Long]",
                "permission_sets.Acme-Auditors-With-A-Name-Far-Too-Long",
            ),
            (
                "session_duration = \"PT4H\"",
                "session_duration = \"PT13H\"",
                "permission_sets.Acme-Auditors.session_duration",
            ),
            (
                "description = \"Read-only access to every member account\"",
                &format!("description = \"{}\"", "x".repeat(701)),
                "permission_sets.Acme-Auditors.description",
            ),
            (
                "accounts = [\"workload-nonprod\", \"workload-prod\"]\nstatements",
                "accounts = [\"workload-nowhere\"]\nstatements",
                "permission_sets.Acme-Auditors.accounts[0]",
            ),
            (
                "reserved_roles = [\"SecurityAudit\"",
                "reserved_roles = [\"ProductDeployer\"",
                "landing.personas.Product-Deployers.reserved_roles[0]",
            ),
            (
                "permission_set = \"Acme-Product-Deployers\"\ntarget_role",
                "permission_set = \"Acme-Nowhere\"\ntarget_role",
                "landing.personas.Product-Deployers.permission_set",
            ),
            (
                "account_id = \"111111111111\"",
                "account_id = \"222222222222\"",
                "landing.account_id",
            ),
            (
                "{ Sid = \"NoSecrets\"",
                "{ Sid = \"StintMine\"",
                "permission_sets.Acme-Auditors.statements[0]",
            ),
        ];
        for (from, to, key) in cases {
            assert_eq!(load_with(from, to).key, key, "{to}");
        }
    }

    #[test]
    fn a_landing_persona_agrees_with_its_people_persona() {
        let people = "\n[people]\nissuer = \"https://login.example.com\"\nclient_id = \"stint\"\n\
                      [people.personas.Product-Deployers]\npermission_set = \"Other\"\n";
        let error = Catalog::from_toml(&format!("{LANDING}{people}"));
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.key == "landing.personas.Product-Deployers.permission_set"),
            "{error:?}"
        );
    }

    #[test]
    fn a_pilot_limits_a_people_persona_only() {
        let error = Catalog::from_toml(&format!("{LANDING}\n[pilots.Auditors]\ngroup = \"P\"\n"));
        assert!(
            error.as_ref().is_err_and(|e| e.key == "pilots.Auditors"),
            "{error:?}"
        );
    }

    #[test]
    fn an_inline_policy_over_identity_centers_limit_is_refused() {
        let statement = format!(
            "{{ Effect = \"Allow\", Action = \"s3:GetObject\", Resource = [{}] }},\n",
            (0..40)
                .map(|i| format!("\"arn:aws:s3:::bucket-{i:04}-{}/*\"", "x".repeat(40)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let many = statement.repeat(12);
        let error = load_with(
            "statements = [\n  { Sid = \"NoSecrets\"",
            &format!("statements = [\n{many}  {{ Sid = \"NoSecrets\""),
        );
        assert_eq!(error.key, "permission_sets.Acme-Auditors.statements");
    }
}
