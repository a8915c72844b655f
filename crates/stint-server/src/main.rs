//! `stint`: the JIT access broker's command line. `serve` runs the HTTP API; the other
//! commands run the same broker directly against the ledger and AWS, and print JSON; the
//! people commands (`login`, `request`, `approve`, …) are a client of a broker over HTTP
//! (`people_cli.rs`).

mod catalog_cli;
mod people_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use stint_aws::{AwsSettings, IssueRetry};
use stint_core::catalog::parse_duration;
use stint_core::grant::{Caller, ReapSettings};
use stint_core::pipeline::JobContext;
use stint_server::app::{App, Settings};
use stint_server::wire::{self, DeprovisionInput, ProvisionInput};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "stint",
    version,
    about = "Just-in-time, least-privilege, time-bound AWS access"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The catalog of accounts and personas.
    #[arg(
        long,
        env = "STINT_CATALOG",
        default_value = "stint-catalog.toml",
        global = true
    )]
    catalog: PathBuf,
    /// The ledger: a SQLite file (created if missing), or `dynamodb://TABLE`.
    #[arg(
        long,
        env = "STINT_LEDGER",
        default_value = "stint-ledger.db",
        global = true
    )]
    ledger: PathBuf,
    /// Send every AWS call to this endpoint instead of AWS (e.g. the moto emulator).
    #[arg(long, env = "STINT_AWS_ENDPOINT_URL", global = true)]
    aws_endpoint_url: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", global = true)]
    region: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Loopback only, unless the catalog has an [oidc] issuer to authenticate callers.
        #[arg(long, env = "STINT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// How often the background reaper runs (`off` to run none, e.g. with a scheduled
        /// `stint reap` instead).
        #[arg(long, env = "STINT_REAP_INTERVAL", default_value = "1m", value_parser = parse_interval)]
        reap_interval: ReapInterval,
        #[command(flatten)]
        reap: ReapArgs,
    },
    /// One reaper pass: end expired grants, resolve stuck transactions, remove orphaned roles.
    Reap {
        #[command(flatten)]
        reap: ReapArgs,
    },
    /// End a grant now, cutting off the credentials already issued.
    Revoke { transaction_id: String },
    /// Provision a temporary role and print the grant (the provisioning JSON, with credentials).
    Provision {
        #[arg(long)]
        email: String,
        #[arg(long)]
        branch: String,
        #[arg(long)]
        target_aws_account: String,
        #[arg(long)]
        target_aws_account_id: String,
        #[arg(long)]
        group_type: Option<String>,
    },
    /// Delete a temporary role and write the linked deprovisioning record.
    Deprovision {
        #[arg(long)]
        transaction_id: String,
        #[arg(long)]
        target_aws_account: String,
        #[arg(long)]
        role_arn: String,
    },
    /// Read transactions.
    Transactions {
        #[command(subcommand)]
        command: TransactionsCommand,
    },
    /// Set up the ledger's storage.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Inside a GitHub Actions job: get and end access with the job's OIDC token (the same
    /// client as `stint-pipeline`, which the composite action installs).
    Pipeline {
        #[command(subcommand)]
        command: stint_runner::PipelineCommand,
    },
    #[command(flatten)]
    People(people_cli::PeopleCommand),
    /// Keep Identity Center's permission sets and the member accounts' target roles as the
    /// catalog defines them: plan, apply, export.
    Catalog {
        #[command(subcommand)]
        command: catalog_cli::CatalogCommand,
    },
    /// Find standing access and policy problems in the catalog's accounts through the
    /// read-only auditor role; plan, apply and undo their remediation.
    Scan(Box<stint_server::scan_cli::ScanArgs>),
    /// Lint policies without touching AWS: `stint lint catalog`.
    Lint {
        #[command(subcommand)]
        command: stint_server::scan_cli::LintCommand,
    },
}

#[derive(Args)]
struct ReapArgs {
    /// A transaction unchanged this long mid-way has lost its worker.
    #[arg(long, default_value = "10m", value_parser = parse_span)]
    stuck_after: Duration,
    /// Roles younger than this are not swept.
    #[arg(long, default_value = "5m", value_parser = parse_span)]
    orphan_grace: Duration,
}

impl ReapArgs {
    fn settings(&self) -> ReapSettings {
        ReapSettings {
            stuck_after: self.stuck_after,
            orphan_grace: self.orphan_grace,
            ..ReapSettings::default()
        }
    }
}

/// `10m`, `1h30m`, `0s`.
fn parse_span(text: &str) -> Result<Duration, String> {
    if text
        .trim_start_matches('0')
        .trim_end_matches(['s', 'm', 'h'])
        .is_empty()
    {
        return Ok(Duration::ZERO);
    }
    parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration such as 30s, 10m or 1h"))
}

/// How often to reap; `None` for never.
#[derive(Debug, Clone, Copy)]
struct ReapInterval(Option<Duration>);

fn parse_interval(text: &str) -> Result<ReapInterval, String> {
    match text {
        "off" | "0" | "0s" => Ok(ReapInterval(None)),
        _ => parse_span(text).map(|d| ReapInterval(Some(d))),
    }
}

/// How often `stint serve` delivers queued notices: soon after the change they tell of.
const OUTBOX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Subcommand)]
enum TransactionsCommand {
    /// A transaction and its events.
    Show { id: String },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Create the DynamoDB ledger table as deploy/broker.yaml does (keys, both indexes,
    /// on-demand, deletion protection, encryption, TTL, point-in-time recovery), for replicas
    /// run without CloudFormation. Safe to run again: an existing ledger table is checked and
    /// completed.
    Init {
        /// The ledger to make: `dynamodb://TABLE`.
        #[arg(value_name = "dynamodb://TABLE")]
        target: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report the first event edited, removed or reordered.
    Verify,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = matches!(cli.command, Command::Serve { .. });
    init_logging(json_logs);
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("stint: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_env("STINT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.compact().init();
    }
}

async fn init_ledger(ledger: &str, global: &Global) -> anyhow::Result<ExitCode> {
    let Some(table) = stint_server::app::dynamodb_table(std::path::Path::new(ledger)) else {
        anyhow::bail!(
            "{ledger:?} is not dynamodb://TABLE; a SQLite ledger is created on first use"
        );
    };
    let aws = settings(global).aws;
    let sdk = stint_aws::load_sdk_config(&aws).await;
    let ledger = stint_aws::DynamoLedger::new(&sdk, stint_aws::AwsCallCounter::default(), table);
    let outcome = ledger.init_table().await?;
    let said = match outcome {
        stint_aws::TableInit::Created => "created",
        stint_aws::TableInit::AlreadyThere => "already there",
    };
    println!(
        "{}",
        json(&serde_json::json!({ "table": table, "outcome": said }))
    );
    Ok(ExitCode::SUCCESS)
}

fn settings(global: &Global) -> Settings {
    Settings {
        catalog_path: global.catalog.clone(),
        ledger_path: global.ledger.clone(),
        aws: AwsSettings {
            region: global.region.clone(),
            endpoint_url: global.aws_endpoint_url.clone(),
        },
        issue_retry: IssueRetry::default(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = match cli.command {
        // The pipeline commands run on a GitHub runner: no catalog, ledger or AWS account there.
        Command::Pipeline { command } => return run_pipeline(command, &cli.global).await,
        // A person's commands talk to a broker over HTTP: no catalog, ledger or AWS here.
        Command::People(command) => return people_cli::run(command).await,
        // Its own exit codes (plan: 0 no change, 2 changes, 1 error).
        Command::Catalog { command } => {
            return Ok(catalog_cli::run(command, settings(&cli.global)).await);
        }
        // Makes the ledger: no catalog needed, and no ledger yet.
        Command::Ledger {
            command: LedgerCommand::Init { target },
        } => return init_ledger(&target, &cli.global).await,
        // Documents and the catalog alone: no ledger, no AWS.
        Command::Lint { command } => {
            return stint_server::scan_cli::run_lint(command, &cli.global.catalog);
        }
        command => command,
    };
    let app = App::build(&settings(&cli.global)).await?;
    if let Command::Serve { listen, .. } = &command {
        stint_server::check_listen_address(listen, app.verifier.is_some())
            .map_err(anyhow::Error::msg)?;
    }
    let actor = Caller::operator("cli");
    let ops = &app.ops;
    let outcome = match command {
        Command::Serve {
            listen,
            reap_interval,
            reap,
        } => {
            if let ReapInterval(Some(interval)) = reap_interval {
                stint_server::spawn_reaper(app.clone(), reap.settings(), interval);
            }
            if app.ops.cases.outbox.is_some() {
                stint_server::spawn_outbox(app.clone(), OUTBOX_INTERVAL);
            }
            return serve(app, listen).await;
        }
        Command::Reap { reap } => {
            let report = ops.reap(&reap.settings()).await?;
            println!("{}", json(&report));
            return Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Revoke { transaction_id } => {
            ops.revoke(&transaction_id, &actor).await.map(|d| json(&d))
        }
        Command::Pipeline { .. }
        | Command::People(_)
        | Command::Catalog { .. }
        | Command::Ledger {
            command: LedgerCommand::Init { .. },
        }
        | Command::Lint { .. } => unreachable!("run before the broker is built, above"),
        Command::Scan(args) => {
            let cases = &app.ops.cases;
            let aws = settings(&cli.global).aws;
            let clock = stint_server::clock::SystemClock;
            return stint_server::scan_cli::run(
                *args,
                &cases.catalog,
                &cases.journal,
                &clock,
                &aws,
            )
            .await;
        }
        Command::Provision {
            email,
            branch,
            target_aws_account,
            target_aws_account_id,
            group_type,
        } => {
            let input = ProvisionInput {
                email: Some(email),
                branch: Some(branch),
                target_aws_account: Some(target_aws_account),
                target_aws_account_id: Some(target_aws_account_id),
                group_type,
            };
            ops.provision(&input, &actor, &JobContext::default())
                .await
                .map(|p| json(&p))
        }
        Command::Deprovision {
            transaction_id,
            target_aws_account,
            role_arn,
        } => {
            let input = DeprovisionInput {
                transaction_id: Some(transaction_id),
                target_aws_account: Some(target_aws_account),
                role_arn: Some(role_arn),
            };
            ops.deprovision(&input, &actor).await.map(|d| json(&d))
        }
        Command::Transactions {
            command: TransactionsCommand::Show { id },
        } => ops.transaction(&id, &actor).await.map(|t| json(&t)),
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let report = ops.verify_audit().await?;
            let mut out = json(&report);
            if let Some(fault) = &report.fault {
                out = format!("{out}\nTAMPERED: {fault}");
                println!("{out}");
                return Ok(ExitCode::from(1));
            }
            println!("{out}\nintact: {} events", report.events_checked);
            return Ok(ExitCode::SUCCESS);
        }
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("{}", json(&wire::error_body(&error)));
            eprintln!("stint: {}", stint_server::ops::error_chain(&error));
            Ok(ExitCode::from(1))
        }
    }
}

/// Delegates to stint-runner, the client `stint-pipeline` is; `--aws-endpoint-url` and
/// `--region` say where its AssumeRoleWithWebIdentity goes.
async fn run_pipeline(
    command: stint_runner::PipelineCommand,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    Ok(stint_runner::run(command, settings(global).aws).await?)
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

async fn serve(app: App, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "stint listening");
    println!("stint listening on http://{addr}");
    stint_server::serve(listener, app, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
