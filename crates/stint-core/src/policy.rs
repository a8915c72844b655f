//! IAM policy documents, built with serde (never by string concatenation), and the two
//! documents stint writes on every temporary role: its trust policy and its inline policy.
//! Both carry the expiry so that AWS itself ends the access even when stint is down.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::time_fmt::iam_time;

pub const POLICY_VERSION: &str = "2012-10-17";

/// A policy document: `{"Version": ..., "Statement": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement. Optional members are left out of the JSON when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Principal", default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    #[serde(rename = "Action", default, skip_serializing_if = "Option::is_none")]
    pub action: Option<OneOrMany>,
    #[serde(rename = "NotAction", default, skip_serializing_if = "Option::is_none")]
    pub not_action: Option<OneOrMany>,
    #[serde(rename = "Resource", default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany>,
    #[serde(
        rename = "NotResource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_resource: Option<OneOrMany>,
    /// operator -> condition key -> value(s)
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<BTreeMap<String, BTreeMap<String, OneOrMany>>>,
}

/// IAM accepts a single string or a list wherever a list is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn is_empty(&self) -> bool {
        match self {
            Self::One(s) => s.is_empty(),
            Self::Many(v) => v.is_empty() || v.iter().any(String::is_empty),
        }
    }
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION.to_owned(),
            statement,
        }
    }

    /// The compact JSON sent to IAM.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The size IAM counts against its limits: characters, whitespace not counted.
    pub fn iam_size(&self) -> usize {
        self.to_json()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }
}

fn condition(
    operator: &str,
    key: &str,
    value: String,
) -> BTreeMap<String, BTreeMap<String, OneOrMany>> {
    BTreeMap::from([(
        operator.to_owned(),
        BTreeMap::from([(key.to_owned(), OneOrMany::One(value))]),
    )])
}

/// The trust policy of a temporary role: only `principal_arn` may assume it, only before
/// `expires_at`, and only while naming the verified requester as SourceIdentity, so every
/// session of the role is attributable in CloudTrail.
pub fn trust_policy(
    principal_arn: &str,
    expires_at: OffsetDateTime,
    source_identity: &str,
) -> PolicyDocument {
    let mut conditions = condition("DateLessThan", "aws:CurrentTime", iam_time(expires_at));
    conditions.insert(
        "StringEquals".to_owned(),
        BTreeMap::from([(
            "sts:SourceIdentity".to_owned(),
            OneOrMany::One(source_identity.to_owned()),
        )]),
    );
    PolicyDocument::new(vec![Statement {
        sid: Some("StintPipelineUntilExpiry".to_owned()),
        effect: Effect::Allow,
        principal: Some(serde_json::json!({ "AWS": principal_arn })),
        action: Some(OneOrMany::Many(vec![
            "sts:AssumeRole".to_owned(),
            "sts:SetSourceIdentity".to_owned(),
        ])),
        not_action: None,
        resource: None,
        not_resource: None,
        condition: Some(conditions),
    }])
}

/// The trust policy of a temporary role delivered by OIDC: only GitHub's OIDC provider in the
/// account, only for this run's exact `sub` and audience, only before `expires_at`. The
/// workflow assumes it itself and stint never holds its credentials.
pub fn web_identity_trust_policy(
    provider_arn: &str,
    provider_host: &str,
    audience: &str,
    subject: &str,
    expires_at: OffsetDateTime,
) -> PolicyDocument {
    let mut conditions = condition("DateLessThan", "aws:CurrentTime", iam_time(expires_at));
    conditions.insert(
        "StringEquals".to_owned(),
        BTreeMap::from([
            (
                format!("{provider_host}:aud"),
                OneOrMany::One(audience.to_owned()),
            ),
            (
                format!("{provider_host}:sub"),
                OneOrMany::One(subject.to_owned()),
            ),
        ]),
    );
    PolicyDocument::new(vec![Statement {
        sid: Some("StintWorkflowRunUntilExpiry".to_owned()),
        effect: Effect::Allow,
        principal: Some(serde_json::json!({ "Federated": provider_arn })),
        action: Some(OneOrMany::One("sts:AssumeRoleWithWebIdentity".to_owned())),
        not_action: None,
        resource: None,
        not_resource: None,
        condition: Some(conditions),
    }])
}

/// `Deny *` once `aws:CurrentTime` passes the expiry: sessions already issued lose every
/// permission at expiry, whether or not stint is running to delete the role.
pub fn expiry_deny(expires_at: OffsetDateTime) -> Statement {
    deny_all(
        "StintDenyAfterExpiry",
        condition("DateGreaterThan", "aws:CurrentTime", iam_time(expires_at)),
    )
}

/// `Deny *` for every session issued before `now`: credentials already handed out stop working
/// at once, while a new session (if the trust still allows one) would not be affected.
pub fn revoke_sessions_policy(now: OffsetDateTime) -> PolicyDocument {
    PolicyDocument::new(vec![deny_all(
        "StintRevokeSessions",
        condition("DateLessThan", "aws:TokenIssueTime", iam_time(now)),
    )])
}

fn deny_all(sid: &str, condition: BTreeMap<String, BTreeMap<String, OneOrMany>>) -> Statement {
    Statement {
        sid: Some(sid.to_owned()),
        effect: Effect::Deny,
        principal: None,
        action: Some(OneOrMany::One("*".to_owned())),
        not_action: None,
        resource: Some(OneOrMany::One("*".to_owned())),
        not_resource: None,
        condition: Some(condition),
    }
}

/// The Sids of the denies stint puts on a permission set start with this.
pub const SESSION_DENY_PREFIX: &str = "StintCutSessions";

/// The Sid of the deny on one user's sessions in one account: the same for everyone who
/// computes it, so a second revoke replaces the first.
pub fn session_deny_sid(user_name: &str, account: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{user_name}\n{account}"));
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("{SESSION_DENY_PREFIX}{hex}")
}

/// A permission set's inline policy as a statement list (`""` or absent: none).
fn statements_of(existing: &str) -> Result<Vec<Value>, String> {
    if existing.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: Value = serde_json::from_str(existing)
        .map_err(|e| format!("the permission set's inline policy is not JSON: {e}"))?;
    Ok(match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    })
}

fn document_of(statements: Vec<Value>) -> String {
    serde_json::json!({ "Version": POLICY_VERSION, "Statement": statements }).to_string()
}

/// `existing` (a permission set's inline policy) plus a deny of everything for `user_name`'s
/// sessions in `account` issued before `before`: an early revoke cuts off the sessions
/// Identity Center already handed out, and only those (the user's other accounts, and their
/// later sessions, are not touched). Identity Center names a session after the user's user
/// name, so `aws:userid` ends in `:<user name>`.
pub fn with_session_deny(
    existing: &str,
    user_name: &str,
    account: &str,
    before: OffsetDateTime,
) -> Result<String, String> {
    let sid = session_deny_sid(user_name, account);
    let mut statements = statements_of(existing)?;
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()));
    statements.push(serde_json::json!({
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringLike": { "aws:userid": format!("*:{user_name}") },
            "StringEquals": { "aws:PrincipalAccount": account },
            "DateLessThan": { "aws:TokenIssueTime": iam_time(before) },
        }
    }));
    Ok(document_of(statements))
}

/// `existing` without the session denies stint put there for sessions issued before
/// `older_than` (none of which can still be alive): the new document (`None` when nothing is
/// left of it) and the accounts each lifted deny was for, to provision the set to again.
pub fn without_old_session_denies(
    existing: &str,
    older_than: OffsetDateTime,
) -> Result<(Option<String>, Vec<String>), String> {
    let statements = statements_of(existing)?;
    let mut lifted = Vec::new();
    let mut kept = Vec::new();
    for statement in statements {
        let ours = statement
            .get("Sid")
            .and_then(Value::as_str)
            .is_some_and(|sid| sid.starts_with(SESSION_DENY_PREFIX));
        let condition = &statement["Condition"];
        let issued_before = condition["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .and_then(crate::time_fmt::parse_rfc3339);
        match (ours, issued_before) {
            (true, Some(at)) if at < older_than => {
                if let Some(account) = condition["StringEquals"]["aws:PrincipalAccount"].as_str() {
                    lifted.push(account.to_owned());
                }
            }
            _ => kept.push(statement),
        }
    }
    lifted.sort();
    lifted.dedup();
    let document = (!kept.is_empty()).then(|| document_of(kept));
    Ok((document, lifted))
}

/// The one inline policy of a temporary role: the persona's custom statements, then the expiry
/// deny. Deny wins over any Allow in IAM's evaluation, so order does not weaken it.
pub fn grant_inline_policy(custom: &[Statement], expires_at: OffsetDateTime) -> PolicyDocument {
    let mut statements = custom.to_vec();
    statements.push(expiry_deny(expires_at));
    PolicyDocument::new(statements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use time::macros::datetime;

    const EXPIRY: OffsetDateTime = datetime!(2026-11-22 12:00:00.750 UTC);

    fn pretty(doc: &PolicyDocument) -> String {
        serde_json::to_string_pretty(doc).unwrap()
    }

    #[test]
    fn trust_policy_snapshot() {
        let doc = trust_policy(
            "arn:aws:iam::111111111111:role/stint-broker",
            EXPIRY,
            "alice@example.com",
        );
        expect![[r#"
            {
              "Version": "2012-10-17",
              "Statement": [
                {
                  "Sid": "StintPipelineUntilExpiry",
                  "Effect": "Allow",
                  "Principal": {
                    "AWS": "arn:aws:iam::111111111111:role/stint-broker"
                  },
                  "Action": [
                    "sts:AssumeRole",
                    "sts:SetSourceIdentity"
                  ],
                  "Condition": {
                    "DateLessThan": {
                      "aws:CurrentTime": "2026-11-22T12:00:00Z"
                    },
                    "StringEquals": {
                      "sts:SourceIdentity": "alice@example.com"
                    }
                  }
                }
              ]
            }"#]]
        .assert_eq(&pretty(&doc));
    }

    #[test]
    fn inline_policy_snapshot_keeps_custom_statements_and_adds_expiry_deny() {
        let custom: Statement = serde_json::from_value(serde_json::json!({
            "Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::tf-state/*"
        }))
        .unwrap();
        let doc = grant_inline_policy(&[custom], EXPIRY);
        expect![[r#"
            {
              "Version": "2012-10-17",
              "Statement": [
                {
                  "Sid": "ReadState",
                  "Effect": "Allow",
                  "Action": [
                    "s3:GetObject"
                  ],
                  "Resource": "arn:aws:s3:::tf-state/*"
                },
                {
                  "Sid": "StintDenyAfterExpiry",
                  "Effect": "Deny",
                  "Action": "*",
                  "Resource": "*",
                  "Condition": {
                    "DateGreaterThan": {
                      "aws:CurrentTime": "2026-11-22T12:00:00Z"
                    }
                  }
                }
              ]
            }"#]]
        .assert_eq(&pretty(&doc));
    }

    #[test]
    fn web_identity_trust_policy_snapshot() {
        let doc = web_identity_trust_policy(
            "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com",
            "token.actions.githubusercontent.com",
            "stint",
            "repo:acme/infra:ref:refs/heads/main",
            EXPIRY,
        );
        expect![[r#"
            {
              "Version": "2012-10-17",
              "Statement": [
                {
                  "Sid": "StintWorkflowRunUntilExpiry",
                  "Effect": "Allow",
                  "Principal": {
                    "Federated": "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"
                  },
                  "Action": "sts:AssumeRoleWithWebIdentity",
                  "Condition": {
                    "DateLessThan": {
                      "aws:CurrentTime": "2026-11-22T12:00:00Z"
                    },
                    "StringEquals": {
                      "token.actions.githubusercontent.com:aud": "stint",
                      "token.actions.githubusercontent.com:sub": "repo:acme/infra:ref:refs/heads/main"
                    }
                  }
                }
              ]
            }"#]]
        .assert_eq(&pretty(&doc));
    }

    #[test]
    fn unknown_statement_members_are_rejected() {
        let err = serde_json::from_value::<Statement>(serde_json::json!({
            "Effect": "Allow", "Actions": "s3:*", "Resource": "*"
        }));
        assert!(err.is_err());
    }

    #[test]
    fn iam_size_ignores_whitespace() {
        let doc = grant_inline_policy(&[], EXPIRY);
        assert_eq!(doc.iam_size(), doc.to_json().len());
    }

    #[test]
    fn a_session_deny_is_added_replaced_and_lifted_once_no_session_can_remain() {
        use time::macros::datetime;
        let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadState","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}]}"#;
        let first = super::with_session_deny(
            existing,
            "alice",
            "222222222222",
            datetime!(2026-12-04 10:00 UTC),
        )
        .unwrap();
        let again = super::with_session_deny(
            &first,
            "alice",
            "222222222222",
            datetime!(2026-12-04 11:00 UTC),
        )
        .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&again).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2, "replaced, not added twice: {again}");
        assert_eq!(
            statements[0]["Sid"], "ReadState",
            "the set's own statement is kept as it was"
        );
        let deny = &statements[1];
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Condition"]["StringLike"]["aws:userid"], "*:alice");
        assert_eq!(
            deny["Condition"]["StringEquals"]["aws:PrincipalAccount"],
            "222222222222"
        );
        assert_eq!(
            deny["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-12-04T11:00:00Z"
        );
        assert_ne!(
            super::session_deny_sid("alice", "222222222222"),
            super::session_deny_sid("alice", "333333333333")
        );

        // Not yet: a session issued just before 11:00 may still be alive.
        let (kept, lifted) =
            super::without_old_session_denies(&again, datetime!(2026-12-04 11:00 UTC)).unwrap();
        assert!(lifted.is_empty());
        assert_eq!(kept.as_deref(), Some(again.as_str()));
        let (kept, lifted) =
            super::without_old_session_denies(&again, datetime!(2026-12-04 23:00 UTC)).unwrap();
        assert_eq!(lifted, ["222222222222"]);
        let kept: serde_json::Value = serde_json::from_str(&kept.unwrap()).unwrap();
        assert_eq!(kept["Statement"].as_array().unwrap().len(), 1);

        // On a set with no inline policy, the deny is all there is, and lifting it leaves none.
        let only =
            super::with_session_deny("", "bob", "222222222222", datetime!(2026-12-04 10:00 UTC))
                .unwrap();
        let (kept, lifted) =
            super::without_old_session_denies(&only, datetime!(2026-12-05 10:00 UTC)).unwrap();
        assert_eq!((kept, lifted.len()), (None, 1));
        assert!(
            super::with_session_deny("not json", "bob", "1", datetime!(2026-12-04 10:00 UTC))
                .is_err()
        );
    }
}
