//! The command line of the GitHub side, shared by `stint-pipeline` and by `stint pipeline`
//! (which embeds `PipelineCommand` as its subcommand): one definition of the flags and the
//! environment variables the composite action sets.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use stint_aws::AwsSettings;

use crate::pipeline::{self, Grant, PipelineError, Request, Runner};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Ask the broker for access; write credentials to $GITHUB_ENV, the grant to $GITHUB_OUTPUT.
    Provision {
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long, env = "STINT_TARGET_AWS_ACCOUNT")]
        target_aws_account: String,
        #[arg(long, env = "STINT_TARGET_AWS_ACCOUNT_ID")]
        target_aws_account_id: String,
        #[arg(long, env = "STINT_GROUP_TYPE")]
        group_type: Option<String>,
        /// Defaults to the branch or tag the job runs on.
        #[arg(long, env = "GITHUB_REF_NAME")]
        branch: String,
    },
    /// End the access the provision step got (reads what it left in $GITHUB_ENV). Without a
    /// transaction id (the provision step failed or lost its answer), end every grant the
    /// broker holds for this job. Safe with nothing to end, so it can run `if: always()`.
    Deprovision {
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long, env = "STINT_TRANSACTION_ID")]
        transaction_id: Option<String>,
        #[arg(long, env = "STINT_TARGET_AWS_ACCOUNT")]
        target_aws_account: Option<String>,
        #[arg(long, env = "STINT_ROLE_ARN")]
        role_arn: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// The broker's base URL.
    #[arg(long, env = "STINT_URL")]
    pub broker_url: String,
    /// The audience the broker's catalog expects in tokens.
    #[arg(long, env = "STINT_AUDIENCE", default_value = "stint")]
    pub audience: String,
}

/// Runs one step, writing the job log to stdout. A step that fails prints a `::error::`
/// workflow command and exits 1; only a runner without GitHub's environment is an `Err`.
/// `aws` says where AssumeRoleWithWebIdentity goes (`oidc` delivery).
pub async fn run(command: PipelineCommand, aws: AwsSettings) -> Result<ExitCode, PipelineError> {
    let runner = Runner::from_env()?;
    let mut log = std::io::stdout();
    let result = match command {
        PipelineCommand::Provision {
            broker,
            target_aws_account,
            target_aws_account_id,
            group_type,
            branch,
        } => {
            let request = Request {
                broker_url: broker.broker_url,
                audience: broker.audience,
                target_aws_account,
                target_aws_account_id,
                group_type,
                branch,
                aws,
            };
            pipeline::provision(&request, &runner, &mut log).await
        }
        PipelineCommand::Deprovision {
            broker,
            transaction_id,
            target_aws_account,
            role_arn,
        } => {
            let (Some(transaction_id), Some(target_aws_account), Some(role_arn)) =
                (transaction_id, target_aws_account, role_arn)
            else {
                let result = pipeline::deprovision_job(
                    &broker.broker_url,
                    &broker.audience,
                    &runner,
                    &mut log,
                )
                .await;
                return Ok(exit_code(result));
            };
            let grant = Grant {
                broker_url: broker.broker_url,
                audience: broker.audience,
                transaction_id,
                target_aws_account,
                role_arn,
            };
            pipeline::deprovision(&grant, &runner, &mut log).await
        }
    };
    Ok(exit_code(result))
}

fn exit_code(result: Result<(), PipelineError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("::error::stint: {error}");
            ExitCode::from(1)
        }
    }
}
