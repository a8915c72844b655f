//! STS as stint's `CredentialIssuer`: AssumeRole into the new temporary role with the
//! requester as SourceIdentity. A new role is often not assumable for a few seconds (IAM is
//! eventually consistent), so AccessDenied is retried with backoff and jitter, within a bound.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sts::Client;
use aws_sdk_sts::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stint_core::credentials::{Credentials, Secret};
use stint_core::ports::{CredentialIssuer, PortError, SessionRequest};
use time::OffsetDateTime;

use crate::calls::AwsCallCounter;
use crate::error::port_error;

/// How long to keep retrying AccessDenied on a brand-new role, and the first pause.
#[derive(Debug, Clone, Copy)]
pub struct IssueRetry {
    pub give_up_after: Duration,
    pub first_delay: Duration,
}

impl Default for IssueRetry {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(60),
            first_delay: Duration::from_millis(250),
        }
    }
}

pub struct StsCredentialIssuer {
    client: Client,
    retry: IssueRetry,
}

impl StsCredentialIssuer {
    pub fn new(sdk: &SdkConfig, counter: AwsCallCounter, retry: IssueRetry) -> Self {
        let config = aws_sdk_sts::config::Builder::from(sdk)
            .interceptor(counter)
            .build();
        Self {
            client: Client::from_conf(config),
            retry,
        }
    }
}

/// Up to +50% of `delay`, so concurrent retries spread out.
fn jittered(delay: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    delay + delay.mul_f64((random % 1000) as f64 / 2000.0)
}

#[async_trait]
impl CredentialIssuer for StsCredentialIssuer {
    async fn issue(&self, request: &SessionRequest) -> Result<Credentials, PortError> {
        let context = format!("assuming {}", request.role_arn);
        let started = Instant::now();
        let mut delay = self.retry.first_delay;
        let out = loop {
            let result = self
                .client
                .assume_role()
                .role_arn(&request.role_arn)
                .role_session_name(&request.session_name)
                .source_identity(&request.source_identity)
                .duration_seconds(request.duration.as_secs() as i32)
                .send()
                .await;
            match result {
                Ok(out) => break out,
                Err(SdkError::ServiceError(e))
                    if e.err().code() == Some("AccessDenied")
                        && started.elapsed() + delay < self.retry.give_up_after =>
                {
                    tracing::debug!(role = %request.role_arn, "new role not assumable yet; retrying");
                    tokio::time::sleep(jittered(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(port_error(context, e)),
            }
        };
        credentials_from(out.credentials(), &context)
    }
}

/// STS's credentials as stint's, with the secret parts wrapped so they never print.
pub(crate) fn credentials_from(
    creds: Option<&aws_sdk_sts::types::Credentials>,
    context: &str,
) -> Result<Credentials, PortError> {
    let creds = creds.ok_or_else(|| PortError::new(context, "STS returned no credentials"))?;
    let expiration = creds.expiration();
    let expiration = OffsetDateTime::from_unix_timestamp(expiration.secs())
        .map(|t| t + Duration::from_nanos(u64::from(expiration.subsec_nanos())))
        .map_err(|e| PortError::new(context, format!("credential expiration out of range: {e}")))?;
    Ok(Credentials {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: Secret::new(creds.secret_access_key()),
        session_token: Secret::new(creds.session_token()),
        expiration,
    })
}
