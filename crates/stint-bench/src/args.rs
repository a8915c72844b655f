//! Command-line arguments several sections share (flattened into each section's own).

use std::path::PathBuf;

use crate::procfs::ClockTicks;

/// What a section runs against: a catalog seeded into moto (`demo seed`), moto itself, and the
/// directory its ledgers, catalogs and logs go to.
#[derive(clap::Args)]
pub struct Setup {
    /// The catalog (seeded with `demo seed`); requests go to its nonprod account.
    #[arg(long)]
    pub catalog: PathBuf,
    #[arg(long)]
    pub moto_url: String,
    /// Where the section's ledgers, catalogs and logs go.
    #[arg(long)]
    pub dir: PathBuf,
}

/// A section that starts `stint` processes of its own.
#[derive(clap::Args)]
pub struct StintSetup {
    /// The `stint` binary.
    #[arg(long)]
    pub stint: PathBuf,
    #[command(flatten)]
    pub setup: Setup,
}

/// How many provision+deprovision runs a latency section makes.
#[derive(clap::Args)]
pub struct Runs {
    /// Runs first (against each server), not measured: caches warm.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Sequential provision+deprovision runs (against each server).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
}

/// A section that compares two `stint serve` of its own, one run at a time, alternating.
#[derive(clap::Args)]
pub struct TwoServers {
    #[command(flatten)]
    pub stint: StintSetup,
    #[command(flatten)]
    pub runs: Runs,
    #[command(flatten)]
    pub ticks: ClockTicks,
}
