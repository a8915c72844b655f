//! IAM Access Analyzer's active findings for `stint scan` to merge with its own: the
//! analyzers in one account (an organisation's delegated administrator, or a member with
//! account analyzers), and each active analyzer's findings through ListFindingsV2 (paginated,
//! status ACTIVE). Read through the same auditor role as IAM.

use aws_sdk_accessanalyzer::types::{AnalyzerStatus, Criterion};
use stint_core::ids::AccountId;
use stint_core::lint::AnalyzerFinding;
use stint_core::ports::PortError;

use crate::error::port_error;
use crate::member_session::MemberSessions;

/// Every active finding of every active analyzer in `account`.
pub async fn read_analyzer_findings(
    sessions: &MemberSessions,
    account: &AccountId,
    endpoint: Option<&str>,
) -> Result<Vec<AnalyzerFinding>, PortError> {
    let client = sessions.access_analyzer(account, endpoint).await?;
    let context = format!("listing the Access Analyzer analyzers of {account}");
    let mut analyzers = Vec::new();
    let mut pages = client.list_analyzers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| port_error(&context, e))?;
        analyzers.extend(
            page.analyzers()
                .iter()
                .filter(|a| a.status() == &AnalyzerStatus::Active)
                .map(|a| (a.arn().to_owned(), a.name().to_owned())),
        );
    }
    let mut found = Vec::new();
    for (arn, name) in analyzers {
        let context = format!("listing the findings of Access Analyzer {name} in {account}");
        let active = Criterion::builder().eq("ACTIVE").build();
        let mut pages = client
            .list_findings_v2()
            .analyzer_arn(&arn)
            .filter("status", active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error(&context, e))?;
            found.extend(page.findings().iter().map(|f| {
                AnalyzerFinding {
                    id: f.id().to_owned(),
                    finding_type: f
                        .finding_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_else(|| "ExternalAccess".to_owned()),
                    resource: f.resource().unwrap_or_default().to_owned(),
                    resource_type: f.resource_type().as_str().to_owned(),
                    account: f.resource_owner_account().to_owned(),
                    analyzer: name.clone(),
                }
            }));
        }
    }
    Ok(found)
}
