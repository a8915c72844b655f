//! People's access through IAM Identity Center: the Identity Center instance, the identity
//! provider people sign in with (verified as strictly as pipeline tokens), and per persona the
//! permission set, who is eligible, and per environment the rules of asking and approving:
//! the longest grant, the approvals needed and from which groups, a justification and ticket,
//! how long a request waits, and how fresh and strong the sign-in must be.

use std::collections::BTreeMap;
use std::time::Duration;

use super::accounts::{Account, Environment};
use super::duration::{parse_duration, parse_ttl};
use super::raw::{RawAccessRules, RawPeople, RawPeoplePersona};
use super::{CatalogError, err};
use crate::ids::{AccountId, GroupType};

/// A request waits at most this long for its approvals.
const REQUEST_TIMEOUT_MAX: Duration = Duration::from_secs(7 * 86_400);
/// The shortest grant, unless the rules say otherwise.
const DEFAULT_MIN_DURATION: Duration = Duration::from_secs(15 * 60);
/// The most approvals a request can need.
const APPROVALS_MAX: u32 = 10;

#[derive(Debug, Clone)]
pub struct PeopleSettings {
    /// The Identity Center instance assignments are made in; `None`: the only one there is.
    pub instance_arn: Option<String>,
    /// The identity provider people's ID tokens come from (exact `iss`).
    pub issuer: String,
    /// The `aud` of their ID tokens.
    pub client_id: String,
    /// The claim naming the user (their email in the identity store).
    pub user_claim: String,
    pub max_token_age: Duration,
    /// The AWS access portal (`https://d-….awsapps.com/start`), for `stint profiles`.
    pub portal_url: Option<String>,
    /// Identity Center's region, for `stint profiles`.
    pub sso_region: Option<String>,
    personas: BTreeMap<GroupType, PeoplePersona>,
}

impl PeopleSettings {
    pub fn persona(&self, name: &GroupType) -> Option<&PeoplePersona> {
        self.personas.get(name)
    }

    pub fn personas(&self) -> impl Iterator<Item = &PeoplePersona> {
        self.personas.values()
    }
}

#[derive(Debug, Clone)]
pub struct PeoplePersona {
    pub name: GroupType,
    /// The Identity Center permission set's name.
    pub permission_set: String,
    /// Groups whose members may ask, besides `Company_Org_AccountId_Persona`.
    pub eligible_groups: Vec<String>,
    pub activation: Activation,
    prod: AccessRules,
    nonprod: AccessRules,
}

/// How a person's grant is carried in Identity Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// An account assignment of the persona's permission set to the user, made for the grant.
    Assignment,
    /// A time-bound membership of a group (per account) that holds a standing assignment of
    /// the persona's permission set there: Entra's PIM for groups.
    Membership {
        access_groups: BTreeMap<AccountId, String>,
    },
}

impl PeoplePersona {
    /// For `membership` activation: the group that gives this persona in `account`.
    pub fn access_group(&self, account: &AccountId) -> Option<&str> {
        match &self.activation {
            Activation::Membership { access_groups } => {
                access_groups.get(account).map(String::as_str)
            }
            Activation::Assignment => None,
        }
    }

    pub fn rules(&self, environment: Environment) -> &AccessRules {
        match environment {
            Environment::Prod => &self.prod,
            Environment::Nonprod => &self.nonprod,
        }
    }
}

/// How a request for one persona in one environment is asked and approved.
#[derive(Debug, Clone)]
pub struct AccessRules {
    /// Break-glass: self-activated without approvals, for at most this long, with a reason,
    /// loudly notified and flagged for review (`None`: not allowed here).
    pub break_glass: Option<Duration>,
    /// The shortest grant one may ask for (default 15m).
    pub min_duration: Duration,
    pub max_duration: Duration,
    /// 0: the grant starts when asked (still recorded and notified).
    pub approvals: u32,
    /// Approvers must be members of one of these at the moment they approve.
    pub approver_groups: Vec<String>,
    pub justification: bool,
    pub ticket_pattern: Option<TicketPattern>,
    pub request_timeout: Duration,
    /// Every one of these must be in the ID token's `amr` (e.g. `mfa`, `hwk`).
    pub required_amr: Vec<String>,
    pub required_acr: Option<String>,
    /// The sign-in (`auth_time`) may be at most this old.
    pub max_auth_age: Option<Duration>,
}

/// A ticket reference's shape, as a regular expression matched against the whole reference.
#[derive(Debug, Clone)]
pub struct TicketPattern {
    pub source: String,
    regex: regex_lite::Regex,
}

impl TicketPattern {
    pub fn matches(&self, ticket: &str) -> bool {
        self.regex.is_match(ticket)
    }
}

pub(super) fn validate_people(
    raw: RawPeople,
    accounts: &[Account],
) -> Result<PeopleSettings, CatalogError> {
    if let Some(arn) = &raw.instance_arn
        && !arn.starts_with("arn:aws:sso:::instance/")
    {
        return Err(err(
            "people.instance_arn",
            format!(
                "{arn:?} is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)"
            ),
        ));
    }
    let oidc = super::pipelines::validate_issuer("people.issuer", &raw.issuer)?;
    if raw.client_id.is_empty() || raw.client_id.len() > 256 {
        return Err(err("people.client_id", "must be 1 to 256 characters"));
    }
    if raw.user_claim.is_empty() {
        return Err(err("people.user_claim", "must name a claim, e.g. email"));
    }
    let max_token_age = parse_duration(&raw.max_token_age)
        .filter(|d| (60..=86_400).contains(&d.as_secs()))
        .ok_or_else(|| {
            err(
                "people.max_token_age",
                format!("{:?} must be a duration from 1m to 24h", raw.max_token_age),
            )
        })?;
    let portal_url = raw
        .portal_url
        .map(|url| super::pipelines::validate_issuer("people.portal_url", &url))
        .transpose()?;
    let valid_region = |r: &str| {
        !r.is_empty()
            && r.len() <= 32
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if let Some(region) = raw.sso_region.as_deref().filter(|r| !valid_region(r)) {
        return Err(err(
            "people.sso_region",
            format!("{region:?} is not an AWS region such as eu-west-1"),
        ));
    }
    let sso_region = raw.sso_region;
    let mut personas = BTreeMap::new();
    for (name, persona) in raw.personas {
        let key = format!("people.personas.{name}");
        let group_type = GroupType::parse(&name).map_err(|e| err(&key, e.message))?;
        let persona = validate_persona(&key, group_type.clone(), persona, accounts)?;
        personas.insert(group_type, persona);
    }
    check_access_groups(&personas)?;
    Ok(PeopleSettings {
        instance_arn: raw.instance_arn,
        issuer: oidc,
        client_id: raw.client_id,
        user_claim: raw.user_claim,
        max_token_age,
        portal_url,
        sso_region,
        personas,
    })
}

fn validate_persona(
    key: &str,
    name: GroupType,
    raw: RawPeoplePersona,
    accounts: &[Account],
) -> Result<PeoplePersona, CatalogError> {
    let valid_name = |c: char| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c);
    if raw.permission_set.is_empty()
        || raw.permission_set.len() > 32
        || !raw.permission_set.chars().all(valid_name)
    {
        return Err(err(
            format!("{key}.permission_set"),
            "must be a permission set name: 1 to 32 of letters, digits and +=,.@-_",
        ));
    }
    check_groups(&format!("{key}.eligible_groups"), &raw.eligible_groups)?;
    let activation = validate_activation(key, &raw, accounts)?;
    let resolve = |env: &str, over: Option<RawAccessRules>| {
        let over = over.unwrap_or_default();
        let merged = RawAccessRules {
            break_glass: over.break_glass.or_else(|| raw.rules.break_glass.clone()),
            min_duration: over.min_duration.or_else(|| raw.rules.min_duration.clone()),
            max_duration: over.max_duration.or_else(|| raw.rules.max_duration.clone()),
            approvals: over.approvals.or(raw.rules.approvals),
            approver_groups: over
                .approver_groups
                .or_else(|| raw.rules.approver_groups.clone()),
            justification: over.justification.or(raw.rules.justification),
            ticket_pattern: over
                .ticket_pattern
                .or_else(|| raw.rules.ticket_pattern.clone()),
            request_timeout: over
                .request_timeout
                .or_else(|| raw.rules.request_timeout.clone()),
            required_amr: over.required_amr.or_else(|| raw.rules.required_amr.clone()),
            required_acr: over.required_acr.or_else(|| raw.rules.required_acr.clone()),
            max_auth_age: over.max_auth_age.or_else(|| raw.rules.max_auth_age.clone()),
        };
        validate_rules(&format!("{key}.{env}"), merged)
    };
    Ok(PeoplePersona {
        prod: resolve("prod", raw.prod)?,
        nonprod: resolve("nonprod", raw.nonprod)?,
        name,
        permission_set: raw.permission_set,
        eligible_groups: raw.eligible_groups,
        activation,
    })
}

fn validate_activation(
    key: &str,
    raw: &RawPeoplePersona,
    accounts: &[Account],
) -> Result<Activation, CatalogError> {
    let groups_key = format!("{key}.access_groups");
    match raw.activation.as_deref().unwrap_or("assignment") {
        "assignment" if raw.access_groups.is_empty() => Ok(Activation::Assignment),
        "assignment" => Err(err(
            groups_key,
            "only a persona with activation = \"membership\" has access groups",
        )),
        "membership" if raw.access_groups.is_empty() => Err(err(
            groups_key,
            "membership activation needs the group (with the persona's standing assignment) of each account, e.g. { \"222222222222\" = \"Acme-Prod-Admins\" }",
        )),
        "membership" => {
            let mut access_groups = BTreeMap::new();
            for (account, group) in &raw.access_groups {
                let key = format!("{groups_key}.{account}");
                let id = AccountId::parse(account).map_err(|e| err(&key, e.message))?;
                if !accounts.iter().any(|a| a.id == id) {
                    return Err(err(
                        key,
                        format!("{account} is not an account of the catalog"),
                    ));
                }
                check_groups(&key, std::slice::from_ref(group))?;
                access_groups.insert(id, group.clone());
            }
            Ok(Activation::Membership { access_groups })
        }
        other => Err(err(
            format!("{key}.activation"),
            format!("{other:?} must be \"assignment\" or \"membership\""),
        )),
    }
}

/// A group that gives access gives one persona in one account, and nobody is eligible or an
/// approver by being in it (being granted it would widen what one may ask for or approve).
fn check_access_groups(personas: &BTreeMap<GroupType, PeoplePersona>) -> Result<(), CatalogError> {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for persona in personas.values() {
        let Activation::Membership { access_groups } = &persona.activation else {
            continue;
        };
        for (account, group) in access_groups {
            let key = format!("people.personas.{}.access_groups.{account}", persona.name);
            if let Some(other) = seen.insert(group, key.clone()) {
                return Err(err(
                    key,
                    format!("{group} is already the access group of {other}"),
                ));
            }
            let misused = personas.values().any(|p| {
                p.eligible_groups.contains(group)
                    || [Environment::Prod, Environment::Nonprod]
                        .iter()
                        .any(|env| p.rules(*env).approver_groups.contains(group))
            });
            if misused {
                return Err(err(
                    key,
                    format!(
                        "{group} also makes people eligible or approvers; use a group that only gives access"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_rules(key: &str, raw: RawAccessRules) -> Result<AccessRules, CatalogError> {
    let max_duration = raw.max_duration.as_deref().unwrap_or("1h");
    let max_duration =
        parse_ttl(max_duration).map_err(|m| err(format!("{key}.max_duration"), m))?;
    let min_duration = match raw.min_duration.as_deref() {
        None => DEFAULT_MIN_DURATION,
        Some(text) => parse_duration(text)
            .filter(|d| *d <= max_duration)
            .ok_or_else(|| {
                err(
                    format!("{key}.min_duration"),
                    format!("{text:?} must be a duration such as 15m, at most max_duration"),
                )
            })?,
    };
    let break_glass = raw
        .break_glass
        .map(|text| {
            parse_duration(&text)
                .filter(|d| *d >= min_duration && *d <= max_duration)
                .ok_or_else(|| {
                    err(
                        format!("{key}.break_glass"),
                        format!(
                            "{text:?} must be the longest break-glass grant, from min_duration to max_duration"
                        ),
                    )
                })
        })
        .transpose()?;
    let approvals = raw.approvals.unwrap_or(0);
    if approvals > APPROVALS_MAX {
        return Err(err(
            format!("{key}.approvals"),
            format!("{approvals} is more than {APPROVALS_MAX}"),
        ));
    }
    let approver_groups = raw.approver_groups.unwrap_or_default();
    check_groups(&format!("{key}.approver_groups"), &approver_groups)?;
    if approvals > 0 && approver_groups.is_empty() {
        return Err(err(
            format!("{key}.approver_groups"),
            format!("{approvals} approvals need at least one approver group"),
        ));
    }
    let ticket_pattern = raw
        .ticket_pattern
        .map(|source| {
            regex_lite::Regex::new(&format!("^(?:{source})$"))
                .map(|regex| TicketPattern { source, regex })
                .map_err(|e| err(format!("{key}.ticket_pattern"), e.to_string()))
        })
        .transpose()?;
    let request_timeout = raw.request_timeout.as_deref().unwrap_or("1h");
    let request_timeout = parse_duration(request_timeout)
        .filter(|d| d.as_secs() >= 300 && *d <= REQUEST_TIMEOUT_MAX)
        .ok_or_else(|| {
            err(
                format!("{key}.request_timeout"),
                format!("{request_timeout:?} must be a duration from 5m to 168h"),
            )
        })?;
    let required_amr = raw.required_amr.unwrap_or_default();
    if required_amr.iter().any(String::is_empty) {
        return Err(err(format!("{key}.required_amr"), "holds an empty value"));
    }
    let max_auth_age = raw
        .max_auth_age
        .map(|text| {
            parse_duration(&text).ok_or_else(|| {
                err(
                    format!("{key}.max_auth_age"),
                    format!("{text:?} is not a duration such as 15m"),
                )
            })
        })
        .transpose()?;
    Ok(AccessRules {
        break_glass,
        min_duration,
        max_duration,
        approvals,
        approver_groups,
        justification: raw.justification.unwrap_or(false),
        ticket_pattern,
        request_timeout,
        required_amr,
        required_acr: raw.required_acr.filter(|acr| !acr.is_empty()),
        max_auth_age,
    })
}

/// Identity Center group display names: non-empty, none twice.
fn check_groups(key: &str, groups: &[String]) -> Result<(), CatalogError> {
    for (i, group) in groups.iter().enumerate() {
        if group.trim().is_empty() || group.len() > 1024 {
            return Err(err(key, "holds an empty or over-long group name"));
        }
        if groups[..i].contains(group) {
            return Err(err(key, format!("names {group} twice")));
        }
    }
    Ok(())
}
