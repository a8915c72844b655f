//! The real thing, killed: `stint serve` runs 100 concurrent provisionings (and some
//! deprovisionings) against the emulator and is SIGKILLed at random moments, several times, and
//! restarted. After a reaper pass, the emulator holds no role under /stint/ without a live,
//! unexpired transaction, and every transaction is terminal or live with its role present.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use stint_core::grant::{Grant, Kind, stored};
use stint_core::ids::TransactionId;
use stint_core::record::{State, Status, StoredRecord, kind_name};
use tokio::process::{Child, Command};

use crate::harness::{TestApp, USERS, moto_url, spawn_app};

const WORKERS: usize = 100;
const KILLS: usize = 3;

fn stint(app: &TestApp, ledger: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stint"));
    command
        .env("STINT_CATALOG", &app.catalog_path)
        .env("STINT_LEDGER", ledger)
        .env("STINT_AWS_ENDPOINT_URL", moto_url())
        .env("STINT_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true);
    command
}

async fn start(app: &TestApp, ledger: &Path, port: u16) -> Child {
    let child = stint(app, ledger)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--reap-interval",
            "off",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(ledger.with_extension("log"))
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..2000 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = std::fs::read_to_string(ledger.with_extension("log")).unwrap_or_default();
    panic!("stint serve did not come up: {log}");
}

/// A random number below `n`.
fn random_below(n: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(n)) as u64
}

#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    provisioned: AtomicU64,
    deprovisioned: AtomicU64,
}

/// Provisions in a loop until told to stop; deprovisions every other grant it gets.
async fn worker(url: String, app_nonprod: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let request = json!({
        "email": USERS.alice, "branch": "main",
        "target_aws_account": "workload-nonprod", "target_aws_account_id": app_nonprod,
    });
    while !stop.load(Ordering::SeqCst) {
        tally.attempts.fetch_add(1, Ordering::SeqCst);
        let Ok(response) = http
            .post(format!("{url}/v1/provision"))
            .json(&request)
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(body) = response.json::<Value>().await else {
            continue;
        };
        if body["status"] != "provisioned" {
            continue;
        }
        tally.provisioned.fetch_add(1, Ordering::SeqCst);
        if random_below(2) == 0 {
            let end = json!({
                "transaction_id": body["transaction_id"], "target_aws_account": "workload-nonprod",
                "role_arn": body["iam_role_arn"],
            });
            if let Ok(r) = http
                .post(format!("{url}/v1/deprovision"))
                .json(&end)
                .send()
                .await
                && r.status().is_success()
            {
                tally.deprovisioned.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn ledger_transactions(ledger: &Path) -> Vec<Grant> {
    let conn = rusqlite::Connection::open(ledger).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, kind, state, version, updated_at, body FROM transactions")
        .unwrap();
    stmt.query_map([], |row| {
        Ok(StoredRecord {
            id: TransactionId::parse(&row.get::<_, String>(0)?).unwrap(),
            kind: kind_name(&row.get::<_, String>(1)?).unwrap(),
            status: Status::parse(&row.get::<_, String>(2)?).unwrap(),
            version: row.get(3)?,
            expires_at: None,
            updated_at: time::OffsetDateTime::from_unix_timestamp(row.get(4)?).unwrap(),
            body: row.get(5)?,
        })
    })
    .unwrap()
    .map(|record| stored::decode(&record.unwrap()).unwrap())
    .collect()
}

fn events_of(ledger: &Path, id: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(ledger).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq || ' ' || at || ' ' || actor || ' ' || action || ' ' || state || ' ' || reason FROM events WHERE transaction_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([id], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_leaks_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("crash-ledger.db");
    let port = stint_testkit::free_port().expect("free port");
    let url = format!("http://127.0.0.1:{port}");
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            tokio::spawn(worker(
                url.clone(),
                app.nonprod.clone(),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();

    for _ in 0..KILLS {
        let mut server = start(&app, &ledger, port).await;
        // Let some grants through first (however slow the machine), then kill at a random moment.
        let before = tally.provisioned.load(Ordering::SeqCst);
        for _ in 0..600 {
            if tally.provisioned.load(Ordering::SeqCst) >= before + 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(random_below(2000))).await;
        server.start_kill().unwrap(); // SIGKILL
        server.wait().await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }

    // Restart on the same ledger, then one reaper pass with the server quiet.
    let mut server = start(&app, &ledger, port).await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let reap = stint(&app, &ledger)
        .args(["reap", "--stuck-after", "0s", "--orphan-grace", "0s"])
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&reap.stdout).unwrap_or(Value::Null);
    assert!(
        reap.status.success(),
        "{report} {}",
        String::from_utf8_lossy(&reap.stderr)
    );

    // What the emulator holds, against what the ledger says.
    let roles: HashSet<String> = app.stint_roles(&app.nonprod).await.into_iter().collect();
    let txns = ledger_transactions(&ledger);
    let now = stint_core::ports::Clock::now(app.clock.as_ref());
    let mut leaks = 0;
    for role in &roles {
        let live = txns.iter().any(|t| {
            t.kind == Kind::Provision
                && t.role_name().is_some_and(|n| n.as_str() == role)
                && t.state == State::Provisioned
                && t.expires_at.is_some_and(|at| at > now)
        });
        if !live {
            leaks += 1;
        }
    }
    for t in &txns {
        match t.state {
            State::Provisioned => assert!(
                t.role_name().is_some_and(|n| roles.contains(n.as_str())),
                "{} is provisioned without its role: {:#?}",
                t.id,
                events_of(&ledger, t.id.as_str())
            ),
            State::Processing | State::Deprovisioning => panic!("{} left {}", t.id, t.state),
            _ => {}
        }
    }
    eprintln!(
        "kill test: {} provisioning attempts, {} provisioned, {} deprovisioned, {KILLS} SIGKILLs, {} transactions; \
         reaper: {report}; roles left (all live grants): {}; leaks: {leaks}",
        tally.attempts.load(Ordering::SeqCst),
        tally.provisioned.load(Ordering::SeqCst),
        tally.deprovisioned.load(Ordering::SeqCst),
        txns.len(),
        roles.len(),
    );
    assert_eq!(leaks, 0, "roles left without a live transaction");
    assert!(
        txns.len() >= 100,
        "too little load to mean anything: {} transactions",
        txns.len()
    );
    assert!(
        tally.provisioned.load(Ordering::SeqCst) > 0,
        "nothing was provisioned between kills"
    );
}
