//! `stint-pipeline provision|deprovision` (and the same client as `stint pipeline …`) as a
//! GitHub Actions job runs them: the job's token comes from a loopback stand-in for
//! ACTIONS_ID_TOKEN_REQUEST_URL, and the step's outputs land in GITHUB_ENV and GITHUB_OUTPUT
//! files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use stint_testkit::issuer::{RUNNER_REQUEST_TOKEN, TestIssuer};

use crate::harness::{TestApp, moto_url, spawn_pipeline_app};

struct Step {
    code: i32,
    log: String,
}

/// Which binary a job runs: what the composite action installs, or the broker's own CLI.
#[derive(Clone, Copy)]
enum Client {
    StintPipeline,
    Stint,
}

impl Client {
    fn command(self) -> tokio::process::Command {
        match self {
            Self::StintPipeline => tokio::process::Command::new(stint_pipeline_exe()),
            Self::Stint => {
                let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_stint"));
                command.arg("pipeline");
                command
            }
        }
    }
}

/// `stint-pipeline`, another package's binary: cargo gives tests the paths of their own
/// package's binaries only, so it is found in the target directory this test runs from
/// (`target/<profile>/deps/it-…` → `target/<profile>/stint-pipeline`). scripts/test builds it
/// before the tests.
fn stint_pipeline_exe() -> PathBuf {
    let test = std::env::current_exe().expect("test executable");
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let exe = profile_dir.join(format!("stint-pipeline{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.is_file(),
        "{} is missing: run `cargo build -p stint-runner --bin stint-pipeline` first (scripts/test does)",
        exe.display()
    );
    exe
}

async fn run_step(
    client: Client,
    app: &TestApp,
    issuer: &TestIssuer,
    dir: &Path,
    args: &[&str],
    env: &HashMap<String, String>,
) -> Step {
    // Async: the broker and the issuer run on this test's runtime and must keep serving.
    let out = client
        .command()
        .args(args)
        .envs(env)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", issuer.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNNER_REQUEST_TOKEN)
        .env("GITHUB_ENV", dir.join("env"))
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_REF_NAME", "main")
        .env("STINT_URL", &app.url)
        .env("STINT_AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .await
        .unwrap();
    Step {
        code: out.status.code().unwrap_or(-1),
        log: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

/// `NAME=value` lines of a GITHUB_ENV / GITHUB_OUTPUT file.
fn read_pairs(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

async fn provision_and_deprovision(
    client: Client,
    account: &str,
    account_id_of: fn(&TestApp) -> &str,
    delivery: &str,
) {
    let (app, issuer) = spawn_pipeline_app().await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "provision",
        "--target-aws-account",
        account,
        "--target-aws-account-id",
        account_id_of(&app),
    ];
    let step = run_step(client, &app, &issuer, dir.path(), &args, &HashMap::new()).await;
    assert_eq!(step.code, 0, "{}", step.log);

    let env = read_pairs(&dir.path().join("env"));
    let output = read_pairs(&dir.path().join("output"));
    assert_eq!(output["delivery"], delivery);
    assert_eq!(env["STINT_ROLE_ARN"], output["role_arn"]);
    for secret in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ] {
        let value = &env[secret];
        assert!(!value.is_empty(), "{secret}");
        assert!(
            step.log.contains(&format!("::add-mask::{value}")),
            "{secret} not masked"
        );
        assert_eq!(
            step.log.matches(value.as_str()).count(),
            1,
            "{secret} printed unmasked: {}",
            step.log
        );
    }
    let roles = app.stint_roles(account_id_of(&app)).await;
    assert_eq!(roles, [output["role_name"].clone()]);

    // The credentials the step left behind are the temporary role's.
    let creds = aws_credential_types::Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        Some(env["AWS_SESSION_TOKEN"].clone()),
        None,
        "job",
    );
    let sdk = stint_testkit::seed::emulator_config(&moto_url(), creds).await;
    let me = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert!(
        me.arn()
            .unwrap()
            .contains(&format!("assumed-role/{}/", output["role_name"])),
        "{:?}",
        me.arn()
    );

    // The `if: always()` step: the next step sees what the first wrote to GITHUB_ENV.
    let step = run_step(client, &app, &issuer, dir.path(), &["deprovision"], &env).await;
    assert_eq!(step.code, 0, "{}", step.log);
    assert!(
        app.stint_roles(account_id_of(&app)).await.is_empty(),
        "role left behind"
    );
}

#[tokio::test]
async fn a_job_gets_broker_delivered_credentials_and_cleans_up() {
    provision_and_deprovision(
        Client::Stint,
        "workload-nonprod",
        |app| &app.nonprod,
        "broker",
    )
    .await;
}

#[tokio::test]
async fn a_job_assumes_an_oidc_delivered_role_itself_and_cleans_up() {
    provision_and_deprovision(
        Client::StintPipeline,
        "workload-prod",
        |app| &app.prod,
        "oidc",
    )
    .await;
}

#[tokio::test]
async fn a_refused_job_fails_with_the_code_and_cleanup_has_nothing_to_do() {
    let client = Client::StintPipeline;
    let (app, issuer) = spawn_pipeline_app().await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "provision",
        "--target-aws-account",
        "workload-nonprod",
        "--target-aws-account-id",
        &app.nonprod,
        "--group-type",
        "Network",
    ];
    let step = run_step(client, &app, &issuer, dir.path(), &args, &HashMap::new()).await;
    assert_eq!(step.code, 1, "{}", step.log);
    assert!(
        step.log
            .contains("::error::stint: the broker refused (unknown_persona)"),
        "{}",
        step.log
    );
    let step = run_step(
        client,
        &app,
        &issuer,
        dir.path(),
        &["deprovision"],
        &HashMap::new(),
    )
    .await;
    assert_eq!(step.code, 0, "{}", step.log);
    assert!(step.log.contains("no grant to deprovision"), "{}", step.log);
}

#[tokio::test]
async fn the_cleanup_step_gives_back_a_grant_whose_answer_was_lost() {
    let (app, issuer) = spawn_pipeline_app().await;
    // The provision reached the broker but its answer never reached the job (the broker died
    // after `provisioned`): the job has no transaction id in GITHUB_ENV.
    let token = issuer.mint(&issuer.claims());
    let body = app.pipeline_request("nonprod");
    let (status, lost) = app
        .post_as(
            "/v1/provision",
            Some(&token),
            Some("deploy"),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{lost}");
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let env = HashMap::from([("GITHUB_JOB".to_owned(), "deploy".to_owned())]);
    let step = run_step(
        Client::StintPipeline,
        &app,
        &issuer,
        dir.path(),
        &["deprovision"],
        &env,
    )
    .await;
    assert_eq!(step.code, 0, "{}", step.log);
    let id = lost["transaction_id"].as_str().unwrap();
    assert!(
        step.log.contains(&format!("deprovisioned {id}")),
        "{}",
        step.log
    );
    assert!(
        app.stint_roles(&app.nonprod).await.is_empty(),
        "the role is gone at once, not at its expiry"
    );
}
