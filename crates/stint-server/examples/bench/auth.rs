//! What token authentication adds to a provisioning: two `stint serve` on the same moto, one
//! with the catalog as it is and one with the same catalog plus an `[oidc]` issuer (this
//! process's loopback issuer), an identity and a pipeline rule. Requests alternate between
//! them, one at a time, so both see the same emulator; each authenticated request carries a
//! fresh token, minted before its timer starts.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::issuer::Issuer;
use super::serve::{self, Server};
use super::{
    ACCOUNT_ID, ACCOUNT_NAME, BRANCH, EMAIL, cpu_time, http_client, ms, percentile,
    print_latency_header, print_latency_row,
};

#[derive(clap::Args)]
pub struct AuthArgs {
    /// The `stint` binary.
    #[arg(long)]
    stint: PathBuf,
    /// The catalog without authentication (its twin gets an `[oidc]` section).
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long)]
    moto_url: String,
    /// Where ledgers, the authenticated catalog and logs go.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Sequential provision+deprovision runs against each server.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

#[derive(Default)]
struct Timings {
    provision: Vec<Duration>,
    deprovision: Vec<Duration>,
    errors: Vec<String>,
}

/// One provision+deprovision; with an issuer, each request carries a fresh token and the body
/// names no email (the token says who asks).
async fn run_once(
    client: &reqwest::Client,
    base: &str,
    issuer: Option<&Issuer>,
    timings: &mut Timings,
) -> anyhow::Result<()> {
    let mut body = json!({
        "branch": BRANCH,
        "target_aws_account": ACCOUNT_NAME,
        "target_aws_account_id": ACCOUNT_ID,
    });
    if issuer.is_none() {
        body["email"] = json!(EMAIL);
    }
    let token = issuer.map(Issuer::mint).transpose()?;
    let url = format!("{base}/v1/provision");
    let started = Instant::now();
    let answer = serve::post(client, &url, &body, token.as_deref()).await;
    let took = started.elapsed();
    let Some((transaction_id, role_arn)) = serve::provisioned(&answer) else {
        bail!("provision: {}", answer.describe());
    };
    timings.provision.push(took);

    let body = json!({
        "transaction_id": transaction_id,
        "target_aws_account": ACCOUNT_NAME,
        "role_arn": role_arn,
    });
    let token = issuer.map(Issuer::mint).transpose()?;
    let url = format!("{base}/v1/deprovision");
    let started = Instant::now();
    let answer = serve::post(client, &url, &body, token.as_deref()).await;
    let took = started.elapsed();
    if !serve::deprovisioned(&answer) {
        bail!("deprovision: {}", answer.describe());
    }
    timings.deprovision.push(took);
    Ok(())
}

async fn record(
    client: &reqwest::Client,
    base: &str,
    issuer: Option<&Issuer>,
    timings: &mut Timings,
) {
    if let Err(error) = run_once(client, base, issuer, timings).await {
        timings.errors.push(format!("{error:#}"));
    }
}

pub async fn run(args: &AuthArgs) -> anyhow::Result<()> {
    let issuer = Issuer::start()?;
    let text = std::fs::read_to_string(&args.catalog)
        .with_context(|| format!("reading {}", args.catalog.display()))?;
    let auth_catalog = args.dir.join("auth-catalog.toml");
    std::fs::write(
        &auth_catalog,
        format!("{text}\n{}", issuer.catalog_addition()),
    )
    .with_context(|| format!("writing {}", auth_catalog.display()))?;

    let plain = Server::spawn(
        &args.stint,
        &args.catalog,
        &args.dir.join("auth-plain.db"),
        &args.moto_url,
        &args.dir.join("auth-plain"),
    )
    .await?;
    let authed = Server::spawn(
        &args.stint,
        &auth_catalog,
        &args.dir.join("auth-oidc.db"),
        &args.moto_url,
        &args.dir.join("auth-oidc"),
    )
    .await?;
    let client = http_client(2)?;

    // The authenticated server's first request fetches the JWKS; both assume the provisioner
    // role and look the group up once.
    let mut warm_plain = Timings::default();
    let mut warm_authed = Timings::default();
    for _ in 0..args.warmup.max(1) {
        record(&client, &plain.url, None, &mut warm_plain).await;
        record(&client, &authed.url, Some(&issuer), &mut warm_authed).await;
    }
    let first_authed = warm_authed.provision.first().copied();

    let mut without = Timings::default();
    let mut with = Timings::default();
    let cpu_plain = cpu_time(plain.pid, args.clk_tck)?;
    let cpu_authed = cpu_time(authed.pid, args.clk_tck)?;
    let started = Instant::now();
    for i in 0..args.runs {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            record(&client, &plain.url, None, &mut without).await;
            record(&client, &authed.url, Some(&issuer), &mut with).await;
        } else {
            record(&client, &authed.url, Some(&issuer), &mut with).await;
            record(&client, &plain.url, None, &mut without).await;
        }
    }
    let wall = started.elapsed();
    let cpu_plain = cpu_time(plain.pid, args.clk_tck)? - cpu_plain;
    let cpu_authed = cpu_time(authed.pid, args.clk_tck)? - cpu_authed;
    plain.stop().await?;
    authed.stop().await?;

    println!(
        "== Provision latency added by authentication (two stint serve on one moto, {} runs each, alternating, after {} warm-up runs each) ==",
        args.runs, args.warmup
    );
    println!(
        "  with auth: catalog + [oidc] (issuer {} on loopback, RS256 {}-bit), a fresh token per request (minted outside the timed span), body without email",
        issuer.url,
        issuer.key_bits()
    );
    if let Some(first) = first_authed {
        println!(
            "  first authenticated provision (JWKS fetched): {:.2} ms",
            ms(first)
        );
    }
    print_latency_header();
    let sorted = |values: &[Duration]| {
        let mut values = values.to_vec();
        values.sort();
        values
    };
    let rows = [
        ("provision, no auth", &without.provision, &without.errors),
        ("provision, with auth", &with.provision, &with.errors),
        (
            "deprovision, no auth",
            &without.deprovision,
            &without.errors,
        ),
        ("deprovision, with auth", &with.deprovision, &with.errors),
    ];
    for (label, values, errors) in rows {
        print_latency_row(label, &sorted(values), errors.len());
    }
    let diff = |pick: fn(&Timings) -> &Vec<Duration>, p: f64| {
        percentile(&sorted(pick(&with)), p) - percentile(&sorted(pick(&without)), p)
    };
    println!(
        "  Added by authentication: provision p50 {:+.2} ms, p99 {:+.2} ms; deprovision p50 {:+.2} ms, p99 {:+.2} ms",
        diff(|t| &t.provision, 50.0),
        diff(|t| &t.provision, 99.0),
        diff(|t| &t.deprovision, 50.0),
        diff(|t| &t.deprovision, 99.0),
    );
    let per_run = |cpu: Duration| ms(cpu) / args.runs.max(1) as f64;
    println!(
        "  CPU time of stint serve per provision+deprovision: {:.2} ms without auth, {:.2} ms with ({:+.2} ms for two verifications); {:.1} s for both phases",
        per_run(cpu_plain),
        per_run(cpu_authed),
        per_run(cpu_authed) - per_run(cpu_plain),
        wall.as_secs_f64()
    );
    for message in without.errors.iter().chain(&with.errors).take(3) {
        println!("  error: {message}");
    }
    println!();
    Ok(())
}
