//! `stint scan`: reads IAM in every catalog account through the read-only auditor role,
//! lints it (`stint_core::lint`) and prints the findings as a table, JSON or SARIF; writes a
//! remediation plan (`--plan`), carries one out (`--apply`) and undoes one change (`--undo`),
//! each step in the ledger with what the change replaced. Also `stint lint catalog`: the catalog's
//! personas linted, a prod persona with a finding at or above a severity refused.

mod remedy;
mod report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use stint_aws::{AwsCallCounter, AwsSettings, MemberSessions};
use stint_core::catalog::Catalog;
use stint_core::grant::Journal;
use stint_core::ids::{AccountId, TransactionId};
use stint_core::lint::{self, AccountInventory, Finding, ScanSettings, Severity, lint_catalog};
use stint_core::ports::Clock;
use stint_core::record::State;
use stint_core::remediation::RemediationLedger;

pub use remedy::{apply_plan, undo_change};
pub use report::{sarif, table};
pub use stint_core::remediation::Entry as JournalEntry;

/// The tag that ties a stint role to its grant (as `pipeline/provision.rs` writes it).
const TRANSACTION_TAG: &str = "stint:transaction-id";
/// Who the ledger says made a remediation change.
const REMEDIATION_ACTOR: &str = "operator:stint-scan";
/// How many accounts are read at once.
const ACCOUNTS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Scan only this account (id or catalog name); repeat for more. Default: every catalog account.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// No activity for this many days is "unused".
    #[arg(long, default_value_t = 90)]
    pub unused_days: u64,
    /// Exit 1 when a finding is at least this severe (low, medium, high, critical).
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// The read-only role assumed in each account (deploy/member.yaml's stint-auditor).
    #[arg(long, env = "STINT_AUDITOR_ROLE", default_value = "stint-auditor")]
    pub auditor_role: String,
    /// The external id the auditor role's trust policy asks for.
    #[arg(long, env = "STINT_AUDITOR_EXTERNAL_ID")]
    pub external_id: Option<String>,
    /// Also read IAM Access Analyzer's active findings in this account (where the
    /// organisation's analyzers live, deploy/analyzers.yaml) and merge them.
    #[arg(long, value_name = "ID")]
    pub access_analyzer_account: Option<String>,
    /// Send Access Analyzer calls here instead of AWS (a VPC endpoint, or a test stand-in).
    #[arg(long, env = "STINT_ACCESS_ANALYZER_ENDPOINT", value_name = "URL")]
    pub access_analyzer_endpoint: Option<String>,
    /// Write a remediation plan for the findings to FILE (and print the findings as usual).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["apply", "undo"])]
    pub plan: Option<PathBuf>,
    /// Days between deactivating a key and deleting it, in a plan.
    #[arg(long, default_value_t = 14)]
    pub grace_days: u64,
    /// Carry out exactly the plan in FILE (no scan), journaling what each change replaced.
    #[arg(long, value_name = "FILE", conflicts_with = "undo")]
    pub apply: Option<PathBuf>,
    /// Undo one applied change (its id in the plan, e.g. c003) from the journal.
    #[arg(long, value_name = "CHANGE")]
    pub undo: Option<String>,
    /// The role `--apply` and `--undo` assume in each account to change IAM.
    #[arg(
        long,
        env = "STINT_REMEDIATION_ROLE",
        default_value = "OrganizationAccountAccessRole"
    )]
    pub apply_role: String,
}

#[derive(Debug, Subcommand)]
pub enum LintCommand {
    /// Lint every persona's policies in the catalog; refuse a prod persona with a finding at
    /// or above `--refuse-at`.
    Catalog {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long, default_value = "critical", value_parser = parse_severity)]
        refuse_at: Severity,
    },
    /// Lint policy documents: each FILE holds one policy, or a JSON object of name → policy
    /// (a corpus). Trust policies are linted with `--trust`.
    Policy {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The documents are trust policies.
        #[arg(long)]
        trust: bool,
    },
}

pub fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?} is not low, medium, high or critical"))
}

/// What a scan is run with.
pub struct Scanner<'a> {
    pub catalog: &'a Catalog,
    /// The ledger's grants, to tell stint's live roles from orphans.
    pub journal: &'a Journal,
    pub clock: &'a dyn Clock,
    pub sessions: MemberSessions,
    pub calls: AwsCallCounter,
    /// Where to read Access Analyzer's findings (the analyzers' account and an endpoint
    /// override), if at all.
    pub analyzer: Option<(AccountId, Option<String>)>,
}

/// A scan's result.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub findings: Vec<Finding>,
    pub inventories: Vec<AccountInventory>,
    /// Accounts that could not be read, with the reason.
    pub errors: Vec<(String, String)>,
    pub resources: usize,
    /// Access Analyzer's active findings on the scanned accounts, before merging.
    pub analyzer_findings: usize,
    pub aws_calls: u64,
    pub elapsed: Duration,
}

impl Scanner<'_> {
    /// Reads and lints `accounts`, a few at a time.
    pub async fn scan(&self, accounts: &[AccountId], unused_days: u64) -> ScanOutcome {
        let started = Instant::now();
        let calls_before = self.calls.total_calls();
        // The catalog's accounts, and its landing account (whose Identity Center roles the
        // locked target roles trust), are the organisation's.
        let org: BTreeSet<String> = self
            .catalog
            .accounts()
            .iter()
            .map(|a| a.id.to_string())
            .chain(self.catalog.landing().map(|l| l.account_id.to_string()))
            .collect();
        let mut outcome = self.read_accounts(accounts).await;
        outcome
            .inventories
            .sort_by(|a, b| a.account.cmp(&b.account));
        for inventory in &outcome.inventories {
            let settings = ScanSettings {
                now: self.clock.now(),
                unused_after: Duration::from_secs(unused_days * 86_400),
                org_accounts: org.clone(),
                live_stint_roles: self.live_stint_roles(inventory).await,
            };
            outcome
                .findings
                .extend(lint::lint_account(inventory, &settings));
            outcome.resources += inventory.users.len()
                + inventory.roles.len()
                + inventory.groups.len()
                + inventory.policies.len();
        }
        self.merge_analyzer(accounts, &mut outcome).await;
        lint::sort_findings(&mut outcome.findings);
        outcome.aws_calls = self.calls.total_calls() - calls_before;
        outcome.elapsed = started.elapsed();
        outcome
    }

    /// Each account's inventory, a few accounts at a time; the accounts not read in `errors`.
    async fn read_accounts(&self, accounts: &[AccountId]) -> ScanOutcome {
        let mut outcome = ScanOutcome::default();
        for chunk in accounts.chunks(ACCOUNTS_IN_FLIGHT) {
            let mut reads = tokio::task::JoinSet::new();
            for account in chunk {
                let (sessions, account) = (self.sessions.clone(), account.clone());
                reads.spawn(async move {
                    let read = stint_aws::read_inventory(&sessions, &account).await;
                    (account, read)
                });
            }
            while let Some(joined) = reads.join_next().await {
                match joined {
                    Ok((_, Ok(inventory))) => outcome.inventories.push(inventory),
                    Ok((account, Err(e))) => {
                        outcome.errors.push((account.to_string(), e.to_string()))
                    }
                    Err(e) => outcome.errors.push(("?".to_owned(), e.to_string())),
                }
            }
        }
        outcome
    }

    /// Access Analyzer's active findings on the scanned accounts, merged into `outcome`'s.
    async fn merge_analyzer(&self, accounts: &[AccountId], outcome: &mut ScanOutcome) {
        let Some((account, endpoint)) = &self.analyzer else {
            return;
        };
        let scanned: BTreeSet<&str> = accounts.iter().map(AccountId::as_str).collect();
        match stint_aws::read_analyzer_findings(&self.sessions, account, endpoint.as_deref()).await
        {
            Ok(found) => {
                let ours: Vec<_> = found
                    .into_iter()
                    .filter(|f| scanned.contains(f.account.as_str()))
                    .collect();
                outcome.analyzer_findings = ours.len();
                outcome.findings = lint::merge(std::mem::take(&mut outcome.findings), &ours);
            }
            Err(e) => outcome
                .errors
                .push((account.to_string(), format!("Access Analyzer: {e}"))),
        }
    }

    /// The names of the account's /stint/ roles whose grant the ledger holds as live.
    async fn live_stint_roles(&self, inventory: &AccountInventory) -> BTreeSet<String> {
        let mut live = BTreeSet::new();
        for role in inventory
            .roles
            .iter()
            .filter(|r| r.path.starts_with("/stint/"))
        {
            let Some((_, id)) = role.tags.iter().find(|(k, _)| k == TRANSACTION_TAG) else {
                continue;
            };
            let Ok(id) = TransactionId::parse(id) else {
                continue;
            };
            let held = match self.journal.find(&id).await {
                Ok(Some(grant)) => matches!(
                    grant.state,
                    State::Processing | State::Provisioned | State::Deprovisioning
                ),
                Ok(None) => false,
                // The ledger could not say: not called an orphan on no evidence.
                Err(_) => true,
            };
            if held {
                live.insert(role.name.clone());
            }
        }
        live
    }
}

/// The accounts `names` (ids or catalog names) picks, or every catalog account.
pub fn pick_accounts(catalog: &Catalog, names: &[String]) -> anyhow::Result<Vec<AccountId>> {
    if names.is_empty() {
        return Ok(catalog.accounts().iter().map(|a| a.id.clone()).collect());
    }
    names
        .iter()
        .map(|name| {
            catalog
                .accounts()
                .iter()
                .find(|a| a.id.as_str() == name || a.name.as_str() == name)
                .map(|a| a.id.clone())
                .ok_or_else(|| anyhow::anyhow!("{name:?} is not an account of the catalog"))
        })
        .collect()
}

/// `stint scan …`: the command line's entry.
pub async fn run(
    args: ScanArgs,
    catalog: &Catalog,
    journal: &Journal,
    clock: &dyn Clock,
    aws: &AwsSettings,
) -> anyhow::Result<ExitCode> {
    let sdk = stint_aws::load_sdk_config(aws).await;
    let calls = AwsCallCounter::default();
    if args.apply.is_some() || args.undo.is_some() {
        let sessions =
            MemberSessions::new(&sdk, calls, &args.apply_role, None).named("stint-remediate");
        let ledger = RemediationLedger {
            ledger: journal.ledger.clone(),
            clock: journal.clock.clone(),
            actor: REMEDIATION_ACTOR.to_owned(),
        };
        return remedy::run(&args, &sessions, &ledger).await;
    }
    let sessions = MemberSessions::new(
        &sdk,
        calls.clone(),
        &args.auditor_role,
        args.external_id.clone(),
    )
    .named("stint-scan");
    let analyzer = match &args.access_analyzer_account {
        Some(id) => Some((
            AccountId::parse(id)
                .map_err(|e| anyhow::anyhow!("--access-analyzer-account: {}", e.message))?,
            args.access_analyzer_endpoint.clone(),
        )),
        None => None,
    };
    let scanner = Scanner {
        catalog,
        journal,
        clock,
        sessions,
        calls,
        analyzer,
    };
    let accounts = pick_accounts(catalog, &args.accounts)?;
    let outcome = scanner.scan(&accounts, args.unused_days).await;
    if let Some(path) = &args.plan {
        write_plan(path, &outcome, clock, args.grace_days)?;
    }
    print!("{}", render(args.format, &outcome.findings, &outcome));
    say_summary(&outcome);
    let failed = args
        .fail_on
        .is_some_and(|s| lint::any_at_least(&outcome.findings, s));
    Ok(if !outcome.errors.is_empty() {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_plan(
    path: &std::path::Path,
    outcome: &ScanOutcome,
    clock: &dyn Clock,
    grace_days: u64,
) -> anyhow::Result<()> {
    let grace = Duration::from_secs(grace_days * 86_400);
    let plan = lint::plan(&outcome.findings, &outcome.inventories, clock.now(), grace);
    let text = serde_json::to_string_pretty(&plan)?;
    std::fs::write(path, text).with_context(|| format!("writing the plan {}", path.display()))?;
    eprintln!(
        "stint: wrote {} change(s) to {}",
        plan.changes.len(),
        path.display()
    );
    Ok(())
}

/// The accounts not scanned and the scan's figures, on stderr (stdout is the report).
fn say_summary(outcome: &ScanOutcome) {
    for (account, error) in &outcome.errors {
        eprintln!("stint: account {account} not scanned: {error}");
    }
    eprintln!(
        "stint: {} finding(s) in {} account(s), {} resources, {} AWS calls, {:.2} s",
        outcome.findings.len(),
        outcome.inventories.len(),
        outcome.resources,
        outcome.aws_calls,
        outcome.elapsed.as_secs_f64()
    );
}

fn render(format: Format, findings: &[Finding], outcome: &ScanOutcome) -> String {
    match format {
        Format::Table => table(findings),
        Format::Json => {
            let body = serde_json::json!({
                "findings": findings,
                "accounts": outcome.inventories.iter().map(|i| &i.account).collect::<Vec<_>>(),
                "errors": outcome.errors.iter().map(|(a, e)| serde_json::json!({"account": a, "error": e})).collect::<Vec<_>>(),
                "resources": outcome.resources,
                "aws_calls": outcome.aws_calls,
                "access_analyzer_findings": outcome.analyzer_findings,
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            )
        }
        Format::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&sarif(findings)).unwrap_or_default()
        ),
    }
}

/// The named documents of `files` (one policy each, or a JSON object of name → policy).
fn documents(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.display().to_string();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        match value.as_object() {
            Some(map) if !map.contains_key("Statement") => {
                for (key, doc) in map {
                    found.push((format!("{name}:{key}"), doc.to_string()));
                }
            }
            _ => found.push((name, text)),
        }
    }
    Ok(found)
}

fn lint_files(files: &[PathBuf], format: Format, trust: bool) -> ExitCode {
    let docs = match documents(files) {
        Ok(docs) => docs,
        Err(e) => {
            eprintln!("stint: {e:#}");
            return ExitCode::from(2);
        }
    };
    let context = lint::TrustContext::default();
    let mut findings: Vec<Finding> = docs
        .iter()
        .flat_map(|(name, doc)| match trust {
            true => lint::lint_trust(name, doc, &context),
            false => lint::lint_policy(name, doc),
        })
        .collect();
    lint::sort_findings(&mut findings);
    let outcome = ScanOutcome::default();
    print!("{}", render(format, &findings, &outcome));
    eprintln!(
        "stint: {} finding(s) in {} document(s)",
        findings.len(),
        docs.len()
    );
    ExitCode::SUCCESS
}

/// `stint lint …`: the catalog is read only for `lint catalog`.
pub fn run_lint(command: LintCommand, catalog_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    Ok(match command {
        LintCommand::Policy {
            files,
            format,
            trust,
        } => lint_files(&files, format, trust),
        LintCommand::Catalog { format, refuse_at } => {
            let catalog = crate::app::load_catalog(catalog_path)?;
            let (findings, refused) = lint_catalog(&catalog, refuse_at);
            let text = match format {
                Format::Table => table(&findings),
                Format::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&findings).unwrap_or_default()
                ),
                Format::Sarif => {
                    let uri = catalog_path.display().to_string();
                    let mut doc = sarif(&findings);
                    report::point_at_file(&mut doc, &uri);
                    format!(
                        "{}\n",
                        serde_json::to_string_pretty(&doc).unwrap_or_default()
                    )
                }
            };
            print!("{text}");
            for persona in &refused {
                eprintln!(
                    "stint: prod persona {persona} refused: a finding at or above {refuse_at}"
                );
            }
            if refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    })
}
