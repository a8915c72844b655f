//! Figure 8, one reaper pass over many expired grants: in-process, the broker wired to moto by
//! `App::build_with_clock` with a clock that can be moved; grants provisioned in every account
//! of the catalog (setup, not timed as the figure), the clock moved past their TTL, and one
//! `Broker::reap` timed, with the AWS calls it made by operation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use stint_aws::{AwsSettings, CallCount, IssueRetry};
use stint_core::catalog::Account;
use stint_core::grant::Caller;
use stint_core::grant::ReapSettings;
use stint_core::record::State;
use stint_server::app::{App, Settings};
use stint_server::wire::ProvisionInput;
use stint_testkit::clock::ShiftedClock;
use stint_testkit::seed::Seeder;

use crate::args::Setup;
use crate::catalog;
use crate::client::{BRANCH, EMAIL, GROUP_TYPE};
use crate::procfs::ClockTicks;
use crate::stats::ms;

#[derive(clap::Args)]
pub struct ReapArgs {
    /// The catalog's accounts must be nonprod, alice a Product-Deployers member there.
    #[command(flatten)]
    setup: Setup,
    /// The moto process, for the CPU time it spends in the pass.
    #[arg(long)]
    moto_pid: Option<u32>,
    /// Expired grants to reap in each account of the catalog.
    #[arg(long, default_value_t = 500)]
    grants_per_account: usize,
    /// Provisionings in flight at once while setting up.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    #[command(flatten)]
    ticks: ClockTicks,
}

type Snapshot = BTreeMap<(String, String), CallCount>;

/// Calls (and the summed latency) per operation between two snapshots.
fn calls_since(after: &Snapshot, before: &Snapshot) -> BTreeMap<(String, String), (u64, u64, f64)> {
    after
        .iter()
        .filter_map(|(key, count)| {
            let (calls, errors, seconds) = before
                .get(key)
                .map_or((0, 0, 0.0), |b| (b.calls, b.errors, b.latency_seconds_sum));
            let calls = count.calls.saturating_sub(calls);
            (calls > 0).then(|| {
                (
                    key.clone(),
                    (
                        calls,
                        count.errors.saturating_sub(errors),
                        count.latency_seconds_sum - seconds,
                    ),
                )
            })
        })
        .collect()
}

/// How many roles under /stint/ each account holds in moto.
async fn role_counts(seeder: &Seeder, accounts: &[Account]) -> anyhow::Result<Vec<usize>> {
    let mut counts = Vec::new();
    for account in accounts {
        counts.push(seeder.stint_roles(account.id.as_str()).await?.len());
    }
    Ok(counts)
}

/// Provisions `grants_per_account` grants in every account, `concurrency` at a time; returns
/// the errors.
async fn provision_all(
    app: &App,
    accounts: &[Account],
    grants_per_account: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let jobs: Arc<Vec<Account>> = Arc::new(
        accounts
            .iter()
            .flat_map(|a| std::iter::repeat_n(a.clone(), grants_per_account))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (app, jobs, next) = (app.clone(), jobs.clone(), next.clone());
        workers.spawn(async move {
            let caller = Caller::operator("bench");
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(account) = jobs.get(i) else {
                    return failures;
                };
                let input = ProvisionInput {
                    email: Some(EMAIL.to_owned()),
                    branch: Some(BRANCH.to_owned()),
                    target_aws_account: Some(account.name.to_string()),
                    target_aws_account_id: Some(account.id.to_string()),
                    group_type: Some(GROUP_TYPE.to_owned()),
                };
                if let Err(error) = app
                    .ops
                    .provision(&input, &caller, &Default::default())
                    .await
                {
                    failures.push(stint_server::ops::error_chain(&error));
                }
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = workers.join_next().await {
        failures.extend(joined.context("a setup worker died")?);
    }
    Ok(failures)
}

pub async fn run(args: &ReapArgs) -> anyhow::Result<()> {
    let setup = &args.setup;
    let settings = Settings {
        catalog_path: setup.catalog.clone(),
        ledger_path: setup.dir.join("reap-ledger.db"),
        aws: AwsSettings {
            region: "us-east-1".into(),
            endpoint_url: Some(setup.moto_url.clone()),
        },
        issue_retry: IssueRetry::default(),
    };
    let clock = Arc::new(ShiftedClock::default());
    let app = App::build_with_clock(&settings, clock.clone())
        .await
        .map_err(|e| anyhow!("building the app: {e}"))?;
    let catalog = app.ops.cases.catalog.clone();
    let accounts: Vec<Account> = catalog.accounts().to_vec();
    let persona = catalog::persona(&catalog, GROUP_TYPE)?;
    let ttl = accounts
        .iter()
        .map(|a| persona.grant(a.environment).ttl)
        .max()
        .unwrap_or_default();
    let seeder = Seeder::connect(&setup.moto_url).await;
    for (account, n) in accounts.iter().zip(role_counts(&seeder, &accounts).await?) {
        if n > 0 {
            bail!(
                "account {} already holds {n} roles under /stint/",
                account.id
            );
        }
    }

    // Setup: provision the grants, several at a time.
    let setup_started = Instant::now();
    let failures = provision_all(
        &app,
        &accounts,
        args.grants_per_account,
        args.setup_concurrency,
    )
    .await?;
    let setup_time = setup_started.elapsed();
    let count_provisioned = async || {
        app.ops
            .cases
            .journal
            .ledger
            .count(State::Provisioned.into())
            .await
            .map_err(|e| anyhow!("counting grants: {e}"))
    };
    let provisioned = count_provisioned().await?;
    let roles_before = role_counts(&seeder, &accounts).await?;

    // The figure: one pass, the clock an hour past every grant's expiry.
    clock.advance(ttl + Duration::from_secs(3600));
    let before = app.aws_calls.snapshot();
    let cpu_me = args.ticks.start(std::process::id())?;
    let cpu_moto = args.moto_pid.map(|pid| args.ticks.start(pid)).transpose()?;
    let started = Instant::now();
    let report = app
        .ops
        .cases
        .reaper
        .reap(&ReapSettings::default())
        .await
        .map_err(|e| anyhow!("the reaper pass: {}", stint_server::ops::error_chain(&e)))?;
    let wall = started.elapsed();
    let cpu_me = cpu_me.elapsed()?;
    let cpu_moto = cpu_moto.map(|watch| watch.elapsed()).transpose()?;
    let calls = calls_since(&app.aws_calls.snapshot(), &before);
    let roles_after = role_counts(&seeder, &accounts).await?;
    let still_provisioned = count_provisioned().await?;

    let expected = (accounts.len() * args.grants_per_account) as u64;
    let reaped = report.expired;
    let per_second = reaped as f64 / wall.as_secs_f64();
    println!(
        "== Reaping {expected} expired grants spread over {} accounts (in-process, one Broker::reap pass, clock moved {} h past creation) ==",
        accounts.len(),
        (ttl + Duration::from_secs(3600)).as_secs() / 3600
    );
    let account_list: Vec<String> = accounts
        .iter()
        .zip(&roles_before)
        .map(|(a, n)| format!("{} ({}) {n}", a.name, a.id))
        .collect();
    println!(
        "  setup (not the figure): {provisioned} grants provisioned in {:.1} s with {} in flight, {} failed; roles under /stint/ before the pass: {}",
        setup_time.as_secs_f64(),
        args.setup_concurrency,
        failures.len(),
        account_list.join(", ")
    );
    for failure in failures.iter().take(3) {
        println!("  setup error: {failure}");
    }
    println!("  reaper report: {}", serde_json::to_string(&report)?);
    let cpu = match cpu_moto {
        Some(moto) => format!(
            "CPU: this process (stint) {:.1} s, moto {:.1} s",
            cpu_me.as_secs_f64(),
            moto.as_secs_f64()
        ),
        None => format!("CPU: this process (stint) {:.1} s", cpu_me.as_secs_f64()),
    };
    println!(
        "  roles reaped: {reaped}; wall time {:.2} s; {per_second:.1} roles/s ({:.2} ms per role); {cpu}",
        wall.as_secs_f64(),
        ms(wall) / reaped.max(1) as f64
    );
    let after: Vec<String> = accounts
        .iter()
        .zip(&roles_after)
        .map(|(a, n)| format!("{} {n}", a.id))
        .collect();
    println!(
        "  roles under /stint/ in moto afterwards (listed with pagination): {}; grants still provisioned in the ledger: {still_provisioned}",
        after.join(", ")
    );
    println!(
        "  AWS calls during the pass ({} in all, {:.2} per reaped role):",
        calls.values().map(|c| c.0).sum::<u64>(),
        calls.values().map(|c| c.0).sum::<u64>() as f64 / reaped.max(1) as f64
    );
    println!(
        "  {:<40} {:>7} {:>9} {:>7} {:>9} {:>9}",
        "service / operation", "calls", "per role", "errors", "mean ms", "total s"
    );
    for ((service, operation), (n, errors, seconds)) in &calls {
        println!(
            "  {:<40} {n:>7} {:>9.2} {errors:>7} {:>9.2} {seconds:>9.1}",
            format!("{service} {operation}"),
            *n as f64 / reaped.max(1) as f64,
            1000.0 * seconds / (*n).max(1) as f64,
        );
    }
    if !calls.keys().any(|(_, operation)| operation == "AssumeRole") {
        println!(
            "  (No AssumeRole: the provisioner sessions from the setup were still cached, by real time, not the moved clock; a reaper in a fresh process adds one per account.)"
        );
    }
    println!(
        "Reaper: {:.2} AWS calls per role, {per_second:.1} roles per second",
        calls.values().map(|c| c.0).sum::<u64>() as f64 / reaped.max(1) as f64
    );
    let all_gone = roles_after.iter().all(|n| *n == 0);
    let ok = reaped == expected && report.errors == 0 && all_gone;
    println!(
        "Check: {expected} reaped, none left in moto, no errors: {reaped} reaped, {} left, {} errors  {}",
        roles_after.iter().sum::<usize>(),
        report.errors,
        if ok { "PASS" } else { "FAIL" }
    );
    println!();
    Ok(())
}
