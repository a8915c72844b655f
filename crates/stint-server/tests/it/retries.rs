//! An AWS call that is retried leaves a warn line in the log naming the operation, the
//! attempt and AWS's error, not only a count in `/metrics`.

use crate::harness::{USERS, captured_logs, moto_url, spawn_via};
use stint_testkit::fault_proxy::FaultProxy;

#[tokio::test]
async fn every_retry_is_logged_with_its_operation_attempt_and_error() {
    let proxy = FaultProxy::start(&moto_url(), 1000)
        .await
        .expect("fault proxy");
    let app = spawn_via(None, Some(proxy.url.clone())).await;
    let (status, body) = app.post("/v1/provision", &app.request(USERS.alice)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("aws_error")),
        "{body}"
    );
    let logs = captured_logs();
    let retries: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["fields"]["message"] == "retrying AWS call")
        .collect();
    let first = retries
        .iter()
        .find(|r| r["fields"]["operation"] == "GetUserId")
        .unwrap_or_else(|| panic!("no retry of GetUserId logged: {retries:#?}"));
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["fields"]["attempt"], 2);
    assert!(
        first["fields"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty() && e != "unknown"),
        "{first}"
    );
}
