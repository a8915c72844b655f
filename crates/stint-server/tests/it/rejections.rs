//! Every way a provisioning request is refused: a stable code, a 4xx, and nothing in AWS.

use serde_json::{Value, json};

use crate::harness::{TestApp, USERS, actions, spawn_app};

/// Asserts the refusal and that no temporary role exists in either account.
async fn assert_refused(app: &TestApp, request: &Value, status: u16, code: &str) -> Value {
    let (got, body) = app.post("/v1/provision", request).await;
    assert_eq!(
        (got, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{request} -> {body}"
    );
    assert_eq!(body["status"], "rejected");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        app.stint_roles(&app.nonprod).await.is_empty(),
        "{code}: role created in nonprod"
    );
    assert!(
        app.stint_roles(&app.prod).await.is_empty(),
        "{code}: role created in prod"
    );
    body
}

fn with(app: &TestApp, field: &str, value: Value) -> Value {
    let mut request = app.request(USERS.alice);
    request[field] = value;
    request
}

#[tokio::test]
async fn catalog_mismatches_are_refused_before_anything_is_recorded() {
    let app = spawn_app().await;
    let unknown = json!({"email": USERS.alice, "branch": "main", "target_aws_account": "sandbox", "target_aws_account_id": "999999999990"});
    let body = assert_refused(&app, &unknown, 400, "unknown_account").await;
    assert!(body.get("transaction_id").is_none(), "{body}");

    let swapped = with(&app, "target_aws_account_id", json!(app.prod));
    assert_refused(&app, &swapped, 400, "account_id_mismatch").await;
    let other_id = with(&app, "target_aws_account_id", json!("999999999990"));
    assert_refused(&app, &other_id, 400, "account_id_mismatch").await;
    assert_refused(
        &app,
        &with(&app, "group_type", json!("Billing")),
        400,
        "unknown_persona",
    )
    .await;
}

#[tokio::test]
async fn malformed_inputs_get_their_own_codes() {
    let app = spawn_app().await;
    let mut missing = app.request(USERS.alice);
    missing.as_object_mut().unwrap().remove("branch");
    assert_refused(&app, &missing, 400, "missing_field").await;
    assert_refused(&app, &with(&app, "email", json!("")), 400, "missing_field").await;
    assert_refused(
        &app,
        &with(&app, "email", json!("alice at example.com")),
        400,
        "invalid_email",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "branch", json!("main; rm -rf /")),
        400,
        "invalid_branch",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "branch", json!("x".repeat(300))),
        400,
        "invalid_branch",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "target_aws_account_id", json!("12345")),
        400,
        "invalid_account_id",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "target_aws_account", json!("bad name!")),
        400,
        "invalid_account_name",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "group_type", json!("Product Deployers")),
        400,
        "invalid_group_type",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "emial", json!("typo")),
        400,
        "malformed_request",
    )
    .await;
    assert_refused(
        &app,
        &with(&app, "email", json!(42)),
        400,
        "malformed_request",
    )
    .await;

    let (status, body) = app.post_raw("/v1/provision", "{not json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_request")),
        "{body}"
    );
}

#[tokio::test]
async fn identity_rejections_are_recorded_with_their_reason() {
    let app = spawn_app().await;
    let cases = [
        ("nobody@example.com", "unknown_user"),
        (USERS.bob, "not_a_member"),
        // carol is a deployer, but in the prod account's group, not nonprod's.
        (USERS.carol, "not_a_member"),
    ];
    for (email, code) in cases {
        let body = assert_refused(&app, &app.request(email), 403, code).await;
        let id = body["transaction_id"]
            .as_str()
            .expect("a recorded rejection names its transaction");
        let txn = app.transaction(id).await;
        assert_eq!(txn["transaction"]["state"], "rejected");
        assert_eq!(txn["transaction"]["failure"]["code"], code);
        assert_eq!(actions(&txn), ["requested", "rejected"]);
    }
    // A group that does not exist in the directory admits nobody.
    let mut prod_network = app.request(USERS.alice);
    prod_network["group_type"] = json!("Broken");
    prod_network["target_aws_account"] = json!("workload-prod");
    prod_network["target_aws_account_id"] = json!(app.prod);
    let body = assert_refused(&app, &prod_network, 403, "not_a_member").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_and_malformed_transaction_ids() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/transactions/not-a-uuid").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_transaction_id"))
    );
    let (status, body) = app
        .get("/v1/transactions/0191d1c4-8f3a-7000-8000-000000000000")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_transaction"))
    );
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}
