//! The load driver behind `scripts/bench`, against the AWS emulator (moto) only. Commands:
//!
//! - `bench load --url URL --pid PID [--moto-url URL --catalog FILE]`: against a running
//!   `stint serve`: warm-up, provision+deprovision latency one at a time and with many in
//!   flight, the AWS calls one provisioning and one deprovisioning make (counted from
//!   `GET /metrics`), and the server's peak RSS. With `--moto-url`, also times moto's own
//!   answer to each AWS operation stint uses, through the SDK, to tell stint's time from moto's.
//! - `bench startup --stint BIN --catalog FILE --moto-url URL --dir DIR`: the time from
//!   spawning `stint serve` to its first successful `GET /healthz`, over several starts.
//!
//! - `bench verify --dir DIR`: GitHub Actions OIDC token verifications per second on one core
//!   (a current-thread runtime) with a warm JWKS cache, and where the time goes.
//! - `bench auth --stint BIN --catalog FILE --moto-url URL --dir DIR`: the provision latency
//!   authentication adds: two `stint serve`, one without and one with an `[oidc]` issuer (on
//!   loopback, in this process), requests alternating between them.
//! - `bench reap --catalog FILE --moto-url URL --dir DIR`: one reaper pass over 1,000 expired
//!   grants in two accounts, in-process with a clock moved past the TTL.
//! - `bench faults --stint BIN --catalog FILE --moto-url URL --dir DIR`: provision+deprovision
//!   through a fault-injecting proxy (20% of AWS requests), then a reaper pass, then leaks.
//! - `bench lambda --lambda BIN --catalog FILE --moto-url URL --dir DIR`: `stint-lambda`'s cold
//!   start, spawn to first answer, against a loopback stand-in for the Lambda Runtime API, with
//!   a DynamoDB ledger: the `reap` function, then `provision` with a real event (and a warm one).
//! - `bench dynamo --stint BIN --catalog FILE --moto-url URL --dir DIR`: the DynamoDB calls one
//!   provisioning and one deprovisioning make with `--ledger dynamodb://TABLE`, and
//!   provision+deprovision latency with the DynamoDB ledger against the SQLite one.
//!
//! Every figure is measured; targets are shown with PASS/MISS, and missing one is not an error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

// The fault-injecting proxy and the emulator seeder of the integration tests, as they are.
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "../tests/it/fault_proxy.rs"]
mod fault_proxy;
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "../tests/it/seed.rs"]
mod seed;

// The newer sections, in examples/bench/ (not examples themselves: no main.rs there).
#[path = "bench/auth.rs"]
mod auth;
#[path = "bench/dynamo.rs"]
mod dynamo;
#[path = "bench/faults.rs"]
mod faults;
#[path = "bench/issuer.rs"]
mod issuer;
#[path = "bench/lambda.rs"]
mod lambda;
#[path = "bench/reap.rs"]
mod reap;
#[path = "bench/runtime_api.rs"]
mod runtime_api;
#[path = "bench/serve.rs"]
mod serve;
#[path = "bench/verify.rs"]
mod verify;

const EMAIL: &str = "alice@example.com";
const BRANCH: &str = "main";
const ACCOUNT_NAME: &str = "workload-nonprod";
const ACCOUNT_ID: &str = "222222222222";
const GROUP_TYPE: &str = "Product-Deployers";

const TARGET_P50_MS: f64 = 40.0;
const TARGET_WARM_CALLS: u64 = 7;
const TARGET_HEALTHZ_MS: f64 = 50.0;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "stint's benchmark driver (run by scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Latency, AWS calls and peak RSS against a running `stint serve`.
    Load(LoadArgs),
    /// Time from spawning `stint serve` to its first `GET /healthz` answer.
    Startup(StartupArgs),
    /// Token verifications per second on one core, warm JWKS cache.
    Verify(verify::VerifyArgs),
    /// Provision latency with and without token authentication.
    Auth(auth::AuthArgs),
    /// One reaper pass over many expired grants.
    Reap(reap::ReapArgs),
    /// Provision+deprovision at an injected AWS fault rate, then leaks.
    Faults(faults::FaultArgs),
    /// `stint-lambda` cold start to the first answer (reap, provision), and warm.
    Lambda(lambda::LambdaArgs),
    /// DynamoDB calls per provisioning, and latency with the DynamoDB vs the SQLite ledger.
    Dynamo(dynamo::DynamoArgs),
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// The `stint serve` process, for its peak RSS.
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Sequential provision+deprovision runs.
    #[arg(long, default_value_t = 200)]
    runs: usize,
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
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

#[derive(clap::Args)]
struct StartupArgs {
    /// The `stint` binary.
    #[arg(long)]
    stint: PathBuf,
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long)]
    moto_url: String,
    /// Where each start's fresh ledger and log go.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    starts: usize,
}

fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    if let Command::Verify(args) = command {
        // Builds its own single-threaded runtime: the figure is for one core.
        return verify::run(&args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Load(args) => load(args).await,
            Command::Startup(args) => startup(args).await,
            Command::Verify(_) => Ok(()),
            Command::Auth(args) => auth::run(&args).await,
            Command::Reap(args) => reap::run(&args).await,
            Command::Faults(args) => faults::run(&args).await,
            Command::Lambda(args) => lambda::run(&args).await,
            Command::Dynamo(args) => dynamo::run(&args).await,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn http_client(max_idle: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle)
        .build()
        .context("building the HTTP client")
}

/// POSTs `body`; anything but a 200 with a JSON body is an error that says what came back.
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("POST {url}: reading the body"))?;
    if status != reqwest::StatusCode::OK {
        let snippet: String = text.chars().take(300).collect();
        bail!("POST {url}: {status}: {snippet}");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: body is not JSON"))
}

fn field<'a>(body: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the response has no string `{name}`: {body}"))
}

/// Provisions; returns the transaction id and the role ARN.
async fn provision(client: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let body = json!({
        "email": EMAIL,
        "branch": BRANCH,
        "target_aws_account": ACCOUNT_NAME,
        "target_aws_account_id": ACCOUNT_ID,
        "group_type": GROUP_TYPE,
    });
    let out = post(client, &format!("{base}/v1/provision"), &body).await?;
    if field(&out, "status")? != "provisioned" {
        bail!("provision answered 200 but not `provisioned`: {out}");
    }
    Ok((
        field(&out, "transaction_id")?.to_owned(),
        field(&out, "iam_role_arn")?.to_owned(),
    ))
}

async fn deprovision(
    client: &reqwest::Client,
    base: &str,
    transaction_id: &str,
    role_arn: &str,
) -> anyhow::Result<()> {
    let body = json!({
        "transaction_id": transaction_id,
        "target_aws_account": ACCOUNT_NAME,
        "role_arn": role_arn,
    });
    let out = post(client, &format!("{base}/v1/deprovision"), &body).await?;
    if field(&out, "status")? != "deprovisioned" {
        bail!("deprovision answered 200 but not `deprovisioned`: {out}");
    }
    if out.get("already_deprovisioned") == Some(&Value::Bool(true)) {
        bail!("deprovision said the role was already gone: {out}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Load

#[derive(Debug, Clone, Copy)]
struct Run {
    provision: Duration,
    deprovision: Duration,
}

impl Run {
    fn total(&self) -> Duration {
        self.provision + self.deprovision
    }
}

async fn run_once(client: &reqwest::Client, base: &str) -> anyhow::Result<Run> {
    let started = Instant::now();
    let (transaction_id, role_arn) = provision(client, base).await.context("provisioning")?;
    let provisioned = started.elapsed();
    let started = Instant::now();
    deprovision(client, base, &transaction_id, &role_arn)
        .await
        .context("deprovisioning")?;
    Ok(Run {
        provision: provisioned,
        deprovision: started.elapsed(),
    })
}

#[derive(Default)]
struct Outcome {
    runs: Vec<Run>,
    errors: usize,
    first_errors: Vec<String>,
    wall: Duration,
    max_in_flight: usize,
}

impl Outcome {
    fn record(&mut self, result: anyhow::Result<Run>) {
        match result {
            Ok(run) => self.runs.push(run),
            Err(error) => self.error(format!("{error:#}")),
        }
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_errors.len() < 3 {
            self.first_errors.push(message);
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.runs.extend(other.runs);
        self.errors += other.errors;
        for message in other.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(message);
            }
        }
    }
}

async fn sequential(client: &reqwest::Client, base: &str, runs: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let started = Instant::now();
    for _ in 0..runs {
        outcome.record(run_once(client, base).await);
    }
    outcome.wall = started.elapsed();
    outcome.max_in_flight = 1;
    outcome
}

/// `total` runs by `concurrency` workers, each starting its next run when its last ends.
async fn concurrent(
    client: &reqwest::Client,
    base: &str,
    concurrency: usize,
    total: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let (client, base) = (client.clone(), base.to_owned());
        let (next, in_flight, max_in_flight) =
            (next.clone(), in_flight.clone(), max_in_flight.clone());
        workers.spawn(async move {
            let mut outcome = Outcome::default();
            while next.fetch_add(1, Ordering::SeqCst) < total {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                outcome.record(run_once(&client, &base).await);
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

/// Nearest-rank percentile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(runs: &[Run], pick: impl Fn(&Run) -> Duration) -> Vec<Duration> {
    let mut values: Vec<Duration> = runs.iter().map(pick).collect();
    values.sort();
    values
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn print_latency_header() {
    let header = [
        "", "runs", "errors", "p50 ms", "p99 ms", "mean ms", "max ms",
    ];
    println!(
        "  {:<38} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        header[0], header[1], header[2], header[3], header[4], header[5], header[6]
    );
}

fn print_latency_row(label: &str, values: &[Duration], errors: usize) {
    if values.is_empty() {
        println!(
            "  {label:<38} {:>5} {errors:>6} {:>8} {:>8} {:>8} {:>8}",
            0, "-", "-", "-", "-"
        );
        return;
    }
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        values.iter().map(|d| ms(*d)).sum::<f64>() / values.len() as f64
    };
    let max = values.last().map_or(f64::NAN, |d| ms(*d));
    println!(
        "  {:<38} {:>5} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        label,
        values.len(),
        errors,
        percentile(values, 50.0),
        percentile(values, 99.0),
        mean,
        max
    );
}

/// Prints one phase; returns the provision+deprovision p50 in ms.
fn print_phase(title: &str, outcome: &Outcome) -> f64 {
    let total = sorted(&outcome.runs, Run::total);
    let throughput = outcome.runs.len() as f64 / outcome.wall.as_secs_f64();
    println!(
        "{title}: {} runs in {:.2} s, {throughput:.1} runs/s, at most {} in flight",
        outcome.runs.len() + outcome.errors,
        outcome.wall.as_secs_f64(),
        outcome.max_in_flight
    );
    print_latency_header();
    print_latency_row("provision+deprovision", &total, outcome.errors);
    print_latency_row(
        "  provision (POST /v1/provision)",
        &sorted(&outcome.runs, |r| r.provision),
        outcome.errors,
    );
    print_latency_row(
        "  deprovision (POST /v1/deprovision)",
        &sorted(&outcome.runs, |r| r.deprovision),
        outcome.errors,
    );
    for message in &outcome.first_errors {
        println!("  error: {message}");
    }
    percentile(&total, 50.0)
}

/// A counter's values by (service, operation).
type Counts = BTreeMap<(String, String), u64>;

/// `stint_aws_calls_total`, `stint_aws_retries_total` and `stint_aws_errors_total`; attempts
/// (HTTP requests to AWS) are calls plus retries.
#[derive(Debug, Clone, Default)]
struct CallCounts {
    calls: Counts,
    attempts: Counts,
    retries: Counts,
    errors: Counts,
}

impl CallCounts {
    fn since(&self, before: &CallCounts) -> CallCounts {
        let diff = |after: &Counts, before: &Counts| {
            after
                .iter()
                .filter_map(|(key, n)| {
                    let d = n.saturating_sub(before.get(key).copied().unwrap_or(0));
                    (d > 0).then(|| (key.clone(), d))
                })
                .collect()
        };
        CallCounts {
            calls: diff(&self.calls, &before.calls),
            attempts: diff(&self.attempts, &before.attempts),
            retries: diff(&self.retries, &before.retries),
            errors: diff(&self.errors, &before.errors),
        }
    }

    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    fn total_attempts(&self) -> u64 {
        self.attempts.values().sum()
    }

    /// Calls by operation, or attempts when the calls counter is not to be trusted.
    fn counted(&self, by_attempts: bool) -> &Counts {
        if by_attempts {
            &self.attempts
        } else {
            &self.calls
        }
    }

    fn counted_total(&self, by_attempts: bool) -> u64 {
        self.counted(by_attempts).values().sum()
    }
}

/// Reads `GET /metrics` and parses the AWS call counters.
async fn aws_calls(client: &reqwest::Client, base: &str) -> anyhow::Result<CallCounts> {
    parse_aws_calls(&metrics_text(client, base).await?)
}

/// The text of `GET /metrics`.
async fn metrics_text(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let url = format!("{base}/metrics");
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if response.status() != reqwest::StatusCode::OK {
        bail!("GET {url}: {}", response.status());
    }
    response.text().await.context("reading /metrics")
}

/// The AWS call counters of a `GET /metrics` text.
fn parse_aws_calls(text: &str) -> anyhow::Result<CallCounts> {
    let mut counts = CallCounts::default();
    for line in text.lines() {
        let (map, rest) = if let Some(rest) = line.strip_prefix("stint_aws_calls_total{") {
            (&mut counts.calls, rest)
        } else if let Some(rest) = line.strip_prefix("stint_aws_retries_total{") {
            (&mut counts.retries, rest)
        } else if let Some(rest) = line.strip_prefix("stint_aws_errors_total{") {
            (&mut counts.errors, rest)
        } else {
            continue;
        };
        let (labels, value) = rest
            .split_once("} ")
            .ok_or_else(|| anyhow!("unexpected /metrics line: {line}"))?;
        let mut service = None;
        let mut operation = None;
        for label in labels.split(',') {
            match label.split_once('=') {
                Some(("service", v)) => service = Some(v.trim_matches('"').to_owned()),
                Some(("operation", v)) => operation = Some(v.trim_matches('"').to_owned()),
                _ => {}
            }
        }
        let (Some(service), Some(operation)) = (service, operation) else {
            bail!("unexpected /metrics labels: {line}");
        };
        let value: u64 = value
            .trim()
            .parse()
            .with_context(|| format!("unexpected /metrics value: {line}"))?;
        map.insert((service, operation), value);
    }
    // Every call is one attempt, and every retry one more.
    let mut attempts = counts.calls.clone();
    for (key, retries) in &counts.retries {
        *attempts.entry(key.clone()).or_default() += retries;
    }
    counts.attempts = attempts;
    Ok(counts)
}

/// Counts the AWS calls of one provisioning and of its deprovisioning, separately.
async fn counted_run(
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(CallCounts, CallCounts)> {
    let before = aws_calls(client, base).await?;
    let (transaction_id, role_arn) = provision(client, base).await?;
    let provisioned = aws_calls(client, base).await?;
    deprovision(client, base, &transaction_id, &role_arn).await?;
    let deprovisioned = aws_calls(client, base).await?;
    Ok((
        provisioned.since(&before),
        deprovisioned.since(&provisioned),
    ))
}

/// Kilobytes of `VmHWM` (peak RSS) and `VmRSS` from /proc/PID/status.
fn memory_kb(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let read = |key: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .ok_or_else(|| anyhow!("{path} has no {key}"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{path}: {key} {line}"))
    };
    Ok((read("VmHWM:")?, read("VmRSS:")?))
}

/// User+system CPU time of a process so far, all threads, from /proc/PID/stat.
fn cpu_time(pid: u32, clk_tck: u64) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command's closing parenthesis start at field 3; utime and stime are 14, 15.
    let (_, rest) = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("{path}: unexpected format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |field: usize| -> anyhow::Result<u64> {
        fields
            .get(field - 3)
            .ok_or_else(|| anyhow!("{path}: no field {field}"))?
            .parse()
            .with_context(|| format!("{path}: field {field}"))
    };
    let total = ticks(14)? + ticks(15)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clk_tck.max(1) as f64,
    ))
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
            stint: cpu_time(args.pid, args.clk_tck)?,
            moto: args
                .moto_pid
                .map(|pid| cpu_time(pid, args.clk_tck))
                .transpose()?,
            driver: cpu_time(std::process::id(), args.clk_tck)?,
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

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
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
    let cold = counted_run(&client, &base)
        .await
        .context("the first (cold) provision+deprovision")?;
    let warmup = sequential(&client, &base, args.warmup).await;
    if warmup.errors > 0 {
        println!("warm-up: {} of {} runs failed", warmup.errors, args.warmup);
        for message in &warmup.first_errors {
            println!("  error: {message}");
        }
    }
    let warm = counted_run(&client, &base)
        .await
        .context("the counted warm provision+deprovision")?;

    let cpu_start = CpuSample::take(&args)?;
    let seq = sequential(&client, &base, args.runs).await;
    let cpu_seq = CpuSample::take(&args)?;
    let conc = concurrent(&client, &base, args.concurrency, args.concurrent_runs).await;
    let cpu_conc = CpuSample::take(&args)?;
    let (hwm, rss) = memory_kb(args.pid)?;

    println!(
        "== Latency over HTTP ({base}), after 1 cold run and {} warm-up runs ==",
        args.warmup
    );
    let p50_seq = print_phase("Concurrency 1", &seq);
    cpu_start.print_per_run(&cpu_seq, seq.runs.len() + seq.errors, seq.wall);
    println!();
    let title = format!("Concurrency {}", args.concurrency);
    print_phase(&title, &conc);
    cpu_seq.print_per_run(&cpu_conc, conc.runs.len() + conc.errors, conc.wall);
    println!();
    println!(
        "Target: provision+deprovision p50 < {TARGET_P50_MS} ms at concurrency 1: {p50_seq:.2} ms  {}",
        pass(p50_seq < TARGET_P50_MS && seq.errors == 0)
    );
    println!();

    let (cold_prov, cold_deprov) = &cold;
    let (warm_prov, warm_deprov) = &warm;
    let columns = [cold_prov, cold_deprov, warm_prov, warm_deprov];
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
    let header = [
        "service / operation",
        "prov cold",
        "deprov 1st",
        "prov warm",
        "deprov warm",
    ];
    println!(
        "  {:<40} {:>11} {:>11} {:>11} {:>11}",
        header[0], header[1], header[2], header[3], header[4]
    );
    for key in keys {
        let cell = |c: &CallCounts| c.counted(by_attempts).get(key).copied().unwrap_or(0);
        println!(
            "  {:<40} {:>11} {:>11} {:>11} {:>11}",
            format!("{} {}", key.0, key.1),
            cell(cold_prov),
            cell(cold_deprov),
            cell(warm_prov),
            cell(warm_deprov)
        );
    }
    let totals = [
        (
            "total (stint_aws_calls_total)",
            CallCounts::total_calls as fn(&CallCounts) -> u64,
        ),
        (
            "total attempts (calls + retries)",
            CallCounts::total_attempts,
        ),
    ];
    for (label, total) in totals {
        println!(
            "  {:<40} {:>11} {:>11} {:>11} {:>11}",
            label,
            total(cold_prov),
            total(cold_deprov),
            total(warm_prov),
            total(warm_deprov)
        );
    }
    let warm_calls = warm_prov.counted_total(by_attempts);
    let verdict = if warm_calls == 0 {
        "MISS (nothing was counted)"
    } else {
        pass(warm_calls <= TARGET_WARM_CALLS)
    };
    println!(
        "Target: at most {TARGET_WARM_CALLS} AWS calls per warm provisioning (one managed policy): {warm_calls}  {verdict}"
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
        let probe = probe_moto(moto_url, &args.catalog, args.probe_rounds)
            .await
            .context("timing moto")?;
        print_probe(
            &probe,
            args.probe_rounds,
            warm_prov.counted(by_attempts),
            warm_deprov.counted(by_attempts),
            &seq,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Moto's own latency per operation

type Probe = BTreeMap<&'static str, Vec<Duration>>;

async fn timed<T, E: std::error::Error + Send + Sync + 'static>(
    probe: &mut Probe,
    operation: &'static str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let out = call
        .await
        .map_err(|e| anyhow!("{operation}: {}", stint_server::api::error_chain(&e)))?;
    probe.entry(operation).or_default().push(started.elapsed());
    Ok(out)
}

/// Calls moto directly through the SDK, the operations stint makes, one at a time, `rounds`
/// times, in the broker's own account (roles `/bench/bench-probe-*`, deleted again).
async fn probe_moto(moto_url: &str, catalog_path: &Path, rounds: usize) -> anyhow::Result<Probe> {
    use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};

    let text = std::fs::read_to_string(catalog_path)
        .with_context(|| format!("reading {}", catalog_path.display()))?;
    let catalog = stint_core::catalog::Catalog::from_toml(&text)
        .map_err(|e| anyhow!("catalog {}: {e:?}", catalog_path.display()))?;
    let account = catalog
        .accounts()
        .iter()
        .find(|a| a.name.as_str() == ACCOUNT_NAME)
        .ok_or_else(|| anyhow!("the catalog has no account {ACCOUNT_NAME}"))?;
    let persona = catalog
        .personas()
        .find(|p| p.name.as_str() == GROUP_TYPE)
        .ok_or_else(|| anyhow!("the catalog has no persona {GROUP_TYPE}"))?;
    let managed = persona
        .grant(account.environment)
        .managed_policies(&account.id);
    let group_name = catalog.group_name(&account.id, &persona.name);
    let store = catalog.identity_store_id.clone();
    let provisioner = format!(
        "arn:aws:iam::{}:role/{}",
        account.id, catalog.provisioner_role_name
    );

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto_url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let ids = aws_sdk_identitystore::Client::new(&sdk);
    let unique = |path: &str, value: &str| -> anyhow::Result<AlternateIdentifier> {
        Ok(AlternateIdentifier::UniqueAttribute(
            UniqueAttribute::builder()
                .attribute_path(path)
                .attribute_value(value.into())
                .build()?,
        ))
    };
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": catalog.pipeline_principal_arn },
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            "Condition": { "StringEquals": { "sts:SourceIdentity": EMAIL } },
        }],
    })
    .to_string();
    let inline = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*" }],
    })
    .to_string();

    let mut probe = Probe::new();
    for round in 0..rounds {
        timed(
            &mut probe,
            "GetCallerIdentity",
            sts.get_caller_identity().send(),
        )
        .await?;
        timed(
            &mut probe,
            "AssumeRole",
            sts.assume_role()
                .role_arn(&provisioner)
                .role_session_name("bench-probe")
                .duration_seconds(900)
                .send(),
        )
        .await?;
        let user = timed(
            &mut probe,
            "GetUserId",
            ids.get_user_id()
                .identity_store_id(&store)
                .alternate_identifier(unique("emails.value", EMAIL)?)
                .send(),
        )
        .await?;
        let group = timed(
            &mut probe,
            "GetGroupId",
            ids.get_group_id()
                .identity_store_id(&store)
                .alternate_identifier(unique("displayName", &group_name)?)
                .send(),
        )
        .await?;
        timed(
            &mut probe,
            "IsMemberInGroups",
            ids.is_member_in_groups()
                .identity_store_id(&store)
                .member_id(MemberId::UserId(user.user_id().to_owned()))
                .group_ids(group.group_id())
                .send(),
        )
        .await?;

        let role = format!("bench-probe-{}-{round}", std::process::id());
        timed(
            &mut probe,
            "CreateRole",
            iam.create_role()
                .path("/bench/")
                .role_name(&role)
                .assume_role_policy_document(&trust)
                .description("stint bench probe")
                .max_session_duration(3600)
                .tags(tag("stint:transaction-id", &role)?)
                .tags(tag("stint:requester", EMAIL)?)
                .tags(tag("stint:branch", BRANCH)?)
                .tags(tag("stint:group-type", GROUP_TYPE)?)
                .tags(tag("stint:expires-at", "2099-01-01T00:00:00Z")?)
                .send(),
        )
        .await?;
        for arn in &managed {
            timed(
                &mut probe,
                "AttachRolePolicy",
                iam.attach_role_policy()
                    .role_name(&role)
                    .policy_arn(arn)
                    .send(),
            )
            .await?;
        }
        timed(
            &mut probe,
            "PutRolePolicy",
            iam.put_role_policy()
                .role_name(&role)
                .policy_name("stint-grant")
                .policy_document(&inline)
                .send(),
        )
        .await?;
        timed(
            &mut probe,
            "ListAttachedRolePolicies",
            iam.list_attached_role_policies().role_name(&role).send(),
        )
        .await?;
        timed(
            &mut probe,
            "ListRolePolicies",
            iam.list_role_policies().role_name(&role).send(),
        )
        .await?;
        for arn in &managed {
            timed(
                &mut probe,
                "DetachRolePolicy",
                iam.detach_role_policy()
                    .role_name(&role)
                    .policy_arn(arn)
                    .send(),
            )
            .await?;
        }
        timed(
            &mut probe,
            "DeleteRolePolicy",
            iam.delete_role_policy()
                .role_name(&role)
                .policy_name("stint-grant")
                .send(),
        )
        .await?;
        timed(
            &mut probe,
            "DeleteRole",
            iam.delete_role().role_name(&role).send(),
        )
        .await?;

        // The calls stint sends together, timed together: does moto overlap them?
        let role = format!("bench-pair-{}-{round}", std::process::id());
        iam.create_role()
            .path("/bench/")
            .role_name(&role)
            .assume_role_policy_document(&trust)
            .send()
            .await
            .map_err(sdk_error)?;
        let started = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for arn in &managed {
            let call = iam.attach_role_policy().role_name(&role).policy_arn(arn);
            calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        }
        let call = iam
            .put_role_policy()
            .role_name(&role)
            .policy_name("stint-grant")
            .policy_document(&inline);
        calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        together(&mut probe, PAIR_GRANT, started, calls).await?;

        let started = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        let call = iam.list_attached_role_policies().role_name(&role);
        calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        let call = iam.list_role_policies().role_name(&role);
        calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        together(&mut probe, PAIR_LIST, started, calls).await?;

        let started = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for arn in &managed {
            let call = iam.detach_role_policy().role_name(&role).policy_arn(arn);
            calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        }
        let call = iam
            .delete_role_policy()
            .role_name(&role)
            .policy_name("stint-grant");
        calls.spawn(async move { call.send().await.map(drop).map_err(sdk_error) });
        together(&mut probe, PAIR_REMOVE, started, calls).await?;
        timed(
            &mut probe,
            "DeleteRole",
            iam.delete_role().role_name(&role).send(),
        )
        .await?;
    }
    Ok(probe)
}

const PAIR_GRANT: &str = "[AttachRolePolicy+PutRolePolicy]";
const PAIR_LIST: &str = "[ListAttached+ListRolePolicies]";
const PAIR_REMOVE: &str = "[DetachRolePolicy+DeleteRolePolicy]";

fn sdk_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow!("{}", stint_server::api::error_chain(&error))
}

/// Waits for calls sent together and records their combined time under `name`.
async fn together(
    probe: &mut Probe,
    name: &'static str,
    started: Instant,
    mut calls: tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    while let Some(joined) = calls.join_next().await {
        joined.context(name)?.context(name)?;
    }
    probe.entry(name).or_default().push(started.elapsed());
    Ok(())
}

fn tag(key: &str, value: &str) -> anyhow::Result<aws_sdk_iam::types::Tag> {
    Ok(aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()?)
}

/// Per-operation moto latency, and what the counted calls of one warm run add up to.
fn print_probe(
    probe: &Probe,
    rounds: usize,
    warm_prov: &Counts,
    warm_deprov: &Counts,
    seq: &Outcome,
) {
    println!(
        "== Moto's own latency per operation (SDK -> moto directly, {rounds} rounds, one at a time) =="
    );
    let header = ["operation", "p50 ms", "p99 ms", "mean ms"];
    println!(
        "  {:<28} {:>8} {:>8} {:>8}",
        header[0], header[1], header[2], header[3]
    );
    let mut p50s = BTreeMap::new();
    for (operation, values) in probe {
        let mut values = values.clone();
        values.sort();
        let mean = values.iter().map(|d| ms(*d)).sum::<f64>() / values.len().max(1) as f64;
        let p50 = percentile(&values, 50.0);
        p50s.insert(*operation, p50);
        println!(
            "  {:<28} {:>8.2} {:>8.2} {:>8.2}",
            operation,
            p50,
            percentile(&values, 99.0),
            mean
        );
    }
    // Sum of (calls x moto p50) over the counted calls of one warm provisioning / deprovisioning.
    let aws_ms = |counts: &Counts| -> (f64, Vec<String>) {
        let mut sum = 0.0;
        let mut unknown = Vec::new();
        for ((_, operation), n) in counts {
            match p50s.get(operation.as_str()) {
                Some(p50) => sum += p50 * *n as f64,
                None => unknown.push(operation.clone()),
            }
        }
        (sum, unknown)
    };
    let stint_p50 = |pick: fn(&Run) -> Duration| percentile(&sorted(&seq.runs, pick), 50.0);
    println!("  Where the time of one warm run goes (concurrency 1):");
    for (label, counts, p50) in [
        ("provision", warm_prov, stint_p50(|r| r.provision)),
        ("deprovision", warm_deprov, stint_p50(|r| r.deprovision)),
        (
            "provision+deprovision",
            &merge_counts(warm_prov, warm_deprov),
            stint_p50(Run::total),
        ),
    ] {
        let (aws, unknown) = aws_ms(counts);
        let unknown = if unknown.is_empty() {
            String::new()
        } else {
            format!(" (not probed: {})", unknown.join(", "))
        };
        println!(
            "  {label:<22} p50 {p50:>7.2} ms; {:>2} AWS calls x moto p50 = {aws:>7.2} ms (if made one after another){unknown}; rest {:>7.2} ms",
            counts.values().sum::<u64>(),
            p50 - aws
        );
    }
    println!(
        "  (stint sends some calls together, so the sum of moto p50s is an upper bound on the time spent waiting for moto, and the rest a lower bound on stint's own time.)"
    );

    // The same, in stint's order with the calls it sends together timed together; only when
    // the counted calls are the ones stint-aws makes today (else its shape has changed).
    let names = |counts: &Counts| -> BTreeSet<String> {
        counts
            .keys()
            .map(|(_, operation)| operation.clone())
            .collect()
    };
    let expect = |list: &[&str]| -> BTreeSet<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    };
    let prov_shape = [
        "GetUserId",
        "IsMemberInGroups",
        "CreateRole",
        "AttachRolePolicy",
        "PutRolePolicy",
        "AssumeRole",
    ];
    let deprov_shape = [
        "ListAttachedRolePolicies",
        "ListRolePolicies",
        "DetachRolePolicy",
        "DeleteRolePolicy",
        "DeleteRole",
    ];
    let path =
        |steps: &[&str]| -> Option<f64> { steps.iter().map(|step| p50s.get(step).copied()).sum() };
    let prov_path = path(&[
        "GetUserId",
        "IsMemberInGroups",
        "CreateRole",
        PAIR_GRANT,
        "AssumeRole",
    ]);
    let deprov_path = path(&[PAIR_LIST, PAIR_REMOVE, "DeleteRole"]);
    match (prov_path, deprov_path) {
        (Some(prov), Some(deprov))
            if names(warm_prov) == expect(&prov_shape)
                && names(warm_deprov) == expect(&deprov_shape) =>
        {
            println!("  In stint's order, the calls it sends together timed together (moto p50s):");
            for (label, aws, p50) in [
                ("provision", prov, stint_p50(|r| r.provision)),
                ("deprovision", deprov, stint_p50(|r| r.deprovision)),
                (
                    "provision+deprovision",
                    prov + deprov,
                    stint_p50(Run::total),
                ),
            ] {
                println!(
                    "  {label:<22} p50 {p50:>7.2} ms; waiting for moto {aws:>7.2} ms; rest (stint, HTTP, SQLite) {:>7.2} ms",
                    p50 - aws
                );
            }
        }
        _ => println!(
            "  (stint's AWS call pattern is not the one this probe mirrors; the in-order estimate is skipped.)"
        ),
    }
    println!(
        "  (The probe runs after the load, not during it: a negative rest means moto answered more slowly then, i.e. the machine was busier. The CPU times per run above do not have that problem.)"
    );
    println!();
}

fn merge_counts(a: &Counts, b: &Counts) -> Counts {
    let mut out = a.clone();
    for (key, n) in b {
        *out.entry(key.clone()).or_default() += n;
    }
    out
}

/// Names of the roles under /stint/ in an account, as moto holds them (every page).
async fn stint_roles(seeder: &seed::Seeder, account: &str) -> anyhow::Result<Vec<String>> {
    let iam = seeder
        .iam(account)
        .await
        .map_err(|e| anyhow!("an IAM client in {account}: {e}"))?;
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_roles()
            .path_prefix(stint_core::provision::ROLE_PATH)
            .set_marker(marker)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("listing roles in {account}"))?;
        names.extend(page.roles().iter().map(|r| r.role_name().to_owned()));
        match page.marker().filter(|_| page.is_truncated()) {
            Some(next) => marker = Some(next.to_owned()),
            None => return Ok(names),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Startup

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn startup(args: StartupArgs) -> anyhow::Result<()> {
    // No pooling: every poll is a fresh connection, as a health checker's would be.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the HTTP client")?;
    let mut times = Vec::new();
    let mut polls_per_start = Vec::new();
    let mut hwms = Vec::new();
    for start in 0..args.starts {
        let port = free_port()?;
        let ledger = args.dir.join(format!("startup-{start}.db"));
        let log_path = args.dir.join(format!("startup-{start}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let url = format!("http://127.0.0.1:{port}/healthz");
        let mut command = tokio::process::Command::new(&args.stint);
        command
            .arg("--catalog")
            .arg(&args.catalog)
            .arg("--ledger")
            .arg(&ledger)
            .arg("--aws-endpoint-url")
            .arg(&args.moto_url)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);

        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", args.stint.display()))?;
        let mut polls = 0u32;
        let ready = loop {
            polls += 1;
            if let Ok(response) = client.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                break started.elapsed();
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "stint serve exited ({status}) before answering /healthz; see {}",
                    log_path.display()
                );
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!(
                    "stint serve did not answer /healthz within 10 s; see {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if let Some(pid) = child.id()
            && let Ok((hwm, _)) = memory_kb(pid)
        {
            hwms.push(hwm);
        }
        child.kill().await.context("stopping stint serve")?;
        times.push(ready);
        polls_per_start.push(polls);
    }

    let listed: Vec<String> = times.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    let mut by_time = times.clone();
    by_time.sort();
    let min = by_time.first().map_or(f64::NAN, |d| ms(*d));
    let median = percentile(&by_time, 50.0);
    println!(
        "== Startup: spawn of stint serve to first 200 from GET /healthz (polled every ~1 ms, fresh ledger each) =="
    );
    println!(
        "  {} starts: {} ms (polls per start: {:?})",
        times.len(),
        listed.join(", "),
        polls_per_start
    );
    println!("  min {min:.1} ms, median {median:.1} ms");
    if let Some(max) = hwms.iter().max() {
        println!(
            "  peak RSS when /healthz first answered: {:.1} MiB at most",
            mib(*max)
        );
    }
    println!(
        "Target: /healthz within {TARGET_HEALTHZ_MS} ms of start (median): {median:.1} ms  {}",
        pass(median <= TARGET_HEALTHZ_MS)
    );
    println!();
    Ok(())
}
