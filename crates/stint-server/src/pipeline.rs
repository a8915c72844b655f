//! The GitHub side of stint, run inside a GitHub Actions job: `stint pipeline provision` and
//! `stint pipeline deprovision`. They fetch the job's OIDC token, call the broker with it, mask
//! every secret in the job log (`::add-mask::`), and write credentials to `$GITHUB_ENV` and the
//! transaction to `$GITHUB_OUTPUT`. With `oidc` delivery the job assumes the role itself with a
//! second token (audience `sts.amazonaws.com`), so the broker never sees its credentials.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use stint_aws::AwsSettings;
use stint_core::credentials::{Credentials, Secret};
use stint_core::pipeline::AWS_STS_AUDIENCE;
use stint_core::ports::Clock;
use stint_core::time_fmt::{parse_rfc3339, rfc3339};

use crate::clock::SystemClock;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Setup(String),
    #[error("fetching the job's OIDC token: {0}")]
    Token(String),
    #[error("calling the broker at {url}: {message}")]
    Broker { url: String, message: String },
    #[error("the broker refused ({code}): {message}")]
    Refused { code: String, message: String },
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
        })
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

#[derive(Deserialize)]
struct Provisioned {
    transaction_id: String,
    iam_role_arn: String,
    role_name: String,
    expires_at: String,
    delivery: String,
    credentials: Option<CredentialsReply>,
}

#[derive(Deserialize)]
struct CredentialsReply {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: RefusalBody,
}

#[derive(Deserialize)]
struct RefusalBody {
    code: String,
    message: String,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
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
    let reply: TokenReply = http()
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

async fn call_broker<T: for<'de> Deserialize<'de>>(
    base: &str,
    path: &str,
    token: &Secret,
    body: &serde_json::Value,
) -> Result<T, PipelineError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let failed = |e: reqwest::Error| PipelineError::Broker {
        url: url.clone(),
        message: e.without_url().to_string(),
    };
    let response = http()
        .post(&url)
        .bearer_auth(token.expose())
        .json(body)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let text = response.text().await.map_err(failed)?;
    if !status.is_success() {
        return Err(match serde_json::from_str::<Refusal>(&text) {
            Ok(refusal) => PipelineError::Refused {
                code: refusal.error.code,
                message: refusal.error.message,
            },
            Err(_) => PipelineError::Broker {
                url,
                message: format!("HTTP {status}"),
            },
        });
    }
    serde_json::from_str(&text).map_err(|e| PipelineError::Broker {
        url,
        message: format!("unexpected reply: {e}"),
    })
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
    let token = job_token(runner, &request.audience, log).await?;
    let body = json!({
        "branch": request.branch,
        "target_aws_account": request.target_aws_account,
        "target_aws_account_id": request.target_aws_account_id,
        "group_type": request.group_type,
    });
    let granted: Provisioned =
        call_broker(&request.broker_url, "/v1/provision", &token, &body).await?;
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
    granted: &Provisioned,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let credentials = match (&granted.credentials, granted.delivery.as_str()) {
        (Some(c), _) => Credentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: Secret::new(c.secret_access_key.clone()),
            session_token: Secret::new(c.session_token.clone()),
            expiration: parse_rfc3339(&c.expiration).ok_or_else(|| {
                PipelineError::Setup("the broker sent an unreadable expiration".into())
            })?,
        },
        (None, "oidc") => assume_with_own_token(request, runner, granted, log).await?,
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
            ("delivery", &granted.delivery),
        ],
    )
}

/// `oidc` delivery: the job assumes the role with its own token, for as long as the grant.
async fn assume_with_own_token(
    request: &Request,
    runner: &Runner,
    granted: &Provisioned,
    log: &mut impl Write,
) -> Result<Credentials, PipelineError> {
    let token = job_token(runner, AWS_STS_AUDIENCE, log).await?;
    let expires_at = parse_rfc3339(&granted.expires_at)
        .ok_or_else(|| PipelineError::Setup("the broker sent an unreadable expires_at".into()))?;
    let left = Duration::try_from(expires_at - SystemClock.now()).unwrap_or(Duration::ZERO);
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

/// Ends the grant. Safe to run when there is nothing to end, and safe to run twice.
pub async fn deprovision(
    grant: &Grant,
    runner: &Runner,
    log: &mut impl Write,
) -> Result<(), PipelineError> {
    let token = job_token(runner, &grant.audience, log).await?;
    let body = json!({
        "transaction_id": grant.transaction_id,
        "target_aws_account": grant.target_aws_account,
        "role_arn": grant.role_arn,
    });
    let done: serde_json::Value =
        call_broker(&grant.broker_url, "/v1/deprovision", &token, &body).await?;
    let _ = writeln!(
        log,
        "stint: {} deprovisioned (record {})",
        grant.transaction_id, done["deprovisioning_transaction_id"]
    );
    Ok(())
}
