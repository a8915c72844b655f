//! `stint-pipeline`: the client a GitHub Actions job runs (through the composite action in
//! `.github/actions/stint`) to get time-bound AWS access from the broker and to give it back.

use std::process::ExitCode;

use clap::Parser;
use stint_aws::AwsSettings;
use stint_runner::PipelineCommand;

#[derive(Parser)]
#[command(
    name = "stint-pipeline",
    version,
    about = "Inside a GitHub Actions job: get and end AWS access from stint with the job's OIDC token"
)]
struct Cli {
    /// Send AssumeRoleWithWebIdentity to this endpoint instead of AWS (e.g. the moto emulator).
    #[arg(long, env = "STINT_AWS_ENDPOINT_URL", global = true)]
    aws_endpoint_url: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", global = true)]
    region: String,
    #[command(subcommand)]
    command: PipelineCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("stint: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let aws = AwsSettings {
        region: cli.region,
        endpoint_url: cli.aws_endpoint_url,
    };
    Ok(stint_runner::run(cli.command, aws).await?)
}
