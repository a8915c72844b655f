use super::*;
use crate::grant::Caller;
use crate::ids::AccountName;

const CATALOG: &str = r#"
company = "Acme"
org = "Platform"
identity_store_id = "d-1234567890"
provisioner_role_name = "stint-provisioner"
pipeline_principal_arn = "arn:aws:iam::123456789012:role/stint-broker"

[oidc]
issuer = "https://token.actions.githubusercontent.com"
audience = "stint"

[[identities]]
github_actor_id = 1001
email = "alice@example.com"

[[accounts]]
name = "nonprod"
id = "222222222222"
environment = "nonprod"

[[accounts]]
name = "prod"
id = "333333333333"
environment = "prod"
delivery = "oidc"

[personas.Product-Deployers]
managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]
ttl = "1h"

[[pipelines]]
repository_ids = [500]
environments = ["nonprod"]
personas = ["Product-Deployers"]
event_names = ["push", "pull_request"]

[[pipelines]]
repository_ids = [500]
environments = ["prod"]
personas = ["Product-Deployers"]
github_environment = "production"
job_workflow_ref = "acme/stint-workflows/.github/workflows/jit.yml@refs/heads/main"
"#;

fn catalog() -> Catalog {
    Catalog::from_toml(CATALOG).unwrap()
}

fn claims() -> PipelineClaims {
    PipelineClaims {
        sub: "repo:acme/infra:environment:production".into(),
        actor: "alice".into(),
        actor_id: "1001".into(),
        repository: "acme/infra".into(),
        repository_id: "500".into(),
        repository_owner: "acme".into(),
        repository_owner_id: "77".into(),
        git_ref: "refs/heads/main".into(),
        ref_protected: Some("true".into()),
        sha: "0123456789abcdef".into(),
        event_name: "push".into(),
        environment: Some("production".into()),
        workflow: "deploy".into(),
        job_workflow_ref: "acme/stint-workflows/.github/workflows/jit.yml@refs/heads/main".into(),
        run_id: "42".into(),
        run_attempt: "1".into(),
    }
}

fn decide(claims: &PipelineClaims, account: &str, typed: Option<&str>) -> Result<Email, ErrorCode> {
    let catalog = catalog();
    let account = catalog
        .account_by_name(&AccountName::parse(account).unwrap())
        .unwrap()
        .clone();
    let persona = GroupType::parse("Product-Deployers").unwrap();
    let typed = typed.map(|e| Email::parse(e).unwrap());
    authorize_pipeline(&catalog, claims, &account, &persona, typed.as_ref()).map_err(|e| e.code)
}

#[test]
fn an_allowed_run_maps_to_its_directory_user() {
    assert_eq!(
        decide(&claims(), "prod", None).unwrap().as_str(),
        "alice@example.com"
    );
    assert_eq!(
        decide(&claims(), "nonprod", Some("Alice@example.com"))
            .unwrap()
            .as_str(),
        "alice@example.com"
    );
}

#[test]
fn each_denial_has_its_own_code() {
    let with = |f: fn(&mut PipelineClaims)| {
        let mut c = claims();
        f(&mut c);
        c
    };
    // A renamed repository with a reused name but another id.
    let renamed = with(|c| c.repository_id = "501".into());
    assert_eq!(
        decide(&renamed, "prod", None),
        Err(ErrorCode::RepositoryNotAllowed)
    );
    let unprotected = with(|c| c.ref_protected = Some("false".into()));
    assert_eq!(
        decide(&unprotected, "prod", None),
        Err(ErrorCode::UnprotectedRef)
    );
    assert!(
        decide(&unprotected, "nonprod", None).is_ok(),
        "nonprod does not need a protected ref by default"
    );
    let target = with(|c| c.event_name = "pull_request_target".into());
    assert_eq!(
        decide(&target, "prod", None),
        Err(ErrorCode::EventNotAllowed)
    );
    assert_eq!(
        decide(&target, "nonprod", None),
        Err(ErrorCode::EventNotAllowed)
    );
    let elsewhere = with(|c| c.environment = Some("staging".into()));
    assert_eq!(
        decide(&elsewhere, "prod", None),
        Err(ErrorCode::EnvironmentNotAllowed)
    );
    let forked_workflow = with(|c| {
        c.job_workflow_ref = "acme/infra/.github/workflows/own.yml@refs/heads/main".into()
    });
    assert_eq!(
        decide(&forked_workflow, "prod", None),
        Err(ErrorCode::WorkflowNotAllowed)
    );
    let stranger = with(|c| c.actor_id = "9999".into());
    assert_eq!(
        decide(&stranger, "prod", None),
        Err(ErrorCode::UnknownActor)
    );
    assert_eq!(
        decide(&claims(), "prod", Some("bob@example.com")),
        Err(ErrorCode::IdentityMismatch)
    );
}

#[test]
fn pull_request_target_is_refused_for_prod_at_load() {
    let text = CATALOG.replacen(
        "github_environment = \"production\"",
        "github_environment = \"production\"\nevent_names = [\"pull_request_target\"]",
        1,
    );
    let error = Catalog::from_toml(&text).unwrap_err();
    assert_eq!(error.key, "pipelines[1].event_names");
}

#[test]
fn oidc_delivery_needs_an_issuer() {
    let text = CATALOG.replacen(
        "[oidc]\nissuer = \"https://token.actions.githubusercontent.com\"\naudience = \"stint\"\n",
        "",
        1,
    );
    let error = Catalog::from_toml(&text).unwrap_err();
    assert_eq!(error.key, "accounts[1].delivery");
}

#[test]
fn the_actor_names_the_verified_run() {
    let caller = Caller::Pipeline(Box::new(claims()));
    assert_eq!(caller.actor().0, "github:alice#1001@acme/infra#500");
}
