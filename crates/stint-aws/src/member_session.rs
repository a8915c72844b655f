//! Sessions of a named role in member accounts (AssumeRole, with the external id when the
//! catalog has one), and clients acting as that role. Callers that keep a client for longer
//! (the provisioner) cache it themselves.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_iam::Client as IamClient;
use stint_core::ids::AccountId;
use stint_core::ports::PortError;

use crate::calls::AwsCallCounter;
use crate::error::port_error;

/// Assumes a named role in member accounts and hands out clients acting as it: the
/// provisioner for temporary roles and catalog target roles, the auditor for a scan, an
/// administrator role for applying a remediation plan.
#[derive(Clone)]
pub struct MemberSessions {
    sdk: SdkConfig,
    sts: aws_sdk_sts::Client,
    counter: AwsCallCounter,
    role_name: String,
    external_id: Option<String>,
    /// The session name CloudTrail shows for stint's calls.
    session_name: &'static str,
    session: Duration,
}

impl MemberSessions {
    pub fn new(
        sdk: &SdkConfig,
        counter: AwsCallCounter,
        role_name: impl Into<String>,
        external_id: Option<String>,
    ) -> Self {
        let sts = aws_sdk_sts::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build();
        Self {
            sdk: sdk.clone(),
            sts: aws_sdk_sts::Client::from_conf(sts),
            counter,
            role_name: role_name.into(),
            external_id,
            session_name: "stint",
            session: Duration::from_secs(3600),
        }
    }

    /// Names the sessions (`stint-provisioner`, `stint-scan`, …).
    pub fn named(mut self, session_name: &'static str) -> Self {
        self.session_name = session_name;
        self
    }

    /// How long a session is asked for (one hour unless said).
    pub fn lasting(mut self, session: Duration) -> Self {
        self.session = session;
        self
    }

    /// Credentials of a session of the role in `account`.
    pub async fn credentials(
        &self,
        account: &AccountId,
    ) -> Result<aws_credential_types::Credentials, PortError> {
        let role_arn = format!("arn:aws:iam::{account}:role/{}", self.role_name);
        let context = format!("assuming {role_arn}");
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(self.session_name)
            .set_external_id(self.external_id.clone())
            .duration_seconds(i32::try_from(self.session.as_secs()).unwrap_or(3600))
            .send()
            .await
            .map_err(|e| port_error(&context, e))?;
        let creds = out
            .credentials()
            .ok_or_else(|| PortError::new(&context, "STS returned no credentials"))?;
        Ok(aws_credential_types::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            self.session_name,
        ))
    }

    /// An IAM client acting as the role in `account`.
    pub async fn iam(&self, account: &AccountId) -> Result<IamClient, PortError> {
        let config = aws_sdk_iam::config::Builder::from(&self.sdk)
            .credentials_provider(self.credentials(account).await?)
            .interceptor(self.counter.clone())
            .build();
        Ok(IamClient::from_conf(config))
    }

    /// An Access Analyzer client acting as the role in `account`; `endpoint` overrides where
    /// it goes (a stand-in in tests: the emulator has no Access Analyzer).
    pub async fn access_analyzer(
        &self,
        account: &AccountId,
        endpoint: Option<&str>,
    ) -> Result<aws_sdk_accessanalyzer::Client, PortError> {
        let mut config = aws_sdk_accessanalyzer::config::Builder::from(&self.sdk)
            .credentials_provider(self.credentials(account).await?)
            .interceptor(self.counter.clone());
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Ok(aws_sdk_accessanalyzer::Client::from_conf(config.build()))
    }
}
