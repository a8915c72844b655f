//! `GET /metrics` in Prometheus text format: grants live now, provisioning outcomes, reaper
//! actions, ledger writes, and every AWS call's count, retries, errors and latency by service
//! and operation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use stint_aws::{AwsCallCounter, LATENCY_BUCKETS};
use stint_core::BrokerError;
use stint_core::audit::ChainReport;
use stint_core::grant::ReapReport;
use stint_core::ids::TransactionId;
use stint_core::ports::{Ledger, LedgerError, RecordWrite};
use stint_core::record::{Event, NewEvent, State, Status, StoredRecord};
use time::OffsetDateTime;

/// The broker's own counters; AWS calls are counted by `AwsCallCounter`.
#[derive(Debug, Default)]
pub struct BrokerMetrics {
    /// (operation, outcome) -> count, e.g. ("provision", "rejected").
    outcomes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Everything the reaper has done since start.
    reaped: Mutex<ReapReport>,
    /// Record writes the ledger was asked for (`Ledger::write` and `append`), shared with the
    /// `CountingLedger` that counts them.
    ledger_writes: Arc<AtomicU64>,
}

impl BrokerMetrics {
    pub fn outcome<T>(&self, operation: &'static str, result: &Result<T, BrokerError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.class().is_rejection() => "rejected",
            Err(_) => "failed",
        };
        if let Ok(mut outcomes) = self.outcomes.lock() {
            *outcomes.entry((operation, outcome)).or_default() += 1;
        }
    }

    pub fn reaped(&self, report: &ReapReport) {
        if let Ok(mut total) = self.reaped.lock() {
            total.expired += report.expired;
            total.stuck += report.stuck;
            total.orphans += report.orphans;
            total.stray_assignments += report.stray_assignments;
            total.requests_expired += report.requests_expired;
            total.errors += report.errors;
        }
    }

    /// `ledger`, with its record writes counted in `stint_ledger_writes_total`.
    pub fn count_writes(&self, ledger: Arc<dyn Ledger>) -> Arc<dyn Ledger> {
        Arc::new(CountingLedger {
            inner: ledger,
            writes: self.ledger_writes.clone(),
        })
    }

    pub async fn render(&self, ledger: &dyn Ledger, aws: &AwsCallCounter) -> String {
        let mut out = String::new();
        let active = ledger
            .count(Status::Grant(State::Provisioned))
            .await
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP stint_active_grants Grants provisioned and not yet ended.\n# TYPE stint_active_grants gauge\nstint_active_grants {active}"
        );

        let _ = writeln!(
            out,
            "# HELP stint_requests_total Broker operations by outcome (ok, rejected, failed).\n# TYPE stint_requests_total counter"
        );
        for ((operation, outcome), n) in self.outcomes.lock().map(|o| o.clone()).unwrap_or_default()
        {
            let _ = writeln!(
                out,
                "stint_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {n}"
            );
        }

        let reaped = self.reaped.lock().map(|r| *r).unwrap_or_default();
        let _ = writeln!(
            out,
            "# HELP stint_reaper_actions_total Reaper actions by kind.\n# TYPE stint_reaper_actions_total counter"
        );
        for (kind, n) in [
            ("expired", reaped.expired),
            ("stuck", reaped.stuck),
            ("orphan", reaped.orphans),
            ("stray_assignment", reaped.stray_assignments),
            ("request_expired", reaped.requests_expired),
            ("error", reaped.errors),
        ] {
            let _ = writeln!(out, "stint_reaper_actions_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP stint_orphans_found_total Roles found with no live transaction, and removed.\n# TYPE stint_orphans_found_total counter\nstint_orphans_found_total {}",
            reaped.orphans
        );

        let _ = writeln!(
            out,
            "# HELP stint_ledger_writes_total Ledger writes of records and their events, each all or nothing (a SQLite transaction, a DynamoDB TransactWriteItems), failed ones included.\n# TYPE stint_ledger_writes_total counter\nstint_ledger_writes_total {}",
            self.ledger_writes.load(Ordering::Relaxed)
        );

        render_aws(&mut out, aws);
        out
    }
}

/// A ledger that counts its record writes and otherwise is `inner`.
struct CountingLedger {
    inner: Arc<dyn Ledger>,
    writes: Arc<AtomicU64>,
}

#[async_trait]
impl Ledger for CountingLedger {
    async fn write(&self, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write(writes).await
    }

    // Sent on as `append`, not as `write`: the inner ledger may store one event its own way.
    async fn append(&self, record: &StoredRecord, event: NewEvent) -> Result<Event, LedgerError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.append(record, event).await
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<StoredRecord>, LedgerError> {
        self.inner.get(id).await
    }

    async fn count(&self, status: Status) -> Result<u64, LedgerError> {
        self.inner.count(status).await
    }

    async fn expired(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.expired(now, limit).await
    }

    async fn stale(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.stale(status, before, limit).await
    }

    async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, LedgerError> {
        self.inner.events(id).await
    }

    async fn use_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, LedgerError> {
        self.inner.use_token(jti, expires_at, now).await
    }

    async fn by_run(&self, run: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.by_run(run).await
    }

    async fn verify(&self) -> Result<ChainReport, LedgerError> {
        self.inner.verify().await
    }
}

fn render_aws(out: &mut String, aws: &AwsCallCounter) {
    let counts = aws.snapshot();
    let series = |out: &mut String,
                  name: &str,
                  kind: &str,
                  help: &str,
                  value: &dyn Fn(&stint_aws::CallCount) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for ((service, operation), count) in &counts {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",operation=\"{operation}\"}} {}",
                value(count)
            );
        }
    };
    series(
        out,
        "stint_aws_calls_total",
        "counter",
        "AWS API calls, by service and operation.",
        &|c| c.calls,
    );
    series(
        out,
        "stint_aws_retries_total",
        "counter",
        "AWS API attempts beyond the first (SDK retries).",
        &|c| c.attempts.saturating_sub(c.calls),
    );
    series(
        out,
        "stint_aws_errors_total",
        "counter",
        "AWS API calls whose final answer was an error, after retries (including answers stint takes as done: NoSuchEntity on a delete, EntityAlreadyExists on a re-sent create).",
        &|c| c.errors,
    );
    let name = "stint_aws_call_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} AWS API call latency, retries included.\n# TYPE {name} histogram"
    );
    for ((service, operation), count) in &counts {
        let labels = format!("service=\"{service}\",operation=\"{operation}\"");
        for (bound, n) in LATENCY_BUCKETS.iter().zip(count.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", count.calls);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", count.latency_seconds_sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", count.calls);
    }
}
