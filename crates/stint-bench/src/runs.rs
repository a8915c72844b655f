//! One provision+deprovision, timed: the unit the latency figures count, what a phase of them
//! came to (`Outcome`), and one run with the AWS calls of each half counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use stint_testkit::issuer::TestIssuer;

use crate::client::{EMAIL, Target, deprovision, provision};
use crate::metrics::{CallCounts, aws_calls};
use crate::stats::sorted;

#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub provision: Duration,
    pub deprovision: Duration,
}

/// One part of a run: its provisioning, its deprovisioning, or both.
pub type Part = fn(&Run) -> Duration;

impl Run {
    pub fn total(&self) -> Duration {
        self.provision + self.deprovision
    }
}

/// The next workflow run id a benchmark token names.
static NEXT_RUN: AtomicU64 = AtomicU64::new(100_000);

/// One provision+deprovision against `base`. Without an issuer the body names alice by email;
/// with one, each request carries a fresh token (minted before its timer starts) and no email.
pub async fn run_once(
    client: &reqwest::Client,
    base: &str,
    target: &Target,
    issuer: Option<&TestIssuer>,
) -> anyhow::Result<Run> {
    // Each run is a workflow run of its own: a provision sent again under the same run and
    // job would get that run's grant back (the retry rule), not a new one.
    let run_id = NEXT_RUN.fetch_add(1, Ordering::Relaxed).to_string();
    let token = || {
        issuer.map(|issuer| {
            let mut claims = issuer.claims();
            claims["run_id"] = serde_json::json!(run_id);
            issuer.mint(&claims)
        })
    };
    let body = target.provision_body(issuer.is_none().then_some(EMAIL));
    let bearer = token();
    let started = Instant::now();
    let (transaction_id, role_arn) = provision(client, base, &body, bearer.as_deref())
        .await
        .context("provisioning")?;
    let provisioned = started.elapsed();
    let body = target.deprovision_body(&transaction_id, &role_arn);
    let bearer = token();
    let started = Instant::now();
    deprovision(client, base, &body, bearer.as_deref())
        .await
        .context("deprovisioning")?;
    Ok(Run {
        provision: provisioned,
        deprovision: started.elapsed(),
    })
}

/// The runs of a phase that succeeded, how many failed (and the first few errors), and how
/// long the phase took with how many in flight at most.
#[derive(Default)]
pub struct Outcome {
    pub runs: Vec<Run>,
    pub errors: usize,
    pub first_errors: Vec<String>,
    pub wall: Duration,
    pub max_in_flight: usize,
}

impl Outcome {
    pub fn record(&mut self, result: anyhow::Result<Run>) {
        match result {
            Ok(run) => self.runs.push(run),
            Err(error) => self.error(format!("{error:#}")),
        }
    }

    pub fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_errors.len() < 3 {
            self.first_errors.push(message);
        }
    }

    pub fn merge(&mut self, other: Outcome) {
        self.runs.extend(other.runs);
        self.errors += other.errors;
        for message in other.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(message);
            }
        }
    }

    /// One part of every successful run, sorted.
    pub fn sorted(&self, pick: impl Fn(&Run) -> Duration) -> Vec<Duration> {
        sorted(self.runs.iter().map(pick))
    }

    /// Runs attempted: those that succeeded and those that failed.
    pub fn attempted(&self) -> usize {
        self.runs.len() + self.errors
    }
}

/// Counts the AWS calls of one provisioning and of its deprovisioning, separately.
pub async fn counted_run(
    client: &reqwest::Client,
    base: &str,
    target: &Target,
) -> anyhow::Result<(CallCounts, CallCounts)> {
    let before = aws_calls(client, base).await?;
    let body = target.provision_body(Some(EMAIL));
    let (transaction_id, role_arn) = provision(client, base, &body, None).await?;
    let provisioned = aws_calls(client, base).await?;
    let body = target.deprovision_body(&transaction_id, &role_arn);
    deprovision(client, base, &body, None).await?;
    let deprovisioned = aws_calls(client, base).await?;
    Ok((
        provisioned.since(&before),
        deprovisioned.since(&provisioned),
    ))
}
