//! Provision+deprovision with AWS failing: `stint serve` sends its AWS calls through the
//! integration tests' fault-injecting proxy (in this process), one run at a time. Every answer
//! must be a success or a clean `502 aws_error`; afterwards, with the faults off, one
//! `stint reap --stuck-after 0s --orphan-grace 0s` must leave no role that no live grant holds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use serde_json::{Value, json};
use stint_core::ids::TransactionId;
use stint_core::ports::{Clock as _, Ledger as _};
use stint_core::transaction::{Kind, State};
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;

use super::fault_proxy::FaultProxy;
use super::seed::Seeder;
use super::serve::{self, Answer, Server};
use super::{
    BRANCH, EMAIL, GROUP_TYPE, aws_calls, http_client, pass, print_latency_header,
    print_latency_row, stint_roles,
};

#[derive(clap::Args)]
pub struct FaultArgs {
    /// The `stint` binary.
    #[arg(long)]
    stint: PathBuf,
    /// The catalog (seeded with `demo seed`); requests go to its first nonprod account.
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long)]
    moto_url: String,
    /// Where the ledger and logs go.
    #[arg(long)]
    dir: PathBuf,
    /// Runs with the faults off first (cold caches), not measured.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Sequential provision+deprovision runs at the fault rate.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Faults per thousand AWS requests.
    #[arg(long, default_value_t = 200)]
    rate_per_mille: u32,
}

#[derive(Default)]
struct Tally {
    ok: Vec<Duration>,
    clean: Vec<Duration>,
    unclean: Vec<Duration>,
    /// (status, code) -> count, and the first few answers.
    unclean_kinds: BTreeMap<String, usize>,
    unclean_examples: Vec<String>,
}

impl Tally {
    fn all(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self
            .ok
            .iter()
            .chain(&self.clean)
            .chain(&self.unclean)
            .copied()
            .collect();
        all.sort();
        all
    }

    fn unclean(&mut self, answer: &Answer, took: Duration) {
        self.unclean.push(took);
        let kind = match answer {
            Answer::Http(status, _) => {
                let (state, code) = answer.status_and_code();
                format!(
                    "HTTP {status} {} {}",
                    state.unwrap_or("-"),
                    code.unwrap_or("-")
                )
            }
            Answer::Transport(_) => "no HTTP answer".to_owned(),
        };
        *self.unclean_kinds.entry(kind).or_default() += 1;
        if self.unclean_examples.len() < 5 {
            self.unclean_examples.push(answer.describe());
        }
    }
}

fn sorted(values: &[Duration]) -> Vec<Duration> {
    let mut values = values.to_vec();
    values.sort();
    values
}

pub async fn run(args: &FaultArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.catalog)
        .with_context(|| format!("reading {}", args.catalog.display()))?;
    let catalog = stint_core::catalog::Catalog::from_toml(&text)
        .map_err(|e| anyhow!("catalog {}: {e}", args.catalog.display()))?;
    let account = catalog
        .accounts()
        .iter()
        .find(|a| a.environment == stint_core::catalog::Environment::Nonprod)
        .ok_or_else(|| anyhow!("the catalog has no nonprod account"))?
        .clone();

    let proxy = FaultProxy::start(&args.moto_url, args.rate_per_mille).await;
    proxy.rate_per_mille.store(0, Ordering::SeqCst);
    let ledger_path = args.dir.join("faults-ledger.db");
    let server = Server::spawn(
        &args.stint,
        &args.catalog,
        &ledger_path,
        &proxy.url,
        &args.dir.join("faults-serve"),
    )
    .await?;
    let base = server.url.clone();
    let client = http_client(2)?;
    let provision_body = json!({
        "email": EMAIL,
        "branch": BRANCH,
        "target_aws_account": account.name.to_string(),
        "target_aws_account_id": account.id.to_string(),
        "group_type": GROUP_TYPE,
    });
    let deprovision_body = |transaction_id: &str, role_arn: &str| {
        json!({
            "transaction_id": transaction_id,
            "target_aws_account": account.name.to_string(),
            "role_arn": role_arn,
        })
    };

    // Warm-up, faults off: the provisioner role assumed, the group looked up.
    for _ in 0..args.warmup {
        let answer = serve::post(
            &client,
            &format!("{base}/v1/provision"),
            &provision_body,
            None,
        )
        .await;
        let (id, arn) = serve::provisioned(&answer)
            .ok_or_else(|| anyhow!("warm-up provision: {}", answer.describe()))?;
        let answer = serve::post(
            &client,
            &format!("{base}/v1/deprovision"),
            &deprovision_body(&id, &arn),
            None,
        )
        .await;
        if !serve::deprovisioned(&answer) {
            return Err(anyhow!("warm-up deprovision: {}", answer.describe()));
        }
    }

    // The figure.
    let metrics_before = aws_calls(&client, &base).await?;
    proxy
        .rate_per_mille
        .store(args.rate_per_mille, Ordering::SeqCst);
    let requests_before = proxy.counts.requests.load(Ordering::SeqCst);
    let faults_before = proxy.counts.faults.load(Ordering::SeqCst);
    let mut provisions = Tally::default();
    let mut deprovisions = Tally::default();
    let mut already = 0usize;
    let mut left_live: Vec<String> = Vec::new();
    let started = Instant::now();
    for _ in 0..args.runs {
        let began = Instant::now();
        let answer = serve::post(
            &client,
            &format!("{base}/v1/provision"),
            &provision_body,
            None,
        )
        .await;
        let took = began.elapsed();
        let grant = serve::provisioned(&answer);
        if grant.is_some() {
            provisions.ok.push(took);
        } else if serve::clean_aws_failure(&answer) {
            provisions.clean.push(took);
        } else {
            provisions.unclean(&answer, took);
        }
        let Some((id, arn)) = grant else { continue };
        let began = Instant::now();
        let answer = serve::post(
            &client,
            &format!("{base}/v1/deprovision"),
            &deprovision_body(&id, &arn),
            None,
        )
        .await;
        let took = began.elapsed();
        if serve::deprovisioned(&answer) {
            deprovisions.ok.push(took);
            if let Answer::Http(_, body) = &answer
                && body.get("already_deprovisioned") == Some(&Value::Bool(true))
            {
                already += 1;
            }
        } else if serve::clean_aws_failure(&answer) {
            deprovisions.clean.push(took);
            left_live.push(id);
        } else {
            deprovisions.unclean(&answer, took);
            left_live.push(id);
        }
    }
    let wall = started.elapsed();
    let requests = proxy.counts.requests.load(Ordering::SeqCst) - requests_before;
    let faults = proxy.counts.faults.load(Ordering::SeqCst) - faults_before;
    let metrics = aws_calls(&client, &base).await?.since(&metrics_before);
    server.stop().await?;

    // AWS calms down; one reaper pass through the proxy, from the CLI, settles the rest.
    proxy.rate_per_mille.store(0, Ordering::SeqCst);
    let reap_requests_before = proxy.counts.requests.load(Ordering::SeqCst);
    let reap_started = Instant::now();
    let reap = tokio::process::Command::new(&args.stint)
        .arg("--catalog")
        .arg(&args.catalog)
        .arg("--ledger")
        .arg(&ledger_path)
        .arg("--aws-endpoint-url")
        .arg(&proxy.url)
        .args(["reap", "--stuck-after", "0s", "--orphan-grace", "0s"])
        .output()
        .await
        .context("running stint reap")?;
    let reap_wall = reap_started.elapsed();
    let reap_requests = proxy.counts.requests.load(Ordering::SeqCst) - reap_requests_before;
    let reap_report: Value = serde_json::from_slice(&reap.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reap.stdout).into_owned()));
    let reap_log = args.dir.join("faults-reap.log");
    std::fs::write(&reap_log, &reap.stderr)?;

    // Leaks: roles under /stint/ (in moto itself) that no live grant holds.
    let ledger = SqliteLedger::open(&ledger_path)
        .map_err(|e| anyhow!("opening {}: {e}", ledger_path.display()))?;
    let seeder = Seeder::connect(&args.moto_url).await;
    let now = SystemClock.now();
    let prefix = format!("{}-", catalog.role_name_prefix);
    let mut held = 0usize;
    let mut leaks = Vec::new();
    let mut roles_by_account = Vec::new();
    let mut role_names = std::collections::HashSet::new();
    for account in catalog.accounts() {
        let roles = stint_roles(&seeder, account.id.as_str()).await?;
        roles_by_account.push(format!("{} {}", account.name, roles.len()));
        for role in roles {
            let txn = match role
                .strip_prefix(&prefix)
                .and_then(|id| TransactionId::parse(id).ok())
            {
                Some(id) => ledger
                    .get(&id)
                    .await
                    .map_err(|e| anyhow!("reading the ledger: {e}"))?,
                None => None,
            };
            let live = txn.as_ref().is_some_and(|t| {
                t.kind == Kind::Provision
                    && t.state == State::Provisioned
                    && t.account_id == account.id
                    && t.expires_at.is_some_and(|at| at > now)
            });
            if live {
                held += 1;
            } else {
                let state = txn.map_or("no transaction".to_owned(), |t| {
                    format!("transaction {}", t.state.as_str())
                });
                leaks.push(format!("{} {role} ({state})", account.id));
            }
            role_names.insert(role);
        }
    }
    let live_grants = ledger
        .stale(
            State::Provisioned,
            now + time::Duration::days(3650),
            1_000_000,
        )
        .await
        .map_err(|e| anyhow!("reading the ledger: {e}"))?;
    let missing: Vec<String> = live_grants
        .iter()
        .filter(|t| !role_names.contains(t.role_name.as_str()))
        .map(|t| t.id.to_string())
        .collect();
    let mut by_state = Vec::new();
    for state in [
        State::Processing,
        State::Provisioned,
        State::Deprovisioning,
        State::Deprovisioned,
        State::Rejected,
        State::Failed,
    ] {
        let n = ledger
            .count(state)
            .await
            .map_err(|e| anyhow!("reading the ledger: {e}"))?;
        by_state.push(format!("{} {n}", state.as_str()));
    }

    println!(
        "== Provision at a {:.0}% injected AWS fault rate ({} sequential runs through the fault proxy, after {} warm-up runs with faults off) ==",
        args.rate_per_mille as f64 / 10.0,
        args.runs,
        args.warmup
    );
    println!(
        "  proxy: {requests} AWS requests, {faults} faults injected ({:.1}%: throttling, 500 before forwarding, 500 after forwarding, dropped connection, 1.5 s delay, evenly); {:.1} s in all",
        100.0 * faults as f64 / requests.max(1) as f64,
        wall.as_secs_f64()
    );
    println!(
        "  stint's AWS calls (from /metrics): {} calls, {} SDK retries, {} calls failed after retries",
        metrics.total_calls(),
        metrics.retries.values().sum::<u64>(),
        metrics.errors.values().sum::<u64>()
    );
    let failed_ops: Vec<String> = metrics
        .errors
        .iter()
        .map(|((service, operation), n)| format!("{service} {operation} {n}"))
        .collect();
    if !failed_ops.is_empty() {
        println!(
            "  calls failed after retries, by operation: {} (stint_aws_errors_total counts every error answer, also those stint takes as done: NoSuchEntity on a delete, EntityAlreadyExists on a CreateRole re-sent after a lost response)",
            failed_ops.join(", ")
        );
    }
    print_latency_header();
    print_latency_row("provision, all", &provisions.all(), 0);
    print_latency_row("  200 provisioned", &sorted(&provisions.ok), 0);
    print_latency_row(
        "  502 aws_error (clean failure)",
        &sorted(&provisions.clean),
        0,
    );
    if !provisions.unclean.is_empty() {
        print_latency_row("  unclean", &sorted(&provisions.unclean), 0);
    }
    print_latency_row("deprovision, all", &deprovisions.all(), 0);
    print_latency_row("  200 deprovisioned", &sorted(&deprovisions.ok), 0);
    print_latency_row(
        "  502 aws_error (clean failure)",
        &sorted(&deprovisions.clean),
        0,
    );
    if !deprovisions.unclean.is_empty() {
        print_latency_row("  unclean", &sorted(&deprovisions.unclean), 0);
    }
    println!(
        "  provisions: {} provisioned, {} failed cleanly (502 aws_error), {} unclean",
        provisions.ok.len(),
        provisions.clean.len(),
        provisions.unclean.len()
    );
    println!(
        "  deprovisions: {} deprovisioned ({already} said already_deprovisioned), {} failed cleanly (502 aws_error), {} unclean",
        deprovisions.ok.len(),
        deprovisions.clean.len(),
        deprovisions.unclean.len()
    );
    for (label, tally) in [("provision", &provisions), ("deprovision", &deprovisions)] {
        for (kind, n) in &tally.unclean_kinds {
            println!("  unclean {label}: {n} x {kind}");
        }
        for example in &tally.unclean_examples {
            println!("    e.g. {example}");
        }
    }
    println!(
        "  Then faults off, server stopped, `stint reap --stuck-after 0s --orphan-grace 0s` through the proxy: {}, {:.2} s, {reap_requests} AWS requests, report {}",
        reap.status,
        reap_wall.as_secs_f64(),
        reap_report.to_string().trim()
    );
    println!(
        "  roles under /stint/ in moto afterwards: {}; held by a live grant (provisioned, unexpired): {held}; leaks (no live grant): {}",
        roles_by_account.join(", "),
        leaks.len()
    );
    for leak in leaks.iter().take(10) {
        println!("    leak: {leak}");
    }
    println!(
        "  live grants in the ledger: {} ({} of them runs whose deprovision failed; they end at their TTL); live grants whose role is missing: {}",
        live_grants.len(),
        left_live.len(),
        missing.len()
    );
    for id in missing.iter().take(10) {
        println!("    grant without its role: {id}");
    }
    println!(
        "  ledger transactions by state (all kinds): {}",
        by_state.join(", ")
    );
    let clean = provisions.unclean.is_empty() && deprovisions.unclean.is_empty();
    println!(
        "Check: every answer a success or a clean 502 aws_error: {} unclean  {}",
        provisions.unclean.len() + deprovisions.unclean.len(),
        pass(clean)
    );
    println!(
        "Check: no leaked roles after one reaper pass: {} leaks, {} grants without a role  {}",
        leaks.len(),
        missing.len(),
        pass(leaks.is_empty() && missing.is_empty() && reap.status.success())
    );
    println!();
    Ok(())
}
