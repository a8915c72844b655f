//! The Lambda handlers, called directly against the emulator: the pipeline contract's JSON in and out,
//! the HTTP API's codes for refusals, a retried invocation getting the first grant back (and
//! no second role), deprovisioning twice, the give-back of a job, and the scheduled reaper.

use serde_json::{Value, json};
use stint_server::lambda::{Function, handle};

use crate::harness::{SignIn, USERS, spawn_pipeline_app};

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

/// A Lambda function URL event (payload format 2.0), as AWS sends it.
fn url_event(method: &str, path: &str, token: Option<&str>, body: &Value) -> Value {
    let mut headers =
        json!({"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path}},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The function URL's answer: status and JSON body.
fn url_answer(answer: &Value) -> (u64, Value) {
    let body = answer["body"].as_str().unwrap_or_default();
    (
        answer["statusCode"].as_u64().unwrap_or_default(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn people_ask_and_approve_through_the_people_function_url_and_reach_nothing_else() {
    let people = crate::harness::spawn_people_app().await;
    let app = &people.app;
    let people_fn = |event: Value| handle(&app.app, Function::People, event);
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let ask = json!({
        "account": "workload-prod", "persona": "Product-Deployers", "duration": "1h",
        "reason": "roll back the payments deploy", "ticket": "INC-4711",
    });
    let (status, asked) = url_answer(
        &people_fn(url_event(
            "POST",
            "/v1/requests",
            Some(alice.expose()),
            &ask,
        ))
        .await,
    );
    assert_eq!(
        (status, &asked["request"]["state"]),
        (200, &json!("requested")),
        "{asked}"
    );
    let id = asked["request"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let path = format!("/v1/requests/{id}/approve");
    let (status, approved) =
        url_answer(&people_fn(url_event("POST", &path, Some(bob.expose()), &json!({}))).await);
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["grant"]["state"], "provisioned", "{approved}");
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    // Without a person's token nothing gets through: not as the local operator, not the
    // operator's routes even with one.
    let (status, refused) =
        url_answer(&people_fn(url_event("GET", "/v1/requests", None, &Value::Null)).await);
    assert_eq!(
        (status, &refused["error"]["code"]),
        (401, &json!("missing_token"))
    );
    let grant = approved["grant"]["transaction_id"]
        .as_str()
        .unwrap_or_default();
    let revoke = format!("/v1/transactions/{grant}/revoke");
    let (status, _) = url_answer(&people_fn(url_event("POST", &revoke, None, &json!({}))).await);
    assert_eq!(status, 401);
    let (status, unknown) =
        url_answer(&people_fn(url_event("POST", &revoke, Some(alice.expose()), &json!({}))).await);
    assert_eq!(
        (status, &unknown["error"]["code"]),
        (404, &json!("unknown_route"))
    );
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );
}
