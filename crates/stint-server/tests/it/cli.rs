//! The `stint` binary: provision, show, deprovision and audit from the command line.

use std::process::Command;

use serde_json::Value;

use crate::harness::{TestApp, USERS, moto_url, outcome, spawn_app, stint_command};

fn stint(app: &TestApp, args: &[&str]) -> (i32, Value, String) {
    let mut command = stint_command(&app.catalog_path, &app.ledger_path, &moto_url());
    let (code, stdout, stderr) = outcome(command.args(args));
    let json = serde_json::from_str(
        stdout
            .lines()
            .take_while(|l| !l.starts_with("intact") && !l.starts_with("TAMPERED"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap_or(Value::Null);
    (code, json, stdout + &stderr)
}

#[tokio::test]
async fn the_cli_provisions_shows_deprovisions_and_verifies() {
    let app = spawn_app().await;
    let (code, provisioned, output) = stint(
        &app,
        &[
            "provision",
            "--email",
            USERS.alice,
            "--branch",
            "main",
            "--target-aws-account",
            "workload-nonprod",
            "--target-aws-account-id",
            &app.nonprod,
        ],
    );
    assert_eq!(code, 0, "{output}");
    assert_eq!(provisioned["status"], "provisioned");
    let id = provisioned["transaction_id"].as_str().unwrap();
    assert_eq!(
        app.stint_roles(&app.nonprod).await,
        [provisioned["role_name"].as_str().unwrap()]
    );

    let (code, shown, output) = stint(&app, &["transactions", "show", id]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(shown["transaction"]["state"], "provisioned");

    let role_arn = provisioned["iam_role_arn"].as_str().unwrap();
    let args = [
        "deprovision",
        "--transaction-id",
        id,
        "--target-aws-account",
        "workload-nonprod",
        "--role-arn",
        role_arn,
    ];
    let (code, done, output) = stint(&app, &args);
    assert_eq!(
        (code, done["status"].as_str()),
        (0, Some("deprovisioned")),
        "{output}"
    );
    assert!(app.stint_roles(&app.nonprod).await.is_empty());

    let (code, refused, _) = stint(
        &app,
        &[
            "provision",
            "--email",
            USERS.bob,
            "--branch",
            "main",
            "--target-aws-account",
            "workload-nonprod",
            "--target-aws-account-id",
            &app.nonprod,
        ],
    );
    assert_eq!(
        (code, refused["error"]["code"].as_str()),
        (1, Some("not_a_member"))
    );

    let (code, _, output) = stint(&app, &["audit", "verify"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("intact"), "{output}");
    rusqlite::Connection::open(&app.ledger_path)
        .unwrap()
        .execute(
            "UPDATE events SET reason = 'nothing happened' WHERE seq = 2",
            [],
        )
        .unwrap();
    let (code, _, output) = stint(&app, &["audit", "verify"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("event 2 was edited"), "{output}");
}

#[tokio::test]
async fn serve_refuses_a_non_loopback_address() {
    let app = spawn_app().await;
    let (code, _, output) = stint(&app, &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("loopback only"), "{output}");
}

/// `stint` with only what a fresh machine gives it: no AWS credentials anywhere (an empty
/// home, no environment, no instance metadata), and the emulator as its endpoint.
/// Exit code, the answer (stdout) and the log (stderr).
fn stint_without_credentials(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stint"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("STINT_CATALOG", &app.catalog_path)
        .env("STINT_LEDGER", &app.ledger_path)
        .env("STINT_AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run stint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn without_aws_credentials_the_answer_says_so_once_and_where_stint_looked() {
    let app = spawn_app().await;
    let (code, answer, log) = stint_without_credentials(
        &app,
        &[
            "provision",
            "--email",
            USERS.alice,
            "--branch",
            "main",
            "--target-aws-account",
            "workload-nonprod",
            "--target-aws-account-id",
            &app.nonprod,
        ],
    );
    assert_ne!(code, 0, "{answer}{log}");
    let message = serde_json::from_str::<Value>(&answer).unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    // Said once, with where stint looked; the SDK's internals stay in the log.
    assert_eq!(
        message.matches("no AWS credentials found").count(),
        1,
        "{message}"
    );
    assert!(message.contains("~/.aws/credentials"), "{message}");
    for internal in [
        "DispatchFailure",
        "ConstructionFailure",
        "CredentialsError",
        "{ ",
    ] {
        assert!(!message.contains(internal), "{internal} in: {message}");
    }
}

/// `stint ledger init dynamodb://TABLE` makes the table as the CloudFormation does, twice is
/// safe, and a broker pointed at a table that does not exist says how to make it.
#[tokio::test]
async fn ledger_init_makes_the_dynamodb_table_and_a_missing_one_says_how() {
    let app = spawn_app().await;
    let table = format!("stint-init-{}", crate::harness::random_digits(8));
    let ledger = format!("dynamodb://{table}");

    let (code, missing, output) = stint(
        &app,
        &[
            "--ledger",
            &ledger,
            "transactions",
            "show",
            "01a242e5-6e19-76d9-add7-768ab83d959d",
        ],
    );
    assert_ne!(code, 0, "{missing} {output}");
    assert!(
        output.contains(&format!(
            "the DynamoDB table {table} does not exist: create it with `stint ledger init {ledger}`"
        )),
        "{output}"
    );

    let (code, made, output) = stint(&app, &["ledger", "init", &ledger]);
    assert_eq!(
        (code, made["outcome"].as_str()),
        (0, Some("created")),
        "{output}"
    );
    let (code, again, output) = stint(&app, &["ledger", "init", &ledger]);
    assert_eq!(
        (code, again["outcome"].as_str()),
        (0, Some("already there")),
        "{output}"
    );

    let dynamo = aws_sdk_dynamodb::Client::new(&app.seed.sdk);
    let described = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    assert_eq!(described.deletion_protection_enabled(), Some(true));
    let mut indexes: Vec<_> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["by_expiry", "by_update"]);
    let ttl = dynamo
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("ttl")
    );

    // The broker now runs on it.
    let (code, _, output) = stint(
        &app,
        &[
            "--ledger",
            &ledger,
            "provision",
            "--email",
            USERS.alice,
            "--branch",
            "main",
            "--target-aws-account",
            "workload-nonprod",
            "--target-aws-account-id",
            &app.nonprod,
        ],
    );
    assert_eq!(code, 0, "{output}");
}
