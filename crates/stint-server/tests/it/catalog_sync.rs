//! `stint catalog plan/apply` against the emulator: plan on an empty organisation, apply,
//! nothing left to plan, a changed policy planned exactly, drift made by hand (through the
//! SDK) detected and reverted, a foreign permission set never touched, an assigned set never
//! deleted, the CLI's exit codes as a process, and a pilot's report of who gains and loses. Provisioning's IN_PROGRESS and FAILED
//! answers, which the emulator never gives, are played by the fault proxy. Every assertion on
//! AWS reads the emulator back through the SDK.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use stint_aws::{AwsCallCounter, IdentityCenterEstate, StatusPolling};
use stint_core::catalog::Catalog;
use stint_core::estate::apply::Estate;
use stint_core::estate::desired::desired;
use stint_core::estate::managed::Managed;
use stint_core::estate::plan::Change;
use stint_core::ports::Ledger;
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;
use stint_testkit::fault_proxy::FaultProxy;
use stint_testkit::seed::Seeder;
use stint_testkit::status_script::StatusScript;

use crate::harness::{moto_url, outcome, random_digits, stint_command};

/// One test's organisation: its own names and accounts, so tests share the emulator's one
/// Identity Center instance without meeting.
struct World {
    dir: tempfile::TempDir,
    org: String,
    auditors: String,
    deployers: String,
    landing: String,
    nonprod: String,
    prod: String,
}

impl World {
    fn new() -> Self {
        let s = random_digits(6);
        Self {
            dir: tempfile::tempdir().unwrap(),
            org: format!("T{s}"),
            auditors: format!("Aud-{s}"),
            deployers: format!("Dep-{s}"),
            landing: random_digits(12),
            nonprod: random_digits(12),
            prod: random_digits(12),
        }
    }

    /// The catalog, with `deny` the actions the auditors' inline statement denies.
    fn catalog(&self, deny: &str) -> String {
        let Self {
            org,
            auditors,
            deployers,
            landing,
            nonprod,
            prod,
            ..
        } = self;
        format!(
            r#"
company = "Acme"
org = "{org}"
identity_store_id = "d-1234567890"
provisioner_role_name = "stint-provisioner"
pipeline_principal_arn = "arn:aws:iam::123456789012:role/stint-broker"
default_group_type = "Deployers"

[[accounts]]
name = "nonprod"
id = "{nonprod}"
environment = "nonprod"

[[accounts]]
name = "prod"
id = "{prod}"
environment = "prod"

[personas.Deployers]
managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]
ttl = "8h"

[permission_sets.{auditors}]
description = "Reads everything"
session_duration = "PT4H"
managed_policies = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
accounts = ["nonprod", "prod"]
statements = [{{ Sid = "NoSecrets", Effect = "Deny", Action = {deny}, Resource = "*" }}]

[permission_sets.{deployers}]
description = "Switches into the deploy roles"
session_duration = "PT2H"

[landing]
account_id = "{landing}"
prod_mfa_max_age = "1h"

[landing.personas.Deployers]
permission_set = "{deployers}"
target_role = "Deployer"
managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]
statements = [{{ Sid = "NoIam", Effect = "Deny", Action = "iam:*", Resource = "*" }}]
reserved_roles = ["SecurityAudit"]
"#
        )
    }

    fn write(&self, catalog: &str) -> PathBuf {
        let path = self.dir.path().join("catalog.toml");
        std::fs::write(&path, catalog).unwrap();
        path
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    /// `stint catalog ARGS` as a process: exit code, stdout, stderr.
    fn stint(&self, args: &[&str]) -> (i32, String, String) {
        let catalog = self.dir.path().join("catalog.toml");
        let mut command = stint_command(&catalog, &self.ledger_path(), &moto_url());
        outcome(command.arg("catalog").args(args))
    }

    /// The estate use cases in-process, against `endpoint` (the emulator or a proxy to it).
    async fn estate(&self, endpoint: &str) -> Estate {
        let aws = stint_aws::AwsSettings {
            region: "us-east-1".into(),
            endpoint_url: Some(endpoint.to_owned()),
        };
        let sdk = stint_aws::load_sdk_config(&aws).await;
        // The emulator's test credentials, whatever the environment holds.
        let sdk = sdk
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "testing", "testing", None, None, "test",
                    ),
                ),
            )
            .build();
        let polling = StatusPolling {
            first: Duration::from_millis(10),
            longest: Duration::from_millis(50),
            bound: Duration::from_secs(5),
        };
        let store = IdentityCenterEstate::new(
            &sdk,
            AwsCallCounter::default(),
            None,
            "stint-provisioner".into(),
            None,
        )
        .with_polling(polling);
        Estate {
            store: Arc::new(store),
            ledger: Arc::new(SqliteLedger::open(&self.ledger_path()).unwrap()),
            clock: Arc::new(SystemClock),
            record_id: Managed::id_for("Acme", &self.org),
            actor: "operator:test".into(),
        }
    }
}

fn load(text: &str) -> Catalog {
    Catalog::from_toml(text).unwrap()
}

async fn seeder() -> Seeder {
    Seeder::connect(&moto_url()).await
}

/// The permission set's ARN, description, managed policies and inline policy, as the emulator
/// holds them.
async fn read_set(seeder: &Seeder, name: &str) -> (String, String, Vec<String>, String) {
    let arn = seeder.permission_set_arn(name).await.unwrap();
    let instance = seeder.sso_instance().await.unwrap();
    let sso = seeder.sso_admin();
    let described = sso
        .describe_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&arn)
        .send()
        .await
        .unwrap();
    let managed = sso
        .list_managed_policies_in_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&arn)
        .send()
        .await
        .unwrap();
    let inline = sso
        .get_inline_policy_for_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&arn)
        .send()
        .await
        .unwrap();
    let description = described
        .permission_set()
        .and_then(|p| p.description())
        .unwrap_or_default()
        .to_owned();
    let managed = managed
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.arn().map(str::to_owned))
        .collect();
    (
        arn,
        description,
        managed,
        inline.inline_policy().unwrap_or_default().to_owned(),
    )
}

/// The role's trust policy and inline policy names in `account`.
async fn read_role(seeder: &Seeder, account: &str, name: &str) -> (Value, Vec<String>) {
    let iam = seeder.iam(account).await.unwrap();
    let role = iam.get_role().role_name(name).send().await.unwrap();
    let trust = crate::harness::decode_policy(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap(),
    );
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    (trust, inline.policy_names().to_vec())
}

#[tokio::test]
async fn catalog_cli_plans_applies_and_then_has_nothing_to_do() {
    let world = World::new();
    world.write(&world.catalog(r#""secretsmanager:GetSecretValue""#));
    let (code, out, err) = world.stint(&["plan", "--json"]);
    assert_eq!(code, 2, "{out}{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "create_permission_set",
            "create_permission_set",
            "create_role",
            "create_role"
        ]
    );
    let (code, out, err) = world.stint(&["apply"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = world.stint(&["plan"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "No changes: AWS matches the catalog.\n"),
        "{err}"
    );
    // Through another role in the member accounts (the emulator does not check who may
    // assume what: this shows the flag is taken, not AWS's authorization).
    let (code, out, err) = world.stint(&["plan", "--member-role", "OrganizationAccountAccessRole"]);
    assert_eq!(code, 0, "{out}{err}");

    // What the emulator holds: the landing set with the switch-role policy, the roles with
    // trust in the landing account's Identity Center role only, MFA-fresh in prod.
    let seeder = seeder().await;
    let (_, _, _, inline) = read_set(&seeder, &world.deployers).await;
    let inline: Value = serde_json::from_str(&inline).unwrap();
    assert_eq!(
        inline["Statement"][0]["Resource"],
        serde_json::json!([
            format!("arn:aws:iam::{}:role/Deployer", world.nonprod),
            format!("arn:aws:iam::{}:role/Deployer", world.prod)
        ])
    );
    assert_eq!(inline["Statement"][1]["Effect"], "Deny");
    let (trust, policies) = read_role(&seeder, &world.prod, "Deployer").await;
    let condition = &trust["Statement"][0]["Condition"];
    assert_eq!(
        condition["ArnLike"]["aws:PrincipalArn"][0],
        format!(
            "arn:aws:iam::{}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_{}_*",
            world.landing, world.deployers
        )
    );
    assert_eq!(
        condition["NumericLessThan"]["aws:MultiFactorAuthAge"],
        "3600"
    );
    assert_eq!(policies, ["stint-catalog"]);
    let (trust, _) = read_role(&seeder, &world.nonprod, "Deployer").await;
    assert!(
        trust["Statement"]["Condition"]
            .get("NumericLessThan")
            .is_none(),
        "{trust}"
    );

    // A second apply changes nothing.
    let (code, out, _) = world.stint(&["apply"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"applied\": []"), "{out}");

    // One policy changes in the catalog: the plan shows exactly that.
    world.write(&world.catalog(r#"["secretsmanager:GetSecretValue", "ssm:GetParameter"]"#));
    let (code, out, err) = world.stint(&["plan", "--json"]);
    assert_eq!(code, 2, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{out}");
    assert_eq!(changes[0]["action"], "update_permission_set");
    assert_eq!(changes[0]["name"], world.auditors.as_str());
    let diffs = changes[0]["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0]["field"], "inline_policy");
    assert_eq!(
        diffs[0]["after"]["Statement"][0]["Action"],
        serde_json::json!(["secretsmanager:GetSecretValue", "ssm:GetParameter"])
    );
    let (code, _, err) = world.stint(&["plan"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(world.stint(&["apply"]).0, 0);
    assert_eq!(world.stint(&["plan"]).0, 0);
    let (_, _, _, inline) = read_set(&seeder, &world.auditors).await;
    assert!(inline.contains("ssm:GetParameter"), "{inline}");

    // Every change is in the ledger's estate record, intent and outcome.
    let ledger = SqliteLedger::open(&world.ledger_path()).unwrap();
    let events = ledger
        .events(&Managed::id_for("Acme", &world.org))
        .await
        .unwrap();
    assert_eq!(events.len(), 10, "4 changes, then 1, each recorded twice");
}

#[tokio::test]
async fn catalog_cli_errors_exit_1() {
    let world = World::new();
    world.write("company = \"Acme\"\n");
    let (code, _, err) = world.stint(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("catalog"), "{err}");
}

#[tokio::test]
async fn catalog_drift_made_by_hand_is_detected_and_reverted() {
    let world = World::new();
    let text = world.catalog(r#""secretsmanager:GetSecretValue""#);
    let want = desired(&load(&text));
    let estate = world.estate(&moto_url()).await;
    estate.apply(&want, false).await.unwrap();
    assert!(estate.plan(&want, false).await.unwrap().0.is_empty());

    // By hand: an extra managed policy on the set, an inline policy on a role.
    let seeder = seeder().await;
    let (arn, _, _, _) = read_set(&seeder, &world.auditors).await;
    seeder
        .sso_admin()
        .attach_managed_policy_to_permission_set()
        .instance_arn(seeder.sso_instance().await.unwrap())
        .permission_set_arn(&arn)
        .managed_policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    seeder
        .iam(&world.nonprod)
        .await
        .unwrap()
        .put_role_policy()
        .role_name("Deployer")
        .policy_name("by-hand")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let (plan, _) = estate.plan(&want, false).await.unwrap();
    let seen: Vec<(String, Vec<String>)> = plan
        .changes
        .iter()
        .map(|c| match c {
            Change::UpdatePermissionSet { name, diffs, .. } => (
                name.clone(),
                diffs.iter().map(|d| d.field.clone()).collect(),
            ),
            Change::UpdateRole { account, diffs, .. } => (
                account.to_string(),
                diffs.iter().map(|d| d.field.clone()).collect(),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            (world.auditors.clone(), vec!["managed_policies".to_owned()]),
            (world.nonprod.clone(), vec!["inline_policies".to_owned()]),
        ]
    );
    estate.apply(&want, false).await.unwrap();
    assert!(estate.plan(&want, false).await.unwrap().0.is_empty());
    let (_, _, managed, _) = read_set(&seeder, &world.auditors).await;
    assert_eq!(managed, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    let (_, inline) = read_role(&seeder, &world.nonprod, "Deployer").await;
    assert_eq!(inline, ["stint-catalog"]);
}

#[tokio::test]
async fn catalog_never_touches_a_foreign_permission_set() {
    let world = World::new();
    let seeder = seeder().await;
    let instance = seeder.sso_instance().await.unwrap();
    // Made by hand before stint: one the catalog does not name, one it does.
    let foreign = format!("Hand-{}", world.org);
    for name in [&foreign, &world.auditors] {
        let arn = seeder.permission_set(name).await.unwrap();
        seeder
            .sso_admin()
            .put_inline_policy_to_permission_set()
            .instance_arn(&instance)
            .permission_set_arn(&arn)
            .inline_policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
    }
    let before = (
        read_set(&seeder, &foreign).await,
        read_set(&seeder, &world.auditors).await,
    );
    world.write(&world.catalog(r#""secretsmanager:GetSecretValue""#));
    let (code, out, _) = world.stint(&["plan"]);
    assert_eq!(code, 2);
    assert!(
        out.contains(&format!("! permission set {}: ", world.auditors)),
        "{out}"
    );
    assert!(!out.contains(&foreign), "{out}");
    let (code, out, err) = world.stint(&["apply"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("left alone"), "{err}");
    let after = (
        read_set(&seeder, &foreign).await,
        read_set(&seeder, &world.auditors).await,
    );
    assert_eq!(before, after);
    // The catalog drops the set it named: still not stint's to delete.
    let without = world.catalog(r#""secretsmanager:GetSecretValue""#).replace(
        &format!("[permission_sets.{}]", world.auditors),
        &format!("[permission_sets.Other-{}]", world.org),
    );
    world.write(&without);
    assert_eq!(world.stint(&["apply"]).0, 0);
    assert_eq!(read_set(&seeder, &world.auditors).await, after.1);
    assert_eq!(read_set(&seeder, &foreign).await, after.0);
}

#[tokio::test]
async fn catalog_never_deletes_a_set_someone_is_assigned() {
    let world = World::new();
    let text = world.catalog(r#""secretsmanager:GetSecretValue""#);
    let estate = world.estate(&moto_url()).await;
    estate.apply(&desired(&load(&text)), false).await.unwrap();
    let seeder = seeder().await;
    let (arn, ..) = read_set(&seeder, &world.auditors).await;
    seeder.assign(&world.nonprod, &arn, "user-1").await.unwrap();
    let without = text.replace(
        &format!("[permission_sets.{}]", world.auditors),
        &format!("[permission_sets.Other-{}]", world.org),
    );
    let error = estate
        .apply(&desired(&load(&without)), false)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("still assigned"), "{error}");
    assert_eq!(
        seeder.assigned_users(&world.nonprod, &arn).await.unwrap(),
        ["user-1"]
    );
    read_set(&seeder, &world.auditors).await;
}

/// Provisioning is asynchronous in AWS (the emulator answers SUCCEEDED at once and lacks the
/// status call): the proxy plays IN_PROGRESS, then SUCCEEDED; then FAILED, which stops the
/// apply, and the next plan still shows the provisioning owed.
#[tokio::test]
async fn catalog_provisioning_waits_for_in_progress_and_reports_failed() {
    let world = World::new();
    let proxy = FaultProxy::start(&moto_url(), 0).await.unwrap();
    proxy.statuses.script_provisionings(Some(StatusScript {
        pending_polls: 2,
        failure: None,
    }));
    let text = world.catalog(r#""secretsmanager:GetSecretValue""#);
    let estate = world.estate(&proxy.url).await;
    estate.apply(&desired(&load(&text)), false).await.unwrap();
    // Three provisionings (auditors to two accounts, deployers to the landing one).
    assert_eq!(proxy.statuses.in_progress_answers.load(Ordering::SeqCst), 6);

    proxy.statuses.script_provisionings(Some(StatusScript {
        pending_polls: 1,
        failure: Some("The permission set is being modified".into()),
    }));
    let changed = desired(&load(&world.catalog(r#""ssm:GetParameter""#)));
    let error = estate.apply(&changed, false).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("FAILED: The permission set is being modified"),
        "{error}"
    );
    proxy.statuses.script_provisionings(None);
    let (plan, _) = estate.plan(&changed, false).await.unwrap();
    match plan.changes.as_slice() {
        [
            Change::UpdatePermissionSet {
                diffs,
                provision_to,
                ..
            },
        ] => {
            assert!(diffs.is_empty(), "the content landed: {diffs:?}");
            assert_eq!(provision_to.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    estate.apply(&changed, false).await.unwrap();
    assert!(estate.plan(&changed, false).await.unwrap().0.is_empty());
}

/// A persona limited to a pilot group: the plan tells who would gain and who would lose access
/// on each account when the pilot is lifted, from the identity store's groups now.
#[tokio::test]
async fn catalog_plan_shows_who_gains_and_loses_when_a_pilot_is_lifted() {
    let world = World::new();
    let store = format!("d-{}", random_digits(10));
    let seeder = seeder().await;
    let mut users = std::collections::HashMap::new();
    for who in ["alice", "bob", "carol"] {
        let id = seeder
            .user(&store, who, &format!("{who}@example.com"))
            .await
            .unwrap();
        users.insert(who, id);
    }
    let pilot = format!("Pilot-{}", world.org);
    let usual = format!("Acme_{}_{}_Deployers", world.org, world.nonprod);
    for (group, members) in [(&pilot, ["alice", "carol"]), (&usual, ["alice", "bob"])] {
        let group_id = seeder.group(&store, group).await.unwrap();
        for who in members {
            seeder
                .add_member(&store, &group_id, &users[who])
                .await
                .unwrap();
        }
    }
    let catalog = world.catalog(r#""secretsmanager:GetSecretValue""#).replace(
        "identity_store_id = \"d-1234567890\"",
        &format!("identity_store_id = \"{store}\""),
    ) + &format!(
        "\n[people]\nissuer = \"https://login.example.com\"\nclient_id = \"stint\"\n\
             [people.personas.Deployers]\npermission_set = \"{}\"\n\
             [pilots.Deployers]\ngroup = \"{pilot}\"\n",
        world.deployers
    );
    world.write(&catalog);
    let (code, out, err) = world.stint(&["plan", "--json"]);
    assert_eq!(code, 2, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let accounts = &plan["pilots"][0]["accounts"];
    assert_eq!(plan["pilots"][0]["pilot_group"], pilot.as_str());
    assert_eq!(accounts[0]["account"], "nonprod");
    assert_eq!(accounts[0]["gains"], serde_json::json!(["bob"]));
    assert_eq!(accounts[0]["loses"], serde_json::json!(["carol"]));
    assert_eq!(accounts[1]["account"], "prod");
    assert_eq!(accounts[1]["gains"], serde_json::json!([]));
    assert_eq!(accounts[1]["loses"], serde_json::json!(["alice", "carol"]));
    let (_, text, _) = world.stint(&["plan"]);
    assert!(
        text.contains("nonprod: give access to bob; take it from carol"),
        "{text}"
    );
}

/// A catalog without `[permission_sets]` or `[landing]` has nothing to plan, and plans it
/// without calling AWS (the endpoint here answers nothing).
#[tokio::test]
async fn catalog_without_estate_tables_plans_nothing_without_aws() {
    let world = World::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/catalog.toml");
    // Nothing listens on port 9: any AWS call would fail the plan.
    let mut command = stint_command(
        std::path::Path::new(example),
        &world.ledger_path(),
        "http://127.0.0.1:9",
    );
    let (code, stdout, stderr) = outcome(command.args(["catalog", "plan"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "No changes: AWS matches the catalog.\n");
}
