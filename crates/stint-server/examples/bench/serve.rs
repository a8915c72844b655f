//! `stint serve` as a child of the driver, and the HTTP requests the new sections send it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;

/// A running `stint serve` on a loopback port of its choosing, with the background reaper off
/// (the figures are for requests alone); killed when dropped.
pub struct Server {
    child: tokio::process::Child,
    pub url: String,
    pub pid: u32,
}

impl Server {
    /// Starts `stint serve` and waits until it prints the address it listens on.
    pub async fn spawn(
        stint: &Path,
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
        let mut child = tokio::process::Command::new(stint)
            .arg("--catalog")
            .arg(catalog)
            .arg("--ledger")
            .arg(ledger)
            .arg("--aws-endpoint-url")
            .arg(aws_endpoint)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--reap-interval")
            .arg("off")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", stint.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("stint serve has no pid"))?;
        let started = Instant::now();
        let url = loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(url) = text
                .lines()
                .find_map(|line| line.strip_prefix("stint listening on "))
            {
                break url.trim().to_owned();
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "stint serve exited ({status}) before listening; see {}",
                    log_path.display()
                );
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!(
                    "stint serve did not listen within 10 s; see {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        Ok(Self { child, url, pid })
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("stopping stint serve")
    }
}

/// What one request got back: the status and the body (JSON, or the text as a JSON string),
/// or the transport error.
pub enum Answer {
    Http(u16, Value),
    Transport(String),
}

impl Answer {
    /// The `status` and `error.code` of a stint answer.
    pub fn status_and_code(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::Http(_, body) => (
                body.get("status").and_then(Value::as_str),
                body.pointer("/error/code").and_then(Value::as_str),
            ),
            Self::Transport(_) => (None, None),
        }
    }

    /// A short description, for reports of the unexpected.
    pub fn describe(&self) -> String {
        match self {
            Self::Http(status, body) => {
                let text: String = body.to_string().chars().take(240).collect();
                format!("HTTP {status}: {text}")
            }
            Self::Transport(error) => format!("no HTTP answer: {error}"),
        }
    }
}

/// POSTs `body` with an optional bearer token; never fails on the answer itself.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    token: Option<&str>,
) -> Answer {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Answer::Transport(format!("{error:#}")),
    };
    let status = response.status().as_u16();
    match response.text().await {
        Ok(text) => Answer::Http(
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ),
        Err(error) => Answer::Transport(format!("reading the body: {error:#}")),
    }
}

/// The transaction id and role ARN of a `200 provisioned` answer.
pub fn provisioned(answer: &Answer) -> Option<(String, String)> {
    match answer {
        Answer::Http(200, body) if body.get("status") == Some(&Value::from("provisioned")) => {
            Some((
                body.get("transaction_id")?.as_str()?.to_owned(),
                body.get("iam_role_arn")?.as_str()?.to_owned(),
            ))
        }
        _ => None,
    }
}

/// Whether the answer is `200 deprovisioned`.
pub fn deprovisioned(answer: &Answer) -> bool {
    matches!(answer, Answer::Http(200, body) if body.get("status") == Some(&Value::from("deprovisioned")))
}

/// `502` with `aws_error`: AWS failed and stint said so, cleanly.
pub fn clean_aws_failure(answer: &Answer) -> bool {
    matches!(answer, Answer::Http(502, _))
        && answer.status_and_code() == (Some("failed"), Some("aws_error"))
}
