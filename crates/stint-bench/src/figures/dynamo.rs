//! Figures 11-12, the DynamoDB ledger against the SQLite one: two `stint serve` on the same
//! moto and the same catalog, one with `--ledger dynamodb://TABLE` and one with a SQLite file.
//! First the DynamoDB calls one provisioning and one deprovisioning make (counted from
//! `GET /metrics`, cold and after the warm-up), then provision+deprovision latency, one run at
//! a time, alternating between the two servers so both see the same emulator. Email requests,
//! no authentication.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::args::TwoServers;
use crate::aws::stint_config;
use crate::client::{Target, http_client};
use crate::dynamodb::Table;
use crate::metrics::{CallCounts, scrape};
use crate::report::{
    counted_cell, print_calls_header, print_calls_row, print_latency_header, print_latency_row,
};
use crate::runs::{Outcome, Part, Run, counted_run, run_once};
use crate::spawn::Server;
use crate::stats::{ms, percentile, sorted};

/// Rounds of the direct TransactWriteItems probe, per table.
const PROBE_ROUNDS: usize = 20;
/// Runs at each end of the latency phase compared, to see a trend.
const TREND_RUNS: usize = 50;
/// Ledger-like items in the probe's full table: about what 200 runs leave.
const FULL_TABLE_ITEMS: usize = 2000;

const DYNAMODB: &str = "DynamoDB";

const TRANSACT_WRITE: &str = "TransactWriteItems";

/// Calls of one DynamoDB operation.
fn operation_calls(counts: &CallCounts, operation: &str) -> u64 {
    counts
        .calls
        .get(&(DYNAMODB.to_owned(), operation.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// `GetItem 1, TransactWriteItems 2 (3 in all)`: the DynamoDB calls by operation.
fn by_operation(counts: &CallCounts) -> String {
    let parts: Vec<String> = counts
        .calls
        .iter()
        .filter(|((service, _), _)| service == DYNAMODB)
        .map(|((_, operation), n)| format!("{operation} {n}"))
        .collect();
    if parts.is_empty() {
        return "none".to_owned();
    }
    format!("{} ({} in all)", parts.join(", "), dynamo_calls(counts))
}

fn dynamo_calls(counts: &CallCounts) -> u64 {
    counts
        .calls
        .iter()
        .filter(|((service, _), _)| service == DYNAMODB)
        .map(|(_, n)| n)
        .sum()
}

/// Nearest-rank p50 of the provision+deprovision time of some runs.
fn p50_total(runs: &[Run]) -> f64 {
    percentile(&sorted(runs.iter().map(Run::total)), 50.0)
}

pub async fn run(args: &TwoServers) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
    let sdk = stint_config(&setup.moto_url).await;
    let table = Table::create(&sdk, format!("stint-bench-serve-{}", std::process::id())).await?;

    let dynamo = Server::of(
        &args.stint,
        &setup.catalog,
        Path::new(&format!("dynamodb://{}", table.name)),
        "ledger-dynamodb",
    )
    .await?;
    let sqlite = Server::sqlite(&args.stint, &setup.catalog, "ledger-sqlite").await?;
    let client = http_client(2)?;
    let target = Target::example();
    // Items in the table after each DynamoDB run (see `Table::reset`).
    let mut items_after_run = Vec::new();

    // GET /metrics itself reads the ledger (stint_active_grants): with DynamoDB that is AWS
    // calls, counted in the delta that scrape ends. Measured here, subtracted below.
    let (idle_before, _) = scrape(&client, &dynamo.url).await?;
    let (idle_after, _) = scrape(&client, &dynamo.url).await?;
    let scrape_cost = idle_after.since(&idle_before);

    // Calls: the first run is cold (provisioner session, group id); then the warm-up; then
    // one counted warm run on each server.
    let (cold_prov, cold_deprov) = counted_run(&client, &dynamo.url, &target)
        .await
        .context("the first (cold) provision+deprovision on the DynamoDB ledger")?;
    table.reset().await?;
    let mut warm_dynamo = Outcome::default();
    let mut warm_sqlite = Outcome::default();
    for _ in 0..args.runs.warmup.max(1) {
        warm_sqlite.record(run_once(&client, &sqlite.url, &target, None).await);
        warm_dynamo.record(run_once(&client, &dynamo.url, &target, None).await);
        table.reset().await?;
    }
    let (warm_prov, warm_deprov) = counted_run(&client, &dynamo.url, &target)
        .await
        .context("the counted warm provision+deprovision on the DynamoDB ledger")?;
    table.reset().await?;
    let (sqlite_prov, sqlite_deprov) = counted_run(&client, &sqlite.url, &target)
        .await
        .context("the counted warm provision+deprovision on the SQLite ledger")?;
    let columns = [cold_prov, cold_deprov, warm_prov, warm_deprov].map(|c| c.since(&scrape_cost));

    // Latency, alternating.
    let mut on_dynamo = Outcome::default();
    let mut on_sqlite = Outcome::default();
    let (calls_before, sums_before) = scrape(&client, &dynamo.url).await?;
    let cpu_dynamo = args.ticks.start(dynamo.pid)?;
    let cpu_sqlite = args.ticks.start(sqlite.pid)?;
    let started = Instant::now();
    for i in 0..args.runs.runs {
        if i % 2 == 0 {
            on_sqlite.record(run_once(&client, &sqlite.url, &target, None).await);
            on_dynamo.record(run_once(&client, &dynamo.url, &target, None).await);
            items_after_run.push(table.reset().await?);
        } else {
            on_dynamo.record(run_once(&client, &dynamo.url, &target, None).await);
            items_after_run.push(table.reset().await?);
            on_sqlite.record(run_once(&client, &sqlite.url, &target, None).await);
        }
    }
    let wall = started.elapsed();
    let cpu_dynamo = cpu_dynamo.elapsed()?;
    let cpu_sqlite = cpu_sqlite.elapsed()?;
    let (calls_after, sums_after) = scrape(&client, &dynamo.url).await?;
    let calls_during = calls_after.since(&calls_before);
    let calls_during_runs = calls_during.since(&scrape_cost);
    dynamo.stop().await?;
    sqlite.stop().await?;

    // Moto's own TransactWriteItems latency, on an empty table and on a full one.
    let probe = Table::create(&sdk, format!("stint-bench-probe-{}", std::process::id())).await?;
    let probe_empty = probe.time_transact_write(PROBE_ROUNDS).await?;
    probe.fill(FULL_TABLE_ITEMS).await?;
    let full_items = probe.count_items().await?;
    let probe_full = probe.time_transact_write(PROBE_ROUNDS).await?;

    // Section: DynamoDB calls.
    println!(
        "== DynamoDB ledger: AWS calls per provisioning and per deprovisioning (stint serve --ledger dynamodb://{}; stint_aws_calls_total deltas from GET /metrics) ==",
        table.name
    );
    let columns = columns.each_ref();
    print_calls_header();
    let keys: BTreeSet<&(String, String)> = columns.iter().flat_map(|c| c.calls.keys()).collect();
    // DynamoDB first, then the rest.
    let (ddb_keys, other): (Vec<_>, Vec<_>) = keys.into_iter().partition(|(s, _)| s == DYNAMODB);
    for key in ddb_keys.into_iter().chain(other) {
        let cell = |c: &CallCounts| c.calls.get(key).copied().unwrap_or(0);
        print_calls_row(&format!("{} {}", key.0, key.1), columns.map(cell));
    }
    print_calls_row("DynamoDB calls", columns.map(dynamo_calls));
    print_calls_row("all AWS calls", columns.map(CallCounts::total_calls));
    print_calls_row("retries (SDK)", columns.map(CallCounts::total_retries));
    print_calls_row(
        "ledger writes (stint_ledger_writes_total)",
        columns.map(|c| counted_cell(c.ledger_writes)),
    );
    let scrape_calls: Vec<String> = scrape_cost
        .calls
        .iter()
        .map(|((service, operation), n)| format!("{n} {service} {operation}"))
        .collect();
    println!(
        "  GET /metrics itself makes {} on this server (stint_active_grants counts the ledger's live grants); subtracted from every delta above.",
        if scrape_calls.is_empty() {
            "no AWS call".to_owned()
        } else {
            scrape_calls.join(", ")
        }
    );
    println!(
        "  The same warm run on the SQLite ledger: {} AWS calls to provision, {} to deprovision, none of them DynamoDB ({} and {}).",
        sqlite_prov.total_calls(),
        sqlite_deprov.total_calls(),
        dynamo_calls(&sqlite_prov),
        dynamo_calls(&sqlite_deprov)
    );
    let [_, _, warm_prov, warm_deprov] = columns;
    println!(
        "Ledger writes per warm provisioning / deprovisioning: SQLite {} / {} (stint_ledger_writes_total); DynamoDB {} / {} (stint_ledger_writes_total), {} / {} TransactWriteItems",
        counted_cell(sqlite_prov.ledger_writes),
        counted_cell(sqlite_deprov.ledger_writes),
        counted_cell(warm_prov.ledger_writes),
        counted_cell(warm_deprov.ledger_writes),
        operation_calls(warm_prov, TRANSACT_WRITE),
        operation_calls(warm_deprov, TRANSACT_WRITE),
    );
    println!(
        "DynamoDB calls per warm provisioning: {}; per warm deprovisioning: {}",
        by_operation(warm_prov),
        by_operation(warm_deprov)
    );
    println!();

    // Section: latency.
    println!(
        "== Provision+deprovision latency, DynamoDB ledger vs SQLite ledger (two stint serve on one moto, {} runs each, alternating, after {} warm-up runs each; email requests, no auth) ==",
        args.runs.runs,
        args.runs.warmup.max(1)
    );
    let warm_errors = warm_dynamo.errors + warm_sqlite.errors;
    if warm_errors > 0 {
        println!("  warm-up: {warm_errors} runs failed");
    }
    print_latency_header();
    for (label, outcome) in [("SQLite", &on_sqlite), ("DynamoDB", &on_dynamo)] {
        print_latency_row(
            &format!("{label}: provision+deprovision"),
            &outcome.sorted(Run::total),
            outcome.errors,
        );
        print_latency_row(
            &format!("{label}:   provision"),
            &outcome.sorted(|r| r.provision),
            outcome.errors,
        );
        print_latency_row(
            &format!("{label}:   deprovision"),
            &outcome.sorted(|r| r.deprovision),
            outcome.errors,
        );
    }
    let at = |outcome: &Outcome, p: f64| percentile(&outcome.sorted(Run::total), p);
    println!(
        "  provision+deprovision p50 / p99: SQLite {:.2} / {:.2} ms; DynamoDB {:.2} / {:.2} ms",
        at(&on_sqlite, 50.0),
        at(&on_sqlite, 99.0),
        at(&on_dynamo, 50.0),
        at(&on_dynamo, 99.0),
    );
    let diff = |pick: Part, p: f64| {
        percentile(&on_dynamo.sorted(pick), p) - percentile(&on_sqlite.sorted(pick), p)
    };
    println!(
        "  DynamoDB minus SQLite: provision+deprovision p50 {:+.2} ms, p99 {:+.2} ms; provision p50 {:+.2} ms; deprovision p50 {:+.2} ms",
        diff(Run::total, 50.0),
        diff(Run::total, 99.0),
        diff(|r| r.provision, 50.0),
        diff(|r| r.deprovision, 50.0),
    );
    let trend = |runs: &[Run]| {
        let k = TREND_RUNS.min(runs.len() / 2).max(1);
        (
            p50_total(runs.get(..k).unwrap_or_default()),
            p50_total(runs.get(runs.len().saturating_sub(k)..).unwrap_or_default()),
            k,
        )
    };
    let (sqlite_first, sqlite_last, k) = trend(&on_sqlite.runs);
    let (dynamo_first, dynamo_last, _) = trend(&on_dynamo.runs);
    println!(
        "  p50 of the first {k} runs -> the last {k}: SQLite {sqlite_first:.2} -> {sqlite_last:.2} ms; DynamoDB {dynamo_first:.2} -> {dynamo_last:.2} ms"
    );
    // Where the DynamoDB server's time goes: its DynamoDB calls, as it timed them.
    let runs = on_dynamo.attempted();
    let mut ddb_ms_per_run = 0.0;
    let mut parts = Vec::new();
    for ((service, operation), n) in &calls_during_runs.calls {
        if service != DYNAMODB {
            continue;
        }
        let key = (service.clone(), operation.clone());
        let seconds = sums_after.get(&key).copied().unwrap_or(0.0)
            - sums_before.get(&key).copied().unwrap_or(0.0);
        // The mean over every call in the window (the closing scrape's own included).
        let all = calls_during.calls.get(&key).copied().unwrap_or(*n).max(1);
        let mean_ms = 1000.0 * seconds / all as f64;
        ddb_ms_per_run += mean_ms * *n as f64 / runs.max(1) as f64;
        parts.push(format!(
            "{operation} {:.1}/run, mean {mean_ms:.2} ms",
            *n as f64 / runs.max(1) as f64,
        ));
    }
    println!(
        "  DynamoDB calls per run on the DynamoDB server, as stint timed them (retries included): {}; {ddb_ms_per_run:.2} ms per run in all",
        parts.join("; ")
    );
    let per_run = |cpu: Duration, n: usize| ms(cpu) / n.max(1) as f64;
    println!(
        "  CPU time of stint serve per provision+deprovision: SQLite {:.2} ms, DynamoDB {:.2} ms; {:.1} s for both (table resets included)",
        per_run(cpu_sqlite, on_sqlite.attempted()),
        per_run(cpu_dynamo, runs),
        wall.as_secs_f64()
    );
    let items_per_run =
        items_after_run.iter().sum::<u64>() as f64 / items_after_run.len().max(1) as f64;
    println!(
        "  The DynamoDB server's table is deleted and created again, empty, after every run, outside the timed span ({items_per_run:.1} items per run): moto deep-copies the whole table on every TransactWriteItems (its rollback copy), so its time grows with the table, which DynamoDB's does not."
    );
    println!(
        "  Moto's own TransactWriteItems (2 conditional puts, SDK -> moto directly, {PROBE_ROUNDS} rounds): empty table p50 {:.2} ms, p99 {:.2} ms; with {full_items} ledger-like items (about what {} runs leave) p50 {:.2} ms, p99 {:.2} ms",
        percentile(&probe_empty, 50.0),
        percentile(&probe_empty, 99.0),
        (full_items as f64 / items_per_run.max(1.0)).round(),
        percentile(&probe_full, 50.0),
        percentile(&probe_full, 99.0),
    );
    println!(
        "  (The DynamoDB figures are moto's, on loopback: not what DynamoDB would answer in a region.)"
    );
    for message in on_sqlite
        .first_errors
        .iter()
        .chain(&on_dynamo.first_errors)
        .chain(&warm_dynamo.first_errors)
        .chain(&warm_sqlite.first_errors)
        .take(3)
    {
        println!("  error: {message}");
    }
    println!();
    Ok(())
}
