//! What pipelines may ask for: the OIDC issuer their tokens come from, the GitHub users they
//! run as (`[[identities]]`) and the allow-list of repositories (`[[pipelines]]`). Deciding
//! whether one run's claims pass is the caller's business; this module only holds the rules.

use std::collections::BTreeMap;
use std::time::Duration;

use super::accounts::Environment;
use super::duration::parse_duration;
use super::personas::{Persona, known_persona};
use super::raw::{RawIdentity, RawOidc, RawPipelineRule};
use super::{CatalogError, err};
use crate::ids::{AccountId, Email, GroupType};

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

    /// Whether the repository (or its owner), by GitHub's numeric ids, is on this entry.
    pub fn admits_repository(&self, repository_id: &str, repository_owner_id: &str) -> bool {
        self.repository_ids.iter().any(|id| id == repository_id)
            || self
                .repository_owner_ids
                .iter()
                .any(|id| id == repository_owner_id)
    }
}

/// An issuer URL without its trailing `/`: https, or plain http on this machine only (tests,
/// local development).
pub(super) fn validate_issuer(key: &str, issuer: &str) -> Result<String, CatalogError> {
    let issuer = issuer.trim_end_matches('/').to_owned();
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| issuer.starts_with(p));
    if !(issuer.starts_with("https://") || loopback) || issuer.contains(char::is_whitespace) {
        return Err(err(key, format!("{issuer:?} must be an https:// URL")));
    }
    Ok(issuer)
}

pub(super) fn validate_oidc(raw: RawOidc) -> Result<OidcSettings, CatalogError> {
    let issuer = validate_issuer("oidc.issuer", &raw.issuer)?;
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

/// GitHub actor id -> directory email, each actor only once.
pub(super) fn validate_identities(
    raw: Vec<RawIdentity>,
) -> Result<BTreeMap<String, Email>, CatalogError> {
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

/// Every `[[pipelines]]` entry, in order; a persona it names must be one of `personas`.
pub(super) fn validate_rules(
    raw: Vec<RawPipelineRule>,
    personas: &BTreeMap<GroupType, Persona>,
) -> Result<Vec<PipelineRule>, CatalogError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, rule)| validate_rule(&format!("pipelines[{i}]"), rule, personas))
        .collect()
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
    let rule_personas = raw
        .personas
        .iter()
        .enumerate()
        .map(|(i, name)| known_persona(format!("{key}.personas[{i}]"), name, personas))
        .collect::<Result<Vec<_>, _>>()?;
    check_runs(key, &raw)?;
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

/// What the entry says a run must look like: the events it may come from and the workflow it
/// may be pinned to.
fn check_runs(key: &str, raw: &RawPipelineRule) -> Result<(), CatalogError> {
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
    Ok(())
}
