//! The driver's own AWS clients, straight to moto (not through stint): their config, and SDK
//! errors as `anyhow` errors that keep the cause chain.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use stint_aws::AwsSettings;

/// SDK config for moto as stint builds its own (`load_sdk_config`: the environment's
/// credentials, stint's timeouts and retries).
pub async fn stint_config(moto_url: &str) -> SdkConfig {
    stint_aws::load_sdk_config(&AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url.to_owned()),
    })
    .await
}

/// SDK config for moto with plain test credentials and the SDK's defaults: the driver's
/// probes of moto's own latency.
pub async fn probe_config(moto_url: &str) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "bench");
    stint_testkit::seed::emulator_config(moto_url, credentials).await
}

/// An SDK error with its whole cause chain in the message (the SDK's own says "service error").
pub fn sdk_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow::anyhow!("{}", stint_server::ops::error_chain(&error))
}
