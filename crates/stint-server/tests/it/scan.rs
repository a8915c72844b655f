//! `stint scan` against the emulator: planted findings (an old key, a `*` trust, an OIDC role
//! without `sub`, an escalation path, an unused role, an orphaned stint role) found, clean
//! resources and a live grant's role not flagged; the CLI's table, JSON and SARIF; `stint lint
//! catalog`; and a remediation plan applied and undone, read back from the emulator. Key age
//! and "unused" are judged through the clock port (the emulator cannot back-date a key).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use stint_aws::{AwsCallCounter, AwsSettings, MemberSessions};
use stint_core::lint::{Finding, Plan, plan};
use stint_core::ports::Clock;
use stint_core::remediation::{Remediation, RemediationLedger};
use stint_server::scan_cli::{ScanOutcome, Scanner, apply_plan, undo_change};

use crate::harness::{TestApp, moto_url, outcome, spawn_app, stint_command};

const DAY: Duration = Duration::from_secs(86_400);

fn doc(statements: Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

fn open_trust() -> String {
    doc(json!([{ "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole" }]))
}

fn github_trust_without_sub(account: &str) -> String {
    doc(
        json!([{ "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com") },
        "Condition": { "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" } } }]),
    )
}

fn clean_trust(account: &str) -> String {
    stint_core::lint::locked_trust_policy(account)
}

/// Plants the findings and the clean resources in the nonprod account.
async fn plant(app: &TestApp) {
    let account = &app.nonprod;
    let iam = app.seed.iam(account).await.expect("iam");
    iam.create_user()
        .user_name("legacy-ci")
        .send()
        .await
        .expect("user");
    iam.create_access_key()
        .user_name("legacy-ci")
        .send()
        .await
        .expect("key");
    for (name, trust) in [
        ("open-door", open_trust()),
        ("gha-any-repo", github_trust_without_sub(account)),
        ("escalator", clean_trust(account)),
        ("tidy", clean_trust(account)),
        ("standing-admin", clean_trust(account)),
    ] {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("role");
    }
    let escalation = doc(json!([{ "Effect": "Allow",
        "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*" }]));
    iam.put_role_policy()
        .role_name("escalator")
        .policy_name("deploy")
        .policy_document(escalation)
        .send()
        .await
        .expect("escalation policy");
    let scoped = doc(
        json!([{ "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::acme-artifacts/*" }]),
    );
    iam.put_role_policy()
        .role_name("tidy")
        .policy_name("artifacts")
        .policy_document(scoped)
        .send()
        .await
        .expect("scoped policy");
    iam.attach_role_policy()
        .role_name("tidy")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("attach");
    iam.attach_role_policy()
        .role_name("standing-admin")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("attach admin");
    // A stint role no grant holds (as a crash between CreateRole and the ledger would leave).
    iam.create_role()
        .role_name("stint-orphan")
        .path("/stint/")
        .assume_role_policy_document(clean_trust(account))
        .send()
        .await
        .expect("orphan");
}

async fn scanner_sessions() -> (MemberSessions, AwsCallCounter) {
    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&aws).await;
    let calls = AwsCallCounter::default();
    (
        MemberSessions::new(&sdk, calls.clone(), "stint-auditor", None),
        calls,
    )
}

async fn scan(app: &TestApp, unused_days: u64) -> ScanOutcome {
    let (sessions, calls) = scanner_sessions().await;
    let cases = &app.app.ops.cases;
    let scanner = Scanner {
        catalog: &cases.catalog,
        journal: &cases.journal,
        clock: app.clock.as_ref(),
        sessions,
        calls,
        analyzer: None,
    };
    let account = stint_core::ids::AccountId::parse(&app.nonprod).expect("account");
    scanner.scan(&[account], unused_days).await
}

/// The rules found on resources whose ARN contains `name`.
fn rules_on(findings: &[Finding], name: &str) -> BTreeSet<&'static str> {
    findings
        .iter()
        .filter(|f| f.resource.contains(name))
        .map(|f| f.rule)
        .collect()
}

fn set(rules: &[&'static str]) -> BTreeSet<&'static str> {
    rules.iter().copied().collect()
}

#[tokio::test]
async fn scan_finds_the_planted_findings_and_leaves_clean_resources_and_live_grants_alone() {
    let app = spawn_app().await;
    plant(&app).await;
    let live = app.provision_alice().await;
    let live_role = live["role_name"].as_str().expect("role name").to_owned();

    let today = scan(&app, 90).await;
    assert!(today.errors.is_empty(), "{:?}", today.errors);
    let f = &today.findings;
    assert_eq!(
        rules_on(f, "access-key/"),
        set(&["STINT-K001"]),
        "a fresh key is only active"
    );
    assert_eq!(rules_on(f, "role/open-door"), set(&["STINT-T001"]));
    assert_eq!(rules_on(f, "role/gha-any-repo"), set(&["STINT-T003"]));
    assert_eq!(
        rules_on(f, "role/escalator"),
        set(&["STINT-P003", "STINT-P006"])
    );
    assert_eq!(rules_on(f, "role/stint/stint-orphan"), set(&["STINT-S001"]));
    assert!(rules_on(f, "role/tidy").is_empty(), "{f:#?}");
    assert_eq!(rules_on(f, "role/standing-admin"), set(&["STINT-P001"]));
    assert!(
        rules_on(f, &live_role).is_empty(),
        "a live grant's role: {f:#?}"
    );
    assert!(rules_on(f, "stint-provisioner").is_empty(), "{f:#?}");
    assert!(
        f.iter()
            .all(|x| x.account.as_deref() == Some(app.nonprod.as_str()))
    );
    let escalation = f
        .iter()
        .find(|x| x.rule == "STINT-P006")
        .expect("escalation");
    assert!(
        escalation.evidence.contains("CreateEC2WithExistingIP"),
        "{}",
        escalation.evidence
    );

    // A hundred days on, the never-used key and the never-used roles are stale.
    app.clock.advance(100 * DAY);
    let later = scan(&app, 90).await;
    let f = &later.findings;
    assert_eq!(rules_on(f, "access-key/"), set(&["STINT-K002"]));
    let key = f
        .iter()
        .find(|x| x.rule == "STINT-K002")
        .expect("stale key");
    assert!(
        key.evidence.contains("100 days old, never used"),
        "{}",
        key.evidence
    );
    assert!(rules_on(f, "user/legacy-ci").contains("STINT-U002"));
    assert!(rules_on(f, "role/tidy").contains("STINT-U001"), "{f:#?}");
    assert!(later.resources >= 8 && later.aws_calls > 0);
}

/// The remediation record writer over the test broker's own ledger and clock.
fn remediation_ledger(app: &TestApp) -> RemediationLedger {
    RemediationLedger {
        ledger: app.app.ops.cases.journal.ledger.clone(),
        clock: app.clock.clone(),
        actor: "operator:test".to_owned(),
    }
}

fn stint(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let mut command = stint_command(&app.catalog_path, &app.ledger_path, &moto_url());
    outcome(command.args(args))
}

#[tokio::test]
async fn scan_cli_prints_a_table_json_and_sarif_and_fails_on_a_severity() {
    let app = spawn_app().await;
    plant(&app).await;
    let nonprod = app.nonprod.clone();

    let (code, table, err) = stint(&app, &["scan", "--account", &nonprod]);
    assert_eq!(code, 0, "{err}");
    assert!(table.starts_with("SEVERITY"), "{table}");
    assert!(
        table.contains("T001") && table.contains("role/open-door"),
        "{table}"
    );
    assert!(err.contains("finding(s) in 1 account(s)"), "{err}");

    let (code, json_out, err) = stint(
        &app,
        &["scan", "--account", "workload-nonprod", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let body: Value = serde_json::from_str(&json_out).expect("json");
    let rules: BTreeSet<&str> = body["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    for rule in [
        "STINT-T001",
        "STINT-T003",
        "STINT-P006",
        "STINT-S001",
        "STINT-K001",
    ] {
        assert!(rules.contains(rule), "{rule} missing from {rules:?}");
    }
    assert_eq!(body["accounts"], json!([nonprod]));

    let (code, sarif_out, err) = stint(&app, &["scan", "--account", &nonprod, "--format", "sarif"]);
    assert_eq!(code, 0, "{err}");
    let sarif: Value = serde_json::from_str(&sarif_out).expect("sarif json");
    assert_sarif_shape(&sarif);

    let (code, _, _) = stint(
        &app,
        &["scan", "--account", &nonprod, "--fail-on", "critical"],
    );
    assert_eq!(code, 1, "a critical finding fails the run");
    let (code, _, err) = stint(&app, &["scan", "--account", "no-such-account"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an account of the catalog"), "{err}");
}

/// What GitHub code scanning requires of an upload (SARIF 2.1.0): the version and schema, a
/// driver with rules, and results with a rule id known to the driver, a message, a location
/// with an artifact URI and a region, and a fingerprint.
fn assert_sarif_shape(sarif: &Value) {
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0"))
    );
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "stint");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    for rule in rules {
        let severity: f64 = rule["properties"]["security-severity"]
            .as_str()
            .expect("severity")
            .parse()
            .expect("number");
        assert!((0.0..=10.0).contains(&severity));
        assert!(rule["shortDescription"]["text"].is_string() && rule["help"]["text"].is_string());
    }
    let results = run["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for result in results {
        let id = result["ruleId"].as_str().expect("rule id");
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(ids[index], id);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().expect("level")));
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let location = &result["locations"][0]["physicalLocation"];
        assert!(
            location["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("aws/"))
        );
        assert_eq!(location["region"]["startLine"], 1);
        assert!(
            result["partialFingerprints"]["stintFinding/v1"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
    }
}

#[tokio::test]
async fn lint_catalog_refuses_a_prod_persona_at_the_threshold() {
    let app = spawn_app().await;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/catalog.toml");
    let (code, out, err) = stint(&app, &["--catalog", example, "lint", "catalog"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("P006"), "{out}");
    let (code, out, err) = stint(
        &app,
        &[
            "--catalog",
            example,
            "lint",
            "catalog",
            "--refuse-at",
            "high",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("prod persona Product-Deployers refused"),
        "{err}"
    );
    let findings: Value = serde_json::from_str(&out).expect("json");
    assert!(
        findings
            .as_array()
            .expect("list")
            .iter()
            .any(|f| f["rule"] == "STINT-C001")
    );
    // The same gate under the catalog's own commands.
    let (code, _, err) = stint(
        &app,
        &[
            "--catalog",
            example,
            "catalog",
            "lint",
            "--refuse-at",
            "high",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("prod persona Product-Deployers refused"),
        "{err}"
    );
}

/// A prod persona whose own policy has a critical finding (`Action: *` on `*`) is not served:
/// the broker refuses to start on that catalog and names the persona.
#[tokio::test]
async fn a_catalog_with_a_critical_prod_persona_is_refused_at_load() {
    let example = include_str!("../../../../examples/catalog.toml");
    let from = r#"Action = ["ecs:UpdateService", "ecs:RegisterTaskDefinition", "lambda:UpdateFunctionCode"]"#;
    assert!(example.contains(from));
    let wide = example.replacen(from, r#"Action = "*""#, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog_path = dir.path().join("catalog.toml");
    std::fs::write(&catalog_path, wide).expect("write catalog");
    let settings = stint_server::app::Settings {
        catalog_path,
        ledger_path: dir.path().join("ledger.db"),
        aws: stint_aws::AwsSettings {
            region: "us-east-1".into(),
            endpoint_url: Some(crate::harness::moto_url()),
        },
        issue_retry: stint_aws::IssueRetry::default(),
    };
    let refused = stint_server::app::App::build(&settings).await.err();
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("prod persona(s) Product-Deployers have a critical policy finding"),
        "{message:?}"
    );
}

async fn trust_of(app: &TestApp, role: &str) -> Value {
    let iam = app.seed.iam(&app.nonprod).await.expect("iam");
    let out = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role");
    let encoded = out
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust");
    crate::harness::decode_policy(encoded)
}

async fn key_statuses(app: &TestApp) -> Vec<(String, String)> {
    let iam = app.seed.iam(&app.nonprod).await.expect("iam");
    let out = iam
        .list_access_keys()
        .user_name("legacy-ci")
        .send()
        .await
        .expect("keys");
    out.access_key_metadata()
        .iter()
        .map(|k| {
            let id = k.access_key_id().unwrap_or_default().to_owned();
            (
                id,
                k.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_plan_is_applied_exactly_then_undone_and_keys_are_deleted_only_after_the_grace_period() {
    let app = spawn_app().await;
    plant(&app).await;
    app.clock.advance(100 * DAY);
    let outcome = scan(&app, 90).await;
    let planned: Plan = plan(
        &outcome.findings,
        &outcome.inventories,
        Clock::now(app.clock.as_ref()),
        14 * DAY,
    );
    let described: Vec<String> = planned
        .changes
        .iter()
        .map(|c| c.action.describe())
        .collect();
    let has = |text: &str| described.iter().any(|d| d.contains(text));
    assert!(
        has("deactivate access key") && has("delete access key"),
        "{described:?}"
    );
    assert!(
        has("role open-door") && has("role gha-any-repo"),
        "{described:?}"
    );
    assert!(
        has("detach arn:aws:iam::aws:policy/ReadOnlyAccess from unused role tidy"),
        "{described:?}"
    );
    assert!(
        !has("role escalator") && !has("role tidy with"),
        "{described:?}"
    );

    let journal = remediation_ledger(&app);
    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&aws).await;
    let admin = MemberSessions::new(
        &sdk,
        AwsCallCounter::default(),
        "OrganizationAccountAccessRole",
        None,
    );
    let original_trust = trust_of(&app, "open-door").await;

    let first = apply_plan(&planned, &admin, &journal).await.expect("apply");
    let outcomes: Vec<(&str, &str)> = first
        .iter()
        .map(|e| (e.change.id.as_str(), e.outcome.as_str()))
        .collect();
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| *o == "applied" || *o == "waiting"),
        "{outcomes:?}"
    );
    assert_eq!(
        first.iter().filter(|e| e.outcome == "waiting").count(),
        1,
        "the delete waits"
    );
    let keys = key_statuses(&app).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].1, "Inactive");
    let locked = trust_of(&app, "open-door").await;
    assert_eq!(locked["Statement"][0]["Sid"], "IdentityCenterOnly");
    assert_eq!(
        locked["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{}:root", app.nonprod)
    );
    assert!(app.attached_policies(&app.nonprod, "tidy").await.is_empty());
    // Untouched: what the plan does not name.
    assert_eq!(app.stint_roles(&app.nonprod).await, ["stint-orphan"]);

    // Past the grace period the delete runs; nothing applied before runs again.
    app.clock.advance(15 * DAY);
    let second = apply_plan(&planned, &admin, &journal)
        .await
        .expect("apply again");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].outcome, "applied");
    assert!(key_statuses(&app).await.is_empty(), "the key is gone");
    // Every step is an event of the plan's ledger record, `applying` before each AWS call
    // with what it replaces.
    let events = app
        .app
        .ops
        .cases
        .journal
        .ledger
        .events(&Remediation::id_for(&planned.created))
        .await
        .expect("events");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let applying = actions
        .iter()
        .filter(|a| **a == "remediation_applying")
        .count();
    let applied = actions
        .iter()
        .filter(|a| **a == "remediation_applied")
        .count();
    assert_eq!(applying, planned.changes.len(), "{actions:?}");
    assert_eq!(applied, planned.changes.len(), "{actions:?}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "remediation_waiting")
            .count(),
        1
    );
    let trust_step = events
        .iter()
        .find(|e| e.action.as_str() == "remediation_applying" && e.reason.contains("open-door"))
        .expect("trust step");
    assert_eq!(trust_step.data["previous"]["was"], "trust_policy");
    assert_eq!(
        serde_json::from_str::<Value>(
            trust_step.data["previous"]["document"]
                .as_str()
                .expect("doc")
        )
        .expect("json"),
        original_trust
    );

    let trust_change = planned
        .changes
        .iter()
        .find(|c| c.action.describe().contains("open-door"))
        .expect("change");
    let undone = undo_change(&trust_change.id, &admin, &journal)
        .await
        .expect("undo");
    assert_eq!(undone.outcome, "undone");
    assert_eq!(trust_of(&app, "open-door").await, original_trust);
    let detach = planned
        .changes
        .iter()
        .find(|c| c.action.describe().contains("detach"))
        .expect("detach");
    undo_change(&detach.id, &admin, &journal)
        .await
        .expect("undo detach");
    assert_eq!(
        app.attached_policies(&app.nonprod, "tidy").await,
        ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    );
    let again = undo_change(&trust_change.id, &admin, &journal).await;
    assert!(again.is_err(), "a change is undone once");
    let delete = planned
        .changes
        .iter()
        .find(|c| c.action.describe().starts_with("delete"))
        .expect("delete");
    let refused = undo_change(&delete.id, &admin, &journal)
        .await
        .expect("journaled");
    assert_eq!(refused.outcome, "undo_failed");
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot be restored"))
    );
}

/// A loopback stand-in for IAM Access Analyzer (the emulator has none), answering
/// ListAnalyzers and ListFindingsV2 with the shapes AWS documents (restJson1, ISO 8601
/// times), findings over two pages. It keeps every ListFindingsV2 request body it gets.
mod analyzer_stand_in {
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::Router;
    use axum::extract::State;
    use axum::routing::{get, post};
    use serde_json::{Value, json};

    /// The requests seen, then the first and the second page of findings.
    type Pages = Arc<(Arc<Mutex<Vec<Value>>>, Value, Value)>;

    pub struct StandIn {
        pub url: String,
        pub requests: Arc<Mutex<Vec<Value>>>,
    }

    fn finding(id: &str, kind: &str, resource: &str, resource_type: &str, account: &str) -> Value {
        json!({
            "id": id, "findingType": kind, "resource": resource, "resourceType": resource_type,
            "resourceOwnerAccount": account, "status": "ACTIVE",
            "analyzedAt": "2026-12-01T10:00:00Z", "createdAt": "2026-12-01T10:00:00Z",
            "updatedAt": "2026-12-01T10:00:00Z",
        })
    }

    pub async fn start(admin: &str, scanned: &str, other: &str) -> StandIn {
        let analyzers = json!({ "analyzers": [
            { "arn": format!("arn:aws:access-analyzer:us-east-1:{admin}:analyzer/org-external"),
              "name": "org-external", "type": "ORGANIZATION", "status": "ACTIVE",
              "createdAt": "2026-11-01T00:00:00Z" },
            { "arn": format!("arn:aws:access-analyzer:us-east-1:{admin}:analyzer/org-unused"),
              "name": "org-unused", "type": "ORGANIZATION_UNUSED_ACCESS", "status": "CREATING",
              "createdAt": "2026-11-01T00:00:00Z" },
        ]});
        let first = json!({ "findings": [
            finding("f-role", "ExternalAccess", &format!("arn:aws:iam::{scanned}:role/open-door"), "AWS::IAM::Role", scanned),
            finding("f-bucket", "ExternalAccess", "arn:aws:s3:::acme-shared-exports", "AWS::S3::Bucket", scanned),
        ], "nextToken": "page-2" });
        let second = json!({ "findings": [
            finding("f-key", "UnusedIAMUserAccessKey", &format!("arn:aws:iam::{scanned}:user/legacy-ci"), "AWS::IAM::User", scanned),
            finding("f-elsewhere", "ExternalAccess", "arn:aws:s3:::not-scanned", "AWS::S3::Bucket", other),
        ]});
        let requests = Arc::new(Mutex::new(Vec::new()));
        let pages = Arc::new((requests.clone(), first, second));
        let app = Router::new()
            .route(
                "/analyzer",
                get(move || async move { Json(analyzers.clone()) }),
            )
            .route(
                "/findingv2",
                post(
                    |State(pages): State<Pages>, Json(body): Json<Value>| async move {
                        let next = body["nextToken"].as_str() == Some("page-2");
                        if let Ok(mut seen) = pages.0.lock() {
                            seen.push(body);
                        }
                        Json(if next {
                            pages.2.clone()
                        } else {
                            pages.1.clone()
                        })
                    },
                ),
            )
            .with_state(pages);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn { url, requests }
    }
}

#[tokio::test]
async fn access_analyzer_findings_are_read_merged_and_deduplicated() {
    let app = spawn_app().await;
    plant(&app).await;
    app.clock.advance(100 * DAY);
    let stand_in = analyzer_stand_in::start(&app.prod, &app.nonprod, "111122223333").await;
    let (sessions, calls) = scanner_sessions().await;
    let cases = &app.app.ops.cases;
    let admin = stint_core::ids::AccountId::parse(&app.prod).expect("account");
    let scanner = Scanner {
        catalog: &cases.catalog,
        journal: &cases.journal,
        clock: app.clock.as_ref(),
        sessions,
        calls,
        analyzer: Some((admin, Some(stand_in.url.clone()))),
    };
    let account = stint_core::ids::AccountId::parse(&app.nonprod).expect("account");
    let outcome = scanner.scan(&[account], 90).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        outcome.analyzer_findings, 3,
        "the other account's finding is dropped"
    );

    let f = &outcome.findings;
    let tools = |rule: &str| -> Vec<&str> {
        f.iter()
            .filter(|x| x.rule == rule)
            .map(|x| x.tool)
            .collect()
    };
    assert_eq!(
        tools("STINT-T001"),
        ["stint+access-analyzer"],
        "one finding for the open role"
    );
    assert_eq!(
        tools("STINT-K002"),
        ["stint+access-analyzer"],
        "one finding for the stale key"
    );
    assert_eq!(tools("STINT-A001"), ["access-analyzer"]);
    let bucket = f.iter().find(|x| x.rule == "STINT-A001").expect("bucket");
    assert_eq!(bucket.resource, "arn:aws:s3:::acme-shared-exports");
    assert!(!f.iter().any(|x| x.resource.contains("not-scanned")));

    // Only the active analyzer was asked, for active findings, and both pages were read.
    let requests = stand_in.requests.lock().expect("requests").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for body in &requests {
        assert!(
            body["analyzerArn"]
                .as_str()
                .is_some_and(|a| a.ends_with("analyzer/org-external"))
        );
        assert_eq!(body["filter"]["status"]["eq"], json!(["ACTIVE"]));
    }
}

#[tokio::test]
async fn a_change_cut_off_after_its_aws_call_is_finished_with_the_state_it_first_replaced() {
    let app = spawn_app().await;
    plant(&app).await;
    let outcome = scan(&app, 90).await;
    let full = plan(
        &outcome.findings,
        &outcome.inventories,
        Clock::now(app.clock.as_ref()),
        14 * DAY,
    );
    let change = full
        .changes
        .iter()
        .find(|c| c.action.describe().contains("role open-door"))
        .expect("trust change")
        .clone();
    let only = Plan {
        changes: vec![change.clone()],
        ..full.clone()
    };
    let original = trust_of(&app, "open-door").await;

    // The crashed run: recorded `applying` with the original, made the change, died.
    let journal = remediation_ledger(&app);
    let mut applying = stint_core::remediation::Entry::new(
        &only.created,
        &change,
        "applying",
        Clock::now(app.clock.as_ref()),
    );
    applying.previous = Some(stint_core::lint::Previous::TrustPolicy {
        document: original.to_string(),
    });
    let record = journal.load(&only.created).await.expect("load");
    journal.record(&record, applying).await.expect("record");
    let stint_core::lint::Action::ReplaceTrust { document, .. } = &change.action else {
        panic!("not a trust change");
    };
    let iam = app.seed.iam(&app.nonprod).await.expect("iam");
    iam.update_assume_role_policy()
        .role_name("open-door")
        .policy_document(document)
        .send()
        .await
        .expect("update");

    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&aws).await;
    let admin = MemberSessions::new(
        &sdk,
        AwsCallCounter::default(),
        "OrganizationAccountAccessRole",
        None,
    );
    let done = apply_plan(&only, &admin, &journal).await.expect("apply");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome, "applied");
    let undone = undo_change(&change.id, &admin, &journal)
        .await
        .expect("undo");
    assert_eq!(undone.outcome, "undone");
    assert_eq!(
        trust_of(&app, "open-door").await,
        original,
        "the original, not the locked one"
    );
}
