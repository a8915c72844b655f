//! A pipeline's requests as the edges hand them over (every field as the caller typed it,
//! perhaps missing), and their validated forms. Everything a request names is checked
//! against the catalog here, before anything is recorded or created. The JSON shapes
//! themselves belong to the API crate; this module never sees JSON.

use crate::catalog::{Account, Catalog, Delivery, Grant};
use crate::error::{BrokerError, ErrorCode, invalid};
use crate::grant::Caller;
use crate::ids::{AccountId, AccountName, Branch, Email, GroupType, RoleArn, TransactionId};
use crate::subject::PipelineClaims;

use super::authorize::authorize_pipeline;

/// What a provisioning request names, field names as the API has them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProvisionAsk<'a> {
    pub email: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub target_aws_account: Option<&'a str>,
    pub target_aws_account_id: Option<&'a str>,
    /// Defaults to the catalog's `default_group_type` (`Product-Deployers`).
    pub group_type: Option<&'a str>,
}

/// What a deprovisioning request names.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeprovisionAsk<'a> {
    pub transaction_id: Option<&'a str>,
    pub target_aws_account: Option<&'a str>,
    pub role_arn: Option<&'a str>,
}

fn required<'a>(field: &'static str, value: Option<&'a str>) -> Result<&'a str, BrokerError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(
            ErrorCode::MissingField,
            format!("`{field}` is required"),
        )),
    }
}

/// A provisioning request that names a real account and persona.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// The requester: typed by an operator, or mapped from a pipeline's verified actor.
    pub email: Email,
    /// The verified pipeline, when a pipeline asked.
    pub claims: Option<PipelineClaims>,
    pub branch: Branch,
    pub account: Account,
    pub group_type: GroupType,
    pub grant: Grant,
}

impl ProvisionRequest {
    pub fn parse(
        input: &ProvisionAsk<'_>,
        catalog: &Catalog,
        caller: &Caller,
    ) -> Result<Self, BrokerError> {
        let typed_email = match (caller, input.email.map(str::trim)) {
            // A pipeline's requester comes from its token; the typed email is only checked.
            (Caller::Pipeline(_), None | Some("")) => None,
            _ => Some(Email::parse(required("email", input.email)?)?),
        };
        let branch = Branch::parse(required("branch", input.branch)?)?;
        let name = AccountName::parse(required("target_aws_account", input.target_aws_account)?)?;
        let id = AccountId::parse(required(
            "target_aws_account_id",
            input.target_aws_account_id,
        )?)?;
        let group_type = match input.group_type.map(str::trim) {
            None | Some("") => catalog.default_group_type.clone(),
            Some(value) => GroupType::parse(value)?,
        };
        let account = match (catalog.account_by_name(&name), catalog.account_by_id(&id)) {
            (Some(account), _) if account.id == id => account.clone(),
            (Some(account), _) => {
                return Err(invalid(
                    ErrorCode::AccountIdMismatch,
                    format!("account {name} has id {}, not {id}", account.id),
                ));
            }
            (None, Some(account)) => {
                return Err(invalid(
                    ErrorCode::AccountIdMismatch,
                    format!("account id {id} belongs to {}, not {name}", account.name),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    ErrorCode::UnknownAccount,
                    format!("account {name} ({id}) is not in the catalog"),
                ));
            }
        };
        let persona = catalog.persona(&group_type).ok_or_else(|| {
            invalid(
                ErrorCode::UnknownPersona,
                format!("group_type {group_type} is not a persona in the catalog"),
            )
        })?;
        let (email, claims) = match caller {
            Caller::Pipeline(claims) => {
                let email = authorize_pipeline(
                    catalog,
                    claims,
                    &account,
                    &group_type,
                    typed_email.as_ref(),
                )?;
                (email, Some(claims.as_ref().clone()))
            }
            Caller::Operator(_) if account.delivery == Delivery::Oidc => {
                return Err(invalid(
                    ErrorCode::DeliveryNeedsPipeline,
                    format!(
                        "account {} delivers access by OIDC: only a pipeline with a token can ask",
                        account.name
                    ),
                ));
            }
            Caller::Person(_) => {
                return Err(invalid(
                    ErrorCode::NotAPipeline,
                    "temporary roles are for pipelines; people ask for access with a request",
                ));
            }
            Caller::Operator(_) => (
                typed_email
                    .ok_or_else(|| invalid(ErrorCode::MissingField, "`email` is required"))?,
                None,
            ),
        };
        Ok(Self {
            grant: persona.grant(account.environment).clone(),
            email,
            claims,
            branch,
            account,
            group_type,
        })
    }
}

/// A syntactically valid deprovisioning request; it is matched against its transaction later.
#[derive(Debug, Clone)]
pub struct DeprovisionRequest {
    pub transaction_id: TransactionId,
    /// An account name or id, as the caller gave it.
    pub target_aws_account: String,
    pub role_arn: RoleArn,
}

impl DeprovisionRequest {
    pub fn parse(input: &DeprovisionAsk<'_>) -> Result<Self, BrokerError> {
        let transaction_id =
            TransactionId::parse(required("transaction_id", input.transaction_id)?)?;
        let target_aws_account = required("target_aws_account", input.target_aws_account)?;
        if AccountId::parse(target_aws_account).is_err() {
            AccountName::parse(target_aws_account)?;
        }
        let role_arn = RoleArn::parse(required("role_arn", input.role_arn)?)?;
        Ok(Self {
            transaction_id,
            target_aws_account: target_aws_account.to_owned(),
            role_arn,
        })
    }

    /// Whether the caller's account (by name or id) is the transaction's.
    pub fn names_account(&self, name: &AccountName, id: &AccountId) -> bool {
        self.target_aws_account == name.as_str() || self.target_aws_account == id.as_str()
    }
}
