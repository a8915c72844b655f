//! Turning SDK errors into `PortError`s that say what stint was doing.

use aws_smithy_types::error::display::DisplayErrorContext;
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
        _ => DisplayErrorContext(&error).to_string(),
    };
    PortError {
        context: context.into(),
        message,
        source: Some(Box::new(error)),
    }
}
