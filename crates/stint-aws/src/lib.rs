//! stint's AWS adapters over aws-sdk-rust. Each implements one port of `stint-core`:
//! `IdentityStoreDirectory` (Directory), `IamRoleProvisioner` (RoleProvisioner),
//! `StsCredentialIssuer` (CredentialIssuer) and `IdentityCenterAssigner` (AccountAssigner).
//! SDK errors stop here: they become `PortError`s with what stint was doing and the AWS error
//! code and message.

mod analyzer;
mod calls;
mod directory;
mod dynamo;
mod error;
mod group_members;
mod iam;
mod member_roles;
mod member_session;
mod permission_sets;
mod remediate;
mod scan;
mod sso;
mod sts;
mod web_identity;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use analyzer::read_analyzer_findings;
pub use calls::{AwsCallCounter, CallCount, LATENCY_BUCKETS};
pub use directory::IdentityStoreDirectory;
pub use dynamo::{DynamoLedger, TableInit};
pub use group_members::IdentityStoreGroups;
pub use iam::IamRoleProvisioner;
pub use member_session::MemberSessions;
pub use permission_sets::IdentityCenterEstate;
pub use scan::read_inventory;
pub mod remediation {
    //! Applying and undoing a scan's remediation plan.
    pub use crate::remediate::{apply, read_previous, undo};
}
pub use sso::{IdentityCenterAssigner, StatusPolling};
pub use sts::{IssueRetry, StsCredentialIssuer};
pub use web_identity::assume_role_with_web_identity;

/// Where stint's AWS clients go. `endpoint_url` overrides every service's endpoint (for the
/// moto emulator); nothing else differs between tests and production.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
}

/// Loads credentials and region the standard way (environment, profile, IMDS/ECS), with
/// bounded timeouts so a hung AWS call cannot hold a request forever.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    // Throttling, 5xx and timeouts are retried with exponential backoff and full jitter,
    // at most 5 attempts and, with the operation timeout, 30 s in all.
    let retries = RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(5));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .retry_config(retries)
        .timeout_config(timeouts);
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
