//! Figures 1-4, against a running `stint serve`: after a cold run and a warm-up,
//! provision+deprovision latency one at a time and with many in flight (with the CPU time each
//! process spends per run), the AWS calls one provisioning and one deprovisioning make
//! (counted from `GET /metrics`), and the server's peak RSS. With `--moto-url`, also the floor
//! (`floor`: the bare SDK's same calls one after another, timed just before the runs one at a
//! time) and moto's own answer to each AWS operation stint uses (`moto_probe`), to tell
//! stint's time from moto's.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::args::Runs;
use crate::client::{Target, http_client};
use crate::figures::{floor, moto_probe};
use crate::metrics::CallCounts;
use crate::procfs::{ClockTicks, memory_kb, mib};
use crate::report::{
    counted_cell, pass, print_calls_header, print_calls_row, print_latency_header,
    print_latency_row,
};
use crate::runs::{Outcome, Run, counted_run, run_once};
use crate::stats::{ms, percentile};

const TARGET_P50_MS: f64 = 40.0;
const TARGET_WARM_CALLS: u64 = 7;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// The `stint serve` process, for its peak RSS.
    #[arg(long)]
    pid: u32,
    #[command(flatten)]
    runs: Runs,
    /// Runs in flight at once in the concurrent phase.
    #[arg(long, default_value_t = 20)]
    concurrency: usize,
    /// Runs in total in the concurrent phase.
    #[arg(long, default_value_t = 200)]
    concurrent_runs: usize,
    /// Also time moto's answer to each AWS operation, directly through the SDK.
    #[arg(long)]
    moto_url: Option<String>,
    /// The catalog the server runs with (for the moto probe's identity store and group).
    #[arg(long, default_value = "examples/catalog.toml")]
    catalog: PathBuf,
    /// Rounds of the moto probe.
    #[arg(long, default_value_t = 50)]
    probe_rounds: usize,
    /// The moto process, for the CPU time it spends per run.
    #[arg(long)]
    moto_pid: Option<u32>,
    #[command(flatten)]
    ticks: ClockTicks,
}

async fn sequential(client: &reqwest::Client, base: &str, target: &Target, runs: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let started = Instant::now();
    for _ in 0..runs {
        outcome.record(run_once(client, base, target, None).await);
    }
    outcome.wall = started.elapsed();
    outcome.max_in_flight = 1;
    outcome
}

/// `total` runs by `concurrency` workers, each starting its next run when its last ends.
async fn concurrent(
    client: &reqwest::Client,
    base: &str,
    target: &Target,
    concurrency: usize,
    total: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let (client, base, target) = (client.clone(), base.to_owned(), target.clone());
        let (next, in_flight, max_in_flight) =
            (next.clone(), in_flight.clone(), max_in_flight.clone());
        workers.spawn(async move {
            let mut outcome = Outcome::default();
            while next.fetch_add(1, Ordering::SeqCst) < total {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                outcome.record(run_once(&client, &base, &target, None).await);
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            outcome
        });
    }
    let mut all = Outcome::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(outcome) => all.merge(outcome),
            Err(error) => all.error(format!("a worker died: {error}")),
        }
    }
    all.wall = started.elapsed();
    all.max_in_flight = max_in_flight.load(Ordering::SeqCst);
    all
}

/// Prints one phase; returns the provision+deprovision p50 in ms.
fn print_phase(title: &str, outcome: &Outcome) -> f64 {
    let total = outcome.sorted(Run::total);
    let throughput = outcome.runs.len() as f64 / outcome.wall.as_secs_f64();
    println!(
        "{title}: {} runs in {:.2} s, {throughput:.1} runs/s, at most {} in flight",
        outcome.attempted(),
        outcome.wall.as_secs_f64(),
        outcome.max_in_flight
    );
    print_latency_header();
    print_latency_row("provision+deprovision", &total, outcome.errors);
    print_latency_row(
        "  provision (POST /v1/provision)",
        &outcome.sorted(|r| r.provision),
        outcome.errors,
    );
    print_latency_row(
        "  deprovision (POST /v1/deprovision)",
        &outcome.sorted(|r| r.deprovision),
        outcome.errors,
    );
    for message in &outcome.first_errors {
        println!("  error: {message}");
    }
    percentile(&total, 50.0)
}

/// CPU time so far of stint serve, moto (if known) and this driver.
#[derive(Clone, Copy)]
struct CpuSample {
    stint: Duration,
    moto: Option<Duration>,
    driver: Duration,
}

impl CpuSample {
    fn take(args: &LoadArgs) -> anyhow::Result<Self> {
        Ok(Self {
            stint: args.ticks.cpu_time(args.pid)?,
            moto: args
                .moto_pid
                .map(|pid| args.ticks.cpu_time(pid))
                .transpose()?,
            driver: args.ticks.cpu_time(std::process::id())?,
        })
    }

    /// CPU milliseconds per run between `self` (before) and `after`.
    fn print_per_run(&self, after: &CpuSample, runs: usize, wall: Duration) {
        let per_run = |before: Duration, after: Duration| ms(after - before) / runs.max(1) as f64;
        let moto = match (self.moto, after.moto) {
            (Some(before), Some(after)) => format!("moto {:.1} ms, ", per_run(before, after)),
            _ => String::new(),
        };
        let busy = |before: Duration, after: Duration| {
            100.0 * (after - before).as_secs_f64() / wall.as_secs_f64()
        };
        let moto_busy = match (self.moto, after.moto) {
            (Some(before), Some(after)) => format!(", moto {:.0}%", busy(before, after)),
            _ => String::new(),
        };
        println!(
            "  CPU time per run: stint serve {:.1} ms, {moto}this driver {:.1} ms (busy: stint {:.0}%{moto_busy} of one CPU)",
            per_run(self.stint, after.stint),
            per_run(self.driver, after.driver),
            busy(self.stint, after.stint),
        );
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let target = Target::example();
    let client = http_client(args.concurrency.max(1) * 2)?;
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .with_context(|| format!("GET {base}/healthz"))?;
    if !health.status().is_success() {
        bail!("GET {base}/healthz: {}", health.status());
    }
    let (hwm_at_start, _) = memory_kb(args.pid)?;

    // The first run after start is cold: it assumes the provisioner role and looks the group up.
    let cold = counted_run(&client, &base, &target)
        .await
        .context("the first (cold) provision+deprovision")?;
    let warmup = sequential(&client, &base, &target, args.runs.warmup).await;
    if warmup.errors > 0 {
        println!(
            "warm-up: {} of {} runs failed",
            warmup.errors, args.runs.warmup
        );
        for message in &warmup.first_errors {
            println!("  error: {message}");
        }
    }
    let warm = counted_run(&client, &base, &target)
        .await
        .context("the counted warm provision+deprovision")?;

    // The floor, on the same moto right before the runs one at a time it is compared with;
    // if it cannot be measured, that is reported and the load figures still are.
    let floor = match &args.moto_url {
        Some(moto_url) => {
            Some(floor::measure(moto_url, &args.catalog, args.runs.warmup, args.runs.runs).await)
        }
        None => None,
    };

    let cpu_start = CpuSample::take(&args)?;
    let seq = sequential(&client, &base, &target, args.runs.runs).await;
    let cpu_seq = CpuSample::take(&args)?;
    let conc = concurrent(
        &client,
        &base,
        &target,
        args.concurrency,
        args.concurrent_runs,
    )
    .await;
    let cpu_conc = CpuSample::take(&args)?;
    let (hwm, rss) = memory_kb(args.pid)?;

    println!(
        "== Latency over HTTP ({base}), after 1 cold run and {} warm-up runs ==",
        args.runs.warmup
    );
    let p50_seq = print_phase("Concurrency 1", &seq);
    cpu_start.print_per_run(&cpu_seq, seq.attempted(), seq.wall);
    println!();
    let title = format!("Concurrency {}", args.concurrency);
    print_phase(&title, &conc);
    cpu_seq.print_per_run(&cpu_conc, conc.attempted(), conc.wall);
    println!();
    println!(
        "Target: provision+deprovision p50 < {TARGET_P50_MS} ms at concurrency 1: {p50_seq:.2} ms  {}",
        pass(p50_seq < TARGET_P50_MS && seq.errors == 0)
    );
    println!();
    match &floor {
        Some(Ok(floor)) => floor::print(floor, args.runs.warmup, &seq),
        Some(Err(error)) => {
            println!("== Floor: could not be measured: {error:#} ==");
            println!();
        }
        None => {}
    }

    let (warm_prov, warm_deprov) = &warm;
    let by_attempts = print_calls(&cold, &warm);
    let warm_calls = warm_prov.counted_total(by_attempts);
    let verdict = if warm_calls == 0 {
        "MISS (nothing was counted)"
    } else {
        pass(warm_calls <= TARGET_WARM_CALLS)
    };
    println!(
        "Target: at most {TARGET_WARM_CALLS} AWS calls per warm provisioning (one managed policy): {warm_calls}  {verdict}"
    );
    println!(
        "Ledger writes (SQLite ledger, stint_ledger_writes_total deltas): per warm provisioning {}, per warm deprovisioning {}",
        counted_cell(warm_prov.ledger_writes),
        counted_cell(warm_deprov.ledger_writes)
    );
    println!();

    println!("== Memory of stint serve (pid {}) ==", args.pid);
    println!(
        "  peak RSS (VmHWM) before the load: {:.1} MiB; after {} runs: {:.1} MiB; RSS now: {:.1} MiB",
        mib(hwm_at_start),
        seq.runs.len() + conc.runs.len() + warmup.runs.len() + 2,
        mib(hwm),
        mib(rss)
    );
    println!();

    if let Some(moto_url) = &args.moto_url {
        let probe = moto_probe::probe(moto_url, &args.catalog, args.probe_rounds)
            .await
            .context("timing moto")?;
        moto_probe::print(
            &probe,
            args.probe_rounds,
            warm_prov.counted(by_attempts),
            warm_deprov.counted(by_attempts),
            &seq,
        );
    }
    Ok(())
}

/// The AWS calls table of the cold and the warm run; returns whether it counts attempts
/// (because the calls counter did not move).
fn print_calls(cold: &(CallCounts, CallCounts), warm: &(CallCounts, CallCounts)) -> bool {
    let columns = [&cold.0, &cold.1, &warm.0, &warm.1];
    // stint_aws_calls_total should move with every call; if it never does while the attempts
    // counter does, the calls counter is broken: count attempts (one per HTTP request to AWS).
    let calls_seen: u64 = columns.iter().map(|c| c.total_calls()).sum();
    let attempts_seen: u64 = columns.iter().map(|c| c.total_attempts()).sum();
    let by_attempts = calls_seen == 0 && attempts_seen > 0;
    let metric = if by_attempts {
        "attempts (stint_aws_calls_total + stint_aws_retries_total)"
    } else {
        "stint_aws_calls_total"
    };
    println!("== AWS calls, counted from GET /metrics ({metric} deltas around each request) ==");
    if by_attempts {
        println!(
            "  NOTE: stint_aws_calls_total did not move at all while stint_aws_retries_total did; the calls counter is broken, so these are attempts (HTTP requests to AWS, SDK retries included; equal to calls when nothing was retried)."
        );
    }
    let keys: BTreeSet<&(String, String)> = columns
        .iter()
        .flat_map(|c| c.counted(by_attempts).keys())
        .collect();
    print_calls_header();
    for key in keys {
        let cell = |c: &CallCounts| c.counted(by_attempts).get(key).copied().unwrap_or(0);
        print_calls_row(&format!("{} {}", key.0, key.1), columns.map(cell));
    }
    print_calls_row(
        "total (stint_aws_calls_total)",
        columns.map(CallCounts::total_calls),
    );
    print_calls_row(
        "total attempts (calls + retries)",
        columns.map(CallCounts::total_attempts),
    );
    print_calls_row(
        "ledger writes (stint_ledger_writes_total)",
        columns.map(|c| counted_cell(c.ledger_writes)),
    );
    by_attempts
}
