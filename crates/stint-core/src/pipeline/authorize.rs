//! What a verified pipeline may ask for, by the catalog's allow-lists: numeric repository
//! and owner ids (names change, ids do not), event names, protected refs, the GitHub
//! environment and the pinned reusable workflow. The requester is the token's `actor_id`
//! mapped to a directory email, never an email the workflow typed.

use crate::catalog::{Account, Catalog, Environment, PipelineRule};
use crate::error::{BrokerError, ErrorCode};
use crate::ids::{Email, GroupType};
use crate::subject::PipelineClaims;

/// The event that never gets production access: it runs with the base repository's secrets on
/// code from a fork.
const PULL_REQUEST_TARGET: &str = "pull_request_target";

fn deny(code: ErrorCode, message: String) -> BrokerError {
    BrokerError::new(code, message)
}

/// Whether the pipeline may ask for `persona` in `account`, by the catalog's rules; then who
/// the requester is. `typed_email`, the contract's `email` input, must agree with the mapped user.
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
