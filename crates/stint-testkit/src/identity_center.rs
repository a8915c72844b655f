//! Identity Center in the emulator, read and written through the SDK as an administrator would:
//! the instance, permission sets, and the account assignments that exist (what a test asserts
//! on, never stint's own word).

use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
use aws_smithy_types::Document;

use crate::Error;
use crate::seed::Seeder;

impl Seeder {
    pub fn sso_admin(&self) -> aws_sdk_ssoadmin::Client {
        aws_sdk_ssoadmin::Client::new(&self.sdk)
    }

    /// The emulator's Identity Center instance (one per account and region).
    pub async fn sso_instance(&self) -> Result<String, Error> {
        let out = self
            .sso_admin()
            .list_instances()
            .send()
            .await
            .map_err(Error::emulator("listing Identity Center instances"))?;
        out.instances()
            .iter()
            .find_map(|i| i.instance_arn().map(str::to_owned))
            .ok_or_else(|| Error::Emulator {
                what: "listing Identity Center instances".into(),
                source: "the emulator answered no instance".into(),
            })
    }

    /// Creates a permission set (one hour sessions); returns its ARN.
    pub async fn permission_set(&self, name: &str) -> Result<String, Error> {
        let instance = self.sso_instance().await?;
        let what = format!("creating the permission set {name}");
        let out = self
            .sso_admin()
            .create_permission_set()
            .instance_arn(instance)
            .name(name)
            // The emulator answers a number where the SDK expects a string without it.
            .session_duration("PT1H")
            .send()
            .await
            .map_err(Error::emulator(what.clone()))?;
        out.permission_set()
            .and_then(|p| p.permission_set_arn())
            .map(str::to_owned)
            .ok_or_else(|| Error::Emulator {
                what,
                source: "the answer has no permission set ARN".into(),
            })
    }

    /// The ARN of the permission set named `name` (the first the emulator lists).
    pub async fn permission_set_arn(&self, name: &str) -> Result<String, Error> {
        let instance = self.sso_instance().await?;
        let what = format!("finding the permission set {name}");
        let sso = self.sso_admin();
        let mut token = None;
        loop {
            let listed = sso
                .list_permission_sets()
                .instance_arn(&instance)
                .set_next_token(token)
                .send()
                .await
                .map_err(Error::emulator(what.clone()))?;
            for arn in listed.permission_sets() {
                let described = sso
                    .describe_permission_set()
                    .instance_arn(&instance)
                    .permission_set_arn(arn)
                    .send()
                    .await
                    .map_err(Error::emulator(what.clone()))?;
                if described.permission_set().and_then(|p| p.name()) == Some(name) {
                    return Ok(arn.clone());
                }
            }
            token = listed.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Err(Error::Emulator {
            what,
            source: "no such permission set".into(),
        })
    }

    /// A user's id in the identity store, by email.
    pub async fn user_id(&self, store: &str, email: &str) -> Result<String, Error> {
        self.lookup(store, "emails.value", email, true).await
    }

    /// A group's id in the identity store, by display name.
    pub async fn group_id(&self, store: &str, name: &str) -> Result<String, Error> {
        self.lookup(store, "displayName", name, false).await
    }

    /// A user's user name, by id.
    pub async fn user_name(&self, store: &str, user_id: &str) -> Result<String, Error> {
        let out = self
            .identity_store
            .describe_user()
            .identity_store_id(store)
            .user_id(user_id)
            .send()
            .await
            .map_err(Error::emulator(format!("describing the user {user_id}")))?;
        Ok(out.user_name().unwrap_or(user_id).to_owned())
    }

    async fn lookup(
        &self,
        store: &str,
        path: &str,
        value: &str,
        user: bool,
    ) -> Result<String, Error> {
        let what = format!("looking up {value} in {store}");
        let attribute = UniqueAttribute::builder()
            .attribute_path(path)
            .attribute_value(Document::String(value.to_owned()))
            .build()
            .map_err(Error::emulator(what.clone()))?;
        let identifier = AlternateIdentifier::UniqueAttribute(attribute);
        if user {
            let out = self
                .identity_store
                .get_user_id()
                .identity_store_id(store)
                .alternate_identifier(identifier)
                .send()
                .await
                .map_err(Error::emulator(what))?;
            Ok(out.user_id().to_owned())
        } else {
            let out = self
                .identity_store
                .get_group_id()
                .identity_store_id(store)
                .alternate_identifier(identifier)
                .send()
                .await
                .map_err(Error::emulator(what))?;
            Ok(out.group_id().to_owned())
        }
    }

    /// Assigns a permission set to a user on an account, as an administrator would by hand
    /// (standing access stint did not make).
    pub async fn assign(
        &self,
        account: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<(), Error> {
        self.assign_principal(account, permission_set_arn, PrincipalType::User, user_id)
            .await
    }

    /// Assigns a permission set to a group on an account: the standing assignment an access
    /// group of the PIM-for-groups model carries.
    pub async fn assign_group(
        &self,
        account: &str,
        permission_set_arn: &str,
        group_id: &str,
    ) -> Result<(), Error> {
        self.assign_principal(account, permission_set_arn, PrincipalType::Group, group_id)
            .await
    }

    async fn assign_principal(
        &self,
        account: &str,
        permission_set_arn: &str,
        principal_type: PrincipalType,
        principal_id: &str,
    ) -> Result<(), Error> {
        let instance = self.sso_instance().await?;
        self.sso_admin()
            .create_account_assignment()
            .instance_arn(instance)
            .target_id(account)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(permission_set_arn)
            .principal_type(principal_type)
            .principal_id(principal_id)
            .send()
            .await
            .map_err(Error::emulator(format!(
                "assigning {principal_id} on {account}"
            )))?;
        Ok(())
    }

    /// The user ids that hold `permission_set_arn` on `account`, as the emulator lists them
    /// (a repeated row appears twice).
    pub async fn assigned_users(
        &self,
        account: &str,
        permission_set_arn: &str,
    ) -> Result<Vec<String>, Error> {
        let instance = self.sso_instance().await?;
        let mut users = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sso_admin()
                .list_account_assignments()
                .instance_arn(&instance)
                .account_id(account)
                .permission_set_arn(permission_set_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(Error::emulator(format!("listing assignments on {account}")))?;
            users.extend(
                page.account_assignments()
                    .iter()
                    .filter(|a| a.principal_type() == Some(&PrincipalType::User))
                    .filter_map(|a| a.principal_id().map(str::to_owned)),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(users);
            }
        }
    }
}
