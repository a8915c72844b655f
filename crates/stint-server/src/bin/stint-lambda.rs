//! The Lambda entry point, one binary for the four functions (`provision`, `deprovision`,
//! `reap`, and `people` behind a function URL): `STINT_FUNCTION`, or else the Lambda function's name, says which. Configuration
//! comes from the environment as for `stint`: `STINT_CATALOG` (default
//! `/var/task/catalog.toml`, shipped in the package), `STINT_LEDGER` (`dynamodb://TABLE`),
//! `AWS_REGION`, and `STINT_AWS_ENDPOINT_URL` only for an emulator.

use anyhow::Context as _;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use stint_aws::{AwsSettings, IssueRetry};
use stint_server::app::{App, Settings};
use stint_server::lambda::{Function, handle};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STINT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .without_time() // CloudWatch stamps every line
        .init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let name = var("STINT_FUNCTION")
        .or_else(|| var("AWS_LAMBDA_FUNCTION_NAME"))
        .context("set STINT_FUNCTION to provision, deprovision, reap or people")?;
    let function = Function::from_name(&name)
        .with_context(|| format!("{name} is not provision, deprovision, reap or people"))?;
    let settings = Settings {
        catalog_path: var("STINT_CATALOG")
            .unwrap_or_else(|| "/var/task/catalog.toml".into())
            .into(),
        ledger_path: var("STINT_LEDGER")
            .context("set STINT_LEDGER, e.g. dynamodb://stint-ledger")?
            .into(),
        aws: AwsSettings {
            region: var("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            endpoint_url: var("STINT_AWS_ENDPOINT_URL"),
        },
        issue_retry: IssueRetry::default(),
    };
    let app = App::build(&settings).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { Ok::<Value, lambda_runtime::Error>(handle(&app, function, event.payload).await) }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}
