use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../../../examples/catalog.toml");

fn example() -> Catalog {
    Catalog::from_toml(EXAMPLE).unwrap()
}

/// Loads the example with one line replaced, and returns the error's key and message.
fn load_with(from: &str, to: &str) -> CatalogError {
    assert!(EXAMPLE.contains(from), "example lacks {from:?}");
    Catalog::from_toml(&EXAMPLE.replacen(from, to, 1)).unwrap_err()
}

#[test]
fn example_catalog_loads() {
    let catalog = example();
    assert_eq!(catalog.accounts().len(), 2);
    let prod = catalog
        .account_by_name(&AccountName::parse("workload-prod").unwrap())
        .unwrap();
    assert_eq!(prod.environment, Environment::Prod);
    let group_type = GroupType::parse("Product-Deployers").unwrap();
    assert_eq!(
        catalog.group_name(&prod.id, &group_type),
        "Acme_Platform_333333333333_Product-Deployers"
    );
    assert_eq!(
        catalog.permissions_boundary(&prod.id).as_deref(),
        Some("arn:aws:iam::333333333333:policy/stint-boundary")
    );
}

#[test]
fn prod_overrides_narrow_the_grant() {
    let catalog = example();
    let persona = catalog
        .persona(&GroupType::parse("Product-Deployers").unwrap())
        .unwrap();
    let account = AccountId::parse("333333333333").unwrap();
    let prod = persona.grant(Environment::Prod);
    let nonprod = persona.grant(Environment::Nonprod);
    assert_eq!(
        prod.managed_policies(&account),
        ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    );
    assert_eq!(
        nonprod.managed_policies(&account),
        ["arn:aws:iam::aws:policy/PowerUserAccess"]
    );
    assert_eq!(prod.ttl, Duration::from_secs(7200));
    assert_eq!(nonprod.ttl, Duration::from_secs(86400));
    // An override that names only the TTL keeps the persona's policies.
    let network = catalog
        .persona(&GroupType::parse("Network").unwrap())
        .unwrap();
    assert_eq!(
        network.grant(Environment::Prod).ttl,
        Duration::from_secs(3600)
    );
    assert_eq!(
        network.grant(Environment::Prod).managed_policies(&account),
        network
            .grant(Environment::Nonprod)
            .managed_policies(&account)
    );
}

#[test]
fn errors_name_the_key_at_fault() {
    let cases = [
        (r#"company = "Acme""#, r#"company = "Ac_me""#, "company"),
        (
            r#"id = "222222222222""#,
            r#"id = "22222""#,
            "accounts[0].id",
        ),
        (
            r#"id = "333333333333""#,
            r#"id = "222222222222""#,
            "accounts[1].id",
        ),
        (
            r#"ttl = "24h""#,
            r#"ttl = "25h""#,
            "personas.Product-Deployers.ttl",
        ),
        (
            r#"ttl = "24h""#,
            r#"ttl = "10m""#,
            "personas.Product-Deployers.ttl",
        ),
        (
            r#"ttl = "2h""#,
            r#"ttl = "2 hours""#,
            "personas.Product-Deployers.prod.ttl",
        ),
        (
            r#"managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]"#,
            r#"managed_policies = ["PowerUserAccess"]"#,
            "personas.Product-Deployers.managed_policies[0]",
        ),
        (
            r#"role_name_prefix = "stint""#,
            r#"role_name_prefix = "stint-with-a-prefix-far-too-long""#,
            "role_name_prefix",
        ),
        (
            r#"provisioner_role_name = "stint-provisioner""#,
            r#"provisioner_role_name = "stint provisioner""#,
            "provisioner_role_name",
        ),
        (
            r#"default_group_type = "Product-Deployers""#,
            r#"default_group_type = "Nobody""#,
            "default_group_type",
        ),
        (
            r#"pipeline_principal_arn = "arn:aws:iam::123456789012:role/stint-broker""#,
            r#"pipeline_principal_arn = "*""#,
            "pipeline_principal_arn",
        ),
        (
            r#"{ Sid = "DeployServices", Effect = "Allow","#,
            r#"{ Sid = "DeployServices", Effect = "Allow", Principal = "*","#,
            "personas.Product-Deployers.prod.statements[0]",
        ),
    ];
    for (from, to, key) in cases {
        let error = load_with(from, to);
        assert_eq!(error.key, key, "{to}: {error}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let error = load_with(
        "company = \"Acme\"",
        "company = \"Acme\"\ncompnay = \"typo\"",
    );
    assert!(error.message.contains("compnay"), "{error}");
    assert_eq!(
        error.to_string(),
        "catalog key `line 8, column 1`: unknown key `compnay`; did you mean `company`?"
    );
    let error = load_with(r#"ttl = "8h""#, "ttl = \"8h\"\nmanaged_policy = []");
    assert!(
        error.message.ends_with("did you mean `managed_policies`?"),
        "{error}"
    );
}

#[test]
fn more_managed_policies_than_a_role_takes_are_refused() {
    let many: Vec<String> = (0..11)
        .map(|i| format!("\"arn:aws:iam::aws:policy/P{i}\""))
        .collect();
    let error = load_with(
        r#"managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]"#,
        &format!("managed_policies = [{}]", many.join(", ")),
    );
    assert_eq!(error.key, "personas.Product-Deployers.managed_policies");
    assert!(error.message.contains("at most 10"), "{error}");
}

#[test]
fn inline_policy_over_iam_limit_is_refused() {
    let actions: Vec<String> = (0..600).map(|i| format!("\"s3:Action{i:05}\"")).collect();
    let error = load_with(
        r#"{ Sid = "NoIamWrites", Effect = "Deny", Action = ["iam:Create*", "iam:Put*", "iam:Attach*", "iam:Delete*"], Resource = "*" },"#,
        &format!(
            "{{ Sid = \"Big\", Effect = \"Allow\", Action = [{}], Resource = \"*\" }},",
            actions.join(",")
        ),
    );
    assert_eq!(error.key, "personas.Product-Deployers.prod.statements");
    assert!(error.message.contains("10240"), "{error}");
}

#[test]
fn github_example_catalog_loads() {
    let catalog =
        Catalog::from_toml(include_str!("../../../../examples/catalog-github.toml")).unwrap();
    let oidc = catalog.oidc().unwrap();
    assert_eq!(oidc.provider_host(), "token.actions.githubusercontent.com");
    assert_eq!(oidc.max_token_age, Duration::from_secs(600));
    assert_eq!(catalog.pipeline_rules().len(), 2);
    assert_eq!(
        catalog.github_identity("1234567").map(Email::as_str),
        Some("alice@example.com")
    );
    let prod = catalog
        .account_by_name(&AccountName::parse("workload-prod").unwrap())
        .unwrap();
    assert_eq!(prod.delivery, Delivery::Oidc);
}

#[test]
fn people_rules_are_per_environment_and_prod_is_stricter() {
    let catalog = example();
    let people = catalog.people().unwrap();
    assert_eq!(people.instance_arn, None);
    let persona = people
        .persona(&GroupType::parse("Product-Deployers").unwrap())
        .unwrap();
    assert_eq!(persona.permission_set, "Acme-Product-Deployers");
    let (prod, nonprod) = (
        persona.rules(Environment::Prod),
        persona.rules(Environment::Nonprod),
    );
    assert_eq!(
        (prod.max_duration, nonprod.max_duration),
        (Duration::from_secs(7200), Duration::from_secs(8 * 3600))
    );
    assert_eq!((prod.approvals, nonprod.approvals), (1, 0));
    assert_eq!(prod.required_amr, ["mfa"]);
    assert!(nonprod.required_amr.is_empty());
    let pattern = prod.ticket_pattern.as_ref().unwrap();
    assert!(pattern.matches("INC-42") && !pattern.matches("INC-42x") && !pattern.matches("x"));
    assert_eq!(prod.max_auth_age, Some(Duration::from_secs(900)));
}

#[test]
fn a_membership_persona_names_its_access_group_per_account() {
    let catalog = example();
    let people = catalog.people().unwrap();
    let admins = people
        .persona(&GroupType::parse("Database-Admins").unwrap())
        .unwrap();
    let prod = AccountId::parse("333333333333").unwrap();
    let nonprod = AccountId::parse("222222222222").unwrap();
    assert_eq!(
        admins.access_group(&prod),
        Some("Acme-Prod-Database-Admins")
    );
    assert_eq!(admins.access_group(&nonprod), None);
    let deployers = people
        .persona(&GroupType::parse("Product-Deployers").unwrap())
        .unwrap();
    assert_eq!(deployers.activation, Activation::Assignment);
}

#[test]
fn people_faults_name_the_key() {
    let cases = [
        (
            "approvals = 1, approver_groups = [\"Acme_Platform_Prod-Approvers\"]",
            "approvals = 1",
            "people.personas.Product-Deployers.prod.approver_groups",
        ),
        (
            "prod = { max_duration = \"2h\"",
            "prod = { max_duration = \"2d\"",
            "people.personas.Product-Deployers.prod.max_duration",
        ),
        (
            "prod = { max_duration = \"2h\"",
            "prod = { min_duration = \"3h\", max_duration = \"2h\"",
            "people.personas.Product-Deployers.prod.min_duration",
        ),
        (
            "ticket_pattern = \"(INC|CHG)-[0-9]+\"",
            "ticket_pattern = \"(INC\"",
            "people.personas.Product-Deployers.prod.ticket_pattern",
        ),
        (
            "permission_set = \"Acme-Product-Deployers\"",
            "permission_set = \"has space\"",
            "people.personas.Product-Deployers.permission_set",
        ),
        (
            "issuer = \"https://login.example.com\"",
            "issuer = \"http://login.example.com\"",
            "people.issuer",
        ),
        (
            "access_groups = { \"333333333333\" = \"Acme-Prod-Database-Admins\" }",
            "access_groups = {}",
            "people.personas.Database-Admins.access_groups",
        ),
        (
            "activation = \"membership\"",
            "activation = \"assignment\"",
            "people.personas.Database-Admins.access_groups",
        ),
        (
            "activation = \"membership\"",
            "activation = \"groups\"",
            "people.personas.Database-Admins.activation",
        ),
        (
            "access_groups = { \"333333333333\"",
            "access_groups = { \"444444444444\"",
            "people.personas.Database-Admins.access_groups.444444444444",
        ),
        (
            "access_groups = { \"333333333333\" = \"Acme-Prod-Database-Admins\" }",
            "access_groups = { \"333333333333\" = \"Acme_Platform_Prod-Approvers\" }",
            "people.personas.Database-Admins.access_groups.333333333333",
        ),
    ];
    for (from, to, key) in cases {
        assert_eq!(load_with(from, to).key, key, "{to}");
    }
}
