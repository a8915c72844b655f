//! `stint scan --apply PLAN` and `--undo CHANGE`, with a change journal: a JSON-lines file
//! where, before each change, what it will replace is written (`applying`), and after it the
//! outcome (`applied`, `failed`, `waiting` for a key's grace period, `undone`). A change the
//! journal shows applied for the same plan is not made again, so `--apply` can be run again
//! once the grace period is over to carry out the deletions.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use stint_aws::MemberSessions;
use stint_aws::remediation;
use stint_core::ids::AccountId;
use stint_core::lint::{Action, Change, PLAN_VERSION, Plan, Previous};
use stint_core::ports::Clock;
use stint_core::time_fmt::{parse_rfc3339, rfc3339};

use super::ScanArgs;

/// One line of the change journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The `created` of the plan the change is from.
    pub plan: String,
    pub change: Change,
    /// `applying`, `applied`, `failed`, `waiting`, `undone`, `undo_failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
}

pub(super) async fn run(
    args: &ScanArgs,
    sessions: &MemberSessions,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    let entries = if let Some(path) = &args.apply {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the plan {}", path.display()))?;
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a stint scan plan", path.display()))?;
        apply_plan(&plan, sessions, clock, &args.journal).await?
    } else if let Some(id) = &args.undo {
        vec![undo_change(id, sessions, clock, &args.journal).await?]
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

fn read_journal(path: &Path) -> anyhow::Result<Vec<JournalEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading the journal {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a journal entry", path.display(), i + 1))
        })
        .collect()
}

fn append(path: &Path, entry: &JournalEntry) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the journal {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(entry)?)?;
    file.sync_data()
        .with_context(|| format!("writing the journal {}", path.display()))
}

fn entry(plan: &str, change: &Change, outcome: &str, clock: &dyn Clock) -> JournalEntry {
    JournalEntry {
        plan: plan.to_owned(),
        change: change.clone(),
        outcome: outcome.to_owned(),
        previous: None,
        error: None,
        at: rfc3339(clock.now()),
    }
}

/// Carries out `plan`'s changes in order; answers what happened to each.
pub async fn apply_plan(
    plan: &Plan,
    sessions: &MemberSessions,
    clock: &dyn Clock,
    journal: &Path,
) -> anyhow::Result<Vec<JournalEntry>> {
    anyhow::ensure!(
        plan.version == PLAN_VERSION,
        "the plan is version {}; this stint applies version {PLAN_VERSION}",
        plan.version
    );
    let done = read_journal(journal)?;
    let mut results = Vec::new();
    for change in &plan.changes {
        let applied = done
            .iter()
            .any(|e| e.plan == plan.created && e.change == *change && e.outcome == "applied");
        if applied {
            continue;
        }
        // A change journaled as `applying` but never finished (a crash in between) may have
        // been made: what it replaced is the first `applying` entry's, not what is there now.
        let known = done
            .iter()
            .find(|e| e.plan == plan.created && e.change == *change && e.outcome == "applying")
            .and_then(|e| e.previous.clone());
        let result = apply_one(&plan.created, change, known, sessions, clock, journal).await?;
        append(journal, &result)?;
        results.push(result);
    }
    Ok(results)
}

async fn apply_one(
    plan: &str,
    change: &Change,
    known: Option<Previous>,
    sessions: &MemberSessions,
    clock: &dyn Clock,
    journal: &Path,
) -> anyhow::Result<JournalEntry> {
    if let Action::DeleteKey { not_before, .. } = &change.action {
        let due = parse_rfc3339(not_before)
            .with_context(|| format!("{}: not_before {not_before:?} is not a time", change.id))?;
        if clock.now() < due {
            let mut waiting = entry(plan, change, "waiting", clock);
            waiting.error = Some(format!("the grace period ends at {not_before}"));
            return Ok(waiting);
        }
    }
    let failed = |error: String| {
        let mut failed = entry(plan, change, "failed", clock);
        failed.error = Some(error);
        failed
    };
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
    let mut applying = entry(plan, change, "applying", clock);
    applying.previous = Some(previous.clone());
    append(journal, &applying)?;
    Ok(match remediation::apply(&iam, change).await {
        Ok(()) => {
            let mut applied = entry(plan, change, "applied", clock);
            applied.previous = Some(previous);
            applied
        }
        Err(e) => failed(e.to_string()),
    })
}

/// Undoes the latest applied change `id` that is not undone yet.
pub async fn undo_change(
    id: &str,
    sessions: &MemberSessions,
    clock: &dyn Clock,
    journal: &Path,
) -> anyhow::Result<JournalEntry> {
    let entries = read_journal(journal)?;
    let latest = entries
        .iter()
        .rev()
        .find(|e| e.change.id == id && (e.outcome == "applied" || e.outcome == "undone"))
        .with_context(|| {
            format!(
                "the journal {} has no applied change {id}",
                journal.display()
            )
        })?;
    anyhow::ensure!(latest.outcome == "applied", "change {id} is already undone");
    let previous = latest
        .previous
        .as_ref()
        .with_context(|| format!("change {id} has no previous state in the journal"))?;
    let account = AccountId::parse(&latest.change.account)
        .map_err(|e| anyhow::anyhow!("{id}: {}", e.message))?;
    let outcome = match sessions.iam(&account).await {
        Ok(iam) => remediation::undo(&iam, &latest.change, previous).await,
        Err(e) => Err(e),
    };
    let mut result = entry(&latest.plan, &latest.change, "undone", clock);
    result.previous = Some(previous.clone());
    if let Err(e) = outcome {
        result.outcome = "undo_failed".to_owned();
        result.error = Some(e.to_string());
    }
    append(journal, &result)?;
    Ok(result)
}
