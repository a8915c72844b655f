//! The catalog as TOML gives it: the first of two loading stages. Every struct refuses keys it
//! does not know, so a typo fails the load instead of silently taking a default; defaults live
//! here. Nothing is checked yet: the sibling modules turn these into validated types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::accounts::{Delivery, Environment};
use super::limits::DEFAULT_MANAGED_POLICIES_PER_ROLE;
use crate::policy::Statement;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    pub(super) company: String,
    pub(super) org: String,
    pub(super) identity_store_id: String,
    pub(super) provisioner_role_name: String,
    #[serde(default)]
    pub(super) provisioner_external_id: Option<String>,
    pub(super) pipeline_principal_arn: String,
    #[serde(default)]
    pub(super) permissions_boundary_arn: Option<String>,
    #[serde(default = "default_group_type")]
    pub(super) default_group_type: String,
    #[serde(default = "default_role_prefix")]
    pub(super) role_name_prefix: String,
    #[serde(default = "default_managed_limit")]
    pub(super) managed_policies_per_role: usize,
    pub(super) accounts: Vec<RawAccount>,
    pub(super) personas: BTreeMap<String, RawPersona>,
    #[serde(default)]
    pub(super) oidc: Option<RawOidc>,
    #[serde(default)]
    pub(super) identities: Vec<RawIdentity>,
    #[serde(default)]
    pub(super) pipelines: Vec<RawPipelineRule>,
    #[serde(default)]
    pub(super) people: Option<RawPeople>,
    #[serde(default)]
    pub(super) notifications: Option<RawNotifications>,
    /// Approving from chat: Slack's signing secret and who each Slack user is.
    #[serde(default)]
    pub(super) slack: Option<super::slack::RawSlack>,
    /// Identity Center permission sets stint keeps as defined here (`stint catalog apply`).
    #[serde(default)]
    pub(super) permission_sets: BTreeMap<String, RawPermissionSet>,
    #[serde(default)]
    pub(super) landing: Option<RawLanding>,
    /// Persona -> the pilot group its eligibility is limited to while a rollout is tried.
    #[serde(default)]
    pub(super) pilots: BTreeMap<String, RawPilot>,
}

/// Where people are told of requests and grants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    #[serde(default)]
    pub(super) slack_webhook_url: Option<String>,
    #[serde(default)]
    pub(super) webhook_url: Option<String>,
    #[serde(default = "default_webhook_secret_env")]
    pub(super) webhook_secret_env: String,
    /// A file holding the secret instead (a mounted secret), read at start.
    #[serde(default)]
    pub(super) webhook_secret_file: Option<String>,
    #[serde(default)]
    pub(super) page_url: Option<String>,
}

fn default_webhook_secret_env() -> String {
    "STINT_WEBHOOK_SECRET".to_owned()
}

fn default_group_type() -> String {
    "Product-Deployers".to_owned()
}

fn default_role_prefix() -> String {
    "stint".to_owned()
}

fn default_managed_limit() -> usize {
    DEFAULT_MANAGED_POLICIES_PER_ROLE
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) environment: Environment,
    #[serde(default)]
    pub(super) delivery: Delivery,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPersona {
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) managed_policies: Vec<String>,
    #[serde(default)]
    pub(super) statements: Vec<Statement>,
    pub(super) ttl: String,
    #[serde(default)]
    pub(super) prod: Option<RawOverride>,
    #[serde(default)]
    pub(super) nonprod: Option<RawOverride>,
}

/// Per-environment replacement of a persona's grant; absent members keep the persona's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) managed_policies: Option<Vec<String>>,
    pub(super) statements: Option<Vec<Statement>>,
    pub(super) ttl: Option<String>,
}

/// The token issuer pipelines authenticate with (GitHub Actions).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOidc {
    pub(super) issuer: String,
    pub(super) audience: String,
    #[serde(default = "default_max_token_age")]
    pub(super) max_token_age: String,
}

fn default_max_token_age() -> String {
    "10m".to_owned()
}

/// A GitHub user (by numeric id) and the directory user it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub(super) github_actor_id: u64,
    pub(super) email: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPipelineRule {
    #[serde(default)]
    pub(super) repository_ids: Vec<u64>,
    #[serde(default)]
    pub(super) repository_owner_ids: Vec<u64>,
    pub(super) environments: Vec<Environment>,
    pub(super) personas: Vec<String>,
    #[serde(default = "default_event_names")]
    pub(super) event_names: Vec<String>,
    #[serde(default)]
    pub(super) require_protected_ref: Option<bool>,
    #[serde(default)]
    pub(super) github_environment: Option<String>,
    #[serde(default)]
    pub(super) job_workflow_ref: Option<String>,
}

fn default_event_names() -> Vec<String> {
    vec!["push".to_owned(), "workflow_dispatch".to_owned()]
}

/// People's access through IAM Identity Center: the instance, the identity provider people
/// sign in with, and per persona what they may ask for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeople {
    /// Absent: the one instance ListInstances answers (an organisation has one).
    #[serde(default)]
    pub(super) instance_arn: Option<String>,
    pub(super) issuer: String,
    pub(super) client_id: String,
    /// The ID token claim that names the user as the identity store knows them (their email).
    #[serde(default = "default_user_claim")]
    pub(super) user_claim: String,
    #[serde(default = "default_people_token_age")]
    pub(super) max_token_age: String,
    /// The AWS access portal people's CLI profiles sign in at (`stint profiles`).
    #[serde(default)]
    pub(super) portal_url: Option<String>,
    /// The region of the Identity Center instance (for the profiles' `sso_region`).
    #[serde(default)]
    pub(super) sso_region: Option<String>,
    pub(super) personas: BTreeMap<String, RawPeoplePersona>,
}

fn default_user_claim() -> String {
    "email".to_owned()
}

fn default_people_token_age() -> String {
    "1h".to_owned()
}

/// What people may ask for as one persona.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeoplePersona {
    pub(super) permission_set: String,
    /// How a grant is carried: `assignment` (default) or `membership`.
    #[serde(default)]
    pub(super) activation: Option<String>,
    /// For `membership`: account id -> the group holding the persona's standing assignment
    /// there; a grant is a time-bound membership of it.
    #[serde(default)]
    pub(super) access_groups: BTreeMap<String, String>,
    /// Groups whose members may ask, besides `Company_Org_AccountId_Persona`.
    #[serde(default)]
    pub(super) eligible_groups: Vec<String>,
    /// Both environments' rules; `prod` and `nonprod` replace any of them there.
    #[serde(default)]
    pub(super) rules: RawAccessRules,
    #[serde(default)]
    pub(super) prod: Option<RawAccessRules>,
    #[serde(default)]
    pub(super) nonprod: Option<RawAccessRules>,
}

/// The rules of asking and approving; absent members take the persona's, then the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccessRules {
    /// Break-glass allowed, for at most this long (absent: not allowed).
    pub(super) break_glass: Option<String>,
    pub(super) min_duration: Option<String>,
    pub(super) max_duration: Option<String>,
    pub(super) approvals: Option<u32>,
    pub(super) approver_groups: Option<Vec<String>>,
    pub(super) justification: Option<bool>,
    pub(super) ticket_pattern: Option<String>,
    pub(super) request_timeout: Option<String>,
    pub(super) required_amr: Option<Vec<String>>,
    pub(super) required_acr: Option<String>,
    pub(super) max_auth_age: Option<String>,
}

/// A permission set as `stint catalog apply` keeps it in Identity Center.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPermissionSet {
    #[serde(default)]
    pub(super) description: String,
    /// ISO-8601 (`PT4H`) or a catalog duration (`4h`), 1 to 12 hours.
    #[serde(default = "default_session_duration")]
    pub(super) session_duration: String,
    #[serde(default)]
    pub(super) managed_policies: Vec<String>,
    #[serde(default)]
    pub(super) customer_managed_policies: Vec<RawPolicyRef>,
    #[serde(default)]
    pub(super) statements: Vec<Statement>,
    #[serde(default)]
    pub(super) permissions_boundary: Option<RawBoundary>,
    /// Account names (or ids) it is provisioned to.
    #[serde(default)]
    pub(super) accounts: Vec<String>,
}

fn default_session_duration() -> String {
    "PT1H".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicyRef {
    pub(super) name: String,
    #[serde(default = "default_policy_path")]
    pub(super) path: String,
}

fn default_policy_path() -> String {
    "/".to_owned()
}

/// Exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBoundary {
    #[serde(default)]
    pub(super) managed_policy: Option<String>,
    #[serde(default)]
    pub(super) customer_managed: Option<RawPolicyRef>,
}

/// The landing-account model: sign in to the landing account, switch roles into members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLanding {
    pub(super) account_id: String,
    #[serde(default)]
    pub(super) prod_mfa_max_age: Option<String>,
    #[serde(default)]
    pub(super) personas: BTreeMap<String, RawLandingPersona>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPilot {
    pub(super) group: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLandingPersona {
    /// Absent: `[people.personas.NAME] permission_set`.
    #[serde(default)]
    pub(super) permission_set: Option<String>,
    pub(super) target_role: String,
    /// Account names (or ids); absent: every account.
    #[serde(default)]
    pub(super) accounts: Vec<String>,
    #[serde(default)]
    pub(super) managed_policies: Vec<String>,
    #[serde(default)]
    pub(super) statements: Vec<Statement>,
    #[serde(default)]
    pub(super) reserved_roles: Vec<String>,
}
