//! The driver's child processes: `stint` with a catalog, a ledger and moto (or a proxy) as its
//! AWS endpoint, waiting for a child to be ready, and a `stint serve` that lives as long as
//! its `Server`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::args::StintSetup;

/// How long a `stint serve` may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// `stint --catalog CATALOG --ledger LEDGER --aws-endpoint-url ENDPOINT`, for a subcommand to
/// be added.
pub fn stint(
    stint: &Path,
    catalog: &Path,
    ledger: &Path,
    endpoint: &str,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(stint);
    command
        .arg("--catalog")
        .arg(catalog)
        .arg("--ledger")
        .arg(ledger)
        .arg("--aws-endpoint-url")
        .arg(endpoint);
    command
}

/// Spawns `command` with no stdin or stdout and its stderr to a new file `log`, killed when
/// dropped; returns the child and the instant just before the spawn (`what`: the binary).
pub fn spawn_logged(
    command: &mut tokio::process::Command,
    what: &Path,
    log: &Path,
) -> anyhow::Result<(tokio::process::Child, Instant)> {
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("spawning {}", what.display()))?;
    Ok((child, started))
}

/// Polls `ready` every `every` until it gives a value, since `started`; fails if the child
/// exits first or `READY_TIMEOUT` passes (`until` says what was awaited, `log` where to look).
/// Returns the value and how many polls it took.
pub async fn wait_until<T>(
    child: &mut tokio::process::Child,
    started: Instant,
    every: Duration,
    until: &str,
    log: &Path,
    mut ready: impl AsyncFnMut() -> Option<T>,
) -> anyhow::Result<(T, u32)> {
    let mut polls = 0u32;
    loop {
        polls += 1;
        if let Some(value) = ready().await {
            return Ok((value, polls));
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "stint serve exited ({status}) before {until}; see {}",
                log.display()
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "stint serve did not get to {until} within {} s; see {}",
                READY_TIMEOUT.as_secs(),
                log.display()
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// A running `stint serve` on a loopback port of its choosing, with the background reaper off
/// (the figures are for requests alone); killed when dropped.
pub struct Server {
    child: tokio::process::Child,
    pub url: String,
    pub pid: u32,
}

impl Server {
    /// Starts `stint serve` and waits until it prints the address it listens on; its stdout
    /// and stderr go to `logs` with the extensions `out` and `log`.
    pub async fn spawn(
        stint_bin: &Path,
        catalog: &Path,
        ledger: &Path,
        aws_endpoint: &str,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let out_path = logs.with_extension("out");
        let log_path = logs.with_extension("log");
        let out = std::fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?;
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut child = stint(stint_bin, catalog, ledger, aws_endpoint)
            .args(["serve", "--listen", "127.0.0.1:0", "--reap-interval", "off"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", stint_bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("stint serve has no pid"))?;
        let listening = async || {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            text.lines()
                .find_map(|line| line.strip_prefix("stint listening on "))
                .map(|url| url.trim().to_owned())
        };
        let (url, _) = wait_until(
            &mut child,
            Instant::now(),
            Duration::from_millis(5),
            "listening",
            &log_path,
            listening,
        )
        .await?;
        Ok(Self { child, url, pid })
    }

    /// `of` with a fresh SQLite ledger, `name.db` in the section's directory.
    pub async fn sqlite(setup: &StintSetup, catalog: &Path, name: &str) -> anyhow::Result<Self> {
        let ledger = setup.setup.dir.join(format!("{name}.db"));
        Self::of(setup, catalog, &ledger, name).await
    }

    /// A `stint serve` of a section's own, with `catalog` and `ledger`, its AWS calls to moto;
    /// its output in the section's directory as `name.out` and `name.log`.
    pub async fn of(
        setup: &StintSetup,
        catalog: &Path,
        ledger: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        let dir = &setup.setup.dir;
        Self::spawn(
            &setup.stint,
            catalog,
            ledger,
            &setup.setup.moto_url,
            &dir.join(name),
        )
        .await
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("stopping stint serve")
    }
}
