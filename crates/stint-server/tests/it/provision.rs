//! A member gets a temporary role exactly as the catalog says, and the emulator holds it so.

use serde_json::{Value, json};
use stint_core::ids::TransactionId;
use stint_core::policy::{grant_inline_policy, trust_policy};
use stint_core::time_fmt::parse_rfc3339;
use stint_testkit::seed::BROKER_ROLE_ARN;

use crate::harness::{USERS, actions, captured_logs, decode_policy, spawn_app};

#[tokio::test]
async fn a_member_gets_a_temporary_role_with_expiry_enforced_by_aws() {
    let app = spawn_app().await;
    let body = app.provision_alice().await;

    // The pipeline contract's outputs, exactly.
    assert_eq!(body["status"], "provisioned");
    assert_eq!(body["role_ttl_hours"], json!(24));
    let id = body["transaction_id"].as_str().unwrap();
    TransactionId::parse(id).unwrap();
    let role_name = body["role_name"].as_str().unwrap();
    assert_eq!(role_name, format!("stint-{id}"));
    assert_eq!(
        body["iam_role_arn"],
        format!("arn:aws:iam::{}:role/stint/{role_name}", app.nonprod)
    );
    let expires_at = parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    for field in [
        "access_key_id",
        "secret_access_key",
        "session_token",
        "expiration",
    ] {
        assert!(
            body["credentials"][field]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }

    // What the emulator holds.
    let iam = app.seed.iam(&app.nonprod).await.unwrap();
    let role = iam.get_role().role_name(role_name).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.path(), "/stint/");
    assert_eq!(role.max_session_duration(), Some(3600));
    assert_eq!(
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(format!("arn:aws:iam::{}:policy/stint-boundary", app.nonprod).as_str())
    );
    let trust = decode_policy(role.assume_role_policy_document().unwrap());
    assert_eq!(
        trust,
        serde_json::to_value(trust_policy(BROKER_ROLE_ARN, expires_at, USERS.alice)).unwrap()
    );
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], BROKER_ROLE_ARN);

    let tags = iam
        .list_role_tags()
        .role_name(role_name)
        .send()
        .await
        .unwrap();
    let tag = |key: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == key)
            .map(|t| t.value().to_owned())
    };
    assert_eq!(tag("stint:transaction-id").as_deref(), Some(id));
    assert_eq!(tag("stint:requester").as_deref(), Some(USERS.alice));
    assert_eq!(tag("stint:branch").as_deref(), Some("feature/jit-42"));
    assert_eq!(
        tag("stint:group-type").as_deref(),
        Some("Product-Deployers")
    );
    assert!(tag("stint:expires-at").is_some());

    assert_eq!(
        app.attached_policies(&app.nonprod, role_name).await,
        ["arn:aws:iam::aws:policy/PowerUserAccess"]
    );

    let inline = iam
        .get_role_policy()
        .role_name(role_name)
        .policy_name("stint-grant")
        .send()
        .await
        .unwrap();
    let inline = decode_policy(inline.policy_document());
    let custom = serde_json::from_value(json!({
        "Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::tf-state/*"
    }))
    .unwrap();
    assert_eq!(
        inline,
        serde_json::to_value(grant_inline_policy(&[custom], expires_at)).unwrap()
    );
    let names = iam
        .list_role_policies()
        .role_name(role_name)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["stint-grant"]);

    // The credentials work, and they are the temporary role's.
    let creds = aws_credential_types::Credentials::new(
        body["credentials"]["access_key_id"].as_str().unwrap(),
        body["credentials"]["secret_access_key"].as_str().unwrap(),
        body["credentials"]["session_token"]
            .as_str()
            .map(str::to_owned),
        None,
        "test",
    );
    let sdk = stint_testkit::seed::emulator_config(&crate::harness::moto_url(), creds).await;
    let me = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.account(), Some(app.nonprod.as_str()));
    assert!(
        me.arn()
            .unwrap()
            .contains(&format!("assumed-role/{role_name}/")),
        "{:?}",
        me.arn()
    );

    // The ledger tells the story in order.
    let txn = app.transaction(id).await;
    assert_eq!(txn["transaction"]["state"], "provisioned");
    assert_eq!(
        actions(&txn),
        ["requested", "authorized", "role_created", "provisioned"]
    );
    assert_eq!(
        txn["events"][1]["data"]["group"],
        format!("Acme_Platform_{}_Product-Deployers", app.nonprod)
    );
}

#[tokio::test]
async fn prod_gets_the_narrower_grant_and_ttl() {
    let app = spawn_app().await;
    let request = json!({
        "email": "Carol@Example.com",
        "branch": "main",
        "target_aws_account": "workload-prod",
        "target_aws_account_id": app.prod,
        "group_type": "Product-Deployers",
    });
    let (status, body) = app.post("/v1/provision", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role_ttl_hours"], json!(1.5));
    assert_eq!(
        app.attached_policies(&app.prod, body["role_name"].as_str().unwrap())
            .await,
        ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    );
    // Credentials never outlive the grant.
    let expires = parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let session_ends = parse_rfc3339(body["credentials"]["expiration"].as_str().unwrap()).unwrap();
    assert!(
        session_ends <= expires + time::Duration::seconds(5),
        "{session_ends} > {expires}"
    );
}

#[tokio::test]
async fn a_failure_after_the_role_exists_removes_it_and_records_why() {
    let app = spawn_app().await;
    let mut request = app.request(USERS.alice);
    request["group_type"] = json!("Broken");
    let (status, body) = app.post("/v1/provision", &request).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "aws_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("StintNoSuchPolicy"),
        "{body}"
    );

    let id = body["transaction_id"].as_str().unwrap();
    let txn = app.transaction(id).await;
    assert_eq!(txn["transaction"]["state"], "failed");
    assert_eq!(txn["transaction"]["failure"]["code"], "aws_error");
    assert_eq!(
        actions(&txn),
        ["requested", "authorized", "role_created", "failed"]
    );
    assert!(
        app.stint_roles(&app.nonprod).await.is_empty(),
        "the half-made role was left behind"
    );
}

#[tokio::test]
async fn credentials_never_reach_the_logs() {
    let app = spawn_app().await;
    let body = app.provision_alice().await;
    let key_id = body["credentials"]["access_key_id"].as_str().unwrap();
    let secret = body["credentials"]["secret_access_key"].as_str().unwrap();
    let token = body["credentials"]["session_token"].as_str().unwrap();
    let logs = captured_logs();
    // No part of a credential, not even the access key id: the transaction id is what an
    // operator reading the log needs.
    assert!(!logs.contains(key_id), "access key id {key_id} in logs");
    assert!(
        logs.contains(body["transaction_id"].as_str().unwrap()),
        "the provisioning was not logged"
    );
    assert!(
        logs.contains("[redacted]"),
        "credentials were not logged redacted"
    );
    assert!(!logs.contains(secret), "secret access key in logs");
    assert!(!logs.contains(token), "session token in logs");
    // Nor in the audit trail.
    let txn: Value = app
        .transaction(body["transaction_id"].as_str().unwrap())
        .await;
    let trail = txn.to_string();
    assert!(!trail.contains(secret) && !trail.contains(token));
}

#[tokio::test]
async fn every_step_logs_its_transaction_and_metrics_count_outcomes_and_aws_calls() {
    let app = spawn_app().await;
    let granted = app.provision_alice().await;
    let id = granted["transaction_id"].as_str().unwrap();
    let (status, _) = app
        .post("/v1/provision", &app.request(crate::harness::USERS.bob))
        .await;
    assert_eq!(status, 403);

    let logs = captured_logs();
    for action in ["requested", "authorized", "role_created", "provisioned"] {
        let line = logs
            .lines()
            .find(|l| l.contains(&format!("\"action\":\"{action}\"")) && l.contains(id));
        assert!(line.is_some(), "no log line for {action} naming {id}");
    }

    let text = app.metrics().await;
    for expected in [
        "stint_active_grants 1",
        "stint_requests_total{operation=\"provision\",outcome=\"ok\"} 1",
        "stint_requests_total{operation=\"provision\",outcome=\"rejected\"} 1",
        "stint_aws_calls_total{service=\"IAM\",operation=\"CreateRole\"} 1",
        "stint_aws_retries_total{service=\"IAM\",operation=\"CreateRole\"} 0",
        "stint_aws_call_duration_seconds_count{service=\"STS\",operation=\"AssumeRole\"} 2",
        "stint_reaper_actions_total{kind=\"expired\"} 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
