//! The `stint` binary: provision, show, deprovision and audit from the command line.

use std::process::Command;

use serde_json::Value;

use crate::harness::{TestApp, USERS, moto_url, spawn_app};

fn stint(app: &TestApp, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stint"))
        .args(args)
        .env("STINT_CATALOG", &app.catalog_path)
        .env("STINT_LEDGER", &app.ledger_path)
        .env("STINT_AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run stint");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(
        stdout
            .lines()
            .take_while(|l| !l.starts_with("intact") && !l.starts_with("TAMPERED"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        stdout + &String::from_utf8_lossy(&out.stderr),
    )
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
