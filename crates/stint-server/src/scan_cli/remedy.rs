//! `stint scan --apply PLAN` and `--undo CHANGE`, recorded in the ledger
//! (`stint_core::remediation`): before each change, what it will replace (`applying`); after
//! it, the outcome (`applied`, `failed`, `waiting` for a key's grace period); at an undo,
//! `undone`. A change the record shows applied is not made again, so `--apply` can be run
//! again once the grace period is over to carry out the deletions; one left `applying` (a
//! crash after the AWS call) is finished with the state it first replaced.

use std::process::ExitCode;

use anyhow::Context as _;
use stint_aws::MemberSessions;
use stint_aws::remediation;
use stint_core::ids::AccountId;
use stint_core::lint::{Action, Change, PLAN_VERSION, Plan, Previous};
use stint_core::remediation::{Entry, Remediation, RemediationLedger};
use stint_core::time_fmt::parse_rfc3339;

use super::ScanArgs;

pub(super) async fn run(
    args: &ScanArgs,
    sessions: &MemberSessions,
    journal: &RemediationLedger,
) -> anyhow::Result<ExitCode> {
    let entries = if let Some(path) = &args.apply {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the plan {}", path.display()))?;
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a stint scan plan", path.display()))?;
        apply_plan(&plan, sessions, journal).await?
    } else if let Some(id) = &args.undo {
        vec![undo_change(id, sessions, journal).await?]
    } else {
        Vec::new()
    };
    println!("{}", serde_json::to_string_pretty(&entries)?);
    let failed = entries.iter().any(|e| e.outcome.ends_with("failed"));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Carries out `plan`'s changes in order; answers the last step of each change it took.
pub async fn apply_plan(
    plan: &Plan,
    sessions: &MemberSessions,
    journal: &RemediationLedger,
) -> anyhow::Result<Vec<Entry>> {
    anyhow::ensure!(
        plan.version == PLAN_VERSION,
        "the plan is version {}; this stint applies version {PLAN_VERSION}",
        plan.version
    );
    let mut record = journal.load(&plan.created).await?;
    let mut results = Vec::new();
    for change in &plan.changes {
        let done = |outcome: &str| {
            record
                .entries
                .iter()
                .find(|e| e.change == *change && e.outcome == outcome)
                .cloned()
        };
        if done("applied").is_some() {
            continue;
        }
        let known = done("applying").and_then(|e| e.previous);
        let (next, result) = apply_one(&record, change, known, sessions, journal).await?;
        record = journal.record(&next, result.clone()).await?;
        results.push(result);
    }
    Ok(results)
}

/// Makes one change: the record after its `applying` step (if taken), and its outcome.
async fn apply_one(
    record: &Remediation,
    change: &Change,
    known: Option<Previous>,
    sessions: &MemberSessions,
    journal: &RemediationLedger,
) -> anyhow::Result<(Remediation, Entry)> {
    let now = journal.clock.now();
    let step = |outcome: &str| Entry::new(&record.plan, change, outcome, now);
    let failed = |error: String| {
        let mut failed = step("failed");
        failed.error = Some(error);
        (record.clone(), failed)
    };
    if let Action::DeleteKey { not_before, .. } = &change.action {
        let due = parse_rfc3339(not_before)
            .with_context(|| format!("{}: not_before {not_before:?} is not a time", change.id))?;
        if now < due {
            let mut waiting = step("waiting");
            waiting.error = Some(format!("the grace period ends at {not_before}"));
            return Ok((record.clone(), waiting));
        }
    }
    let account = AccountId::parse(&change.account)
        .map_err(|e| anyhow::anyhow!("{}: {}", change.id, e.message))?;
    let iam = match sessions.iam(&account).await {
        Ok(iam) => iam,
        Err(e) => return Ok(failed(e.to_string())),
    };
    let previous = match known {
        Some(previous) => previous,
        None => match remediation::read_previous(&iam, change).await {
            Ok(previous) => previous,
            Err(e) => return Ok(failed(e.to_string())),
        },
    };
    let mut applying = step("applying");
    applying.previous = Some(previous.clone());
    // The ledger holds what the change replaces before AWS is touched.
    let record = journal.record(record, applying).await?;
    Ok(match remediation::apply(&iam, change).await {
        Ok(()) => {
            let mut applied = step("applied");
            applied.previous = Some(previous);
            (record, applied)
        }
        Err(e) => {
            let mut failed = step("failed");
            failed.error = Some(e.to_string());
            (record, failed)
        }
    })
}

/// Undoes the latest applied change `id` (of any plan) that is not undone yet.
pub async fn undo_change(
    id: &str,
    sessions: &MemberSessions,
    journal: &RemediationLedger,
) -> anyhow::Result<Entry> {
    let records = journal.all().await?;
    let (record, latest) = records
        .iter()
        .rev()
        .find_map(|r| r.latest(id, &["applied", "undone"]).map(|e| (r, e)))
        .with_context(|| format!("the ledger has no applied remediation change {id}"))?;
    anyhow::ensure!(latest.outcome == "applied", "change {id} is already undone");
    let previous = latest
        .previous
        .as_ref()
        .with_context(|| format!("change {id} has no previous state in the ledger"))?;
    let account = AccountId::parse(&latest.change.account)
        .map_err(|e| anyhow::anyhow!("{id}: {}", e.message))?;
    let outcome = match sessions.iam(&account).await {
        Ok(iam) => remediation::undo(&iam, &latest.change, previous).await,
        Err(e) => Err(e),
    };
    let mut result = Entry::new(&record.plan, &latest.change, "undone", journal.clock.now());
    result.previous = Some(previous.clone());
    if let Err(e) = outcome {
        result.outcome = "undo_failed".to_owned();
        result.error = Some(e.to_string());
    }
    journal.record(record, result.clone()).await?;
    Ok(result)
}
