//! stint's counters read from `GET /metrics`: `stint_aws_calls_total`,
//! `stint_aws_retries_total`, `stint_aws_errors_total` and
//! `stint_aws_call_duration_seconds_sum`, by (service, operation), `stint_ledger_writes_total`,
//! and their deltas.

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow, bail};

/// A counter's values by (service, operation).
pub type Counts = BTreeMap<(String, String), u64>;

/// Seconds summed by (service, operation).
pub type Sums = BTreeMap<(String, String), f64>;

/// The AWS call counters; attempts (HTTP requests to AWS) are calls plus retries.
#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    pub calls: Counts,
    pub attempts: Counts,
    pub retries: Counts,
    pub errors: Counts,
    /// `stint_ledger_writes_total`; `None` from a server that does not count them.
    pub ledger_writes: Option<u64>,
}

impl CallCounts {
    /// What was counted after `before`.
    pub fn since(&self, before: &CallCounts) -> CallCounts {
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
            ledger_writes: self
                .ledger_writes
                .zip(before.ledger_writes)
                .map(|(after, before)| after.saturating_sub(before)),
        }
    }

    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn total_attempts(&self) -> u64 {
        self.attempts.values().sum()
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Calls by operation, or attempts when the calls counter is not to be trusted.
    pub fn counted(&self, by_attempts: bool) -> &Counts {
        if by_attempts {
            &self.attempts
        } else {
            &self.calls
        }
    }

    pub fn counted_total(&self, by_attempts: bool) -> u64 {
        self.counted(by_attempts).values().sum()
    }
}

/// Both counts added up.
pub fn merge_counts(a: &Counts, b: &Counts) -> Counts {
    let mut out = a.clone();
    for (key, n) in b {
        *out.entry(key.clone()).or_default() += n;
    }
    out
}

/// The text of `GET /metrics`.
pub async fn metrics_text(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
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

/// Reads `GET /metrics` and parses the AWS call counters.
pub async fn aws_calls(client: &reqwest::Client, base: &str) -> anyhow::Result<CallCounts> {
    parse_aws_calls(&metrics_text(client, base).await?)
}

/// The AWS call counters and `stint_aws_call_duration_seconds_sum`, from one `GET /metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<(CallCounts, Sums)> {
    let text = metrics_text(client, base).await?;
    Ok((parse_aws_calls(&text)?, latency_sums(&text)?))
}

/// The AWS call counters of a `GET /metrics` text.
pub fn parse_aws_calls(text: &str) -> anyhow::Result<CallCounts> {
    let mut counts = CallCounts::default();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("stint_ledger_writes_total ") {
            let value = value
                .trim()
                .parse()
                .with_context(|| format!("unexpected /metrics value: {line}"))?;
            counts.ledger_writes = Some(value);
            continue;
        }
        let (map, sample) = if let Some(sample) = sample(line, "stint_aws_calls_total") {
            (&mut counts.calls, sample)
        } else if let Some(sample) = sample(line, "stint_aws_retries_total") {
            (&mut counts.retries, sample)
        } else if let Some(sample) = sample(line, "stint_aws_errors_total") {
            (&mut counts.errors, sample)
        } else {
            continue;
        };
        let (key, value) = sample?;
        map.insert(key, value);
    }
    // Every call is one attempt, and every retry one more.
    let mut attempts = counts.calls.clone();
    for (key, retries) in &counts.retries {
        *attempts.entry(key.clone()).or_default() += retries;
    }
    counts.attempts = attempts;
    Ok(counts)
}

/// `stint_aws_call_duration_seconds_sum` of a `GET /metrics` text.
pub fn latency_sums(text: &str) -> anyhow::Result<Sums> {
    text.lines()
        .filter_map(|line| sample(line, "stint_aws_call_duration_seconds_sum"))
        .collect()
}

/// One sample of `metric` with `service` and `operation` labels: its labels and value, or
/// `None` for a line of another metric.
fn sample<T: std::str::FromStr>(
    line: &str,
    metric: &str,
) -> Option<anyhow::Result<((String, String), T)>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
    Some(parse_sample(line, rest))
}

fn parse_sample<T: std::str::FromStr>(
    line: &str,
    rest: &str,
) -> anyhow::Result<((String, String), T)>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let (labels, value) = rest
        .split_once("} ")
        .ok_or_else(|| anyhow!("unexpected /metrics line: {line}"))?;
    let label = |name: &str| {
        labels
            .split(',')
            .find_map(|label| match label.split_once('=') {
                Some((key, value)) if key == name => Some(value.trim_matches('"').to_owned()),
                _ => None,
            })
    };
    let (Some(service), Some(operation)) = (label("service"), label("operation")) else {
        bail!("unexpected /metrics labels: {line}");
    };
    let value = value
        .trim()
        .parse()
        .with_context(|| format!("unexpected /metrics value: {line}"))?;
    Ok(((service, operation), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP stint_aws_calls_total AWS API calls, by service and operation.
# TYPE stint_aws_calls_total counter
stint_aws_calls_total{service="IAM",operation="CreateRole"} 3
stint_aws_calls_total{service="STS",operation="AssumeRole"} 1
stint_aws_retries_total{service="IAM",operation="CreateRole"} 2
stint_aws_errors_total{service="IAM",operation="CreateRole"} 1
stint_aws_call_duration_seconds_bucket{service="IAM",operation="CreateRole",le="0.01"} 1
stint_aws_call_duration_seconds_sum{service="IAM",operation="CreateRole"} 0.25
stint_aws_call_duration_seconds_count{service="IAM",operation="CreateRole"} 3
stint_ledger_writes_total 7
"#;

    fn key(service: &str, operation: &str) -> (String, String) {
        (service.to_owned(), operation.to_owned())
    }

    #[test]
    fn counters_and_sums_are_read_by_service_and_operation() {
        let counts = parse_aws_calls(TEXT).unwrap();
        assert_eq!(counts.calls[&key("IAM", "CreateRole")], 3);
        assert_eq!(counts.attempts[&key("IAM", "CreateRole")], 5);
        assert_eq!(counts.attempts[&key("STS", "AssumeRole")], 1);
        assert_eq!((counts.total_retries(), counts.total_errors()), (2, 1));
        assert_eq!(counts.ledger_writes, Some(7));
        let sums = latency_sums(TEXT).unwrap();
        assert_eq!(sums.len(), 1);
        assert_eq!(sums[&key("IAM", "CreateRole")], 0.25);
    }

    #[test]
    fn deltas_keep_only_what_moved() {
        let before = parse_aws_calls(TEXT).unwrap();
        let after = parse_aws_calls(&TEXT.replace("} 1\n", "} 4\n")).unwrap();
        let delta = after.since(&before);
        assert_eq!(delta.calls.len(), 1);
        assert_eq!(delta.calls[&key("STS", "AssumeRole")], 3);
        let after = parse_aws_calls(&TEXT.replace("_total 7", "_total 9")).unwrap();
        assert_eq!(after.since(&before).ledger_writes, Some(2));
        let older_server = parse_aws_calls("").unwrap();
        assert_eq!(after.since(&older_server).ledger_writes, None);
    }

    #[test]
    fn a_sample_without_labels_is_an_error() {
        assert!(parse_aws_calls("stint_aws_calls_total{service=\"IAM\"} 1").is_err());
    }
}
