//! `stint-bench`, the driver behind `scripts/bench`, against the AWS emulator (moto) only: one
//! subcommand per section of the report (see `figures`), each printing its figures. Every
//! figure is measured; targets are shown with PASS/MISS, and missing one is not an error.

mod args;
mod aws;
mod catalog;
mod client;
mod dynamodb;
mod figures;
mod metrics;
mod procfs;
mod report;
mod runs;
mod spawn;
mod stats;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use figures::{auth, dynamo, faults, lambda, load, people, reap, startup, verify, web};

#[derive(Parser)]
#[command(
    name = "stint-bench",
    about = "stint's benchmark driver (run by scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Token verifications per second on one core, warm JWKS cache.
    Verify(verify::VerifyArgs),
    #[command(flatten)]
    OnRuntime(OnRuntime),
}

/// The sections that run on a multi-threaded runtime (as `stint serve` does).
#[derive(Subcommand)]
enum OnRuntime {
    /// Latency, AWS calls and peak RSS against a running `stint serve`.
    Load(load::LoadArgs),
    /// Time from spawning `stint serve` to its first `GET /healthz` answer.
    Startup(startup::StartupArgs),
    /// Provision latency with and without token authentication.
    Auth(args::TwoServers),
    /// One reaper pass over many expired grants.
    Reap(reap::ReapArgs),
    /// Provision+deprovision at an injected AWS fault rate, then leaks.
    Faults(faults::FaultArgs),
    /// `stint-lambda` cold start to the first answer (reap, provision), and warm.
    Lambda(lambda::LambdaArgs),
    /// DynamoDB calls per provisioning, and latency with the DynamoDB vs the SQLite ledger.
    Dynamo(args::TwoServers),
    /// People's access: request to active, its floor, calls per activation and expiry, many at once.
    People(people::PeopleArgs),
    /// The web page: time to first byte of each page signed in, and its weight.
    Web(web::WebArgs),
}

impl OnRuntime {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Load(args) => load::run(args).await,
            Self::Startup(args) => startup::run(args).await,
            Self::Auth(args) => auth::run(&args).await,
            Self::Reap(args) => reap::run(&args).await,
            Self::Faults(args) => faults::run(&args).await,
            Self::Lambda(args) => lambda::run(&args).await,
            Self::Dynamo(args) => dynamo::run(&args).await,
            Self::People(args) => people::run(&args).await,
            Self::Web(args) => web::run(&args).await,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        // Builds its own single-threaded runtime: the figure is for one core.
        Command::Verify(args) => verify::run(&args),
        Command::OnRuntime(command) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(command.run()),
    }
}
