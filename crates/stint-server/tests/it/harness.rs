//! Starts the real thing for a test: a broker wired to the AWS emulator and a temporary SQLite
//! ledger, served on a loopback port, plus a seeded identity store. Every test gets its own
//! identity store id and member account ids, so tests run in parallel on one emulator.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use stint_aws::{AwsSettings, IssueRetry};
use stint_server::app::{App, Settings};

use stint_testkit::clock::ShiftedClock;
use stint_testkit::issuer::{AUDIENCE, JIT_WORKFLOW, TestIssuer};
use stint_testkit::seed::{BROKER_ROLE_ARN, PROVISIONER_ROLE, Seeder};

pub fn moto_url() -> String {
    std::env::var("STINT_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "STINT_TEST_MOTO_URL is not set: run scripts/test, or eval \"$(scripts/moto)\" first"
        )
    })
}

/// Random ids, distinct per test.
pub fn random_digits(n: usize) -> String {
    let mut digits = String::new();
    while digits.len() < n {
        digits.extend(uuid::Uuid::new_v4().as_u128().to_string().chars().skip(1));
    }
    digits.truncate(n);
    digits.replace_range(0..1, "9");
    digits
}

/// Log lines written by the server during this test process (JSON, debug level).
pub fn captured_logs() -> String {
    let buffer = LOGS.get_or_init(init_logs);
    buffer
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = LogBuffer(buffer.clone());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .try_init();
    buffer
}

pub struct Users {
    /// Member of Product-Deployers in both accounts, and of Broken in nonprod.
    pub alice: &'static str,
    /// In the directory, in no group.
    pub bob: &'static str,
    /// Member of the prod account's Product-Deployers group only.
    pub carol: &'static str,
}

pub const USERS: Users = Users {
    alice: "alice@example.com",
    bob: "bob@example.com",
    carol: "carol@example.com",
};

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub seed: Seeder,
    pub nonprod: String,
    pub prod: String,
    pub catalog_path: PathBuf,
    pub ledger_path: PathBuf,
    pub app: App,
    /// The broker's clock: real time, moved forward by tests.
    pub clock: Arc<ShiftedClock>,
    /// The identity store this test seeded, and its users' ids there.
    pub store: String,
    pub users: SeededUsers,
    _dir: tempfile::TempDir,
}

/// The identity store's user ids of `USERS`.
pub struct SeededUsers {
    pub alice: String,
    pub bob: String,
    pub carol: String,
}

fn catalog(store: &str, nonprod: &str, prod: &str, pipelines: Option<&str>) -> String {
    let prod_delivery = if pipelines.is_some_and(|p| p.contains("[oidc]")) {
        "oidc"
    } else {
        "broker"
    };
    let pipelines = pipelines.unwrap_or_default();
    format!(
        r#"
company = "Acme"
org = "Platform"
identity_store_id = "{store}"
provisioner_role_name = "{PROVISIONER_ROLE}"
pipeline_principal_arn = "{BROKER_ROLE_ARN}"
permissions_boundary_arn = "arn:aws:iam::{{account_id}}:policy/stint-boundary"

[[accounts]]
name = "workload-nonprod"
id = "{nonprod}"
environment = "nonprod"

[[accounts]]
name = "workload-prod"
id = "{prod}"
environment = "prod"
delivery = "{prod_delivery}"

[personas.Product-Deployers]
managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]
ttl = "24h"
statements = [{{ Sid = "ReadState", Effect = "Allow", Action = ["s3:GetObject"], Resource = "arn:aws:s3:::tf-state/*" }}]

[personas.Product-Deployers.prod]
managed_policies = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
ttl = "1h30m"

# Names a managed policy that does not exist: AttachRolePolicy fails after CreateRole.
[personas.Broken]
managed_policies = ["arn:aws:iam::aws:policy/StintNoSuchPolicy"]
ttl = "1h"

{pipelines}
"#
    )
}

/// The catalog part that turns on pipeline authentication against the test issuer.
fn pipeline_catalog(issuer: &str) -> String {
    format!(
        r#"
[oidc]
issuer = "{issuer}"
audience = "stint"

[[identities]]
github_actor_id = 1001
email = "{alice}"

[[identities]]
github_actor_id = 1002
email = "{bob}"

[[identities]]
github_actor_id = 1004
email = "dave@example.com"

[[pipelines]]
repository_ids = [500]
environments = ["nonprod"]
personas = ["Product-Deployers", "Broken"]

[[pipelines]]
repository_ids = [500]
environments = ["prod"]
personas = ["Product-Deployers"]
job_workflow_ref = "{JIT_WORKFLOW}"
"#,
        alice = USERS.alice,
        bob = USERS.bob,
    )
}

pub async fn spawn_app() -> TestApp {
    spawn(None).await
}

/// A broker that authenticates callers with tokens from a test issuer on loopback; the prod
/// account delivers by OIDC.
pub async fn spawn_pipeline_app() -> (TestApp, TestIssuer) {
    let issuer = TestIssuer::start().expect("test issuer");
    let app = spawn(Some(pipeline_catalog(&issuer.url))).await;
    (app, issuer)
}

/// A broker for people: `[people]` trusts a loopback OpenID provider (the test issuer) and
/// maps Product-Deployers to a permission set made in the emulator for this test. Bob and
/// carol approve production; nonprod needs no approval.
pub async fn spawn_people_app() -> PeopleApp {
    spawn_people_app_via(None).await
}

/// As `spawn_people_app`, with the broker's AWS calls through `aws_endpoint` (a proxy).
pub async fn spawn_people_app_via(aws_endpoint: Option<String>) -> PeopleApp {
    spawn_people(aws_endpoint, "").await
}

/// As `spawn_people_app`, with `extra` added to the catalog (another table; `{NONPROD}` and
/// `{PROD}` stand for the accounts' ids).
pub async fn spawn_people_app_with(extra: &str) -> PeopleApp {
    spawn_people(None, extra).await
}

/// Both of the above.
pub async fn spawn_people_app_via_with(aws_endpoint: Option<String>, extra: &str) -> PeopleApp {
    spawn_people(aws_endpoint, extra).await
}

async fn spawn_people(aws_endpoint: Option<String>, extra: &str) -> PeopleApp {
    let provider = TestIssuer::start().expect("test OpenID provider");
    let seed = Seeder::connect(&moto_url()).await;
    let permission_set_name = format!("Acme-Deployers-{}", random_digits(8));
    let permission_set_arn = seed
        .permission_set(&permission_set_name)
        .await
        .expect("permission set");
    let people = format!(
        r#"
[people]
issuer = "{issuer}"
client_id = "{AUDIENCE}"
portal_url = "https://d-1234567890.awsapps.com/start"
sso_region = "us-east-1"

[people.personas.Product-Deployers]
permission_set = "{permission_set_name}"
rules = {{ max_duration = "8h" }}
prod = {{ max_duration = "2h", approvals = 1, approver_groups = ["Acme_Platform_Prod-Approvers"], justification = true, ticket_pattern = "(INC|CHG)-[0-9]+", required_amr = ["mfa"], max_auth_age = "15m", break_glass = "30m" }}
"#,
        issuer = provider.url,
    ) + extra;
    let app = spawn_via(Some(people), aws_endpoint).await;
    let approvers = app
        .seed
        .group(&app.store, "Acme_Platform_Prod-Approvers")
        .await
        .expect("approvers group");
    for user in [&app.users.bob, &app.users.carol] {
        app.seed
            .add_member(&app.store, &approvers, user)
            .await
            .expect("approver");
    }
    PeopleApp {
        app,
        provider,
        permission_set_arn,
    }
}

/// A broker for people, the OpenID provider its people sign in with, and the permission set
/// its Product-Deployers persona assigns.
pub struct PeopleApp {
    pub app: TestApp,
    pub provider: TestIssuer,
    pub permission_set_arn: String,
}

/// How a person signed in, for the ID token the provider mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Password and a phishing-resistant second factor, just now.
    Mfa,
    /// Password only.
    Password,
}

impl PeopleApp {
    /// An ID token for `email` as the provider would mint it after a sign-in.
    pub fn id_token(&self, email: &str, sign_in: SignIn) -> stint_api::Secret {
        let amr = match sign_in {
            SignIn::Mfa => json!(["pwd", "mfa", "hwk"]),
            SignIn::Password => json!(["pwd"]),
        };
        let token = self.provider.mint(&json!({
            "iss": self.provider.url,
            "aud": AUDIENCE,
            "sub": format!("sub-{email}"),
            "email": email,
            "iat": stint_testkit::issuer::now(),
            "exp": stint_testkit::issuer::now() + 300,
            "auth_time": stint_testkit::issuer::now(),
            "amr": amr,
        }));
        stint_api::Secret::new(token)
    }

    /// The persona's permission set's inline policy, as Identity Center holds it (`""`: none).
    pub async fn inline_policy(&self) -> String {
        let sso = self.app.seed.sso_admin();
        let instance = self.app.seed.sso_instance().await.expect("instance");
        let answer = sso
            .get_inline_policy_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(&self.permission_set_arn)
            .send()
            .await
            .expect("read the inline policy");
        answer.inline_policy().unwrap_or_default().to_owned()
    }

    /// The user ids holding the persona's permission set on `account`, as the emulator
    /// lists them.
    pub async fn assigned(&self, account: &str) -> Vec<String> {
        self.app
            .seed
            .assigned_users(account, &self.permission_set_arn)
            .await
            .expect("list assignments")
    }
}

async fn spawn(pipelines: Option<String>) -> TestApp {
    spawn_via(pipelines, None).await
}

/// A broker whose AWS calls go through `aws_endpoint` (a fault-injecting proxy) instead of
/// straight to the emulator; seeding and checks still go straight.
pub async fn spawn_via(pipelines: Option<String>, aws_endpoint: Option<String>) -> TestApp {
    captured_logs();
    let endpoint = moto_url();
    let store = format!("d-{}", random_digits(10));
    let (nonprod, prod) = (random_digits(12), random_digits(12));
    let seed = Seeder::connect(&endpoint).await;
    let users = seed_world(&seed, &store, &nonprod, &prod).await;
    // Catalog additions name the accounts by placeholder: their ids are made here.
    let pipelines = pipelines.map(|p| p.replace("{NONPROD}", &nonprod).replace("{PROD}", &prod));

    let dir = tempfile::tempdir().expect("tempdir");
    let catalog_path = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog_path,
        catalog(&store, &nonprod, &prod, pipelines.as_deref()),
    )
    .expect("write catalog");
    let ledger_path = dir.path().join("ledger.db");
    let settings = Settings {
        catalog_path: catalog_path.clone(),
        ledger_path: ledger_path.clone(),
        aws: AwsSettings {
            region: "us-east-1".into(),
            endpoint_url: Some(aws_endpoint.unwrap_or(endpoint)),
        },
        issue_retry: IssueRetry::default(),
    };
    let clock = Arc::new(ShiftedClock::default());
    let app = App::build_with_clock(&settings, clock.clone())
        .await
        .expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(stint_server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    TestApp {
        url,
        http: reqwest::Client::new(),
        seed,
        nonprod,
        prod,
        catalog_path,
        ledger_path,
        app,
        clock,
        store,
        users,
        _dir: dir,
    }
}

async fn seed_world(seed: &Seeder, store: &str, nonprod: &str, prod: &str) -> SeededUsers {
    let alice = seed.user(store, "alice", USERS.alice).await.expect("alice");
    let bob = seed.user(store, "bob", USERS.bob).await.expect("bob");
    let carol = seed.user(store, "carol", USERS.carol).await.expect("carol");
    let deployers_nonprod = seed
        .group(store, &format!("Acme_Platform_{nonprod}_Product-Deployers"))
        .await
        .expect("group");
    let deployers_prod = seed
        .group(store, &format!("Acme_Platform_{prod}_Product-Deployers"))
        .await
        .expect("group");
    let broken = seed
        .group(store, &format!("Acme_Platform_{nonprod}_Broken"))
        .await
        .expect("group");
    seed.add_member(store, &deployers_nonprod, &alice)
        .await
        .expect("member");
    seed.add_member(store, &broken, &alice)
        .await
        .expect("member");
    seed.add_member(store, &deployers_prod, &alice)
        .await
        .expect("member");
    seed.add_member(store, &deployers_prod, &carol)
        .await
        .expect("member");
    seed.provisioner_role(nonprod).await.expect("provisioner");
    seed.provisioner_role(prod).await.expect("provisioner");
    SeededUsers { alice, bob, carol }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A provisioning request for alice in the nonprod account.
    pub fn request(&self, email: &str) -> Value {
        json!({
            "email": email,
            "branch": "feature/jit-42",
            "target_aws_account": "workload-nonprod",
            "target_aws_account_id": self.nonprod,
        })
    }

    /// Provisions for alice in the nonprod account through the typed client; the answer as
    /// JSON.
    pub async fn provision_alice(&self) -> Value {
        let input = stint_api::ProvisionInput {
            email: Some(USERS.alice.to_owned()),
            branch: Some("feature/jit-42".to_owned()),
            target_aws_account: Some("workload-nonprod".to_owned()),
            target_aws_account_id: Some(self.nonprod.clone()),
            group_type: None,
        };
        let answer = self
            .client()
            .provision(&input, None)
            .await
            .unwrap_or_else(|e| panic!("POST /v1/provision: {e:?}"));
        serde_json::to_value(answer).expect("json")
    }

    /// Names of the roles under /stint/ in an account, as the emulator holds them.
    pub async fn stint_roles(&self, account: &str) -> Vec<String> {
        self.seed.stint_roles(account).await.expect("list roles")
    }

    /// The managed policy ARNs the emulator holds on a role.
    pub async fn attached_policies(&self, account: &str, role: &str) -> Vec<String> {
        let iam = self.seed.iam(account).await.expect("iam");
        let out = iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .expect("list attached");
        out.attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect()
    }

    /// The typed client every client of the broker uses, pointed at this one.
    pub fn client(&self) -> stint_api::Client {
        stint_api::Client::with_http(&self.url, self.http.clone())
    }

    /// A transaction and its events, read through the typed client (so every test that looks
    /// at the ledger also checks that the client reads the API's answer), as JSON.
    /// The broker's `/metrics` page.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.url)).send().await;
        response
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn transaction(&self, id: &str) -> Value {
        let answer = self
            .client()
            .transaction(id, None)
            .await
            .unwrap_or_else(|e| panic!("GET /v1/transactions/{id}: {e:?}"));
        serde_json::to_value(answer).expect("json")
    }
}

/// The `action`s of a transaction's events, in order.
pub fn actions(transaction: &Value) -> Vec<String> {
    transaction["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["action"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A policy document as the emulator returns it: URL-encoded JSON.
pub fn decode_policy(encoded: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .expect("utf8");
    serde_json::from_str(&decoded).expect("policy json")
}

/// A transaction as `GET /v1/transactions/{id}` shows it, as far as tests read it.
#[derive(Debug, serde::Deserialize)]
pub struct TxnView {
    pub id: String,
    pub kind: stint_core::grant::Kind,
    pub state: stint_core::record::State,
    pub role_name: String,
}

/// The `stint` binary as a command with `catalog` and `ledger`, talking to `endpoint` with
/// the emulator's test credentials.
pub fn stint_command(
    catalog: &std::path::Path,
    ledger: &std::path::Path,
    endpoint: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stint"));
    command
        .env("STINT_CATALOG", catalog)
        .env("STINT_LEDGER", ledger)
        .env("STINT_AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Runs `command` to its end: exit code (-1 when killed), stdout, stderr.
pub fn outcome(command: &mut std::process::Command) -> (i32, String, String) {
    let out = command.output().expect("run stint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
