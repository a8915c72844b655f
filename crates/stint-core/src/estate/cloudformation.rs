//! The estate as CloudFormation templates, for teams that deploy with infrastructure as
//! code: the permission sets (deployed once, in the Identity Center account) and the member
//! accounts' target roles (one template for a StackSet over every member account: which roles
//! an account gets, and whether its trust asks for a recent MFA, is decided in the template by
//! the account id). The same documents as `apply` writes, built by the same functions.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::desired::trust_policy;
use super::{MANAGED_TAG, ROLE_INLINE_POLICY};
use crate::catalog::{Boundary, Catalog, Environment, inline_policy};
use crate::ids::AccountId;
use crate::policy::PolicyDocument;

/// Template file name -> template; a template with nothing in it is left out (CloudFormation
/// refuses one without resources).
pub fn templates(catalog: &Catalog) -> BTreeMap<&'static str, Value> {
    let mut templates = BTreeMap::new();
    if !catalog.permission_sets().is_empty() {
        templates.insert("permission-sets.template.json", permission_sets(catalog));
    }
    if catalog
        .landing()
        .is_some_and(|l| l.personas().next().is_some())
    {
        templates.insert("member-roles.template.json", member_roles(catalog));
    }
    templates
}

/// A logical id from a name: its letters and digits, unique within `taken`.
fn logical_id(prefix: &str, name: &str, taken: &Map<String, Value>) -> String {
    let base: String = format!("{prefix}{name}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains_key(&id) {
        id = format!("{base}{n}");
        n += 1;
    }
    id
}

fn tags() -> Value {
    json!([{ "Key": MANAGED_TAG.0, "Value": MANAGED_TAG.1 }])
}

fn permission_sets(catalog: &Catalog) -> Value {
    let mut resources = Map::new();
    for set in catalog.permission_sets().values() {
        let mut properties = json!({
            "InstanceArn": { "Ref": "InstanceArn" },
            "Name": set.name,
            "SessionDuration": set.session_duration,
            "Tags": tags(),
        });
        let mut add = |key: &str, value: Value| {
            if let Some(map) = properties.as_object_mut() {
                map.insert(key.to_owned(), value);
            }
        };
        if !set.description.is_empty() {
            add("Description", json!(set.description));
        }
        if !set.managed_policies.is_empty() {
            add("ManagedPolicies", json!(set.managed_policies));
        }
        if !set.customer_managed_policies.is_empty() {
            let refs: Vec<Value> = set
                .customer_managed_policies
                .iter()
                .map(|r| json!({ "Name": r.name, "Path": r.path }))
                .collect();
            add("CustomerManagedPolicyReferences", json!(refs));
        }
        if let Some(document) = inline_policy(set, catalog.landing()) {
            add("InlinePolicy", json!(document));
        }
        match &set.permissions_boundary {
            Some(Boundary::ManagedPolicy(arn)) => {
                add("PermissionsBoundary", json!({ "ManagedPolicyArn": arn }));
            }
            Some(Boundary::CustomerManaged(r)) => add(
                "PermissionsBoundary",
                json!({ "CustomerManagedPolicyReference": { "Name": r.name, "Path": r.path } }),
            ),
            None => {}
        }
        let id = logical_id("PermissionSet", &set.name, &resources);
        resources.insert(
            id,
            json!({ "Type": "AWS::SSO::PermissionSet", "Properties": properties }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Identity Center permission sets from the stint catalog (stint catalog export)",
        "Parameters": {
            "InstanceArn": {
                "Type": "String",
                "Description": "The IAM Identity Center instance (arn:aws:sso:::instance/ssoins-...)",
                "AllowedPattern": "arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}",
            }
        },
        "Resources": resources,
    })
}

/// A condition true in any of `accounts` (`Fn::Or` takes 2 to 10 conditions: a tree).
fn in_accounts(accounts: &[&AccountId]) -> Value {
    let equals: Vec<Value> = accounts
        .iter()
        .map(|a| json!({ "Fn::Equals": [{ "Ref": "AWS::AccountId" }, a.as_str()] }))
        .collect();
    any_of(equals)
}

fn any_of(mut conditions: Vec<Value>) -> Value {
    while conditions.len() > 10 {
        conditions = conditions.chunks(10).map(|c| any_of(c.to_vec())).collect();
    }
    match conditions.len() {
        1 => conditions.pop().unwrap_or(Value::Null),
        _ => json!({ "Fn::Or": conditions }),
    }
}

fn member_roles(catalog: &Catalog) -> Value {
    let mut resources = Map::new();
    let mut conditions = Map::new();
    if let Some(landing) = catalog.landing() {
        let prod: Vec<&AccountId> = catalog
            .accounts()
            .iter()
            .filter(|a| a.environment == Environment::Prod)
            .map(|a| &a.id)
            .collect();
        let mfa = landing.prod_mfa_max_age.filter(|_| !prod.is_empty());
        if mfa.is_some() {
            conditions.insert("IsProd".to_owned(), in_accounts(&prod));
        }
        for persona in landing.personas() {
            let condition = logical_id("In", persona.persona.as_str(), &conditions);
            let accounts: Vec<&AccountId> = persona.accounts.iter().collect();
            conditions.insert(condition.clone(), in_accounts(&accounts));
            let trust = |mfa| {
                json!(trust_policy(
                    &landing.account_id,
                    &persona.permission_set,
                    mfa
                ))
            };
            let assume = match mfa {
                Some(age) => json!({ "Fn::If": ["IsProd", trust(Some(age)), trust(None)] }),
                None => trust(None),
            };
            let managed: Vec<Value> = persona
                .managed_policy_templates()
                .iter()
                .map(|arn| match arn.contains("{account_id}") {
                    true => json!({ "Fn::Sub": arn.replace("{account_id}", "${AWS::AccountId}") }),
                    false => json!(arn),
                })
                .collect();
            let mut properties = json!({
                "RoleName": persona.target_role.as_str(),
                "Description": format!("{} in this account, switched into from the landing account; kept by stint", persona.persona),
                "AssumeRolePolicyDocument": assume,
                "Tags": tags(),
            });
            if let Some(map) = properties.as_object_mut() {
                if !managed.is_empty() {
                    map.insert("ManagedPolicyArns".to_owned(), json!(managed));
                }
                if !persona.statements.is_empty() {
                    let document = PolicyDocument::new(persona.statements.clone());
                    map.insert(
                        "Policies".to_owned(),
                        json!([{ "PolicyName": ROLE_INLINE_POLICY, "PolicyDocument": document }]),
                    );
                }
            }
            let id = logical_id("Role", persona.persona.as_str(), &resources);
            resources.insert(
                id,
                json!({ "Type": "AWS::IAM::Role", "Condition": condition, "Properties": properties }),
            );
        }
    }
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Member-account target roles from the stint catalog, for a StackSet over every member account (stint catalog export)",
        "Resources": resources,
    });
    if !conditions.is_empty()
        && let Some(map) = template.as_object_mut()
    {
        map.insert("Conditions".to_owned(), Value::Object(conditions));
    }
    template
}
