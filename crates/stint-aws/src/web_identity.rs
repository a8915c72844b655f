//! AssumeRoleWithWebIdentity, for a workflow that assumes its `oidc`-delivered role itself
//! with its own GitHub token. Unsigned: it needs no AWS credentials, only the token.

use std::time::Duration;

use aws_config::SdkConfig;
use stint_core::credentials::{Credentials, Secret};
use stint_core::ports::PortError;
use time::OffsetDateTime;

use crate::error::port_error;

pub async fn assume_role_with_web_identity(
    sdk: &SdkConfig,
    role_arn: &str,
    session_name: &str,
    web_identity_token: &str,
    duration: Duration,
) -> Result<Credentials, PortError> {
    let context = format!("assuming {role_arn} with the workflow's token");
    let config = aws_sdk_sts::config::Builder::from(sdk).build();
    let out = aws_sdk_sts::Client::from_conf(config)
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .web_identity_token(web_identity_token)
        .duration_seconds(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| port_error(&context, e))?;
    let creds = out
        .credentials()
        .ok_or_else(|| PortError::new(&context, "STS returned no credentials"))?;
    let expiration = creds.expiration();
    let expiration = OffsetDateTime::from_unix_timestamp(expiration.secs()).map_err(|e| {
        PortError::new(&context, format!("credential expiration out of range: {e}"))
    })?;
    Ok(Credentials {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: Secret::new(creds.secret_access_key()),
        session_token: Secret::new(creds.session_token()),
        expiration,
    })
}
