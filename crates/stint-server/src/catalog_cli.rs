//! `stint catalog`: the catalog as the single source of what people's access is made of.
//! `lint` lints its personas and permission sets (the same as `stint lint catalog`).
//! `plan` reads Identity Center and the member accounts' target roles and prints what `apply`
//! would create, change and delete (text, or `--json`), and for each persona limited to a
//! pilot group who would gain and lose access when the pilot is lifted; `apply` makes it so, recording every
//! change in the ledger; `export` writes the same as CloudFormation templates.
//!
//! Exit codes (`plan`, as `terraform plan -detailed-exitcode`): 0 nothing would change, 2
//! something would (or a resource is left alone as not stint's), 1 an error. `apply` and
//! `export`: 0 done, 1 an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use stint_aws::{AwsCallCounter, DynamoLedger, IdentityCenterEstate, IdentityStoreGroups};
use stint_core::catalog::Catalog;
use stint_core::estate::apply::Estate;
use stint_core::estate::cloudformation;
use stint_core::estate::desired::desired;
use stint_core::estate::managed::Managed;
use stint_core::estate::pilot::{PilotReport, pilot_reports, render_pilots};
use stint_core::estate::plan::render;
use stint_core::lint::Severity;
use stint_core::ports::Ledger;

use stint_server::app::{Settings, dynamodb_table, load_catalog};
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;
use stint_server::scan_cli::{Format, LintCommand, parse_severity, run_lint};

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// What `apply` would create, change and delete in Identity Center and the member
    /// accounts. Exit code 0: no change; 2: changes; 1: error.
    Plan {
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Plan to take over resources of the catalog's names that stint did not make.
        #[arg(long)]
        adopt: bool,
        #[command(flatten)]
        member: MemberRole,
    },
    /// Make Identity Center and the member accounts match the catalog; every change is
    /// recorded in the ledger. Idempotent.
    Apply {
        /// Take over resources of the catalog's names that stint did not make.
        #[arg(long)]
        adopt: bool,
        #[command(flatten)]
        member: MemberRole,
    },
    /// Lint every persona's policies and every permission set's inline policy; refuse (exit
    /// 1) a prod persona or set with a finding at or above `--refuse-at`.
    Lint {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long, default_value = "critical", value_parser = parse_severity)]
        refuse_at: Severity,
    },
    /// Write the permission sets and member-account roles as templates.
    Export {
        #[arg(long, value_enum, default_value = "cloudformation")]
        format: ExportFormat,
        /// The directory to write the templates into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// The role `plan` and `apply` assume in member accounts for the target roles. The
/// provisioner (the default) may touch only `role/stint/*`, so in AWS the target roles need a
/// role that may manage them (e.g. `OrganizationAccountAccessRole`, or your StackSets
/// execution role).
#[derive(Args)]
pub struct MemberRole {
    /// The role's name in each member account (default: the catalog's provisioner role).
    #[arg(long)]
    member_role: Option<String>,
    /// Its external id (default: the catalog's provisioner_external_id, with the provisioner).
    #[arg(long)]
    member_external_id: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Cloudformation,
}

/// Runs a catalog command; errors are exit code 1 with `stint: …` on stderr.
pub async fn run(command: CatalogCommand, settings: Settings) -> ExitCode {
    match run_inner(command, settings).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("stint: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_inner(command: CatalogCommand, settings: Settings) -> anyhow::Result<ExitCode> {
    if let CatalogCommand::Lint { format, refuse_at } = command {
        let lint = LintCommand::Catalog { format, refuse_at };
        return run_lint(lint, &settings.catalog_path);
    }
    let catalog = load_catalog(&settings.catalog_path)?;
    if let CatalogCommand::Export { out, .. } = &command {
        return export(&catalog, out);
    }
    let member = match &command {
        CatalogCommand::Plan { member, .. } | CatalogCommand::Apply { member, .. } => Some(member),
        _ => None,
    };
    let estate = estate(&catalog, &settings, member).await?;
    let want = desired(&catalog);
    match command {
        CatalogCommand::Plan { json, adopt, .. } => {
            let (plan, _) = estate.plan(&want, adopt).await?;
            let pilots = pilots(&catalog, &settings).await?;
            if json {
                let mut out = serde_json::to_value(&plan)?;
                if let Some(map) = out.as_object_mut() {
                    map.insert("pilots".to_owned(), serde_json::to_value(&pilots)?);
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}{}", render(&plan), render_pilots(&pilots));
            }
            // A pilot is information, not a change: it is lifted in the catalog.
            Ok(if plan.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        CatalogCommand::Apply { adopt, .. } => {
            let report = estate.apply(&want, adopt).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            for resource in &report.left_alone {
                eprintln!("stint: left alone (not stint's): {resource}");
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Export { .. } | CatalogCommand::Lint { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// Who would gain and lose each piloted persona when its pilot is lifted (no calls without
/// `[pilots]`).
async fn pilots(catalog: &Catalog, settings: &Settings) -> anyhow::Result<Vec<PilotReport>> {
    if catalog.pilots().is_empty() {
        return Ok(Vec::new());
    }
    let sdk = stint_aws::load_sdk_config(&settings.aws).await;
    let groups = IdentityStoreGroups::new(
        &sdk,
        AwsCallCounter::default(),
        catalog.identity_store_id.clone(),
    );
    Ok(pilot_reports(catalog, &groups).await?)
}

async fn estate(
    catalog: &Catalog,
    settings: &Settings,
    member: Option<&MemberRole>,
) -> anyhow::Result<Estate> {
    let sdk = stint_aws::load_sdk_config(&settings.aws).await;
    let counter = AwsCallCounter::default();
    let ledger: Arc<dyn Ledger> = match dynamodb_table(&settings.ledger_path) {
        Some(table) => Arc::new(DynamoLedger::new(&sdk, counter.clone(), table)),
        None => Arc::new(
            SqliteLedger::open(&settings.ledger_path)
                .with_context(|| format!("opening the ledger {:?}", settings.ledger_path))?,
        ),
    };
    let (role, external_id) = match member.and_then(|m| m.member_role.clone()) {
        Some(role) => (role, member.and_then(|m| m.member_external_id.clone())),
        None => (
            catalog.provisioner_role_name.to_string(),
            catalog.provisioner_external_id.clone(),
        ),
    };
    let store = IdentityCenterEstate::new(
        &sdk,
        counter,
        catalog.people().and_then(|p| p.instance_arn.clone()),
        role,
        external_id,
    );
    Ok(Estate {
        store: Arc::new(store),
        ledger,
        clock: Arc::new(SystemClock),
        record_id: Managed::id_for(&catalog.company, &catalog.org),
        actor: "operator:cli".to_owned(),
    })
}

fn export(catalog: &Catalog, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, template) in cloudformation::templates(catalog) {
        let path = out.join(name);
        let text = serde_json::to_string_pretty(&template)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
