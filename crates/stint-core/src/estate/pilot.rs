//! A pilot: while a rollout is tried, a persona's eligibility is limited to one group
//! (`[pilots.PERSONA] group`); lifting the limit restores its usual groups
//! (`Company_Org_AccountId_Persona` per account, and `eligible_groups`). The plan shows, per
//! account, who would gain access (eligible as usual, not in the pilot) and who would lose it
//! (in the pilot, not eligible as usual) when the limit is lifted, from the groups' members now.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::ids::{AccountName, GroupType};
use crate::ports::PortError;

/// Members of identity store groups, by the group's display name.
#[async_trait]
pub trait GroupMembers: Send + Sync {
    /// The user names of the group's members; an absent group has none.
    async fn members(&self, group: &str) -> Result<BTreeSet<String>, PortError>;
}

/// Who gains and loses one persona in one account when its pilot is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PilotAccount {
    pub account: AccountName,
    pub gains: Vec<String>,
    pub loses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PilotReport {
    pub persona: GroupType,
    pub pilot_group: String,
    pub accounts: Vec<PilotAccount>,
}

/// The groups that make someone eligible for `persona` on each account, without a pilot.
pub fn usual_groups(catalog: &Catalog, persona: &GroupType) -> BTreeMap<AccountName, Vec<String>> {
    let extra = catalog
        .people()
        .and_then(|p| p.persona(persona))
        .map(|p| p.eligible_groups.clone())
        .unwrap_or_default();
    catalog
        .accounts()
        .iter()
        .map(|a| {
            let mut groups = vec![catalog.group_name(&a.id, persona)];
            groups.extend(extra.iter().cloned());
            (a.name.clone(), groups)
        })
        .collect()
}

/// Who gains and loses on lifting: `pilot` the pilot group's members, `usual` per account the
/// members of any usual group.
pub fn on_lifting(
    pilot: &BTreeSet<String>,
    usual: &BTreeMap<AccountName, BTreeSet<String>>,
) -> Vec<PilotAccount> {
    usual
        .iter()
        .map(|(account, eligible)| PilotAccount {
            account: account.clone(),
            gains: eligible.difference(pilot).cloned().collect(),
            loses: pilot.difference(eligible).cloned().collect(),
        })
        .collect()
}

/// The report for every persona limited to a pilot, reading the groups' members now.
pub async fn pilot_reports(
    catalog: &Catalog,
    members: &dyn GroupMembers,
) -> Result<Vec<PilotReport>, PortError> {
    let mut reports = Vec::new();
    for (persona, group) in catalog.pilots() {
        let pilot = members.members(group).await?;
        let mut usual = BTreeMap::new();
        for (account, groups) in usual_groups(catalog, persona) {
            let mut eligible = BTreeSet::new();
            for group in groups {
                eligible.extend(members.members(&group).await?);
            }
            usual.insert(account, eligible);
        }
        reports.push(PilotReport {
            persona: persona.clone(),
            pilot_group: group.clone(),
            accounts: on_lifting(&pilot, &usual),
        });
    }
    Ok(reports)
}

/// The reports as people read them.
pub fn render_pilots(reports: &[PilotReport]) -> String {
    let mut out = String::new();
    for report in reports {
        out.push_str(&format!(
            "pilot {}: eligibility limited to {}; lifting it would\n",
            report.persona, report.pilot_group
        ));
        for account in &report.accounts {
            let list = |names: &[String]| match names {
                [] => "nobody".to_owned(),
                _ => names.join(", "),
            };
            out.push_str(&format!(
                "    {}: give access to {}; take it from {}\n",
                account.account,
                list(&account.gains),
                list(&account.loses)
            ));
        }
    }
    out
}
