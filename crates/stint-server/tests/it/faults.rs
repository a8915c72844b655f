//! AWS misbehaving: with a fault-injecting proxy between stint and the emulator at a 20% fault
//! rate, every request ends `provisioned`/`deprovisioned` or cleanly `failed`, and nothing leaks.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use stint_core::grant::{Kind, ReapSettings};
use stint_core::record::State;
use stint_testkit::fault_proxy::FaultProxy;

use crate::harness::{TestApp, moto_url, spawn_via};

const REQUESTS: usize = 40;

/// Ten provisionings at once.
async fn provision_batch(app: &TestApp) -> Vec<(u16, Value)> {
    let mut batch = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (http, url, body) = (
            app.http.clone(),
            format!("{}/v1/provision", app.url),
            app.request(crate::harness::USERS.alice),
        );
        batch.spawn(async move {
            let response = http.post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    batch.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_a_20_percent_fault_rate_every_request_ends_cleanly_and_nothing_leaks() {
    let proxy = FaultProxy::start(&moto_url(), 200)
        .await
        .expect("fault proxy");
    let app = spawn_via(None, Some(proxy.url.clone())).await;

    let mut outcomes = Vec::new();
    for _ in 0..REQUESTS / 10 {
        outcomes.extend(provision_batch(&app).await);
    }
    let mut provisioned = Vec::new();
    for (status, body) in &outcomes {
        match (status, body["status"].as_str()) {
            (200, Some("provisioned")) => provisioned.push(body.clone()),
            (502, Some("failed")) => assert_eq!(body["error"]["code"], "aws_error", "{body}"),
            other => panic!("unclean outcome {other:?}: {body}"),
        }
    }
    let mut deprovisioned = 0;
    for grant in &provisioned {
        let request = json!({
            "transaction_id": grant["transaction_id"], "target_aws_account": "workload-nonprod",
            "role_arn": grant["iam_role_arn"],
        });
        let (status, body) = app.post("/v1/deprovision", &request).await;
        match (status, body["status"].as_str()) {
            (200, Some("deprovisioned")) => deprovisioned += 1,
            (502, Some("failed")) => {}
            other => panic!("unclean deprovisioning {other:?}: {body}"),
        }
    }
    let faults = proxy.counts.faults.load(Ordering::SeqCst);
    let requests = proxy.counts.requests.load(Ordering::SeqCst);

    // AWS calms down; one reaper pass settles what the faults left.
    proxy.rate_per_mille.store(0, Ordering::SeqCst);
    app.clock.advance(std::time::Duration::from_secs(20 * 60));
    let report = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.errors, 0, "{report:?}");

    let roles: HashSet<String> = app.stint_roles(&app.nonprod).await.into_iter().collect();
    let mut live = 0;
    for outcome in &outcomes {
        let Some(id) = outcome.1["transaction_id"].as_str() else {
            continue;
        };
        let txn = app.transaction(id).await["transaction"].clone();
        let txn: crate::harness::TxnView = serde_json::from_value(txn).unwrap();
        assert_eq!(txn.kind, Kind::Provision);
        match txn.state {
            State::Provisioned => {
                live += 1;
                assert!(
                    roles.contains(txn.role_name.as_str()),
                    "{} provisioned without its role",
                    txn.id
                );
            }
            State::Processing | State::Deprovisioning => panic!("{} left {}", txn.id, txn.state),
            _ => assert!(
                !roles.contains(txn.role_name.as_str()),
                "{} ended but its role remains",
                txn.id
            ),
        }
    }
    assert_eq!(roles.len(), live, "roles without a live grant");
    eprintln!(
        "fault test: {} provisionings ({} provisioned), {deprovisioned} deprovisioned; proxy: {requests} AWS requests, \
         {faults} faults injected; reaper: {report:?}; roles left: {}",
        outcomes.len(),
        provisioned.len(),
        roles.len()
    );
    assert!(faults > 0 && !provisioned.is_empty());
}
