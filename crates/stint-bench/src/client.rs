//! The driver as a client of `stint serve`: its HTTP client, the provisioning and
//! deprovisioning requests every section sends (stint-api's inputs, through its typed client),
//! and what a raw request got back (the fault run classifies answers the client would not read).

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use stint_api::{Client, DeprovisionInput, ProvisionInput, Secret};
use stint_core::catalog::Account;

/// Who asks, by email, when a request is not authenticated by a token.
pub const EMAIL: &str = "alice@example.com";
pub const BRANCH: &str = "main";
/// The persona asked for (alice is a member of it in the nonprod accounts).
pub const GROUP_TYPE: &str = "Product-Deployers";

pub fn http_client(max_idle: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle)
        .build()
        .context("building the HTTP client")
}

/// Where provisioning requests go, and whether they name the persona.
#[derive(Debug, Clone)]
pub struct Target {
    pub account_name: String,
    pub account_id: String,
    /// `None`: the body names no persona.
    pub group_type: Option<&'static str>,
}

impl Target {
    /// The example catalog's nonprod account, Product-Deployers.
    pub fn example() -> Self {
        Self {
            account_name: "workload-nonprod".to_owned(),
            account_id: "222222222222".to_owned(),
            group_type: Some(GROUP_TYPE),
        }
    }

    /// `account` of a catalog, Product-Deployers.
    pub fn account(account: &Account) -> Self {
        Self {
            account_name: account.name.to_string(),
            account_id: account.id.to_string(),
            group_type: Some(GROUP_TYPE),
        }
    }

    /// A `POST /v1/provision` body; `email: None` when a token says who asks.
    pub fn provision_body(&self, email: Option<&str>) -> ProvisionInput {
        ProvisionInput {
            email: email.map(str::to_owned),
            branch: Some(BRANCH.to_owned()),
            target_aws_account: Some(self.account_name.clone()),
            target_aws_account_id: Some(self.account_id.clone()),
            group_type: self.group_type.map(str::to_owned),
        }
    }

    /// A `POST /v1/deprovision` body for a grant `provision_body` got.
    pub fn deprovision_body(&self, transaction_id: &str, role_arn: &str) -> DeprovisionInput {
        DeprovisionInput {
            transaction_id: Some(transaction_id.to_owned()),
            target_aws_account: Some(self.account_name.clone()),
            role_arn: Some(role_arn.to_owned()),
        }
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

    /// The transaction id and role ARN of a `200 provisioned` answer.
    pub fn provisioned(&self) -> Option<(String, String)> {
        match self {
            Self::Http(200, body) if body.get("status") == Some(&Value::from("provisioned")) => {
                Some((
                    body.get("transaction_id")?.as_str()?.to_owned(),
                    body.get("iam_role_arn")?.as_str()?.to_owned(),
                ))
            }
            _ => None,
        }
    }

    /// Whether the answer is `200 deprovisioned`.
    pub fn deprovisioned(&self) -> bool {
        matches!(self, Self::Http(200, body) if body.get("status") == Some(&Value::from("deprovisioned")))
    }

    /// Whether a `200 deprovisioned` said the role was already gone.
    pub fn already_deprovisioned(&self) -> bool {
        matches!(self, Self::Http(200, body) if body.get("already_deprovisioned") == Some(&Value::Bool(true)))
    }

    /// `502` with `aws_error`: AWS failed and stint said so, cleanly.
    pub fn clean_aws_failure(&self) -> bool {
        matches!(self, Self::Http(502, _))
            && self.status_and_code() == (Some("failed"), Some("aws_error"))
    }
}

/// POSTs `body` with an optional bearer token; never fails on the answer itself.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &impl serde::Serialize,
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

/// Provisions through the typed client; returns the transaction id and the role ARN. Anything
/// but `200 provisioned` is an error that says what came back.
pub async fn provision(
    client: &reqwest::Client,
    base: &str,
    body: &ProvisionInput,
    token: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let token = token.map(Secret::new);
    let granted = Client::with_http(base, client.clone())
        .provision(body, token.as_ref())
        .await
        .with_context(|| format!("POST {base}/v1/provision"))?;
    Ok((granted.transaction_id, granted.iam_role_arn))
}

/// Deprovisions through the typed client; anything but `200 deprovisioned` of a role that was
/// still there is an error.
pub async fn deprovision(
    client: &reqwest::Client,
    base: &str,
    body: &DeprovisionInput,
    token: Option<&str>,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/deprovision");
    let token = token.map(Secret::new);
    let done = Client::with_http(base, client.clone())
        .deprovision(body, token.as_ref())
        .await
        .with_context(|| format!("POST {url}"))?;
    if done.already_deprovisioned {
        bail!("POST {url}: the role was already gone: {done:?}");
    }
    Ok(())
}
