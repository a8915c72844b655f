//! The estate: what people's access is made of in AWS, kept from the catalog by `stint
//! catalog plan` and `apply`: Identity Center permission sets (with the landing account's
//! switch-role policy) and the target roles in member accounts (with trust policies that admit
//! only the landing account's Identity Center role for that permission set). Pure: the desired
//! state from the catalog (`desired`), the plan as a diff of desired and live state over what
//! stint manages (`plan`), the ledger record of what stint manages (`managed`), and the apply
//! use case over the `EstateStore` port (`apply`). Nothing here knows grants or flows.

pub mod apply;
pub mod cloudformation;
pub mod desired;
pub mod managed;
pub mod pilot;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Boundary, PolicyRef};
use crate::ids::{AccountId, RoleName};
use crate::ports::PortError;

/// The tag stint puts on what it keeps, where AWS takes tags. Not relied on: the ledger's
/// record of what stint manages decides (the emulator has no sso-admin TagResource).
pub const MANAGED_TAG: (&str, &str) = ("stint:managed-by", "catalog");

/// The inline policy name stint puts on a target role.
pub const ROLE_INLINE_POLICY: &str = "stint-catalog";

/// A permission set's content, comparable: sets of policies, normalised policy JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSetState {
    pub name: String,
    pub description: String,
    /// ISO-8601 (`PT4H`).
    pub session_duration: String,
    pub managed_policies: BTreeSet<String>,
    pub customer_managed_policies: BTreeSet<PolicyRef>,
    /// Normalised (`normalise`); `None`: no inline policy.
    pub inline_policy: Option<Value>,
    pub permissions_boundary: Option<Boundary>,
}

/// A permission set as Identity Center holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePermissionSet {
    pub arn: String,
    pub state: PermissionSetState,
}

/// One target role: in which account, under which name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoleKey {
    pub account: AccountId,
    pub name: RoleName,
}

impl std::fmt::Display for RoleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.name)
    }
}

/// A target role's content, comparable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    pub description: String,
    /// Normalised.
    pub trust_policy: Value,
    pub managed_policies: BTreeSet<String>,
    /// Inline policy name -> normalised document.
    pub inline_policies: BTreeMap<String, Value>,
}

/// A role as IAM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRole {
    pub state: RoleState,
    /// It carries `MANAGED_TAG`.
    pub tagged: bool,
}

/// What is in AWS, for the names asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    pub permission_sets: BTreeMap<String, LivePermissionSet>,
    pub roles: BTreeMap<RoleKey, LiveRole>,
}

/// A policy document in one canonical form, so that what AWS answers compares equal to what
/// stint wrote: keys sorted (serde_json's map), and a one-element list as its one string (IAM
/// takes both and answers either).
pub fn normalise(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 && items[0].is_string() => items[0].clone(),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}

/// A policy document's text, normalised; text that is not JSON stays a string, so that it
/// shows in a diff rather than failing the plan.
pub fn normalise_text(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .map(|v| normalise(&v))
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Identity Center and the member accounts' IAM, as `plan` reads them and `apply` writes them.
/// Every write is idempotent; each names its resource in its error.
#[async_trait]
pub trait EstateStore: Send + Sync {
    /// The permission sets named `names` that exist (ListPermissionSets, DescribePermissionSet,
    /// and for those their policies; the boundary only for `with_boundary`).
    async fn permission_sets(
        &self,
        names: &BTreeSet<String>,
        with_boundary: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, LivePermissionSet>, PortError>;
    /// The role, if it exists.
    async fn role(&self, key: &RoleKey) -> Result<Option<LiveRole>, PortError>;
    /// Creates the permission set with its policies (tagged where AWS allows); its ARN.
    async fn create_permission_set(
        &self,
        desired: &PermissionSetState,
    ) -> Result<String, PortError>;
    /// Makes `live` into `desired`, field by field.
    async fn update_permission_set(
        &self,
        arn: &str,
        live: &PermissionSetState,
        desired: &PermissionSetState,
    ) -> Result<(), PortError>;
    /// Provisions the set to each account and waits for `SUCCEEDED` (or fails with the reason).
    async fn provision(&self, arn: &str, accounts: &[AccountId]) -> Result<(), PortError>;
    /// Deletes the permission set; refused while any user or group is assigned it in
    /// `accounts` (stint never removes an assignment here: a grant may hold it).
    async fn delete_permission_set(
        &self,
        arn: &str,
        accounts: &[AccountId],
    ) -> Result<(), PortError>;
    /// Creates the role (tagged) or makes the live one into `desired`.
    async fn put_role(
        &self,
        key: &RoleKey,
        live: Option<&RoleState>,
        desired: &RoleState,
    ) -> Result<(), PortError>;
    /// Deletes the role and what is on it; one already gone is success.
    async fn delete_role(&self, key: &RoleKey) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests;
