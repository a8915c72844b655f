//! IAM Access Analyzer's findings (ListFindingsV2, read by the adapter) merged with stint's
//! own: a finding both tools make on the same resource is kept once, as stint's (it carries
//! the evidence and the fix) and marked as found by both; Access Analyzer's others are added
//! under their own rules. Which tool found what stays visible in `tool`.

use super::rules::{ANALYZER_EXTERNAL_ACCESS, ANALYZER_UNUSED_PERMISSION};
use super::{Finding, Rule, rule, sort_findings};

/// One active Access Analyzer finding, as ListFindingsV2 summarises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzerFinding {
    pub id: String,
    /// `ExternalAccess`, `UnusedIAMRole`, `UnusedIAMUserAccessKey`, `UnusedIAMUserPassword`,
    /// `UnusedPermission`, …
    pub finding_type: String,
    /// The resource's ARN.
    pub resource: String,
    /// `AWS::IAM::Role`, `AWS::S3::Bucket`, …
    pub resource_type: String,
    pub account: String,
    pub analyzer: String,
}

/// The tool name of a finding both tools made.
pub const BOTH_TOOLS: &str = "stint+access-analyzer";
const ANALYZER_TOOL: &str = "access-analyzer";

/// stint's rules that say the same as an Access Analyzer finding type.
fn same_as(finding_type: &str) -> &'static [&'static str] {
    match finding_type {
        "ExternalAccess" => &["STINT-T001", "STINT-T002", "STINT-T003"],
        "UnusedIAMRole" => &["STINT-U001"],
        "UnusedIAMUserAccessKey" => &["STINT-K002"],
        "UnusedIAMUserPassword" => &["STINT-U002"],
        _ => &[],
    }
}

/// The rule an Access Analyzer finding without a stint twin is reported under.
fn own_rule(finding_type: &str) -> &'static Rule {
    let twin = same_as(finding_type).first().and_then(|id| rule(id));
    match finding_type {
        "ExternalAccess" => &ANALYZER_EXTERNAL_ACCESS,
        "UnusedPermission" => &ANALYZER_UNUSED_PERMISSION,
        _ => twin.unwrap_or(&ANALYZER_UNUSED_PERMISSION),
    }
}

/// Whether stint's finding `f` is about the resource `arn` (the resource itself, one of its
/// statements, or one of a user's keys).
fn about(f: &Finding, arn: &str) -> bool {
    f.resource == arn
        || f.resource.starts_with(&format!("{arn}#"))
        || f.resource.starts_with(&format!("{arn}/access-key/"))
}

/// stint's findings and Access Analyzer's, without duplicates, worst first.
pub fn merge(mut own: Vec<Finding>, analyzer: &[AnalyzerFinding]) -> Vec<Finding> {
    let mut added = Vec::new();
    for a in analyzer {
        let twins = same_as(&a.finding_type);
        let mut matched = false;
        for f in own.iter_mut().filter(|f| {
            twins.contains(&f.rule)
                && f.account.as_deref() == Some(a.account.as_str())
                && about(f, &a.resource)
        }) {
            f.tool = BOTH_TOOLS;
            matched = true;
        }
        if matched {
            continue;
        }
        let evidence = format!(
            "Access Analyzer finding {} ({}) on {} ({})",
            a.id, a.finding_type, a.resource_type, a.analyzer
        );
        let mut finding =
            Finding::new(own_rule(&a.finding_type), &a.resource, evidence).in_account(&a.account);
        finding.tool = ANALYZER_TOOL;
        added.push(finding);
    }
    own.extend(added);
    sort_findings(&mut own);
    own
}
