//! Figure 10, Lambda cold start: `stint-lambda` (release) spawned against this process's
//! stand-in for the Lambda Runtime API (`runtime_api`), with a DynamoDB ledger on moto, timed
//! from the spawn to the POST of its first answer. First the scheduled `reap` function, then
//! `provision` with a real provisioning event (a fresh GitHub-shaped OIDC token from the
//! loopback issuer, each with its own run id so no answer comes from the idempotency record),
//! then a second event in the same process for the warm figure. Afterwards one `deprovision`
//! process removes every role the starts created, and the account must hold none.

mod runtime_api;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use stint_core::ports::Clock as _;
use stint_server::clock::SystemClock;
use stint_testkit::issuer::TestIssuer;
use stint_testkit::seed::Seeder;

use crate::args::Setup;
use crate::aws::stint_config;
use crate::catalog;
use crate::client::{BRANCH, GROUP_TYPE};
use crate::dynamodb::Table;
use crate::procfs::{memory_kb, mib};
use crate::spawn::spawn_logged;
use crate::stats::{listed, min_ms, ms, percentile, sorted};
use runtime_api::{Report, RuntimeApi};

/// How long one start may take to answer all its events.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const JOB: &str = "deploy";

#[derive(clap::Args)]
pub struct LambdaArgs {
    /// The `stint-lambda` binary (release).
    #[arg(long)]
    lambda: PathBuf,
    /// The catalog gets an `[oidc]` section for the loopback issuer; events go to its first
    /// nonprod account.
    #[command(flatten)]
    setup: Setup,
    /// Cold starts of each function.
    #[arg(long, default_value_t = 5)]
    starts: usize,
}

/// Tokens from the issuer, each with its own `run_id`: the functions' idempotency key holds
/// the run id, so a new run id is a new request (the issuer's default claims all carry 9001).
struct Tokens<'a> {
    issuer: &'a TestIssuer,
    next_run: u64,
}

impl Tokens<'_> {
    fn next(&mut self) -> String {
        let run_id = self.next_run.to_string();
        self.next_run += 1;
        self.issuer
            .mint_with(|claims| claims["run_id"] = json!(run_id))
    }
}

/// One process: when it first asked for an event, and each event's hand-out and answer, all
/// measured from the spawn.
struct Start {
    init: Duration,
    invocations: Vec<Invocation>,
    peak_rss_kb: Option<u64>,
}

struct Invocation {
    handed_out: Duration,
    answered: Duration,
    body: Value,
}

impl Invocation {
    fn took(&self) -> Duration {
        self.answered.saturating_sub(self.handed_out)
    }
}

/// What every start shares: the binary, its catalog and ledger table, moto, the log directory.
struct Env<'a> {
    lambda: &'a Path,
    catalog: &'a Path,
    table: &'a str,
    moto_url: &'a str,
    dir: &'a Path,
}

/// Spawns one `stint-lambda` for `function`, serves it `events`, waits for every answer, kills it.
async fn start_once(
    env: &Env<'_>,
    function: &str,
    events: Vec<Value>,
    label: &str,
) -> anyhow::Result<Start> {
    let expected = events.len();
    let function_name = format!("stint-{function}");
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}");
    let mut api = RuntimeApi::start(events, &arn).await?;
    let log_path = env.dir.join(format!("lambda-{label}.log"));
    let mut command = tokio::process::Command::new(env.lambda);
    command
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", &function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", label)
        .env("STINT_FUNCTION", function)
        .env("STINT_LEDGER", format!("dynamodb://{}", env.table))
        .env("STINT_CATALOG", env.catalog)
        .env("STINT_AWS_ENDPOINT_URL", env.moto_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("STINT_LOG");
    let (mut child, started) = spawn_logged(&mut command, env.lambda, &log_path)?;
    let pid = child.id();
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut init = None;
    let mut handed_out = HashMap::new();
    let mut invocations = Vec::new();
    let mut peak_rss_kb = None;
    while invocations.len() < expected {
        let report = tokio::select! {
            report = api.report() => report.ok_or_else(|| anyhow!("the Runtime API stand-in stopped"))?,
            status = child.wait() => bail!(
                "stint-lambda ({function}) exited ({}) after {} of {expected} answers; see {}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                invocations.len(),
                log_path.display()
            ),
            () = tokio::time::sleep_until(deadline) => bail!(
                "stint-lambda ({function}) gave {} of {expected} answers within {} s; see {}",
                invocations.len(),
                START_TIMEOUT.as_secs(),
                log_path.display()
            ),
        };
        match report {
            Report::Next { at, request_id } => {
                let since = at.saturating_duration_since(started);
                init.get_or_insert(since);
                handed_out.insert(request_id, since);
            }
            Report::Response {
                at,
                request_id,
                body,
            } => {
                let handed_out = handed_out
                    .get(&request_id)
                    .copied()
                    .ok_or_else(|| anyhow!("an answer to {request_id}, never handed out"))?;
                invocations.push(Invocation {
                    handed_out,
                    answered: at.saturating_duration_since(started),
                    body,
                });
                if invocations.len() == expected
                    && let Some(pid) = pid
                    && let Ok((hwm, _)) = memory_kb(pid)
                {
                    peak_rss_kb = Some(hwm);
                }
            }
            Report::InvocationError { request_id, body } => bail!(
                "stint-lambda ({function}) reported an invocation error for {request_id}: {body}; see {}",
                log_path.display()
            ),
            Report::InitError { body } => bail!(
                "stint-lambda ({function}) reported an init error: {body}; see {}",
                log_path.display()
            ),
            Report::Unknown { what } => bail!(
                "stint-lambda ({function}) sent a request the Runtime API does not have: {what}"
            ),
        }
    }
    child.kill().await.context("stopping stint-lambda")?;
    drop(api);
    Ok(Start {
        init: init.unwrap_or_default(),
        invocations,
        peak_rss_kb,
    })
}

/// An EventBridge scheduled event, as the reap function's schedule sends it.
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": stint_core::time_fmt::rfc3339(SystemClock.now()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/stint-reap"],
        "detail": {},
    })
}

/// `min X ms, median Y ms (a, b, c ms)`.
fn summary(values: &[Duration]) -> String {
    let by_size = sorted(values.iter().copied());
    format!(
        "min {:>6.1} ms, median {:>6.1} ms  ({} ms)",
        min_ms(&by_size),
        percentile(&by_size, 50.0),
        listed(values)
    )
}

pub async fn run(args: &LambdaArgs) -> anyhow::Result<()> {
    let setup = &args.setup;
    let issuer = TestIssuer::start()?;
    let mut tokens = Tokens {
        issuer: &issuer,
        next_run: 100_000 + u64::from(std::process::id() % 10_000) * 1000,
    };
    let (text, catalog) = catalog::load(&setup.catalog)?;
    let account = catalog::first_nonprod(&catalog)?;
    let oidc_catalog = setup.dir.join("lambda-catalog.toml");
    catalog::write_with_oidc(&text, &issuer, &oidc_catalog)?;

    let sdk = stint_config(&setup.moto_url).await;
    let table = Table::create(&sdk, format!("stint-bench-lambda-{}", std::process::id())).await?;
    let env = Env {
        lambda: &args.lambda,
        catalog: &oidc_catalog,
        table: &table.name,
        moto_url: &setup.moto_url,
        dir: &setup.dir,
    };
    let binary_size = std::fs::metadata(&args.lambda)
        .map(|m| m.len())
        .unwrap_or_default();

    // Reap: one scheduled event per start.
    let mut reap_cold = Vec::new();
    let mut reap_init = Vec::new();
    let mut rss = Vec::new();
    let mut reap_answer = Value::Null;
    for i in 0..args.starts {
        let start = start_once(&env, "reap", vec![scheduled_event()], &format!("reap-{i}")).await?;
        let [first] = start.invocations.as_slice() else {
            bail!("reap: expected one answer");
        };
        if first.body.get("error").is_some() || first.body.get("expired").is_none() {
            bail!("reap answered: {}", first.body);
        }
        reap_answer = first.body.clone();
        reap_cold.push(first.answered);
        reap_init.push(start.init);
        rss.extend(start.peak_rss_kb);
    }

    // Provision: a cold event, then a warm one, per start; each with its own fresh token.
    let provision_event = |token: String| {
        json!({
            "id_token": token,
            "job": JOB,
            "branch": BRANCH,
            "target_aws_account": account.name.as_str(),
            "target_aws_account_id": account.id.as_str(),
            "group_type": GROUP_TYPE,
        })
    };
    let mut prov_cold = Vec::new();
    let mut prov_init = Vec::new();
    let mut prov_first = Vec::new();
    let mut prov_warm = Vec::new();
    let mut grants = Vec::new();
    for i in 0..args.starts {
        let events = vec![
            provision_event(tokens.next()),
            provision_event(tokens.next()),
        ];
        let start = start_once(&env, "provision", events, &format!("provision-{i}")).await?;
        let [first, second] = start.invocations.as_slice() else {
            bail!("provision: expected two answers");
        };
        for answer in [first, second] {
            if answer.body.get("status") != Some(&json!("provisioned")) {
                bail!("provision answered: {}", answer.body);
            }
            let field = |name: &str| {
                answer
                    .body
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("provision answered without {name}: {}", answer.body))
            };
            grants.push((field("transaction_id")?, field("iam_role_arn")?));
        }
        prov_cold.push(first.answered);
        prov_init.push(start.init);
        prov_first.push(first.took());
        prov_warm.push(second.took());
        rss.extend(start.peak_rss_kb);
    }

    // Clean up: one deprovision process for every grant (its figures for reference).
    let events = grants
        .iter()
        .map(|(transaction_id, role_arn)| {
            json!({
                "id_token": tokens.next(),
                "job": JOB,
                "transaction_id": transaction_id,
                "target_aws_account": account.name.as_str(),
                "role_arn": role_arn,
            })
        })
        .collect();
    let cleanup = start_once(&env, "deprovision", events, "deprovision").await?;
    let mut not_done = Vec::new();
    for answer in &cleanup.invocations {
        let done = answer.body.get("status") == Some(&json!("deprovisioned"))
            && answer.body.get("already_deprovisioned") == Some(&json!(false));
        if !done {
            not_done.push(answer.body.to_string());
        }
    }
    let seeder = Seeder::connect(&setup.moto_url).await;
    let left = seeder.stint_roles(account.id.as_str()).await?;
    let items = table.count_items().await?;

    println!(
        "== Lambda cold start: spawn of stint-lambda (release, {:.1} MiB) to its first answer POSTed to a loopback Runtime API stand-in ==",
        binary_size as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  ledger dynamodb://{} on moto; {} starts per function, a fresh process each; 'init' = spawn to its first GET /invocation/next (App::build done)",
        table.name, args.starts
    );
    println!(
        "  reap (a scheduled event; one reaper pass over the catalog's {} accounts, nothing to reap):",
        catalog.accounts().len()
    );
    println!("    spawn -> first answer   {}", summary(&reap_cold));
    println!("    spawn -> init done      {}", summary(&reap_init));
    println!("    answer: {reap_answer}");
    println!(
        "  provision (a real provisioning into {} ({}), Product-Deployers, fresh token and run id each; JWKS fetched from the loopback issuer):",
        account.name, account.id
    );
    println!("    spawn -> first answer   {}", summary(&prov_cold));
    println!("    spawn -> init done      {}", summary(&prov_init));
    println!("    first event, in-handler {}", summary(&prov_first));
    println!(
        "    warm: a second event in the same process (hand-out -> answer): {}",
        summary(&prov_warm)
    );
    if let Some(max) = rss.iter().max() {
        println!(
            "  peak RSS of a function process after its answers: {:.1} MiB at most",
            mib(*max)
        );
    }
    let deprov: Vec<Duration> = cleanup.invocations.iter().map(Invocation::took).collect();
    let deprov_rest = deprov.get(1..).unwrap_or_default();
    println!(
        "  clean-up: one deprovision process for the {} roles: spawn -> first answer {:.1} ms (init {:.1} ms); then per event median {:.1} ms; {} not deprovisioned; roles under /stint/ left in {}: {}",
        grants.len(),
        ms(cleanup
            .invocations
            .first()
            .map_or(Duration::ZERO, |i| i.answered)),
        ms(cleanup.init),
        percentile(&sorted(deprov_rest.iter().copied()), 50.0),
        not_done.len(),
        account.id,
        left.len()
    );
    for body in not_done.iter().take(3) {
        println!("  clean-up answer: {body}");
    }
    println!(
        "  the ledger table held {items} items at the end (moto copies the whole table on every TransactWriteItems: small here)"
    );
    println!(
        "  For comparison, a broker written as Python Lambda functions with boto3 (the original JIT pipeline design): spend about 330 ms only importing boto3 and building clients, before any AWS call."
    );
    println!(
        "  (Not included: what Lambda itself adds before the process starts, i.e. fetching the package and creating the sandbox.)"
    );
    println!();
    if !not_done.is_empty() || !left.is_empty() {
        bail!("the clean-up left roles behind");
    }
    Ok(())
}
