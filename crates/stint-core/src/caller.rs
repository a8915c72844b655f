//! Who is asking. A pipeline proves itself with a GitHub Actions OIDC token, verified at the
//! edge; what its claims allow is decided here, against the catalog's allow-lists: numeric
//! repository and owner ids (names change, ids do not), event names, protected refs, the GitHub
//! environment and the pinned reusable workflow. The requester is the token's `actor_id` mapped
//! to a directory email, never an email the workflow typed.

use serde::{Deserialize, Serialize};

use crate::Actor;
use crate::catalog::{Account, Catalog, Environment, PipelineRule};
use crate::error::{BrokerError, ErrorCode};
use crate::ids::{Email, GroupType};
use crate::transaction::Transaction;

/// The claims of a verified GitHub Actions OIDC token that stint decides on and records.
/// GitHub sends ids as strings; they are compared as such.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineClaims {
    pub sub: String,
    pub actor: String,
    pub actor_id: String,
    pub repository: String,
    pub repository_id: String,
    pub repository_owner: String,
    pub repository_owner_id: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub ref_protected: Option<String>,
    pub sha: String,
    pub event_name: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub workflow: String,
    pub job_workflow_ref: String,
    pub run_id: String,
    pub run_attempt: String,
}

/// The caller of a broker operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator on the broker's own machine (the CLI, or the API before authentication is
    /// configured): trusted to name the requester.
    Operator(Actor),
    /// A pipeline with a verified token.
    Pipeline(Box<PipelineClaims>),
}

impl Caller {
    pub fn operator(name: &str) -> Self {
        Self::Operator(Actor(name.to_owned()))
    }

    /// The actor recorded on events.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Operator(actor) => actor.clone(),
            Self::Pipeline(claims) => Actor(format!(
                "github:{}#{}@{}#{}",
                claims.actor, claims.actor_id, claims.repository, claims.repository_id
            )),
        }
    }

    pub fn claims(&self) -> Option<&PipelineClaims> {
        match self {
            Self::Operator(_) => None,
            Self::Pipeline(claims) => Some(claims),
        }
    }

    /// A pipeline may read and end only what its own repository asked for; operators, anything.
    pub fn check_owner(&self, txn: &Transaction) -> Result<(), BrokerError> {
        let Some(claims) = self.claims() else {
            return Ok(());
        };
        let owner = txn.caller.as_ref().map(|c| c.repository_id.as_str());
        if owner == Some(claims.repository_id.as_str()) {
            return Ok(());
        }
        Err(deny(
            ErrorCode::NotOwner,
            format!(
                "transaction {} was not requested by repository {}",
                txn.id, claims.repository
            ),
        ))
    }
}

/// The event that never gets production access: it runs with the base repository's secrets on
/// code from a fork.
const PULL_REQUEST_TARGET: &str = "pull_request_target";

fn deny(code: ErrorCode, message: String) -> BrokerError {
    BrokerError::new(code, message)
}

/// Whether the pipeline may ask for `persona` in `account`, by the catalog's rules; then who
/// the requester is. `typed_email`, the articles' input, must agree with the mapped user.
pub fn authorize_pipeline(
    catalog: &Catalog,
    claims: &PipelineClaims,
    account: &Account,
    persona: &GroupType,
    typed_email: Option<&Email>,
) -> Result<Email, BrokerError> {
    let rules: Vec<&PipelineRule> = catalog
        .pipeline_rules()
        .iter()
        .filter(|rule| {
            rule.covers(account.environment, persona)
                && rule.admits_repository(&claims.repository_id, &claims.repository_owner_id)
        })
        .collect();
    let Some(first) = rules.first() else {
        return Err(deny(
            ErrorCode::RepositoryNotAllowed,
            format!(
                "repository {} (id {}, owner id {}) may not ask for {persona} in {} accounts",
                claims.repository,
                claims.repository_id,
                claims.repository_owner_id,
                env_name(account.environment)
            ),
        ));
    };
    // Any one rule admitting the run is enough; otherwise report the first rule's objection.
    if !rules
        .iter()
        .any(|rule| check_run(rule, claims, account.environment).is_ok())
    {
        check_run(first, claims, account.environment)?;
    }
    let email = catalog
        .github_identity(&claims.actor_id)
        .cloned()
        .ok_or_else(|| {
            deny(
                ErrorCode::UnknownActor,
                format!(
                    "GitHub user {} (id {}) is not mapped to a directory user",
                    claims.actor, claims.actor_id
                ),
            )
        })?;
    if let Some(typed) = typed_email
        && *typed != email
    {
        return Err(deny(
            ErrorCode::IdentityMismatch,
            format!(
                "the run was triggered by {} ({email}), not {typed}",
                claims.actor
            ),
        ));
    }
    Ok(email)
}

fn env_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Prod => "prod",
        Environment::Nonprod => "nonprod",
    }
}

fn check_run(
    rule: &PipelineRule,
    claims: &PipelineClaims,
    environment: Environment,
) -> Result<(), BrokerError> {
    let event = claims.event_name.as_str();
    if (environment == Environment::Prod && event == PULL_REQUEST_TARGET)
        || !rule.event_names.iter().any(|e| e == event)
    {
        return Err(deny(
            ErrorCode::EventNotAllowed,
            format!("runs triggered by {event} may not ask for this access"),
        ));
    }
    let protected_required = rule
        .require_protected_ref
        .unwrap_or(environment == Environment::Prod);
    if protected_required && claims.ref_protected.as_deref() != Some("true") {
        return Err(deny(
            ErrorCode::UnprotectedRef,
            format!(
                "{} is not a protected ref; this access needs one",
                claims.git_ref
            ),
        ));
    }
    if let Some(required) = &rule.github_environment
        && claims.environment.as_deref() != Some(required.as_str())
    {
        return Err(deny(
            ErrorCode::EnvironmentNotAllowed,
            format!("the job must run in the GitHub environment {required}"),
        ));
    }
    if let Some(pinned) = &rule.job_workflow_ref
        && claims.job_workflow_ref != *pinned
    {
        return Err(deny(
            ErrorCode::WorkflowNotAllowed,
            format!(
                "only {pinned} may ask for this access, not {}",
                claims.job_workflow_ref
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
