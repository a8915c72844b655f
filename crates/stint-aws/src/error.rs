//! Turning SDK errors into `PortError`s that say what stint was doing.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stint_core::ports::PortError;

/// `context`: what stint was doing. The message keeps the AWS error code and message, and the
/// full cause chain stays in `source`.
pub(crate) fn port_error<E>(context: impl Into<String>, error: E) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => outside_failure(&error),
    };
    PortError {
        context: context.into(),
        message,
        source: Some(Box::new(error)),
    }
}

/// What stint tells when no AWS credentials could be found: where it looked and what to do.
pub const NO_CREDENTIALS: &str = "no AWS credentials found: stint looked in the environment \
     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the shared files ~/.aws/config and \
     ~/.aws/credentials (AWS_PROFILE), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), and the ECS \
     and EC2 instance metadata; set one of them for the role stint runs as";

/// A failure before AWS answered (no credentials, no connection, a timeout) in one short
/// sentence: what went wrong and its innermost cause. The whole chain stays in `source` for
/// the log; an answer to a caller never carries the SDK's internals.
fn outside_failure(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = error;
    let mut next = Some(error);
    while let Some(current) = next {
        if current
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return NO_CREDENTIALS.to_owned();
        }
        innermost = current;
        next = current.source();
    }
    let top = error.to_string();
    let cause = innermost.to_string();
    let sentence = if std::ptr::addr_eq(innermost, error) || cause == top {
        top
    } else {
        format!("{top}: {cause}")
    };
    // A cause can be a whole debug dump: keep the first line, and not all of it.
    let line = sentence.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;

    use super::{NO_CREDENTIALS, port_error};

    #[test]
    fn missing_credentials_are_said_once_with_where_stint_looked() {
        let error: SdkError<GetCallerIdentityError, HttpResponse> = SdkError::construction_failure(
            CredentialsError::not_loaded("no providers in chain provided credentials"),
        );
        let port = port_error("reading who I am", error);
        assert_eq!(port.message, NO_CREDENTIALS);
        assert!(!port.to_string().contains("ConstructionFailure"), "{port}");
    }

    #[test]
    fn a_transport_failure_is_one_short_line() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error: SdkError<GetCallerIdentityError, HttpResponse> =
            SdkError::construction_failure(io);
        let port = port_error("reading who I am", error);
        assert_eq!(
            port.message,
            "failed to construct request: connection refused"
        );
    }
}
