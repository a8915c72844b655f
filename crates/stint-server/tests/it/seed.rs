//! Puts the world stint expects into the AWS emulator, through the SDK: Identity Center users
//! and `Company_Org_AccountId_Persona` groups, and the provisioner role in member accounts.
//! Shared by the integration tests and the demo (`examples/demo.rs`).

#![allow(dead_code)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_identitystore::types::{Email, Name};

/// The broker's own account in the emulator: requests with plain credentials land here.
pub const BROKER_ACCOUNT: &str = "123456789012";
pub const PROVISIONER_ROLE: &str = "stint-provisioner";
pub const BROKER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/stint-broker";

pub struct Seeder {
    pub sdk: SdkConfig,
    pub identity_store: aws_sdk_identitystore::Client,
    pub sts: aws_sdk_sts::Client,
}

pub type SeedResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// SDK config for the emulator with the given credentials.
pub async fn emulator_config(endpoint: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

impl Seeder {
    pub async fn connect(endpoint: &str) -> Self {
        let sdk = emulator_config(
            endpoint,
            Credentials::new("testing", "testing", None, None, "seed"),
        )
        .await;
        Self {
            identity_store: aws_sdk_identitystore::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            sdk,
        }
    }

    pub async fn user(&self, store: &str, user_name: &str, email: &str) -> SeedResult<String> {
        let out = self
            .identity_store
            .create_user()
            .identity_store_id(store)
            .user_name(user_name)
            .display_name(user_name)
            .name(
                Name::builder()
                    .given_name(user_name)
                    .family_name("Example")
                    .build(),
            )
            .emails(
                Email::builder()
                    .value(email)
                    .primary(true)
                    .r#type("work")
                    .build(),
            )
            .send()
            .await?;
        Ok(out.user_id().to_owned())
    }

    pub async fn group(&self, store: &str, name: &str) -> SeedResult<String> {
        let out = self
            .identity_store
            .create_group()
            .identity_store_id(store)
            .display_name(name)
            .send()
            .await?;
        Ok(out.group_id().to_owned())
    }

    pub async fn add_member(&self, store: &str, group_id: &str, user_id: &str) -> SeedResult<()> {
        self.identity_store
            .create_group_membership()
            .identity_store_id(store)
            .group_id(group_id)
            .member_id(aws_sdk_identitystore::types::MemberId::UserId(
                user_id.to_owned(),
            ))
            .send()
            .await?;
        Ok(())
    }

    /// An IAM client acting in `account` (the emulator routes by the assumed role's account).
    pub async fn iam(&self, account: &str) -> SeedResult<aws_sdk_iam::Client> {
        let out = self
            .sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{PROVISIONER_ROLE}"))
            .role_session_name("seed")
            .send()
            .await?;
        let creds = out.credentials().ok_or("no credentials")?;
        let config = aws_sdk_iam::config::Builder::from(&self.sdk)
            .credentials_provider(Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_owned()),
                None,
                "seed",
            ))
            .build();
        Ok(aws_sdk_iam::Client::from_conf(config))
    }

    /// The provisioner role in a member account, trusting only the broker's role.
    pub async fn provisioner_role(&self, account: &str) -> SeedResult<()> {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": BROKER_ROLE_ARN },
                "Action": "sts:AssumeRole"
            }]
        });
        self.iam(account)
            .await?
            .create_role()
            .role_name(PROVISIONER_ROLE)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await?;
        Ok(())
    }
}
