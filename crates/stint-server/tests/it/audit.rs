//! The audit trail is hash-chained: editing, removing or reordering events in the SQLite file
//! is found, at the first event touched.

use rusqlite::Connection;
use stint_core::audit::ChainFault;

use crate::harness::{TestApp, spawn_app};

async fn app_with_history() -> TestApp {
    let app = spawn_app().await;
    let provisioned = app.provision_alice().await;
    let request = serde_json::json!({
        "transaction_id": provisioned["transaction_id"],
        "target_aws_account": "workload-nonprod",
        "role_arn": provisioned["iam_role_arn"],
    });
    let (status, _) = app.post("/v1/deprovision", &request).await;
    assert_eq!(status, 200);
    app.post("/v1/provision", &app.request(crate::harness::USERS.bob))
        .await;
    app
}

async fn fault_after(app: &TestApp, tamper: &str) -> Option<ChainFault> {
    let report = app.app.ops.verify_audit().await.unwrap();
    assert_eq!(report.fault, None, "chain broken before tampering");
    let conn = Connection::open(&app.ledger_path).unwrap();
    conn.execute_batch(tamper).unwrap();
    app.app.ops.verify_audit().await.unwrap().fault
}

#[tokio::test]
async fn an_edited_event_is_found() {
    let app = app_with_history().await;
    let fault = fault_after(
        &app,
        "UPDATE events SET actor = 'someone-else' WHERE seq = 3",
    )
    .await;
    assert_eq!(fault, Some(ChainFault::Edited { seq: 3 }));
}

#[tokio::test]
async fn a_removed_event_is_found() {
    let app = app_with_history().await;
    let fault = fault_after(&app, "DELETE FROM events WHERE seq = 5").await;
    assert_eq!(
        fault,
        Some(ChainFault::Removed {
            seq: 6,
            missing_from: 5
        })
    );
}

#[tokio::test]
async fn reordered_events_are_found() {
    let app = app_with_history().await;
    // Swap the contents of events 2 and 3, keeping their positions.
    let fault = fault_after(
        &app,
        "UPDATE events SET seq = -2 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = -2;",
    )
    .await;
    assert_eq!(fault, Some(ChainFault::Reordered { seq: 2 }));
}

#[tokio::test]
async fn removing_the_latest_events_is_found() {
    let app = app_with_history().await;
    let fault = fault_after(
        &app,
        "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)",
    )
    .await;
    assert!(
        matches!(fault, Some(ChainFault::Truncated { .. })),
        "{fault:?}"
    );
}

#[tokio::test]
async fn a_state_changed_without_an_event_is_found() {
    let app = app_with_history().await;
    let fault = fault_after(
        &app,
        "UPDATE transactions SET state = 'provisioned' WHERE state = 'rejected'",
    )
    .await;
    assert!(
        matches!(fault, Some(ChainFault::Projection { .. })),
        "{fault:?}"
    );
}
