//! Several brokers on one DynamoDB table: two `stint serve` processes take provisionings side by
//! side, then two reapers run at once; no transaction is handled twice.

use std::sync::Arc;
use std::time::Duration;

use stint_aws::{AwsSettings, DynamoLedger, IssueRetry};
use stint_core::grant::ReapSettings;
use stint_core::ids::TransactionId;
use stint_core::record::{Action, State};
use stint_server::app::{App, Settings};
use stint_testkit::clock::ShiftedClock;

use crate::harness::{USERS, moto_url, spawn_app};

const GRANTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_and_two_reapers_on_one_table_handle_each_transaction_once() {
    let world = spawn_app().await; // seeds the directory and accounts; its own broker is unused
    let table = format!("stint-replicas-{}", uuid::Uuid::new_v4());
    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&aws).await;
    DynamoLedger::new(&sdk, Default::default(), &table)
        .create_table()
        .await
        .unwrap();

    let clock = Arc::new(ShiftedClock::default());
    let settings = Settings {
        catalog_path: world.catalog_path.clone(),
        ledger_path: format!("dynamodb://{table}").into(),
        aws,
        issue_retry: IssueRetry::default(),
    };
    // Two `stint serve` processes on the table take the requests.
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let port = stint_testkit::free_port().expect("free port");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stint"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--reap-interval",
                "off",
            ])
            .env("STINT_CATALOG", &world.catalog_path)
            .env("STINT_LEDGER", format!("dynamodb://{table}"))
            .env("STINT_AWS_ENDPOINT_URL", moto_url())
            .env("STINT_LOG", "warn")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..500 {
            if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        servers.push(child);
        urls.push(url);
    }
    // Two reapers on the same table, in this process so the clock can be moved past the TTL.
    let mut reapers = Vec::new();
    for _ in 0..2 {
        reapers.push(
            App::build_with_clock(&settings, clock.clone())
                .await
                .unwrap(),
        );
    }

    // Provisionings spread over both replicas, all at once.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..GRANTS {
        let url = urls[i % 2].clone();
        let body = world.request(USERS.alice);
        requests.spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/v1/provision"))
                .json(&body)
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        });
    }
    let granted: Vec<serde_json::Value> = requests.join_all().await;
    let ids: Vec<TransactionId> = granted
        .iter()
        .map(|g| {
            assert_eq!(g["status"], "provisioned", "{g}");
            TransactionId::parse(g["transaction_id"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(world.stint_roles(&world.nonprod).await.len(), GRANTS);

    // Past the TTL, both replicas' reapers run at the same moment.
    clock.advance(Duration::from_secs(25 * 3600));
    let settings = ReapSettings::default();
    let (a, b) = tokio::join!(
        reapers[0].ops.reap(&settings),
        reapers[1].ops.reap(&settings)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let reaper_logs: Vec<String> = crate::harness::captured_logs()
        .lines()
        .filter(|l| l.contains("reaper:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        a.expired + b.expired,
        GRANTS as u64,
        "{a:?} {b:?} {reaper_logs:#?}"
    );
    assert_eq!(a.errors + b.errors, 0, "{a:?} {b:?}");

    let journal = &reapers[0].ops.cases.journal;
    for id in &ids {
        let txn = journal.load(id).await.unwrap();
        let events = journal.events(id).await.unwrap();
        let trail: Vec<String> = events
            .iter()
            .map(|e| format!("v{} {} {:?} {}", e.version, e.actor, e.action, e.reason))
            .collect();
        assert_eq!(
            txn.state,
            State::Deprovisioned,
            "{id}: {trail:#?} {a:?} {b:?}"
        );
        let ended = events
            .iter()
            .filter(|e| e.action == Action::Expired)
            .count();
        assert_eq!(ended, 1, "{id} was ended {ended} times: {events:#?}");
        let record = journal
            .load(txn.links.deprovisioning.as_ref().unwrap())
            .await
            .unwrap();
        assert_eq!(record.state, State::Deprovisioned);
    }
    assert!(world.stint_roles(&world.nonprod).await.is_empty());
    assert_eq!(journal.ledger.verify().await.unwrap().fault, None);
    drop(servers);
    eprintln!(
        "replicas: {GRANTS} grants over 2 replicas; reaper A ended {}, reaper B ended {}",
        a.expired, b.expired
    );
}
