//! The estate the catalog asks for: every `[permission_sets.NAME]` (with the switch-role
//! statements of the landing persona that signs in with it) and, per landing persona and
//! member account, the target role whose trust admits only that persona's Identity Center role
//! in the landing account.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use super::{PermissionSetState, ROLE_INLINE_POLICY, RoleKey, RoleState, normalise};
use crate::catalog::{Catalog, Environment, Landing, LandingPersona, inline_policy};
use crate::ids::AccountId;
use crate::policy::{Effect, OneOrMany, PolicyDocument, Statement};

/// A permission set as the catalog wants it, and where it is provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPermissionSet {
    pub state: PermissionSetState,
    pub accounts: BTreeSet<AccountId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub permission_sets: BTreeMap<String, DesiredPermissionSet>,
    pub roles: BTreeMap<RoleKey, RoleState>,
}

/// The estate `catalog` asks for.
pub fn desired(catalog: &Catalog) -> Desired {
    let landing = catalog.landing();
    let permission_sets = catalog
        .permission_sets()
        .values()
        .map(|set| {
            let state = PermissionSetState {
                name: set.name.clone(),
                description: set.description.clone(),
                session_duration: set.session_duration.clone(),
                managed_policies: set.managed_policies.iter().cloned().collect(),
                customer_managed_policies: set.customer_managed_policies.iter().cloned().collect(),
                inline_policy: inline_policy(set, landing).map(|d| normalise(&json!(d))),
                permissions_boundary: set.permissions_boundary.clone(),
            };
            let accounts = set.accounts.iter().cloned().collect();
            (set.name.clone(), DesiredPermissionSet { state, accounts })
        })
        .collect();
    let mut roles = BTreeMap::new();
    if let Some(landing) = landing {
        for persona in landing.personas() {
            for account in &persona.accounts {
                let prod = catalog
                    .account_by_id(account)
                    .is_some_and(|a| a.environment == Environment::Prod);
                let key = RoleKey {
                    account: account.clone(),
                    name: persona.target_role.clone(),
                };
                roles.insert(key, target_role(landing, persona, account, prod));
            }
        }
    }
    Desired {
        permission_sets,
        roles,
    }
}

fn target_role(
    landing: &Landing,
    persona: &LandingPersona,
    account: &AccountId,
    prod: bool,
) -> RoleState {
    let mfa = landing.prod_mfa_max_age.filter(|_| prod);
    let trust = trust_policy(&landing.account_id, &persona.permission_set, mfa);
    let inline_policies = if persona.statements.is_empty() {
        BTreeMap::new()
    } else {
        let document = PolicyDocument::new(persona.statements.clone());
        BTreeMap::from([(ROLE_INLINE_POLICY.to_owned(), normalise(&json!(document)))])
    };
    RoleState {
        description: format!(
            "{} in this account, switched into from the landing account; kept by stint catalog apply",
            persona.persona
        ),
        trust_policy: normalise(&json!(trust)),
        managed_policies: persona.managed_policies(account).into_iter().collect(),
        inline_policies,
    }
}

/// The Identity Center roles permission set `permission_set` makes in `landing`. Identity
/// Center puts them under `aws-reserved/sso.amazonaws.com/` and, for an instance outside
/// us-east-1, a region below it; the random suffix changes when the set is provisioned again.
pub fn identity_center_role_patterns(landing: &AccountId, permission_set: &str) -> Vec<String> {
    let base = format!("arn:aws:iam::{landing}:role/aws-reserved/sso.amazonaws.com");
    vec![
        format!("{base}/*/AWSReservedSSO_{permission_set}_*"),
        format!("{base}/AWSReservedSSO_{permission_set}_*"),
    ]
}

/// A target role's trust policy: the landing account, and within it only the Identity Center
/// role of `permission_set` (`aws:PrincipalArn`, which a role session cannot forge); with
/// `mfa_max_age`, only sessions whose MFA sign-in is that recent.
pub fn trust_policy(
    landing: &AccountId,
    permission_set: &str,
    mfa_max_age: Option<Duration>,
) -> PolicyDocument {
    let mut condition = BTreeMap::from([(
        "ArnLike".to_owned(),
        BTreeMap::from([(
            "aws:PrincipalArn".to_owned(),
            OneOrMany::Many(identity_center_role_patterns(landing, permission_set)),
        )]),
    )]);
    if let Some(age) = mfa_max_age {
        condition.insert(
            "NumericLessThan".to_owned(),
            BTreeMap::from([(
                "aws:MultiFactorAuthAge".to_owned(),
                OneOrMany::One(age.as_secs().to_string()),
            )]),
        );
    }
    PolicyDocument::new(vec![Statement {
        sid: Some("StintLandingIdentityCenterRole".to_owned()),
        effect: Effect::Allow,
        principal: Some(json!({ "AWS": format!("arn:aws:iam::{landing}:root") })),
        action: Some(OneOrMany::One("sts:AssumeRole".to_owned())),
        not_action: None,
        resource: None,
        not_resource: None,
        condition: Some(condition),
    }])
}
