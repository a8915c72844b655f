//! The Lambda handlers, called directly against the emulator: the pipeline contract's JSON in and out,
//! the HTTP API's codes for refusals, a retried invocation getting the first grant back (and
//! no second role), deprovisioning twice, the give-back of a job, and the scheduled reaper.

use serde_json::{Value, json};
use stint_server::lambda::{Function, handle};

use crate::harness::spawn_pipeline_app;

#[tokio::test]
async fn provision_retry_deprovision_and_reap_through_the_handlers() {
    let (app, issuer) = spawn_pipeline_app().await;
    let event = json!({
        "id_token": issuer.mint(&issuer.claims()),
        "job": "deploy",
        "email": "alice@example.com",
        "branch": "main",
        "target_aws_account": "workload-nonprod",
        "target_aws_account_id": app.nonprod,
        "group_type": "Product-Deployers",
    });
    let first = handle(&app.app, Function::Provision, event.clone()).await;
    assert_eq!(first["status"], "provisioned", "{first}");
    for field in [
        "transaction_id",
        "iam_role_arn",
        "role_name",
        "role_ttl_hours",
        "expires_at",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }

    // The same event again (same token): a replay, refused; no second role.
    let replayed = handle(&app.app, Function::Provision, event.clone()).await;
    assert_eq!(replayed["error"]["code"], "token_replayed", "{replayed}");
    // The workflow sends again with a fresh token for the same run and job: the same grant,
    // with a fresh session (no answer, and so no credential, is stored to be replayed).
    let mut resent = event.clone();
    resent["id_token"] = json!(issuer.mint(&issuer.claims()));
    let again = handle(&app.app, Function::Provision, resent).await;
    for field in ["transaction_id", "iam_role_arn", "role_name", "expires_at"] {
        assert_eq!(again[field], first[field], "{field}: {again}");
    }
    assert!(again["credentials"]["access_key_id"].is_string(), "{again}");
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 1);

    let deprovision = |token: String| {
        json!({
            "id_token": token, "job": "deploy",
            "transaction_id": first["transaction_id"], "target_aws_account": "workload-nonprod",
            "role_arn": first["iam_role_arn"],
        })
    };
    let done = handle(
        &app.app,
        Function::Deprovision,
        deprovision(issuer.mint(&issuer.claims())),
    )
    .await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["already_deprovisioned"].as_bool()
        ),
        (Some("deprovisioned"), Some(false)),
        "{done}"
    );
    assert!(app.stint_roles(&app.nonprod).await.is_empty());
    // A later run deprovisioning the same grant: safe, and it says so.
    let later = issuer.mint_with(|c| c["run_id"] = json!("9002"));
    let again = handle(&app.app, Function::Deprovision, deprovision(later)).await;
    assert_eq!(
        (
            again["status"].as_str(),
            again["already_deprovisioned"].as_bool()
        ),
        (Some("deprovisioned"), Some(true)),
        "{again}"
    );

    let reaped = handle(&app.app, Function::Reap, Value::Null).await;
    assert_eq!(
        reaped,
        json!({ "expired": 0, "stuck": 0, "orphans": 0, "errors": 0 })
    );
}

#[tokio::test]
async fn refusals_carry_the_http_apis_codes_and_create_nothing() {
    let (app, issuer) = spawn_pipeline_app().await;
    let request = |token: Option<String>| {
        let mut event = json!({
            "branch": "main", "target_aws_account": "workload-nonprod", "target_aws_account_id": app.nonprod,
        });
        if let Some(token) = token {
            event["id_token"] = json!(token);
        }
        event
    };
    let cases = [
        (request(None), "missing_token"),
        (
            request(Some(stint_testkit::issuer::forged(&issuer.claims()))),
            "bad_signature",
        ),
        (
            request(Some(
                issuer.mint_with(|c| c["repository_id"] = json!("501")),
            )),
            "repository_not_allowed",
        ),
        (
            request(Some(issuer.mint_with(|c| c["actor_id"] = json!("1002")))),
            "not_a_member",
        ),
        (
            json!({"id_token": issuer.mint(&issuer.claims()), "emial": "typo"}),
            "malformed_request",
        ),
    ];
    for (event, code) in cases {
        let answer = handle(&app.app, Function::Provision, event).await;
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["status"], "rejected", "{answer}");
    }
    assert!(app.stint_roles(&app.nonprod).await.is_empty());
}

#[tokio::test]
async fn a_deprovision_event_without_an_id_gives_back_the_job() {
    let (app, issuer) = spawn_pipeline_app().await;
    let provision = |job: &str| {
        json!({
            "id_token": issuer.mint(&issuer.claims()), "job": job, "branch": "main",
            "target_aws_account": "workload-nonprod", "target_aws_account_id": app.nonprod,
        })
    };
    let mine = handle(&app.app, Function::Provision, provision("deploy")).await;
    assert_eq!(mine["status"], "provisioned", "{mine}");
    let theirs = handle(&app.app, Function::Provision, provision("other")).await;
    assert_eq!(theirs["status"], "provisioned", "{theirs}");

    let event = json!({ "id_token": issuer.mint(&issuer.claims()), "job": "deploy" });
    let given = handle(&app.app, Function::Deprovision, event).await;
    assert_eq!(given["status"], "deprovisioned", "{given}");
    assert_eq!(
        given["deprovisioned"][0]["original_transaction_id"], mine["transaction_id"],
        "{given}"
    );
    assert_eq!(
        app.stint_roles(&app.nonprod).await,
        vec![theirs["role_name"].as_str().unwrap().to_owned()]
    );
}
