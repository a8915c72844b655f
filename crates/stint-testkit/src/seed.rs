//! Puts the world stint expects into the AWS emulator, through the SDK: Identity Center users
//! and `Company_Org_AccountId_Persona` groups, and the provisioner role in member accounts; and
//! reads back what stint left there (its roles).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_identitystore::types::{Email, MemberId, Name};

use crate::Error;

/// The broker's own account in the emulator: requests with plain credentials land here.
pub const BROKER_ACCOUNT: &str = "123456789012";
pub const PROVISIONER_ROLE: &str = "stint-provisioner";
pub const BROKER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/stint-broker";

pub struct Seeder {
    pub sdk: SdkConfig,
    pub identity_store: aws_sdk_identitystore::Client,
    pub sts: aws_sdk_sts::Client,
}

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

    /// Creates a user; returns its user id.
    pub async fn user(&self, store: &str, user_name: &str, email: &str) -> Result<String, Error> {
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
            .await
            .map_err(Error::emulator(format!("creating the user {user_name}")))?;
        Ok(out.user_id().to_owned())
    }

    /// Creates a group; returns its group id.
    pub async fn group(&self, store: &str, name: &str) -> Result<String, Error> {
        let out = self
            .identity_store
            .create_group()
            .identity_store_id(store)
            .display_name(name)
            .send()
            .await
            .map_err(Error::emulator(format!("creating the group {name}")))?;
        Ok(out.group_id().to_owned())
    }

    pub async fn add_member(
        &self,
        store: &str,
        group_id: &str,
        user_id: &str,
    ) -> Result<(), Error> {
        self.identity_store
            .create_group_membership()
            .identity_store_id(store)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
            .map_err(Error::emulator(format!(
                "adding {user_id} to the group {group_id}"
            )))?;
        Ok(())
    }

    /// An IAM client acting in `account` (the emulator routes by the assumed role's account).
    pub async fn iam(&self, account: &str) -> Result<aws_sdk_iam::Client, Error> {
        let what = || format!("assuming the provisioner role in {account}");
        let out = self
            .sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{PROVISIONER_ROLE}"))
            .role_session_name("seed")
            .send()
            .await
            .map_err(Error::emulator(what()))?;
        let creds = out.credentials().ok_or_else(|| Error::Emulator {
            what: what(),
            source: "the answer has no credentials".into(),
        })?;
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
    pub async fn provisioner_role(&self, account: &str) -> Result<(), Error> {
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
            .await
            .map_err(Error::emulator(format!(
                "creating the provisioner role in {account}"
            )))?;
        Ok(())
    }

    /// Names of the roles under stint's path (`/stint/`) in an account, as the emulator holds
    /// them (every page).
    pub async fn stint_roles(&self, account: &str) -> Result<Vec<String>, Error> {
        let iam = self.iam(account).await?;
        let mut names = Vec::new();
        let mut marker = None;
        loop {
            let page = iam
                .list_roles()
                .path_prefix(stint_core::grant::ROLE_PATH)
                .set_marker(marker)
                .send()
                .await
                .map_err(Error::emulator(format!("listing the roles in {account}")))?;
            names.extend(page.roles().iter().map(|r| r.role_name().to_owned()));
            match page.marker().filter(|_| page.is_truncated()) {
                Some(next) => marker = Some(next.to_owned()),
                None => return Ok(names),
            }
        }
    }
}
