//! AssumeRoleWithWebIdentity, for a workflow that assumes its `oidc`-delivered role itself
//! with its own GitHub token. Unsigned: it needs no AWS credentials, only the token.

use std::time::Duration;

use aws_config::SdkConfig;
use stint_core::credentials::Credentials;
use stint_core::ports::PortError;

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
    crate::sts::credentials_from(out.credentials(), &context)
}
