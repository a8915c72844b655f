//! Deprovisioning removes the role and everything on it, links a new record to the original,
//! and refuses requests that do not match the transaction.

use serde_json::{Value, json};

use crate::harness::{TestApp, actions, spawn_app};

fn deprovision_request(provisioned: &Value, account: &str) -> Value {
    json!({
        "transaction_id": provisioned["transaction_id"],
        "target_aws_account": account,
        "role_arn": provisioned["iam_role_arn"],
    })
}

async fn role_exists(app: &TestApp, role_name: &str) -> bool {
    app.stint_roles(&app.nonprod)
        .await
        .iter()
        .any(|r| r == role_name)
}

#[tokio::test]
async fn deprovisioning_deletes_the_role_and_links_a_record() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let role_name = provisioned["role_name"].as_str().unwrap();
    assert!(role_exists(&app, role_name).await);

    let (status, body) = app
        .post(
            "/v1/deprovision",
            &deprovision_request(&provisioned, "workload-nonprod"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deprovisioned");
    assert_eq!(
        body["original_transaction_id"],
        provisioned["transaction_id"]
    );
    assert_eq!(body["already_deprovisioned"], false);
    assert!(
        !role_exists(&app, role_name).await,
        "role still in the emulator"
    );

    let record = app
        .transaction(body["deprovisioning_transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(record["transaction"]["kind"], "deprovision");
    assert_eq!(record["transaction"]["state"], "deprovisioned");
    assert_eq!(
        record["transaction"]["original_transaction_id"],
        provisioned["transaction_id"]
    );
    // The original's data is preserved on the record.
    for field in [
        "requester",
        "branch",
        "account_id",
        "group_type",
        "role_arn",
        "expires_at",
    ] {
        let original = app
            .transaction(provisioned["transaction_id"].as_str().unwrap())
            .await;
        assert_eq!(
            record["transaction"][field], original["transaction"][field],
            "{field}"
        );
    }
    assert_eq!(actions(&record), ["requested", "deprovisioned"]);

    let original = app
        .transaction(provisioned["transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(original["transaction"]["state"], "deprovisioned");
    assert_eq!(
        original["transaction"]["deprovisioning_transaction_id"],
        body["deprovisioning_transaction_id"]
    );
    assert_eq!(
        actions(&original),
        [
            "requested",
            "authorized",
            "role_created",
            "provisioned",
            "deprovision_started",
            "deprovisioned"
        ]
    );
}

#[tokio::test]
async fn deprovisioning_twice_is_safe_and_says_so() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    // By account id this time: either form names the account.
    let request = deprovision_request(&provisioned, &app.nonprod);
    let (_, first) = app.post("/v1/deprovision", &request).await;
    let (status, second) = app.post("/v1/deprovision", &request).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "deprovisioned");
    assert_eq!(second["already_deprovisioned"], true);
    assert_eq!(
        second["deprovisioning_transaction_id"],
        first["deprovisioning_transaction_id"]
    );
}

#[tokio::test]
async fn concurrent_deprovisioning_deletes_once() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let request = deprovision_request(&provisioned, "workload-nonprod");
    let (a, b) = tokio::join!(
        app.post("/v1/deprovision", &request),
        app.post("/v1/deprovision", &request)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    // One deletes; the other either sees it done or in progress, never a second record.
    assert!(
        statuses == [200, 200] || statuses == [200, 409],
        "{a:?} {b:?}"
    );
    let ids: Vec<_> = [&a.1, &b.1]
        .iter()
        .filter_map(|body| body["deprovisioning_transaction_id"].as_str())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "two deprovisioning records: {ids:?}"
    );
    let original = app
        .transaction(provisioned["transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(original["transaction"]["state"], "deprovisioned");
}

#[tokio::test]
async fn mismatched_deprovisioning_requests_touch_nothing() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let role_name = provisioned["role_name"].as_str().unwrap();

    let mut wrong_role = deprovision_request(&provisioned, "workload-nonprod");
    wrong_role["role_arn"] = json!(format!(
        "arn:aws:iam::{}:role/stint/stint-someone-else",
        app.nonprod
    ));
    let (status, body) = app.post("/v1/deprovision", &wrong_role).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("role_mismatch")),
        "{body}"
    );

    let wrong_account = deprovision_request(&provisioned, "workload-prod");
    let (status, body) = app.post("/v1/deprovision", &wrong_account).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("account_mismatch")),
        "{body}"
    );

    let mut unknown = deprovision_request(&provisioned, "workload-nonprod");
    unknown["transaction_id"] = json!("0191d1c4-8f3a-7000-8000-000000000000");
    let (status, body) = app.post("/v1/deprovision", &unknown).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_transaction")),
        "{body}"
    );

    let mut malformed = deprovision_request(&provisioned, "workload-nonprod");
    malformed["role_arn"] = json!("stint-role");
    let (status, body) = app.post("/v1/deprovision", &malformed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_role_arn")),
        "{body}"
    );

    assert!(
        role_exists(&app, role_name).await,
        "a refused deprovisioning removed the role"
    );
    let original = app
        .transaction(provisioned["transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(original["transaction"]["state"], "provisioned");
}

#[tokio::test]
async fn a_rejected_transaction_has_nothing_to_deprovision() {
    let app = spawn_app().await;
    let (_, rejected) = app
        .post("/v1/provision", &app.request(crate::harness::USERS.bob))
        .await;
    let request = json!({
        "transaction_id": rejected["transaction_id"],
        "target_aws_account": "workload-nonprod",
        "role_arn": format!("arn:aws:iam::{}:role/stint/stint-{}", app.nonprod, rejected["transaction_id"].as_str().unwrap()),
    });
    let (status, body) = app.post("/v1/deprovision", &request).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_provisioned")),
        "{body}"
    );
}

/// The IAM calls the broker has made, summed over operations, from its own `/metrics`.
async fn iam_calls(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("stint_aws_calls_total{service=\"IAM\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn deprovisioning_a_one_policy_persona_takes_three_iam_calls() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let role_name = provisioned["role_name"].as_str().unwrap();
    let before = iam_calls(&app).await;
    let (status, body) = app
        .post(
            "/v1/deprovision",
            &deprovision_request(&provisioned, "workload-nonprod"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Detach the persona's policy, delete stint's inline policy, delete the role.
    assert_eq!(iam_calls(&app).await - before, 3);
    assert!(!role_exists(&app, role_name).await, "role left behind");
}

#[tokio::test]
async fn policies_attached_by_hand_do_not_keep_the_role_alive() {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let role_name = provisioned["role_name"].as_str().unwrap();
    let iam = app.seed.iam(&app.nonprod).await.unwrap();
    iam.attach_role_policy()
        .role_name(role_name)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(role_name)
        .policy_name("added-by-hand")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let (status, body) = app
        .post(
            "/v1/deprovision",
            &deprovision_request(&provisioned, "workload-nonprod"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deprovisioned");
    assert!(!role_exists(&app, role_name).await, "role left behind");
    let gone = iam.get_role().role_name(role_name).send().await;
    assert!(gone.is_err(), "IAM still holds {role_name}");
}
