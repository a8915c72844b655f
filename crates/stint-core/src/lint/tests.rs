//! Every check with a planted bad example and a clean one that must not be flagged.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

fn rules_of(findings: &[Finding]) -> Vec<&'static str> {
    let mut ids: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn policy(statements: serde_json::Value) -> String {
    serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

fn lint(statements: serde_json::Value) -> Vec<&'static str> {
    rules_of(&lint_policy("arn:test", &policy(statements)))
}

#[test]
fn a_scoped_read_and_write_policy_is_clean() {
    let found = lint(serde_json::json!([
        { "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
          "Resource": "arn:aws:s3:::bucket/*" },
        { "Effect": "Allow", "Action": ["ec2:Describe*", "s3:ListAllMyBuckets"], "Resource": "*" },
        { "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket",
          "Condition": { "StringLike": { "s3:prefix": ["home/*"] },
                         "Bool": { "aws:SecureTransport": "true" },
                         "IpAddress": { "aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"] },
                         "DateLessThan": { "aws:CurrentTime": "2030-01-01T00:00:00Z" },
                         "NumericLessThanIfExists": { "aws:MultiFactorAuthAge": 3600 } } }
    ]));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn every_action_is_critical_on_any_resource_and_high_on_some() {
    let all = lint_policy(
        "p",
        &policy(serde_json::json!({ "Effect": "Allow", "Action": "*", "Resource": "*" })),
    );
    assert_eq!(rules_of(&all), ["STINT-P001"]);
    assert_eq!(all[0].severity, Severity::Critical);
    assert_eq!(all[0].resource, "p#Statement[0]");
    let some = lint_policy(
        "p",
        &policy(
            serde_json::json!({ "Sid": "Admin", "Effect": "Allow", "Action": "*",
            "Resource": "arn:aws:s3:::b" }),
        ),
    );
    assert_eq!(some[0].severity, Severity::High);
    assert_eq!(some[0].resource, "p#Admin");
}

#[test]
fn a_deny_of_everything_is_not_a_wildcard_finding() {
    let found = lint(serde_json::json!({ "Effect": "Deny", "Action": "*", "Resource": "*" }));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_service_wildcard_is_flagged_higher_for_iam() {
    let found = lint_policy(
        "p",
        &policy(serde_json::json!([
            { "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*" },
            { "Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::1:role/x" }
        ])),
    );
    let wild: Vec<_> = found.iter().filter(|f| f.rule == "STINT-P002").collect();
    assert_eq!(wild.len(), 2);
    assert_eq!(wild[0].severity, Severity::Medium);
    assert_eq!(wild[1].severity, Severity::High);
}

#[test]
fn write_actions_on_any_resource_are_flagged_but_reads_and_unscopable_writes_are_not() {
    let found = lint_policy(
        "p",
        &policy(serde_json::json!({ "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*" })),
    );
    assert_eq!(rules_of(&found), ["STINT-P003"]);
    assert!(
        found[0].evidence.contains("s3:PutObject"),
        "{}",
        found[0].evidence
    );
    assert!(!found[0].evidence.contains("GetObject"));
    // CreateBucket-like actions that cannot be scoped need `*`.
    let unscopable = lint(serde_json::json!({ "Effect": "Allow",
        "Action": ["ec2:DescribeInstances", "s3:ListAllMyBuckets", "cloudwatch:PutMetricData"],
        "Resource": "*" }));
    assert!(
        !unscopable.contains(&"STINT-P003") || unscopable.is_empty(),
        "{unscopable:?}"
    );
}

#[test]
fn not_action_and_not_resource_with_allow_are_flagged_and_with_deny_not() {
    let found = lint(serde_json::json!([
        { "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b" },
        { "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*" }
    ]));
    assert!(
        found.contains(&"STINT-P004") && found.contains(&"STINT-P005"),
        "{found:?}"
    );
    let deny = lint(serde_json::json!({ "Effect": "Deny", "NotAction": "iam:*",
        "NotResource": "arn:aws:s3:::b" }));
    assert!(deny.is_empty(), "{deny:?}");
}

#[test]
fn escalation_paths_are_found_alone_and_in_combination() {
    for (actions, path) in [
        (vec!["iam:CreatePolicyVersion"], "CreateNewPolicyVersion"),
        (
            vec!["iam:SetDefaultPolicyVersion"],
            "SetExistingDefaultPolicyVersion",
        ),
        (vec!["iam:AttachUserPolicy"], "AttachUserPolicy"),
        (vec!["iam:PutRolePolicy"], "PutRolePolicy"),
        (
            vec!["iam:UpdateAssumeRolePolicy"],
            "UpdateRolePolicyToAssumeIt",
        ),
        (vec!["iam:CreateAccessKey"], "CreateAccessKey"),
        (
            vec!["iam:PassRole", "ec2:RunInstances"],
            "CreateEC2WithExistingIP",
        ),
        (
            vec![
                "iam:PassRole",
                "lambda:CreateFunction",
                "lambda:InvokeFunction",
            ],
            "PassExistingRoleToNewLambdaThenInvoke",
        ),
    ] {
        let found = lint_policy(
            "p",
            &policy(serde_json::json!({ "Effect": "Allow", "Action": actions,
                "Resource": "arn:aws:iam::111111111111:role/x" })),
        );
        let esc: Vec<_> = found.iter().filter(|f| f.rule == "STINT-P006").collect();
        assert_eq!(esc.len(), 1, "{actions:?}: {found:?}");
        assert!(esc[0].evidence.contains(path), "{}", esc[0].evidence);
    }
    // One half of a pair is no path; a deny of the other half closes it.
    let half = lint(
        serde_json::json!({ "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::111111111111:role/x" }),
    );
    assert!(!half.contains(&"STINT-P006"), "{half:?}");
    let closed = lint(serde_json::json!([
        { "Effect": "Allow", "Action": ["iam:Pass*", "ec2:RunInstances"], "Resource": "arn:aws:ec2:*:*:instance/*" },
        { "Effect": "Deny", "Action": "ec2:Run*", "Resource": "*" }
    ]));
    assert!(!closed.contains(&"STINT-P006"), "{closed:?}");
}

#[test]
fn assume_role_on_any_role_is_flagged() {
    let found =
        lint(serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*" }));
    assert!(found.contains(&"STINT-P010"), "{found:?}");
    let named = lint(
        serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRole",
        "Resource": "arn:aws:iam::111111111111:role/deploy" }),
    );
    assert!(named.is_empty(), "{named:?}");
}

#[test]
fn unknown_services_and_actions_are_named() {
    let found = lint_policy(
        "p",
        &policy(serde_json::json!({ "Effect": "Allow",
            "Action": ["s3:GetObjekt", "s4:GetObject", "s3:Get*", "ec2:Nothing*", "justtext"],
            "Resource": "arn:aws:s3:::b/*" })),
    );
    let texts: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.rule, f.evidence.as_str()))
        .collect();
    assert_eq!(found.len(), 4, "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|(r, e)| *r == "STINT-P008" && e.contains("GetObjekt"))
    );
    assert!(
        texts
            .iter()
            .any(|(r, e)| *r == "STINT-P007" && e.contains("s4"))
    );
    assert!(
        texts
            .iter()
            .any(|(r, e)| *r == "STINT-P008" && e.contains("ec2:Nothing*"))
    );
    assert!(
        texts
            .iter()
            .any(|(r, e)| *r == "STINT-P008" && e.contains("justtext"))
    );
}

#[test]
fn conditions_that_cannot_match_are_flagged() {
    for condition in [
        serde_json::json!({ "StringEqualz": { "aws:username": "a" } }),
        serde_json::json!({ "StringEquals": { "aws:username": [] } }),
        serde_json::json!({ "Bool": { "aws:SecureTransport": "yes" } }),
        serde_json::json!({ "NumericLessThan": { "aws:MultiFactorAuthAge": "an hour" } }),
        serde_json::json!({ "DateGreaterThan": { "aws:CurrentTime": "tomorrow" } }),
        serde_json::json!({ "IpAddress": { "aws:SourceIp": "10.0.0.0/33" } }),
        serde_json::json!({ "ArnEquals": { "aws:PrincipalArn": "role/deploy" } }),
        serde_json::json!({ "Null": { "aws:TokenIssueTime": "maybe" } }),
    ] {
        let found = lint(
            serde_json::json!({ "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*", "Condition": condition }),
        );
        assert_eq!(found, ["STINT-P009"], "{condition}");
    }
}

#[test]
fn a_document_that_is_not_a_policy_is_one_finding() {
    for text in ["not json", "{}", r#"{"Statement":[{"Effect":"Maybe"}]}"#] {
        assert_eq!(rules_of(&lint_policy("p", text)), ["STINT-P000"], "{text}");
    }
}

fn trust(statement: serde_json::Value, context: &TrustContext) -> Vec<Finding> {
    lint_trust(
        "arn:aws:iam::111111111111:role/r",
        &policy(statement),
        context,
    )
}

fn org() -> TrustContext {
    TrustContext {
        own_account: Some("111111111111".to_owned()),
        org_accounts: BTreeSet::from(["222222222222".to_owned()]),
    }
}

#[test]
fn trust_of_anyone_is_critical_unless_a_condition_pins_it() {
    for principal in [serde_json::json!("*"), serde_json::json!({ "AWS": "*" })] {
        let found = trust(
            serde_json::json!({ "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole" }),
            &org(),
        );
        assert_eq!(rules_of(&found), ["STINT-T001"]);
        assert_eq!(found[0].severity, Severity::Critical);
    }
    let pinned = trust(
        serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "aws:PrincipalOrgID": "o-abc123" } } }),
        &org(),
    );
    assert!(pinned.is_empty(), "{pinned:?}");
    let not_pinned = trust(
        serde_json::json!({ "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
            "Condition": { "StringLike": { "aws:PrincipalArn": "*" } } }),
        &org(),
    );
    assert_eq!(rules_of(&not_pinned), ["STINT-T001"]);
}

#[test]
fn foreign_whole_accounts_are_flagged_and_own_and_org_accounts_are_not() {
    let found = trust(
        serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": { "AWS": [
            "arn:aws:iam::111111111111:root", "222222222222",
            "arn:aws:iam::333333333333:root", "arn:aws:iam::444444444444:role/named" ] } }),
        &org(),
    );
    let foreign: Vec<&Finding> = found.iter().filter(|f| f.rule == "STINT-T002").collect();
    assert_eq!(foreign.len(), 1, "{found:?}");
    assert!(foreign[0].evidence.contains("333333333333"));
    let vendor = trust(
        serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": { "AWS": "arn:aws:iam::333333333333:root" },
            "Condition": { "StringEquals": { "sts:ExternalId": "x-1" } } }),
        &org(),
    );
    assert_eq!(vendor[0].severity, Severity::Medium);
}

fn github(condition: serde_json::Value) -> Vec<Finding> {
    trust(
        serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": { "Federated":
                "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com" },
            "Condition": condition }),
        &org(),
    )
}

#[test]
fn github_oidc_without_sub_is_critical_and_wildcards_are_graded() {
    let no_sub = github(serde_json::json!({ "StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" } }));
    assert_eq!(rules_of(&no_sub), ["STINT-T003"]);
    assert_eq!(no_sub[0].severity, Severity::Critical);
    for (sub, severity) in [
        ("*", Severity::Critical),
        ("repo:*", Severity::High),
        ("repo:octo-org/*", Severity::High),
        ("repo:octo-org/app:*", Severity::Medium),
    ] {
        let found = github(serde_json::json!({
            "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
            "StringLike": { "token.actions.githubusercontent.com:sub": sub } }));
        assert_eq!(rules_of(&found), ["STINT-T004"], "{sub}");
        assert_eq!(found[0].severity, severity, "{sub}");
    }
    let exact = github(serde_json::json!({ "StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:octo-org/app:ref:refs/heads/main" } }));
    assert!(exact.is_empty(), "{exact:?}");
}

#[test]
fn own_account_principals_not_fronted_by_identity_center_are_flagged() {
    for principal in [
        "arn:aws:iam::111111111111:root",
        "111111111111",
        "arn:aws:iam::111111111111:user/ops",
    ] {
        let found = trust(
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": principal },
                "Action": "sts:AssumeRole" }),
            &org(),
        );
        assert_eq!(rules_of(&found), ["STINT-T006"], "{principal}");
    }
    // The locked policy, a named role, or an org account's root are not people here.
    assert!(lint_trust("r", &locked_trust_policy("111111111111"), &org()).is_empty());
    let role = trust(
        serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": { "AWS": ["arn:aws:iam::111111111111:role/deployer", "222222222222"] } }),
        &org(),
    );
    assert!(role.is_empty(), "{role:?}");
}

#[test]
fn federation_without_an_audience_is_flagged() {
    let oidc = github(serde_json::json!({ "StringEquals": {
        "token.actions.githubusercontent.com:sub": "repo:octo-org/app:ref:refs/heads/main" } }));
    assert_eq!(rules_of(&oidc), ["STINT-T005"]);
    let saml = |condition: serde_json::Value| {
        trust(
            serde_json::json!({ "Effect": "Allow", "Action": "sts:AssumeRoleWithSAML",
                "Principal": { "Federated": "arn:aws:iam::111111111111:saml-provider/okta" },
                "Condition": condition }),
            &org(),
        )
    };
    assert_eq!(rules_of(&saml(serde_json::json!({}))), ["STINT-T005"]);
    let pinned = saml(serde_json::json!({ "StringEquals": {
        "SAML:aud": "https://signin.aws.amazon.com/saml" } }));
    assert!(pinned.is_empty(), "{pinned:?}");
}

#[test]
fn the_locked_trust_policy_is_clean_and_trusts_only_identity_center_roles() {
    let locked = locked_trust_policy("111111111111");
    assert!(lint_trust("r", &locked, &org()).is_empty());
    assert!(locked.contains("AWSReservedSSO_"));
    assert!(lint_policy("r", &locked).is_empty());
}

fn at(days: i64) -> OffsetDateTime {
    datetime!(2026-01-01 00:00 UTC) + time::Duration::days(days)
}

fn settings() -> ScanSettings {
    ScanSettings {
        now: at(200),
        unused_after: Duration::from_secs(90 * 86_400),
        org_accounts: BTreeSet::new(),
        live_stint_roles: BTreeSet::from(["stint-live".to_owned()]),
    }
}

fn user(name: &str, keys: Vec<AccessKey>, console: bool, mfa: usize) -> User {
    User {
        name: name.to_owned(),
        arn: format!("arn:aws:iam::111111111111:user/{name}"),
        created: at(0),
        password_last_used: None,
        console_access: console,
        mfa_devices: mfa,
        keys,
        inline_policies: Vec::new(),
        attached: Vec::new(),
    }
}

fn key(id: &str, created: i64, used: Option<i64>) -> AccessKey {
    AccessKey {
        id: id.to_owned(),
        active: true,
        created: at(created),
        last_used: used.map(|d| KeyUse {
            date: at(d),
            service: "s3".to_owned(),
            region: "us-east-1".to_owned(),
        }),
    }
}

fn role(name: &str, path: &str, last_used: Option<i64>, trust: &str) -> Role {
    Role {
        name: name.to_owned(),
        arn: format!("arn:aws:iam::111111111111:role{path}{name}"),
        path: path.to_owned(),
        created: at(0),
        last_used: last_used.map(at),
        trust_policy: trust.to_owned(),
        inline_policies: Vec::new(),
        attached: Vec::new(),
        tags: Vec::new(),
    }
}

#[test]
fn keys_are_graded_by_use_and_users_by_activity() {
    let mut inactive = key("AKIAOFF", 0, None);
    inactive.active = false;
    let inventory = AccountInventory {
        account: "111111111111".to_owned(),
        users: vec![
            user("fresh", vec![key("AKIAFRESH", 190, Some(199))], false, 0),
            user(
                "stale",
                vec![key("AKIASTALE", 0, Some(10)), inactive],
                true,
                0,
            ),
            user("never", vec![key("AKIANEVER", 100, None)], true, 1),
        ],
        ..AccountInventory::default()
    };
    let found = lint_account(&inventory, &settings());
    let of = |resource: &str| -> Vec<&str> {
        found
            .iter()
            .filter(|f| f.resource.contains(resource))
            .map(|f| f.rule)
            .collect()
    };
    assert_eq!(of("AKIAFRESH"), ["STINT-K001"]);
    assert_eq!(of("AKIASTALE"), ["STINT-K002"]);
    assert_eq!(of("AKIANEVER"), ["STINT-K002"]);
    assert!(of("AKIAOFF").is_empty());
    let stale: Vec<&str> = of("user/stale");
    assert!(
        stale.contains(&"STINT-K003") && stale.contains(&"STINT-U002"),
        "{stale:?}"
    );
    assert!(!of("user/never").contains(&"STINT-K003"));
    assert!(
        found
            .iter()
            .all(|f| f.account.as_deref() == Some("111111111111"))
    );
    let never = found.iter().find(|f| f.resource.contains("AKIANEVER"));
    assert!(
        never.is_some_and(|f| f.evidence.contains("never used") && f.evidence.contains("100 days"))
    );
}

#[test]
fn roles_groups_and_policies_unused_or_orphaned_are_found() {
    let clean_trust = locked_trust_policy("111111111111");
    let inventory = AccountInventory {
        account: "111111111111".to_owned(),
        roles: vec![
            role("busy", "/", Some(195), &clean_trust),
            role("idle", "/", Some(20), &clean_trust),
            role("stint-live", "/stint/", None, &clean_trust),
            role("stint-dead", "/stint/", None, &clean_trust),
            role(
                "AWSServiceRoleForX",
                "/aws-service-role/x/",
                None,
                &clean_trust,
            ),
        ],
        groups: vec![
            Group {
                name: "empty".into(),
                arn: "g/empty".into(),
                members: 0,
                inline_policies: vec![],
                attached: vec![],
            },
            Group {
                name: "full".into(),
                arn: "g/full".into(),
                members: 2,
                inline_policies: vec![],
                attached: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
            },
        ],
        policies: vec![
            ManagedPolicy {
                name: "loose".into(),
                arn: "p/loose".into(),
                attachments: 0,
                document: policy(
                    serde_json::json!({ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*" }),
                ),
            },
            ManagedPolicy {
                name: "used".into(),
                arn: "p/used".into(),
                attachments: 1,
                document: policy(
                    serde_json::json!({ "Effect": "Allow", "Action": "*", "Resource": "*" }),
                ),
            },
        ],
        ..AccountInventory::default()
    };
    let found = lint_account(&inventory, &settings());
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.rule, f.resource.as_str()))
        .collect();
    let expected = [
        (
            "STINT-P001",
            "g/full#arn:aws:iam::aws:policy/AdministratorAccess",
        ),
        ("STINT-P001", "p/used#Statement[0]"),
        (
            "STINT-S001",
            "arn:aws:iam::111111111111:role/stint/stint-dead",
        ),
        ("STINT-U001", "arn:aws:iam::111111111111:role/idle"),
        ("STINT-U003", "g/empty"),
        ("STINT-U004", "p/loose"),
    ];
    let mut sorted = pairs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(found[0].rule, "STINT-P001", "worst first");
}

#[test]
fn the_shipped_reference_knows_the_common_services() {
    let reference = ServiceReference::shipped();
    let (services, actions) = reference.size();
    assert!(services > 300 && actions > 10_000, "{services} {actions}");
    let pass = reference.expand("iam:passrole");
    assert_eq!(pass.len(), 1);
    assert_eq!(pass[0].name, "iam:PassRole");
    assert_eq!(pass[0].level, AccessLevel::Write);
    assert!(reference.expand("s3:Get*").len() > 10);
    assert!(RULES.iter().all(|r| rule(r.id).is_some()));
}

#[test]
fn the_plan_deactivates_then_deletes_keys_locks_trust_and_detaches_from_unused_roles() {
    let open_trust = policy(serde_json::json!({ "Effect": "Allow", "Principal": "*",
        "Action": "sts:AssumeRole" }));
    let mut idle = role("idle", "/", Some(20), &locked_trust_policy("111111111111"));
    idle.attached = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()];
    let inventory = AccountInventory {
        account: "111111111111".to_owned(),
        users: vec![user("stale", vec![key("AKIASTALE", 0, Some(10))], false, 0)],
        roles: vec![role("open", "/", Some(199), &open_trust), idle],
        ..AccountInventory::default()
    };
    let findings = lint_account(&inventory, &settings());
    let made = plan(
        &findings,
        &[inventory],
        at(200),
        Duration::from_secs(7 * 86_400),
    );
    let summary: Vec<(String, String, String)> = made
        .changes
        .iter()
        .map(|c| (c.id.clone(), c.finding.clone(), c.action.describe()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "c001".into(),
                "STINT-K002".into(),
                "deactivate access key AKIASTALE of user stale".into()
            ),
            (
                "c002".into(),
                "STINT-K002".into(),
                "delete access key AKIASTALE of user stale (not before 2026-07-27T00:00:00Z)"
                    .into()
            ),
            (
                "c003".into(),
                "STINT-T001".into(),
                "replace the trust policy of role open with the locked one".into()
            ),
            (
                "c004".into(),
                "STINT-U001".into(),
                "detach arn:aws:iam::aws:policy/ReadOnlyAccess from unused role idle".into()
            ),
        ]
    );
    let text = serde_json::to_string(&made).unwrap_or_default();
    let back: Result<Plan, _> = serde_json::from_str(&text);
    assert!(back.is_ok_and(|b| b == made));
}

#[test]
fn the_example_catalogs_prod_deployer_is_refused_at_high_and_passes_at_critical() {
    let catalog =
        crate::catalog::Catalog::from_toml(include_str!("../../../../examples/catalog.toml"));
    let Ok(catalog) = catalog else {
        panic!("the example catalog does not load");
    };
    let (findings, refused) = lint_catalog(&catalog, Severity::High);
    assert_eq!(refused, ["Product-Deployers"]);
    let prod: Vec<&str> = findings
        .iter()
        .filter(|f| f.resource.starts_with("personas.Product-Deployers.prod"))
        .map(|f| f.rule)
        .collect();
    assert!(
        prod.contains(&"STINT-C001") && prod.contains(&"STINT-P006"),
        "{prod:?}"
    );
    let escalation = findings.iter().find(|f| f.rule == "STINT-P006");
    assert!(escalation.is_some_and(|f| f.evidence.contains("lambda:updatefunctioncode")));
    let (_, refused) = lint_catalog(&catalog, Severity::Critical);
    assert!(refused.is_empty());
}

#[test]
fn access_analyzer_findings_merge_with_stints_without_duplicates() {
    let open_trust = policy(serde_json::json!({ "Effect": "Allow", "Principal": "*",
        "Action": "sts:AssumeRole" }));
    let inventory = AccountInventory {
        account: "111111111111".to_owned(),
        users: vec![user("stale", vec![key("AKIASTALE", 0, Some(10))], false, 0)],
        roles: vec![role("open", "/", Some(199), &open_trust)],
        ..AccountInventory::default()
    };
    let own = lint_account(&inventory, &settings());
    let analyzer = |id: &str, kind: &str, resource: &str, account: &str| AnalyzerFinding {
        id: id.to_owned(),
        finding_type: kind.to_owned(),
        resource: resource.to_owned(),
        resource_type: "AWS::IAM::Role".to_owned(),
        account: account.to_owned(),
        analyzer: "org-external".to_owned(),
    };
    let merged = merge(
        own.clone(),
        &[
            analyzer(
                "f1",
                "ExternalAccess",
                "arn:aws:iam::111111111111:role/open",
                "111111111111",
            ),
            analyzer(
                "f2",
                "UnusedIAMUserAccessKey",
                "arn:aws:iam::111111111111:user/stale",
                "111111111111",
            ),
            analyzer(
                "f3",
                "ExternalAccess",
                "arn:aws:s3:::shared-bucket",
                "111111111111",
            ),
            analyzer(
                "f4",
                "UnusedPermission",
                "arn:aws:iam::111111111111:role/open",
                "111111111111",
            ),
        ],
    );
    assert_eq!(merged.len(), own.len() + 2, "{merged:#?}");
    let tool_of = |rule: &str| {
        merged
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.tool)
            .collect::<Vec<_>>()
    };
    assert_eq!(tool_of("STINT-T001"), [BOTH_TOOLS]);
    assert_eq!(tool_of("STINT-K002"), [BOTH_TOOLS]);
    assert_eq!(tool_of("STINT-A001"), ["access-analyzer"]);
    assert_eq!(tool_of("STINT-A002"), ["access-analyzer"]);
    let bucket = merged.iter().find(|f| f.rule == "STINT-A001");
    assert!(
        bucket.is_some_and(
            |f| f.resource == "arn:aws:s3:::shared-bucket" && f.evidence.contains("f3")
        )
    );
}

#[test]
fn a_permission_set_in_a_prod_account_is_linted_as_written_and_refused() {
    let landing = include_str!("../../../../examples/catalog-landing.toml");
    let clean = crate::catalog::Catalog::from_toml(landing);
    let Ok(clean) = clean else {
        panic!("the landing example does not load");
    };
    assert_eq!(
        lint_catalog(&clean, Severity::Low),
        (Vec::new(), Vec::new())
    );
    let from = r#"{ Sid = "NoSecrets", Effect = "Deny", Action = ["secretsmanager:GetSecretValue"], Resource = "*" },"#;
    assert!(landing.contains(from));
    let bad = landing.replacen(
        from,
        r#"{ Sid = "Oops", Effect = "Allow", Action = ["iam:PutRolePolicy"], Resource = "*" },"#,
        1,
    );
    let Ok(bad) = crate::catalog::Catalog::from_toml(&bad) else {
        panic!("the planted catalog does not load");
    };
    let (findings, refused) = lint_catalog(&bad, Severity::High);
    assert_eq!(refused, ["permission set Acme-Auditors"]);
    let on_set: Vec<&str> = findings
        .iter()
        .filter(|f| f.resource.starts_with("permission_sets.Acme-Auditors"))
        .map(|f| f.rule)
        .collect();
    assert!(
        on_set.contains(&"STINT-P006") && on_set.contains(&"STINT-C001"),
        "{on_set:?}"
    );
}
