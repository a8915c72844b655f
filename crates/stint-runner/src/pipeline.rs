//! The two steps of a job: provision (fetch the job's OIDC token, ask the broker with it, hand
//! the credentials to the following steps) and deprovision (give the grant back). Every secret
//! is masked in the job log (`::add-mask::`) before anything could print it; credentials go to
//! `$GITHUB_ENV` and the grant to `$GITHUB_OUTPUT`. With `oidc` delivery the job assumes the
//! role itself with a second token (audience `sts.amazonaws.com`), so the broker never sees
//! its credentials.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use stint_api::{
    Client, ClientError, Delivery, DeprovisionInput, ProvisionInput, ProvisionResponse, Secret,
};
use stint_aws::AwsSettings;
use stint_core::credentials::{Credentials, Secret as CoreSecret};
use stint_core::pipeline::AWS_STS_AUDIENCE;
use stint_core::time_fmt::{parse_rfc3339, rfc3339};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Setup(String),
    #[error("fetching the job's OIDC token: {0}")]
    Token(String),
    /// The broker refused, failed, or could not be reached.
    #[error(transparent)]
    Broker(#[from] ClientError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Aws(#[from] stint_core::ports::PortError),
}

/// What the GitHub runner gives every job step.
pub struct Runner {
    pub token_url: String,
    pub token_request_token: Secret,
    pub github_env: PathBuf,
    pub github_output: PathBuf,
    /// `$GITHUB_JOB`: the broker files grants under their job, for give-back.
    pub job: Option<String>,
}

impl Runner {
    pub fn from_env() -> Result<Self, PipelineError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                PipelineError::Setup(format!(
                    "{name} is not set: run inside GitHub Actions with `permissions: id-token: write`"
                ))
            })
        };
        Ok(Self {
            token_url: var("ACTIONS_ID_TOKEN_REQUEST_URL")?,
            token_request_token: Secret::new(var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?),
            github_env: var("GITHUB_ENV")?.into(),
            github_output: var("GITHUB_OUTPUT")?.into(),
            job: std::env::var("GITHUB_JOB").ok().filter(|j| !j.is_empty()),
        })
    }

    /// A client for the broker at `url`, naming this job.
    fn client(&self, url: &str) -> Client {
        let client = Client::new(url);
        match &self.job {
            Some(job) => client.for_job(job),
            None => client,
        }
    }
}

/// How often a provisioning is sent when the broker could not answer.
const PROVISION_ATTEMPTS: u32 = 3;

/// Whether a failed call may be sent again: the broker did not answer, a gateway failed, or
/// the first attempt is still being handled. The broker files the grant under the job, so a
/// resend gets the grant a lost answer carried, never a second one.
fn worth_retrying(error: &ClientError) -> bool {
    match error {
        ClientError::Transport { .. } => true,
        ClientError::Status { status, .. } => *status >= 500,
        ClientError::Refused { code, .. } => {
            code == "transaction_in_progress" || code == "write_conflict"
        }
        ClientError::Decode { .. } => false,
    }
}

/// Where the broker is and what to ask it for.
pub struct Request {
    pub broker_url: String,
    pub audience: String,
    pub target_aws_account: String,
    pub target_aws_account_id: String,
    pub group_type: Option<String>,
    pub branch: String,
    /// Where to send AssumeRoleWithWebIdentity (an emulator in tests).
    pub aws: AwsSettings,
}

/// What the deprovision step needs, as the provision step left it in `$GITHUB_ENV`.
pub struct Grant {
    pub broker_url: String,
    pub audience: String,
    pub transaction_id: String,
    pub target_aws_account: String,
    pub role_arn: String,
}

/// The job's OIDC token for `audience`, masked in the log.
async fn job_token(
    runner: &Runner,
    audience: &str,
    log: &mut impl Write,
) -> Result<Secret, PipelineError> {
    #[derive(Deserialize)]
    struct TokenReply {
        value: String,
    }
    let separator = if runner.token_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let audience: String =
        percent_encoding::utf8_percent_encode(audience, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    let url = format!("{}{separator}audience={audience}", runner.token_url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let reply: TokenReply = http
        .get(url)
        .header(
            "Authorization",
            format!("bearer {}", runner.token_request_token.expose()),
        )
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| PipelineError::Token(e.without_url().to_string()))?
        .json()
        .await
        .map_err(|e| PipelineError::Token(e.to_string()))?;
    mask(log, &reply.value);
    Ok(Secret::new(reply.value))
}

/// Hides `value` from the rest of the job's log.
fn mask(log: &mut impl Write, value: &str) {
    let _ = writeln!(log, "::add-mask::{value}");
}

/// Appends `NAME=value` lines, refusing values that could smuggle in another line.
fn append(path: &Path, pairs: &[(&str, &str)]) -> Result<(), PipelineError> {
    let write_error = |source| PipelineError::Write {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    for (name, value) in pairs {
        if value.contains(['\n', '\r']) {
            return Err(write_error(std::io::Error::other(format!(
                "{name} holds a line break"
            ))));
        }
        text.push_str(&format!("{name}={value}\n"));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)
}

/// Provisions, then hands the job credentials. If anything after the broker's yes fails, the
/// grant is deprovisioned at once: a job never leaves access behind.
pub async fn provision(
    request: &Request,
    runner: &Runner,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let input = ProvisionInput {
        email: None,
        branch: Some(request.branch.clone()),
        target_aws_account: Some(request.target_aws_account.clone()),
        target_aws_account_id: Some(request.target_aws_account_id.clone()),
        group_type: request.group_type.clone(),
    };
    let client = runner.client(&request.broker_url);
    let mut attempt = 1;
    let granted = loop {
        // A token is good for one call: every attempt fetches its own.
        let token = job_token(runner, &request.audience, log).await?;
        match client.provision(&input, Some(&token)).await {
            Ok(granted) => break granted,
            Err(error) if attempt < PROVISION_ATTEMPTS && worth_retrying(&error) => {
                let _ = writeln!(
                    log,
                    "stint: {error}; asking again (attempt {})",
                    attempt + 1
                );
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    };
    let grant = Grant {
        broker_url: request.broker_url.clone(),
        audience: request.audience.clone(),
        transaction_id: granted.transaction_id.clone(),
        target_aws_account: request.target_aws_account.clone(),
        role_arn: granted.iam_role_arn.clone(),
    };
    match hand_over(request, runner, &granted, log).await {
        Ok(()) => {
            let _ = writeln!(
                log,
                "stint: {} until {} ({} delivery)",
                granted.iam_role_arn, granted.expires_at, granted.delivery
            );
            Ok(())
        }
        Err(error) => {
            let _ = writeln!(
                log,
                "::error::stint: {error}; deprovisioning {}",
                granted.transaction_id
            );
            deprovision(&grant, runner, log).await?;
            Err(error)
        }
    }
}

async fn hand_over(
    request: &Request,
    runner: &Runner,
    granted: &ProvisionResponse,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let credentials = match (&granted.credentials, &granted.delivery) {
        (Some(c), _) => Credentials {
            access_key_id: c.access_key_id.expose().to_owned(),
            secret_access_key: CoreSecret::new(c.secret_access_key.expose()),
            session_token: CoreSecret::new(c.session_token.expose()),
            expiration: parse_rfc3339(&c.expiration).ok_or_else(|| {
                PipelineError::Setup("the broker sent an unreadable expiration".into())
            })?,
        },
        (None, Delivery::Oidc) => assume_with_own_token(request, runner, granted, log).await?,
        (None, other) => {
            return Err(PipelineError::Setup(format!(
                "the broker sent no credentials for {other} delivery"
            )));
        }
    };
    mask(log, &credentials.access_key_id);
    mask(log, credentials.secret_access_key.expose());
    mask(log, credentials.session_token.expose());
    append(
        &runner.github_env,
        &[
            ("AWS_ACCESS_KEY_ID", &credentials.access_key_id),
            (
                "AWS_SECRET_ACCESS_KEY",
                credentials.secret_access_key.expose(),
            ),
            ("AWS_SESSION_TOKEN", credentials.session_token.expose()),
            ("STINT_TRANSACTION_ID", &granted.transaction_id),
            ("STINT_ROLE_ARN", &granted.iam_role_arn),
            ("STINT_TARGET_AWS_ACCOUNT", &request.target_aws_account),
        ],
    )?;
    append(
        &runner.github_output,
        &[
            ("transaction_id", &granted.transaction_id),
            ("role_arn", &granted.iam_role_arn),
            ("role_name", &granted.role_name),
            ("expires_at", &granted.expires_at),
            ("credentials_expire_at", &rfc3339(credentials.expiration)),
            ("delivery", granted.delivery.as_str()),
        ],
    )
}

/// `oidc` delivery: the job assumes the role with its own token, for as long as the grant.
async fn assume_with_own_token(
    request: &Request,
    runner: &Runner,
    granted: &ProvisionResponse,
    log: &mut impl Write,
) -> Result<Credentials, PipelineError> {
    let token = job_token(runner, AWS_STS_AUDIENCE, log).await?;
    let expires_at = parse_rfc3339(&granted.expires_at)
        .ok_or_else(|| PipelineError::Setup("the broker sent an unreadable expires_at".into()))?;
    let left = Duration::try_from(expires_at - now()).unwrap_or(Duration::ZERO);
    let duration = left.clamp(Duration::from_secs(900), Duration::from_secs(43_200));
    let sdk = stint_aws::load_sdk_config(&request.aws).await;
    Ok(stint_aws::assume_role_with_web_identity(
        &sdk,
        &granted.iam_role_arn,
        &granted.role_name,
        token.expose(),
        duration,
    )
    .await?)
}

/// The runner's wall clock. The job only reads it to size its own session to what is left of
/// the grant; the broker, which decides expiry, reads time through its `Clock` port.
#[allow(clippy::disallowed_methods)]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Ends the grant. Safe to run when there is nothing to end, and safe to run twice.
pub async fn deprovision(
    grant: &Grant,
    runner: &Runner,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let token = job_token(runner, &grant.audience, log).await?;
    let input = DeprovisionInput {
        transaction_id: Some(grant.transaction_id.clone()),
        target_aws_account: Some(grant.target_aws_account.clone()),
        role_arn: Some(grant.role_arn.clone()),
    };
    let done = runner
        .client(&grant.broker_url)
        .deprovision(&input, Some(&token))
        .await?;
    let _ = writeln!(
        log,
        "stint: {} deprovisioned (record {:?})",
        grant.transaction_id, done.deprovisioning_transaction_id
    );
    Ok(())
}

/// The give-back step when the provision step left no grant behind (it failed, or its answer
/// was lost): ends whatever the broker filed under this job.
pub async fn deprovision_job(
    broker_url: &str,
    audience: &str,
    runner: &Runner,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let token = job_token(runner, audience, log).await?;
    let done = runner
        .client(broker_url)
        .deprovision_job(Some(&token))
        .await?;
    let ended: Vec<_> = done
        .deprovisioned
        .iter()
        .filter(|d| !d.already_deprovisioned)
        .map(|d| d.original_transaction_id.as_str())
        .collect();
    if ended.is_empty() {
        let _ = writeln!(log, "stint: no grant to deprovision");
    } else {
        let _ = writeln!(
            log,
            "stint: deprovisioned {} (this job's grants)",
            ended.join(", ")
        );
    }
    for id in &done.in_progress {
        let _ = writeln!(
            log,
            "::warning::stint: {id} is still in progress; the broker's reaper ends it if nobody does"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_values_cannot_smuggle_in_another_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        append(&path, &[("A", "1"), ("B", "two words")]).unwrap();
        append(&path, &[("C", "3")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "A=1\nB=two words\nC=3\n"
        );
        let error = append(&path, &[("D", "4\nAWS_SECRET_ACCESS_KEY=x")]).unwrap_err();
        assert!(
            error.to_string().contains("D holds a line break"),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "A=1\nB=two words\nC=3\n",
            "nothing of a refused batch is written"
        );
    }

    #[test]
    fn a_mask_is_one_workflow_command() {
        let mut log = Vec::new();
        mask(&mut log, "s3cr3t");
        assert_eq!(String::from_utf8(log).unwrap(), "::add-mask::s3cr3t\n");
    }
}
