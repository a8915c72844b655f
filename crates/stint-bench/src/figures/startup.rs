//! Figure 5: the time from spawning `stint serve` to its first successful `GET /healthz`, over
//! several starts, each with a fresh ledger; and its peak RSS then.

use std::time::Duration;

use anyhow::Context as _;

use crate::args::StintSetup;
use crate::procfs::{memory_kb, mib};
use crate::report::pass;
use crate::spawn::{spawn_logged, stint, wait_until};
use crate::stats::{listed, min_ms, percentile, sorted};

const TARGET_HEALTHZ_MS: f64 = 50.0;

#[derive(clap::Args)]
pub struct StartupArgs {
    #[command(flatten)]
    stint: StintSetup,
    #[arg(long, default_value_t = 5)]
    starts: usize,
}

pub async fn run(args: StartupArgs) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
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
        let port = stint_testkit::free_port()?;
        let ledger = setup.dir.join(format!("startup-{start}.db"));
        let log_path = setup.dir.join(format!("startup-{start}.log"));
        let url = format!("http://127.0.0.1:{port}/healthz");
        let mut command = stint(&args.stint.stint, &setup.catalog, &ledger, &setup.moto_url);
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        let (mut child, started) = spawn_logged(&mut command, &args.stint.stint, &log_path)?;
        let healthy = async || match client.get(&url).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => Some(started.elapsed()),
            _ => None,
        };
        let (ready, polls) = wait_until(
            &mut child,
            started,
            Duration::from_millis(1),
            "answering /healthz",
            &log_path,
            healthy,
        )
        .await?;
        if let Some(pid) = child.id()
            && let Ok((hwm, _)) = memory_kb(pid)
        {
            hwms.push(hwm);
        }
        child.kill().await.context("stopping stint serve")?;
        times.push(ready);
        polls_per_start.push(polls);
    }

    let by_time = sorted(times.iter().copied());
    let median = percentile(&by_time, 50.0);
    println!(
        "== Startup: spawn of stint serve to first 200 from GET /healthz (polled every ~1 ms, fresh ledger each) =="
    );
    println!(
        "  {} starts: {} ms (polls per start: {:?})",
        times.len(),
        listed(&times),
        polls_per_start
    );
    println!("  min {:.1} ms, median {median:.1} ms", min_ms(&by_time));
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
