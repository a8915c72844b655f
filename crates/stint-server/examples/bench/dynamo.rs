//! The DynamoDB ledger against the SQLite one: two `stint serve` on the same moto and the same
//! catalog, one with `--ledger dynamodb://TABLE` and one with a SQLite file. First the DynamoDB
//! calls one provisioning and one deprovisioning make (counted from `GET /metrics`, cold and
//! after the warm-up), then provision+deprovision latency, one run at a time, alternating
//! between the two servers so both see the same emulator. Email requests, no authentication.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use stint_aws::{AwsSettings, DynamoLedger};

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, Select, TransactWriteItem, WriteRequest,
};

use super::serve::Server;
use super::{
    CallCounts, Outcome, Run, counted_run, cpu_time, http_client, metrics_text, ms,
    parse_aws_calls, percentile, print_latency_header, print_latency_row, run_once, sorted,
};

/// Rounds of the direct TransactWriteItems probe, per table.
const PROBE_ROUNDS: usize = 20;
/// Runs at each end of the latency phase compared, to see a trend.
const TREND_RUNS: usize = 50;
/// Ledger-like items in the probe's full table: about what 200 runs leave.
const FULL_TABLE_ITEMS: usize = 2000;

type Sums = BTreeMap<(String, String), f64>;

const DYNAMODB: &str = "DynamoDB";

#[derive(clap::Args)]
pub struct DynamoArgs {
    /// The `stint` binary.
    #[arg(long)]
    stint: PathBuf,
    /// The catalog both servers run with (seeded; requests as alice to its workload-nonprod).
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long)]
    moto_url: String,
    /// Where the SQLite ledger and logs go.
    #[arg(long)]
    dir: PathBuf,
    /// Warm-up runs against each server.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Sequential provision+deprovision runs against each server.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

/// The AWS call counters and `stint_aws_call_duration_seconds_sum` by (service, operation),
/// from one `GET /metrics`.
async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<(CallCounts, Sums)> {
    let text = metrics_text(client, base).await?;
    Ok((parse_aws_calls(&text)?, latency_sums(&text)?))
}

fn latency_sums(text: &str) -> anyhow::Result<Sums> {
    let mut sums = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("stint_aws_call_duration_seconds_sum{") else {
            continue;
        };
        let (labels, value) = rest
            .split_once("} ")
            .ok_or_else(|| anyhow!("unexpected /metrics line: {line}"))?;
        let label = |name: &str| {
            labels.split(',').find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        let (Some(service), Some(operation)) = (label("service"), label("operation")) else {
            bail!("unexpected /metrics labels: {line}");
        };
        let value: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("unexpected /metrics value: {line}"))?;
        sums.insert((service, operation), value);
    }
    Ok(sums)
}

fn dynamo_calls(counts: &CallCounts) -> u64 {
    counts
        .calls
        .iter()
        .filter(|((service, _), _)| service == DYNAMODB)
        .map(|(_, n)| n)
        .sum()
}

/// Items in `table`, by a counting scan.
pub async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(super::sdk_error)
            .with_context(|| format!("counting the items of {table}"))?;
        total += u64::try_from(page.count()).unwrap_or(0);
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(total),
        }
    }
}

/// Deletes `table` and creates it again, empty (between the DynamoDB server's runs, outside
/// the timed span); returns how many items it held. Deleting the items instead is not enough:
/// moto keeps an empty partition per deleted transaction, and copies those too.
async fn reset_table(
    client: &aws_sdk_dynamodb::Client,
    creator: &DynamoLedger,
    table: &str,
) -> anyhow::Result<u64> {
    let items = count_items(client, table).await?;
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map_err(super::sdk_error)
        .with_context(|| format!("deleting {table}"))?;
    creator
        .create_table()
        .await
        .map_err(|e| anyhow!("creating the DynamoDB table {table} again: {e}"))?;
    Ok(items)
}

/// BatchWriteItem in chunks of 25, resending what comes back unprocessed.
async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    requests: Vec<WriteRequest>,
) -> anyhow::Result<()> {
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        for _ in 0..10 {
            if pending.is_empty() {
                break;
            }
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(super::sdk_error)
                .with_context(|| format!("BatchWriteItem on {table}"))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(table))
                .unwrap_or_default();
        }
        if !pending.is_empty() {
            bail!(
                "BatchWriteItem on {table} left {} items unprocessed",
                pending.len()
            );
        }
    }
    Ok(())
}

/// Fills `table` with `count` items shaped like the ledger's (a transaction item and nine
/// event items per transaction, hashes and JSON included).
async fn fill_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    count: usize,
) -> anyhow::Result<()> {
    let s = |v: String| AttributeValue::S(v);
    let n = |v: u64| AttributeValue::N(v.to_string());
    let hash = "ab".repeat(32);
    let data = serde_json::json!({
        "role_arn": "arn:aws:iam::222222222222:role/stint/stint-01a2016e-f886-7b60-8d21-f95cbffda71d",
        "policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
        "requester": "alice@example.com",
    })
    .to_string();
    let mut requests = Vec::new();
    for i in 0..count {
        let (txn, k) = (i / 10, i % 10);
        let pk = format!("T#bench-fill-{}-{txn}", std::process::id());
        let mut item = std::collections::HashMap::from([
            ("pk".to_owned(), s(pk)),
            ("v".to_owned(), n(k as u64)),
            ("hash".to_owned(), s(hash.clone())),
            ("data".to_owned(), s(data.clone())),
        ]);
        if k == 0 {
            item.insert("sk".to_owned(), s("T".to_owned()));
            item.insert("st".to_owned(), s("deprovisioned".to_owned()));
            item.insert("exp".to_owned(), n(4_000_000_000));
            item.insert("upd".to_owned(), n(1_700_000_000 + txn as u64));
            item.insert("head".to_owned(), s(hash.clone()));
            item.insert("body".to_owned(), s(data.repeat(3)));
        } else {
            item.insert("sk".to_owned(), s(format!("E#{k:010}")));
            item.insert("at".to_owned(), s("2026-01-01T00:00:00Z".to_owned()));
            item.insert("actor".to_owned(), s("alice@example.com".to_owned()));
            item.insert("action".to_owned(), s("provisioned".to_owned()));
            item.insert("es".to_owned(), s("provisioned".to_owned()));
            item.insert("reason".to_owned(), s("-".to_owned()));
            item.insert("prev".to_owned(), s(hash.clone()));
        }
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| anyhow!("building a put: {e}"))?;
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    batch_write(client, table, requests).await
}

/// Moto's own latency for a TransactWriteItems like the ledger's (two conditional puts, a
/// transaction item and an event item), SDK -> moto directly, `PROBE_ROUNDS` times.
async fn probe_transact_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<Vec<Duration>> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let mut times = Vec::new();
    for round in 0..PROBE_ROUNDS {
        let pk = format!("T#bench-probe-{}-{round}", uuid::Uuid::new_v4());
        let put = |sk: &str| -> anyhow::Result<TransactWriteItem> {
            let put = Put::builder()
                .table_name(table)
                .item("pk", s(&pk))
                .item("sk", s(sk))
                .item("st", s("probe"))
                .item("exp", n(4_000_000_000))
                .item("upd", n(1_700_000_000))
                .item("body", s("{}"))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| anyhow!("building a put: {e}"))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let call = client
            .transact_write_items()
            .transact_items(put("T")?)
            .transact_items(put("E#0000000001")?);
        let started = Instant::now();
        call.send()
            .await
            .map_err(super::sdk_error)
            .with_context(|| format!("TransactWriteItems on {table}"))?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times)
}

/// Nearest-rank p50 of the provision+deprovision time of some runs.
fn p50_total(runs: &[Run]) -> f64 {
    percentile(&sorted(runs, Run::total), 50.0)
}

pub async fn run(args: &DynamoArgs) -> anyhow::Result<()> {
    let table = format!("stint-bench-serve-{}", std::process::id());
    let sdk = stint_aws::load_sdk_config(&AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(args.moto_url.clone()),
    })
    .await;
    let creator = DynamoLedger::new(&sdk, Default::default(), &table);
    creator
        .create_table()
        .await
        .map_err(|e| anyhow!("creating the DynamoDB table {table}: {e}"))?;

    let dynamo = Server::spawn(
        &args.stint,
        &args.catalog,
        Path::new(&format!("dynamodb://{table}")),
        &args.moto_url,
        &args.dir.join("ledger-dynamodb"),
    )
    .await?;
    let sqlite = Server::spawn(
        &args.stint,
        &args.catalog,
        &args.dir.join("ledger-sqlite.db"),
        &args.moto_url,
        &args.dir.join("ledger-sqlite"),
    )
    .await?;
    let client = http_client(2)?;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    // Items in the table after each DynamoDB run (see `reset_table`).
    let mut items_after_run = Vec::new();

    // GET /metrics itself reads the ledger (stint_active_grants): with DynamoDB that is AWS
    // calls, counted in the delta that scrape ends. Measured here, subtracted below.
    let (idle_before, _) = scrape(&client, &dynamo.url).await?;
    let (idle_after, _) = scrape(&client, &dynamo.url).await?;
    let scrape_cost = idle_after.since(&idle_before);

    // Calls: the first run is cold (provisioner session, group id); then the warm-up; then
    // one counted warm run on each server.
    let (cold_prov, cold_deprov) = counted_run(&client, &dynamo.url)
        .await
        .context("the first (cold) provision+deprovision on the DynamoDB ledger")?;
    reset_table(&ddb, &creator, &table).await?;
    let mut warm_dynamo = Outcome::default();
    let mut warm_sqlite = Outcome::default();
    for _ in 0..args.warmup.max(1) {
        warm_sqlite.record(run_once(&client, &sqlite.url).await);
        warm_dynamo.record(run_once(&client, &dynamo.url).await);
        reset_table(&ddb, &creator, &table).await?;
    }
    let (warm_prov, warm_deprov) = counted_run(&client, &dynamo.url)
        .await
        .context("the counted warm provision+deprovision on the DynamoDB ledger")?;
    reset_table(&ddb, &creator, &table).await?;
    let (sqlite_prov, sqlite_deprov) = counted_run(&client, &sqlite.url)
        .await
        .context("the counted warm provision+deprovision on the SQLite ledger")?;
    let [cold_prov, cold_deprov, warm_prov, warm_deprov] =
        [cold_prov, cold_deprov, warm_prov, warm_deprov].map(|c| c.since(&scrape_cost));

    // Latency, alternating.
    let mut on_dynamo = Outcome::default();
    let mut on_sqlite = Outcome::default();
    let (calls_before, sums_before) = scrape(&client, &dynamo.url).await?;
    let cpu_dynamo = cpu_time(dynamo.pid, args.clk_tck)?;
    let cpu_sqlite = cpu_time(sqlite.pid, args.clk_tck)?;
    let started = Instant::now();
    for i in 0..args.runs {
        if i % 2 == 0 {
            on_sqlite.record(run_once(&client, &sqlite.url).await);
            on_dynamo.record(run_once(&client, &dynamo.url).await);
            items_after_run.push(reset_table(&ddb, &creator, &table).await?);
        } else {
            on_dynamo.record(run_once(&client, &dynamo.url).await);
            items_after_run.push(reset_table(&ddb, &creator, &table).await?);
            on_sqlite.record(run_once(&client, &sqlite.url).await);
        }
    }
    let wall = started.elapsed();
    let cpu_dynamo = cpu_time(dynamo.pid, args.clk_tck)? - cpu_dynamo;
    let cpu_sqlite = cpu_time(sqlite.pid, args.clk_tck)? - cpu_sqlite;
    let (calls_after, sums_after) = scrape(&client, &dynamo.url).await?;
    let calls_during = calls_after.since(&calls_before);
    let calls_during_runs = calls_during.since(&scrape_cost);
    dynamo.stop().await?;
    sqlite.stop().await?;

    // Moto's own TransactWriteItems latency, on an empty table and on a full one.
    let probe_table = format!("stint-bench-probe-{}", std::process::id());
    DynamoLedger::new(&sdk, Default::default(), &probe_table)
        .create_table()
        .await
        .map_err(|e| anyhow!("creating the DynamoDB table {probe_table}: {e}"))?;
    let probe_empty = probe_transact_write(&ddb, &probe_table).await?;
    fill_table(&ddb, &probe_table, FULL_TABLE_ITEMS).await?;
    let full_items = count_items(&ddb, &probe_table).await?;
    let probe_full = probe_transact_write(&ddb, &probe_table).await?;

    // Section: DynamoDB calls.
    println!(
        "== DynamoDB ledger: AWS calls per provisioning and per deprovisioning (stint serve --ledger dynamodb://{table}; stint_aws_calls_total deltas from GET /metrics) =="
    );
    let columns = [&cold_prov, &cold_deprov, &warm_prov, &warm_deprov];
    println!(
        "  {:<40} {:>11} {:>11} {:>11} {:>11}",
        "service / operation", "prov cold", "deprov 1st", "prov warm", "deprov warm"
    );
    let keys: std::collections::BTreeSet<&(String, String)> =
        columns.iter().flat_map(|c| c.calls.keys()).collect();
    // DynamoDB first, then the rest.
    let (ddb_keys, other): (Vec<_>, Vec<_>) = keys.into_iter().partition(|(s, _)| s == DYNAMODB);
    for key in ddb_keys.into_iter().chain(other) {
        let cell = |c: &CallCounts| c.calls.get(key).copied().unwrap_or(0);
        println!(
            "  {:<40} {:>11} {:>11} {:>11} {:>11}",
            format!("{} {}", key.0, key.1),
            cell(&cold_prov),
            cell(&cold_deprov),
            cell(&warm_prov),
            cell(&warm_deprov)
        );
    }
    let row = |label: &str, value: &dyn Fn(&CallCounts) -> u64| {
        println!(
            "  {:<40} {:>11} {:>11} {:>11} {:>11}",
            label,
            value(&cold_prov),
            value(&cold_deprov),
            value(&warm_prov),
            value(&warm_deprov)
        );
    };
    row("DynamoDB calls", &dynamo_calls);
    row("all AWS calls", &CallCounts::total_calls);
    row("retries (SDK)", &|c: &CallCounts| {
        c.retries.values().sum::<u64>()
    });
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
    println!();

    // Section: latency.
    println!(
        "== Provision+deprovision latency, DynamoDB ledger vs SQLite ledger (two stint serve on one moto, {} runs each, alternating, after {} warm-up runs each; email requests, no auth) ==",
        args.runs,
        args.warmup.max(1)
    );
    let warm_errors = warm_dynamo.errors + warm_sqlite.errors;
    if warm_errors > 0 {
        println!("  warm-up: {warm_errors} runs failed");
    }
    print_latency_header();
    for (label, outcome) in [("SQLite", &on_sqlite), ("DynamoDB", &on_dynamo)] {
        print_latency_row(
            &format!("{label}: provision+deprovision"),
            &sorted(&outcome.runs, Run::total),
            outcome.errors,
        );
        print_latency_row(
            &format!("{label}:   provision"),
            &sorted(&outcome.runs, |r| r.provision),
            outcome.errors,
        );
        print_latency_row(
            &format!("{label}:   deprovision"),
            &sorted(&outcome.runs, |r| r.deprovision),
            outcome.errors,
        );
    }
    let diff = |pick: fn(&Run) -> Duration, p: f64| {
        percentile(&sorted(&on_dynamo.runs, pick), p)
            - percentile(&sorted(&on_sqlite.runs, pick), p)
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
    let runs = on_dynamo.runs.len() + on_dynamo.errors;
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
        per_run(cpu_sqlite, on_sqlite.runs.len() + on_sqlite.errors),
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
