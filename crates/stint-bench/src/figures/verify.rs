//! Figure 6, token verification throughput on one core: `TokenVerifier::verify` on a
//! current-thread runtime with a warm JWKS cache and a real SQLite ledger remembering each
//! `jti`; then its parts measured on their own (the signature check, the `jti` write), to show
//! where the time goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use stint_core::catalog::OidcSettings;
use stint_core::ports::{Clock as _, Ledger as _};
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;
use stint_server::tokens::TokenVerifier;
use stint_testkit::issuer::{AUDIENCE, TestIssuer};

use crate::procfs::ClockTicks;
use crate::stats::{mean_us, ms, percentile, sorted, us};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Tokens verified in the timed loop (each minted beforehand, each used once).
    #[arg(long, default_value_t = 5000)]
    tokens: usize,
    /// Where the ledgers go.
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    ticks: ClockTicks,
}

/// Runs on a runtime of its own, single-threaded: the figure is for one core.
pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let issuer = TestIssuer::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("the current-thread runtime")?;
    runtime.block_on(measure(&issuer, args))
}

/// Mean, p50 and p99 in µs.
fn stats(values: &[Duration]) -> (f64, f64, f64) {
    let sorted = sorted(values.iter().copied());
    (
        mean_us(values),
        percentile(&sorted, 50.0) * 1000.0,
        percentile(&sorted, 99.0) * 1000.0,
    )
}

fn fresh_ledger(path: &Path) -> anyhow::Result<Arc<SqliteLedger>> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(Arc::new(
        SqliteLedger::open(path).map_err(|e| anyhow!("opening {}: {e}", path.display()))?,
    ))
}

async fn measure(issuer: &TestIssuer, args: &VerifyArgs) -> anyhow::Result<()> {
    let n = args.tokens.max(1);
    let started = Instant::now();
    let tokens: Vec<String> = (0..n).map(|_| issuer.mint(&issuer.claims())).collect();
    let minting = started.elapsed();
    let token_bytes = tokens.iter().map(String::len).sum::<usize>() / n;

    let ledger_path = args.dir.join("verify-ledger.db");
    let ledger = fresh_ledger(&ledger_path)?;
    let settings = OidcSettings {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.to_owned(),
        max_token_age: Duration::from_secs(600),
    };
    let verifier = TokenVerifier::new(settings, Arc::new(SystemClock), ledger.clone());
    let verify_error = |e: stint_core::BrokerError| {
        anyhow!(
            "verification failed: {}",
            stint_server::ops::error_chain(&e)
        )
    };

    // Warm the JWKS cache (and the ledger) with one token of its own.
    let first = issuer.mint(&issuer.claims());
    let started = Instant::now();
    verifier.verify(&first).await.map_err(verify_error)?;
    let cold = started.elapsed();

    // The figure: N sequential verifications.
    let cpu = args.ticks.start(std::process::id())?;
    let mut each = Vec::with_capacity(n);
    let started = Instant::now();
    for token in &tokens {
        let one = Instant::now();
        verifier.verify(token).await.map_err(verify_error)?;
        each.push(one.elapsed());
    }
    let wall = started.elapsed();
    let cpu = cpu.elapsed()?;

    // Part 1: the signature check and payload decode alone, on the same tokens, as the
    // verifier does it (RS256 only; times, issuer and audience are not jsonwebtoken's job).
    let key = DecodingKey::from_rsa_components(
        issuer.jwk["n"].as_str().unwrap_or_default(),
        issuer.jwk["e"].as_str().unwrap_or_default(),
    )
    .map_err(|e| anyhow!("the JWK: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut signature = Vec::with_capacity(n);
    for token in &tokens {
        let one = Instant::now();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| anyhow!("decoding: {e}"))?;
        std::hint::black_box(data);
        signature.push(one.elapsed());
    }

    // Part 2: the jti write alone (`Ledger::use_token`: delete expired, insert), N fresh jtis
    // into a fresh ledger, so its table grows as the verifier's did.
    let jti_ledger = fresh_ledger(&args.dir.join("verify-jti-ledger.db"))?;
    let now = SystemClock.now();
    let expires = now + time::Duration::seconds(360);
    let jtis: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut jti_writes = Vec::with_capacity(n);
    for jti in &jtis {
        let one = Instant::now();
        let first_use = jti_ledger
            .use_token(jti, expires, now)
            .await
            .map_err(|e| anyhow!("use_token: {e}"))?;
        jti_writes.push(one.elapsed());
        if !first_use {
            return Err(anyhow!("use_token said a fresh jti was used"));
        }
    }

    // Part 3: the two statements of use_token on the grown table, straight through SQLite (no
    // blocking-pool hop): the DELETE of expired jtis, which deletes nothing here, and its plan.
    let (delete_us, plan) = delete_cost(&args.dir.join("verify-jti-ledger.db"), now)?;

    let rate = n as f64 / wall.as_secs_f64();
    let (v_mean, v_p50, v_p99) = stats(&each);
    let (s_mean, s_p50, s_p99) = stats(&signature);
    let (j_mean, j_p50, j_p99) = stats(&jti_writes);
    let rest = v_mean - s_mean - j_mean;
    let tenth = (n / 10).max(1);

    println!(
        "== Token verification on one core (tokio current-thread runtime), warm JWKS cache =="
    );
    println!(
        "  {n} RS256 tokens ({}-bit key, GitHub-shaped claims, {token_bytes} bytes each) minted beforehand in {:.1} s; first verify (JWKS fetch from the loopback issuer) {:.2} ms",
        issuer.key_bits(),
        minting.as_secs_f64(),
        ms(cold)
    );
    println!(
        "  ledger: SQLite (WAL, synchronous=NORMAL) at {}",
        ledger_path.display()
    );
    println!(
        "  {:<58} {:>9} {:>9} {:>9} {:>7}",
        "", "mean µs", "p50 µs", "p99 µs", "share"
    );
    let row = |label: &str, mean: f64, p50: f64, p99: f64| {
        println!(
            "  {label:<58} {mean:>9.1} {p50:>9.1} {p99:>9.1} {:>6.0}%",
            100.0 * mean / v_mean
        );
    };
    row("TokenVerifier::verify (all of it)", v_mean, v_p50, v_p99);
    row(
        "  RS256 signature check + payload decode (jsonwebtoken)",
        s_mean,
        s_p50,
        s_p99,
    );
    row(
        "  jti write: Ledger::use_token (DELETE expired + INSERT)",
        j_mean,
        j_p50,
        j_p99,
    );
    println!(
        "  {:<58} {rest:>9.1} {:>9} {:>9} {:>6.0}%",
        "  the rest (header, key cache, claim checks, serde), by difference",
        "",
        "",
        100.0 * rest / v_mean
    );
    println!(
        "  Throughput: {n} verifications in {:.3} s = {rate:.0} verifications/s (mean {v_mean:.1} µs); CPU {:.1} µs per verification (process, all threads)",
        wall.as_secs_f64(),
        us(cpu) / n as f64
    );
    println!(
        "  Without the jti write: {:.0} verifications/s (1 / (verify mean - use_token mean) = 1 / {:.1} µs); the signature check alone: {:.0}/s",
        1e6 / (v_mean - j_mean),
        v_mean - j_mean,
        1e6 / s_mean
    );
    println!(
        "  As the used-token table grows (1 to {n} rows, none expired): verify mean {:.1} µs over the first {tenth}, {:.1} µs over the last {tenth}; use_token alone {:.1} -> {:.1} µs",
        mean_us(&each[..tenth]),
        mean_us(&each[n - tenth..]),
        mean_us(&jti_writes[..tenth]),
        mean_us(&jti_writes[n - tenth..]),
    );
    println!(
        "  The DELETE of expired jtis that use_token runs first, on its own with {n} unexpired rows: {delete_us:.1} µs (deletes nothing; query plan: {plan})"
    );
    println!(
        "  (The SQLite work runs on tokio's blocking pool, one call at a time: still one core busy at a time.)"
    );
    println!();
    Ok(())
}

/// Mean µs of `use_token`'s DELETE on `path`'s used-token table as it is, and its query plan.
fn delete_cost(path: &Path, now: time::OffsetDateTime) -> anyhow::Result<(f64, String)> {
    const SQL: &str = "DELETE FROM used_tokens WHERE expires_at < ?1";
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    let plan = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {SQL}"))?
        .query_map([now.unix_timestamp()], |row| row.get::<_, String>(3))?
        .collect::<Result<Vec<_>, _>>()?
        .join("; ");
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        conn.execute(SQL, [now.unix_timestamp()])?;
    }
    Ok((us(started.elapsed()) / rounds as f64, plan))
}
