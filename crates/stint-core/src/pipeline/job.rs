//! The job a pipeline grant is made for, and what makes its provisioning safe to retry. A
//! grant is filed under its job (repository, run id, attempt, job name), so the job's
//! always-run give-back step can end what it got without knowing an id; and under a request
//! key, so a retried provisioning gets the grant the first attempt made instead of a second.
//! The key is the caller's `Idempotency-Key` if it sent one, else the run's verified claims,
//! the job and what is asked; either way scoped to the caller, so nobody meets another's key.

use serde_json::json;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::{BrokerError, ErrorCode};
use crate::grant::Caller;
use crate::ports::{Filing, RequestKey};
use crate::subject::PipelineClaims;

use super::request::ProvisionRequest;

/// How long a request key holds: longer than any job, shorter than the ledger keeps records.
pub const REQUEST_KEY_WINDOW: Duration = Duration::hours(24);
/// GitHub job ids are at most 100 characters.
pub const JOB_MAX: usize = 100;
/// The longest `Idempotency-Key` stint takes.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// What a door knows of a request beyond its body: the job's name (the OIDC token does not
/// carry it) and the caller's own retry key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobContext {
    pub job: Option<String>,
    pub idempotency_key: Option<String>,
}

impl JobContext {
    /// The job's name, checked: empty when none was sent.
    pub fn job(&self) -> Result<&str, BrokerError> {
        let job = self.job.as_deref().unwrap_or("");
        let valid = job.len() <= JOB_MAX
            && job
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            return Ok(job);
        }
        Err(BrokerError::new(
            ErrorCode::InvalidJob,
            format!(
                "the job name must be a GitHub job id (letters, digits, `_` and `-`, at most {JOB_MAX})"
            ),
        ))
    }

    fn idempotency_key(&self) -> Result<Option<&str>, BrokerError> {
        let Some(key) = self.idempotency_key.as_deref() else {
            return Ok(None);
        };
        if !key.is_empty()
            && key.len() <= IDEMPOTENCY_KEY_MAX
            && key.chars().all(|c| c.is_ascii_graphic())
        {
            return Ok(Some(key));
        }
        Err(BrokerError::new(
            ErrorCode::InvalidIdempotencyKey,
            format!(
                "the Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces"
            ),
        ))
    }

    /// What the provisioning's first write files the grant under.
    pub fn filing(
        &self,
        caller: &Caller,
        request: &ProvisionRequest,
        now: OffsetDateTime,
    ) -> Result<Filing, BrokerError> {
        let job = self.job()?;
        let fingerprint = fingerprint(request);
        let scope = scope(caller);
        let key = match (self.idempotency_key()?, caller.claims()) {
            (Some(key), _) => Some(hash(&json!(["key", scope, key]))),
            (None, Some(claims)) => Some(hash(&json!([
                "run",
                scope,
                claims.run_id,
                claims.run_attempt,
                job,
                fingerprint
            ]))),
            (None, None) => None,
        };
        Ok(Filing {
            request_key: key.map(|key| RequestKey {
                key,
                fingerprint,
                expires_at: now + REQUEST_KEY_WINDOW,
            }),
            run: caller.claims().map(|claims| run_key(claims, job)),
        })
    }
}

/// The job a pipeline's grants are filed under.
pub fn run_key(claims: &PipelineClaims, job: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        claims.repository_id, claims.run_id, claims.run_attempt, job
    )
}

/// Whose keys these are: a repository's never meet another's, nor an operator's.
fn scope(caller: &Caller) -> String {
    match caller.claims() {
        Some(claims) => format!("repository:{}", claims.repository_id),
        None => "operator".to_owned(),
    }
}

/// What was asked, as parsed: the same request spelled differently is the same request.
fn fingerprint(request: &ProvisionRequest) -> String {
    hash(&json!([
        request.email.as_str(),
        request.branch.to_string(),
        request.account.id.to_string(),
        request.group_type.to_string(),
    ]))
}

fn hash(material: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(material.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_github_job_ids() {
        let context = |job: &str| JobContext {
            job: Some(job.to_owned()),
            idempotency_key: None,
        };
        assert_eq!(JobContext::default().job().unwrap(), "");
        assert_eq!(context("deploy_prod-2").job().unwrap(), "deploy_prod-2");
        for bad in ["a/b", "with space", "x\ny", &"j".repeat(JOB_MAX + 1)] {
            assert_eq!(
                context(bad).job().unwrap_err().code,
                ErrorCode::InvalidJob,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        let context = |key: &str| JobContext {
            job: None,
            idempotency_key: Some(key.to_owned()),
        };
        assert_eq!(
            context("8e03978e-40d5-43e8-bc93-6894a57f9324")
                .idempotency_key()
                .unwrap(),
            Some("8e03978e-40d5-43e8-bc93-6894a57f9324")
        );
        for bad in ["", "a b", "é", &"k".repeat(IDEMPOTENCY_KEY_MAX + 1)] {
            assert_eq!(
                context(bad).idempotency_key().unwrap_err().code,
                ErrorCode::InvalidIdempotencyKey,
                "{bad:?}"
            );
        }
    }
}
