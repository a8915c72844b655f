//! The estate over an in-memory Identity Center and IAM: the generated policies as snapshots,
//! then plan → apply → plan-nothing, a changed policy planned exactly, drift reverted, and
//! what stint does not manage left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use expect_test::expect;

use super::apply::Estate;
use super::desired::{desired, trust_policy};
use super::managed::Managed;
use super::plan::{Change, render};
use super::*;
use crate::catalog::{Catalog, inline_policy};
use crate::ports::{Clock, Ledger};
use crate::testkit::World;

const LANDING: &str = include_str!("../../../../examples/catalog-landing.toml");

fn catalog(text: &str) -> Catalog {
    Catalog::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[test]
fn the_switch_role_policy_allows_the_targets_and_denies_the_reserved() {
    let catalog = catalog(LANDING);
    let set = &catalog.permission_sets()["Acme-Product-Deployers"];
    let document = inline_policy(set, catalog.landing());
    expect![[r#"
        {
          "Version": "2012-10-17",
          "Statement": [
            {
              "Sid": "StintSwitchRole",
              "Effect": "Allow",
              "Action": "sts:AssumeRole",
              "Resource": [
                "arn:aws:iam::222222222222:role/ProductDeployer",
                "arn:aws:iam::333333333333:role/ProductDeployer"
              ]
            },
            {
              "Sid": "StintNeverReservedRoles",
              "Effect": "Deny",
              "Action": "sts:AssumeRole",
              "Resource": [
                "arn:aws:iam::*:role/SecurityAudit",
                "arn:aws:iam::*:role/OrganizationAccountAccessRole",
                "arn:aws:iam::*:role/stint-provisioner"
              ]
            }
          ]
        }"#]]
    .assert_eq(&pretty(&document));
}

#[test]
fn a_target_role_trusts_only_the_landing_identity_center_role_with_fresh_mfa_in_prod() {
    let landing = AccountId::parse("111111111111").unwrap_or_else(|e| panic!("{e}"));
    let document = trust_policy(
        &landing,
        "Acme-Product-Deployers",
        Some(std::time::Duration::from_secs(3600)),
    );
    expect![[r#"
        {
          "Version": "2012-10-17",
          "Statement": [
            {
              "Sid": "StintLandingIdentityCenterRole",
              "Effect": "Allow",
              "Principal": {
                "AWS": "arn:aws:iam::111111111111:root"
              },
              "Action": "sts:AssumeRole",
              "Condition": {
                "ArnLike": {
                  "aws:PrincipalArn": [
                    "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Acme-Product-Deployers_*",
                    "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Acme-Product-Deployers_*"
                  ]
                },
                "NumericLessThan": {
                  "aws:MultiFactorAuthAge": "3600"
                }
              }
            }
          ]
        }"#]]
    .assert_eq(&pretty(&document));
    // Nonprod accounts: no MFA-age condition.
    let desired = desired(&catalog(LANDING));
    let nonprod = desired
        .roles
        .iter()
        .find(|(k, _)| k.account.as_str() == "222222222222")
        .map(|(_, r)| r.trust_policy.to_string())
        .unwrap_or_default();
    assert!(
        nonprod.contains("ArnLike") && !nonprod.contains("MultiFactorAuthAge"),
        "{nonprod}"
    );
}

/// Identity Center and IAM in memory; `foreign` sets are in it but not stint's.
#[derive(Default)]
struct MemoryEstate {
    sets: Mutex<BTreeMap<String, LivePermissionSet>>,
    roles: Mutex<BTreeMap<RoleKey, LiveRole>>,
    provisioned: Mutex<Vec<(String, AccountId)>>,
    writes: Mutex<usize>,
}

impl MemoryEstate {
    fn bump(&self) {
        if let Ok(mut w) = self.writes.lock() {
            *w += 1;
        }
    }
    fn writes(&self) -> usize {
        self.writes.lock().map(|w| *w).unwrap_or(0)
    }
}

#[async_trait]
impl EstateStore for MemoryEstate {
    async fn permission_sets(
        &self,
        names: &BTreeSet<String>,
        _: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, LivePermissionSet>, PortError> {
        let sets = self
            .sets
            .lock()
            .map_err(|_| PortError::new("sets", "poisoned"))?;
        Ok(sets
            .iter()
            .filter(|(n, _)| names.contains(*n))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect())
    }
    async fn role(&self, key: &RoleKey) -> Result<Option<LiveRole>, PortError> {
        Ok(self.roles.lock().ok().and_then(|r| r.get(key).cloned()))
    }
    async fn create_permission_set(
        &self,
        desired: &PermissionSetState,
    ) -> Result<String, PortError> {
        self.bump();
        let arn = format!("arn:aws:sso:::permissionSet/ssoins-1/ps-{}", desired.name);
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(
                desired.name.clone(),
                LivePermissionSet {
                    arn: arn.clone(),
                    state: desired.clone(),
                },
            );
        }
        Ok(arn)
    }
    async fn update_permission_set(
        &self,
        _: &str,
        _: &PermissionSetState,
        desired: &PermissionSetState,
    ) -> Result<(), PortError> {
        self.bump();
        if let Ok(mut sets) = self.sets.lock()
            && let Some(set) = sets.get_mut(&desired.name)
        {
            set.state = desired.clone();
        }
        Ok(())
    }
    async fn provision(&self, arn: &str, accounts: &[AccountId]) -> Result<(), PortError> {
        if let Ok(mut p) = self.provisioned.lock() {
            p.extend(accounts.iter().map(|a| (arn.to_owned(), a.clone())));
        }
        Ok(())
    }
    async fn delete_permission_set(&self, arn: &str, _: &[AccountId]) -> Result<(), PortError> {
        self.bump();
        if let Ok(mut sets) = self.sets.lock() {
            sets.retain(|_, s| s.arn != arn);
        }
        Ok(())
    }
    async fn put_role(
        &self,
        key: &RoleKey,
        _: Option<&RoleState>,
        desired: &RoleState,
    ) -> Result<(), PortError> {
        self.bump();
        if let Ok(mut roles) = self.roles.lock() {
            roles.insert(
                key.clone(),
                LiveRole {
                    state: desired.clone(),
                    tagged: true,
                },
            );
        }
        Ok(())
    }
    async fn delete_role(&self, key: &RoleKey) -> Result<(), PortError> {
        self.bump();
        if let Ok(mut roles) = self.roles.lock() {
            roles.remove(key);
        }
        Ok(())
    }
}

fn estate(world: &World, store: Arc<MemoryEstate>) -> Estate {
    Estate {
        store,
        ledger: world.ledger.clone(),
        clock: world.clock.clone(),
        record_id: Managed::id_for("Acme", "Platform"),
        actor: "operator:test".to_owned(),
    }
}

#[tokio::test]
async fn plan_apply_then_nothing_then_exactly_the_changed_policy()
-> Result<(), Box<dyn std::error::Error>> {
    let world = World::new();
    let store = Arc::new(MemoryEstate::default());
    let estate = estate(&world, store.clone());
    let first = desired(&catalog(LANDING));
    let (plan, _) = estate.plan(&first, false).await?;
    assert_eq!(plan.changes.len(), 4, "{}", render(&plan));
    let report = estate.apply(&first, false).await?;
    assert_eq!(report.applied.len(), 4);
    assert_eq!(store.writes(), 4);
    let provisioned = store.provisioned.lock().map(|p| p.len()).unwrap_or(0);
    assert_eq!(
        provisioned, 3,
        "auditors to two accounts, deployers to the landing one"
    );
    let (again, managed) = estate.plan(&first, false).await?;
    assert!(again.is_empty(), "{}", render(&again));
    assert_eq!(managed.permission_sets.len(), 2);
    assert_eq!(managed.roles.len(), 2);
    // A second apply changes nothing.
    estate.apply(&first, false).await?;
    assert_eq!(store.writes(), 4);
    // The estate record is none of the records the reaper sweeps.
    for status in [
        crate::record::Status::Holding(crate::record::HoldingState::Held),
        crate::record::Status::Grant(crate::record::State::Processing),
    ] {
        let far = world.clock.now() + time::Duration::days(365);
        assert!(world.ledger.stale(status, far, 100).await?.is_empty());
    }
    // Every change is in the ledger: two events each (intent, outcome).
    let events = world
        .ledger
        .events(&Managed::id_for("Acme", "Platform"))
        .await?;
    assert_eq!(events.len(), 8);

    let changed = desired(&catalog(&LANDING.replace(
        "Action = [\"secretsmanager:GetSecretValue\"]",
        "Action = [\"secretsmanager:GetSecretValue\", \"ssm:GetParameter\"]",
    )));
    let (plan, _) = estate.plan(&changed, false).await?;
    expect![[r#"
        ~ update permission set Acme-Auditors
            inline_policy:
                {
                  "Statement": [
                    {
              -       "Action": "secretsmanager:GetSecretValue",
              +       "Action": [
              +         "secretsmanager:GetSecretValue",
              +         "ssm:GetParameter"
              +       ],
                      "Effect": "Deny",
                      "Resource": "*",
                      "Sid": "NoSecrets"
                    }
                  ],
                  "Version": "2012-10-17"
                }
            provision to: 222222222222, 333333333333
        Plan: 0 to create, 1 to update, 0 to delete, 0 left alone.
    "#]]
    .assert_eq(&render(&plan));
    estate.apply(&changed, false).await?;
    assert!(estate.plan(&changed, false).await?.0.is_empty());
    Ok(())
}

#[tokio::test]
async fn drift_is_reverted_and_what_is_not_stints_is_left_alone()
-> Result<(), Box<dyn std::error::Error>> {
    let world = World::new();
    let store = Arc::new(MemoryEstate::default());
    let estate = estate(&world, store.clone());
    let want = desired(&catalog(LANDING));
    estate.apply(&want, false).await?;
    // Someone attaches a policy to a target role by hand.
    if let Ok(mut roles) = store.roles.lock()
        && let Some(role) = roles.values_mut().next()
    {
        role.state
            .managed_policies
            .insert("arn:aws:iam::aws:policy/AdministratorAccess".to_owned());
    }
    let (plan, _) = estate.plan(&want, false).await?;
    assert!(
        matches!(plan.changes.as_slice(), [Change::UpdateRole { diffs, .. }] if diffs[0].field == "managed_policies"),
        "{}",
        render(&plan)
    );
    estate.apply(&want, false).await?;
    assert!(estate.plan(&want, false).await?.is_empty_plan());

    // A catalog naming a set that exists but is not stint's: a conflict, never touched.
    let foreign = LANDING.replace(
        "[permission_sets.Acme-Auditors]",
        "[permission_sets.Hand-Made]",
    );
    if let Ok(mut sets) = store.sets.lock() {
        let mut state = sets["Acme-Auditors"].state.clone();
        state.name = "Hand-Made".to_owned();
        sets.insert(
            "Hand-Made".to_owned(),
            LivePermissionSet {
                arn: "arn:foreign".to_owned(),
                state: PermissionSetState {
                    description: "by hand".to_owned(),
                    ..state
                },
            },
        );
    }
    let before = store.writes();
    let report = estate.apply(&desired(&catalog(&foreign)), false).await?;
    assert_eq!(report.left_alone, ["permission set Hand-Made"]);
    // Acme-Auditors left the catalog: stint deletes its own set, and only that.
    assert_eq!(report.applied, ["delete permission set Acme-Auditors"]);
    assert_eq!(store.writes(), before + 1);
    let sets = store
        .sets
        .lock()
        .map(|s| s.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(sets, ["Acme-Product-Deployers", "Hand-Made"]);
    Ok(())
}

trait EmptyPlan {
    fn is_empty_plan(&self) -> bool;
}

impl EmptyPlan for (super::plan::Plan, Managed) {
    fn is_empty_plan(&self) -> bool {
        self.0.is_empty()
    }
}

#[test]
fn the_member_roles_template_decides_by_account_id_for_a_stack_set() {
    let templates = super::cloudformation::templates(&catalog(LANDING));
    assert_eq!(
        templates.keys().copied().collect::<Vec<_>>(),
        [
            "member-roles.template.json",
            "permission-sets.template.json"
        ]
    );
    let members = &templates["member-roles.template.json"];
    expect![[r#"
        {
          "InProductDeployers": {
            "Fn::Or": [
              {
                "Fn::Equals": [
                  {
                    "Ref": "AWS::AccountId"
                  },
                  "222222222222"
                ]
              },
              {
                "Fn::Equals": [
                  {
                    "Ref": "AWS::AccountId"
                  },
                  "333333333333"
                ]
              }
            ]
          },
          "IsProd": {
            "Fn::Equals": [
              {
                "Ref": "AWS::AccountId"
              },
              "333333333333"
            ]
          }
        }"#]]
    .assert_eq(&pretty(&members["Conditions"]));
    let role = &members["Resources"]["RoleProductDeployers"];
    assert_eq!(role["Condition"], "InProductDeployers");
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Fn::If"][0],
        "IsProd"
    );
    let sets = &templates["permission-sets.template.json"]["Resources"];
    assert_eq!(
        sets["PermissionSetAcmeProductDeployers"]["Properties"]["InlinePolicy"]["Statement"][0]["Sid"],
        "StintSwitchRole"
    );
}

struct Groups(BTreeMap<String, BTreeSet<String>>);

#[async_trait]
impl super::pilot::GroupMembers for Groups {
    async fn members(&self, group: &str) -> Result<BTreeSet<String>, PortError> {
        Ok(self.0.get(group).cloned().unwrap_or_default())
    }
}

#[tokio::test]
async fn lifting_a_pilot_shows_who_gains_and_who_loses() -> Result<(), PortError> {
    let text = format!(
        "{}\n[people]\nissuer = \"https://login.example.com\"\nclient_id = \"stint\"\n\
         [people.personas.Product-Deployers]\npermission_set = \"Acme-Product-Deployers\"\n\
         eligible_groups = [\"Acme_Oncall\"]\n\
         [pilots.Product-Deployers]\ngroup = \"Acme_Pilot\"\n",
        LANDING
    );
    let catalog = catalog(&text);
    let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    let groups = Groups(BTreeMap::from([
        ("Acme_Pilot".to_owned(), names(&["alice", "carol"])),
        (
            "Acme_Platform_222222222222_Product-Deployers".to_owned(),
            names(&["alice", "bob"]),
        ),
        ("Acme_Oncall".to_owned(), names(&["dave"])),
    ]));
    let reports = super::pilot::pilot_reports(&catalog, &groups).await?;
    expect![[r#"
        pilot Product-Deployers: eligibility limited to Acme_Pilot; lifting it would
            workload-nonprod: give access to bob, dave; take it from carol
            workload-prod: give access to dave; take it from alice, carol
    "#]]
    .assert_eq(&super::pilot::render_pilots(&reports));
    Ok(())
}
