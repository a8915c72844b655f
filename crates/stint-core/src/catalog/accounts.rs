//! The member accounts stint grants access in: each one's name, id, environment (which decides
//! the stricter prod rules) and how a pipeline receives credentials there.

use serde::{Deserialize, Serialize};

use super::raw::RawAccount;
use super::{CatalogError, err};
use crate::ids::{AccountId, AccountName};

/// Which rules an account falls under: prod narrows grants and pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Nonprod,
}

/// How a pipeline gets credentials for the temporary role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// stint assumes the role and returns credentials (at most 1 h: role chaining).
    #[default]
    Broker,
    /// The role trusts GitHub's OIDC provider for exactly this run; the workflow assumes it
    /// with AssumeRoleWithWebIdentity and stint never holds credentials.
    Oidc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: AccountName,
    pub id: AccountId,
    pub environment: Environment,
    pub delivery: Delivery,
}

/// At least one account, each name and each id only once.
pub(super) fn validate_accounts(raw: Vec<RawAccount>) -> Result<Vec<Account>, CatalogError> {
    if raw.is_empty() {
        return Err(err("accounts", "at least one account is required"));
    }
    let mut accounts: Vec<Account> = Vec::with_capacity(raw.len());
    for (i, account) in raw.into_iter().enumerate() {
        let key = format!("accounts[{i}]");
        let name =
            AccountName::parse(&account.name).map_err(|e| err(format!("{key}.name"), e.message))?;
        let id = AccountId::parse(&account.id).map_err(|e| err(format!("{key}.id"), e.message))?;
        if accounts.iter().any(|a| a.name == name) {
            return Err(err(format!("{key}.name"), format!("{name} appears twice")));
        }
        if accounts.iter().any(|a| a.id == id) {
            return Err(err(format!("{key}.id"), format!("{id} appears twice")));
        }
        accounts.push(Account {
            name,
            id,
            environment: account.environment,
            delivery: account.delivery,
        });
    }
    Ok(accounts)
}
