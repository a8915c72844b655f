//! Figure 9, provision+deprovision with AWS failing: `stint serve` sends its AWS calls through
//! the fault-injecting proxy (in this process), one run at a time. Every answer must be a
//! success or a clean `502 aws_error`; afterwards, with the faults off, one
//! `stint reap --stuck-after 0s --orphan-grace 0s` must leave no role that no live grant holds.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use serde_json::Value;
use stint_core::catalog::Catalog;
use stint_core::grant::{Grant, Kind, stored};
use stint_core::ids::TransactionId;
use stint_core::ports::{Clock as _, Ledger as _};
use stint_core::record::State;
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;
use stint_testkit::fault_proxy::FaultProxy;
use stint_testkit::seed::Seeder;

use crate::args::StintSetup;
use crate::catalog;
use crate::client::{Answer, EMAIL, Target, http_client, post};
use crate::metrics::aws_calls;
use crate::report::{pass, print_latency_header, print_latency_row};
use crate::runs::run_once;
use crate::spawn::{Server, stint};
use crate::stats::sorted;

#[derive(clap::Args)]
pub struct FaultArgs {
    #[command(flatten)]
    stint: StintSetup,
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

/// The answers of one kind of request, by how they ended.
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
        sorted(
            self.ok
                .iter()
                .chain(&self.clean)
                .chain(&self.unclean)
                .copied(),
        )
    }

    /// Files an answer that took `took`: a success, a clean failure, or neither (counted by
    /// kind, with the first few kept).
    fn file(&mut self, answer: &Answer, took: Duration, succeeded: bool) {
        if succeeded {
            self.ok.push(took);
            return;
        }
        if answer.clean_aws_failure() {
            self.clean.push(took);
            return;
        }
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

    /// The latency rows: all answers, then by how they ended (`ok`: the success's label).
    fn print_rows(&self, what: &str, ok: &str) {
        print_latency_row(&format!("{what}, all"), &self.all(), 0);
        print_latency_row(ok, &sorted(self.ok.iter().copied()), 0);
        print_latency_row(
            "  502 aws_error (clean failure)",
            &sorted(self.clean.iter().copied()),
            0,
        );
        if !self.unclean.is_empty() {
            print_latency_row("  unclean", &sorted(self.unclean.iter().copied()), 0);
        }
    }
}

/// Roles under /stint/ (in moto itself) against the ledger after the pass.
struct Leaks {
    /// `NAME COUNT` per account.
    roles_by_account: Vec<String>,
    /// Roles a live grant holds.
    held: usize,
    /// Roles no live grant holds, described.
    leaks: Vec<String>,
    /// Live grants whose role is gone.
    missing: Vec<String>,
    live_grants: usize,
    /// `STATE COUNT` for every state.
    by_state: Vec<String>,
}

async fn leaks(catalog: &Catalog, ledger: &SqliteLedger, seeder: &Seeder) -> anyhow::Result<Leaks> {
    let ledger_error = |e: stint_core::ports::LedgerError| anyhow!("reading the ledger: {e}");
    let now = SystemClock.now();
    let prefix = format!("{}-", catalog.role_name_prefix);
    let mut held = 0usize;
    let mut leaks = Vec::new();
    let mut roles_by_account = Vec::new();
    let mut role_names = HashSet::new();
    for account in catalog.accounts() {
        let roles = seeder.stint_roles(account.id.as_str()).await?;
        roles_by_account.push(format!("{} {}", account.name, roles.len()));
        for role in roles {
            let txn = match role
                .strip_prefix(&prefix)
                .and_then(|id| TransactionId::parse(id).ok())
            {
                Some(id) => ledger
                    .get(&id)
                    .await
                    .map_err(ledger_error)?
                    .and_then(|r| stored::decode(&r).ok()),
                None => None,
            };
            let live = txn.as_ref().is_some_and(|t| {
                t.kind == Kind::Provision
                    && t.state == State::Provisioned
                    && *t.account_id() == account.id
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
            State::Provisioned.into(),
            now + time::Duration::days(3650),
            1_000_000,
        )
        .await
        .map_err(ledger_error)?;
    let live_grants: Vec<Grant> = live_grants
        .iter()
        .filter_map(|r| stored::decode(r).ok())
        .collect();
    let missing = live_grants
        .iter()
        .filter(|t| {
            !t.role_name()
                .is_some_and(|n| role_names.contains(n.as_str()))
        })
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
        let n = ledger.count(state.into()).await.map_err(ledger_error)?;
        by_state.push(format!("{} {n}", state.as_str()));
    }
    Ok(Leaks {
        roles_by_account,
        held,
        leaks,
        missing,
        live_grants: live_grants.len(),
        by_state,
    })
}

pub async fn run(args: &FaultArgs) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
    let (_, catalog) = catalog::load(&setup.catalog)?;
    let target = Target::account(&catalog::first_nonprod(&catalog)?);

    let proxy = FaultProxy::start(&setup.moto_url, args.rate_per_mille).await?;
    proxy.rate_per_mille.store(0, Ordering::SeqCst);
    let ledger_path = setup.dir.join("faults-ledger.db");
    let server = Server::spawn(
        &args.stint.stint,
        &setup.catalog,
        &ledger_path,
        &proxy.url,
        &setup.dir.join("faults-serve"),
    )
    .await?;
    let base = server.url.clone();
    let client = http_client(2)?;

    // Warm-up, faults off: the provisioner role assumed, the group looked up.
    for _ in 0..args.warmup {
        run_once(&client, &base, &target, None)
            .await
            .context("warm-up")?;
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
    let provision_body = target.provision_body(Some(EMAIL));
    let started = Instant::now();
    for _ in 0..args.runs {
        let began = Instant::now();
        let answer = post(
            &client,
            &format!("{base}/v1/provision"),
            &provision_body,
            None,
        )
        .await;
        let took = began.elapsed();
        let grant = answer.provisioned();
        provisions.file(&answer, took, grant.is_some());
        let Some((id, arn)) = grant else { continue };
        let began = Instant::now();
        let answer = post(
            &client,
            &format!("{base}/v1/deprovision"),
            &target.deprovision_body(&id, &arn),
            None,
        )
        .await;
        let took = began.elapsed();
        deprovisions.file(&answer, took, answer.deprovisioned());
        if answer.already_deprovisioned() {
            already += 1;
        }
        if !answer.deprovisioned() {
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
    let reap = stint(&args.stint.stint, &setup.catalog, &ledger_path, &proxy.url)
        .args(["reap", "--stuck-after", "0s", "--orphan-grace", "0s"])
        .output()
        .await
        .context("running stint reap")?;
    let reap_wall = reap_started.elapsed();
    let reap_requests = proxy.counts.requests.load(Ordering::SeqCst) - reap_requests_before;
    let reap_report: Value = serde_json::from_slice(&reap.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reap.stdout).into_owned()));
    let reap_log = setup.dir.join("faults-reap.log");
    std::fs::write(&reap_log, &reap.stderr)?;

    let ledger = SqliteLedger::open(&ledger_path)
        .map_err(|e| anyhow!("opening {}: {e}", ledger_path.display()))?;
    let seeder = Seeder::connect(&setup.moto_url).await;
    let found = leaks(&catalog, &ledger, &seeder).await?;

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
        metrics.total_retries(),
        metrics.total_errors()
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
    provisions.print_rows("provision", "  200 provisioned");
    deprovisions.print_rows("deprovision", "  200 deprovisioned");
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
        "  roles under /stint/ in moto afterwards: {}; held by a live grant (provisioned, unexpired): {}; leaks (no live grant): {}",
        found.roles_by_account.join(", "),
        found.held,
        found.leaks.len()
    );
    for leak in found.leaks.iter().take(10) {
        println!("    leak: {leak}");
    }
    println!(
        "  live grants in the ledger: {} ({} of them runs whose deprovision failed; they end at their TTL); live grants whose role is missing: {}",
        found.live_grants,
        left_live.len(),
        found.missing.len()
    );
    for id in found.missing.iter().take(10) {
        println!("    grant without its role: {id}");
    }
    println!(
        "  ledger transactions by state (all kinds): {}",
        found.by_state.join(", ")
    );
    let clean = provisions.unclean.is_empty() && deprovisions.unclean.is_empty();
    println!(
        "Check: every answer a success or a clean 502 aws_error: {} unclean  {}",
        provisions.unclean.len() + deprovisions.unclean.len(),
        pass(clean)
    );
    println!(
        "Check: no leaked roles after one reaper pass: {} leaks, {} grants without a role  {}",
        found.leaks.len(),
        found.missing.len(),
        pass(found.leaks.is_empty() && found.missing.is_empty() && reap.status.success())
    );
    println!();
    Ok(())
}
