//! Helpers for `scripts/demo` and `scripts/bench`, against the AWS emulator only:
//!
//! - `demo seed ENDPOINT CATALOG`: creates, for the catalog, the Identity Center groups
//!   `Company_Org_AccountId_Persona` for every account and persona, the users
//!   alice@example.com (a Product-Deployers member in the nonprod accounts) and
//!   bob@example.com (in no group), and the provisioner role in every member account.
//! - `demo whoami ENDPOINT`: calls STS GetCallerIdentity with the credentials in
//!   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and prints who they are.
//! - `demo people ENDPOINT CATALOG`: for the catalog's `[people]`, after `seed`: each persona's
//!   permission set in Identity Center, alice in every account's Product-Deployers group (prod
//!   too: eligible there, but only with an approval), and bob in every approver group.
//! - `demo provider`: the organisation's OpenID provider on loopback (authorization code with
//!   PKCE; it signs in whoever `login_hint` names, with MFA), printing its URL, until killed.
//! - `demo assignments ENDPOINT CATALOG ACCOUNT`: who holds each people persona's permission
//!   set on the account, as Identity Center lists it (user names, one line each).

use anyhow::{Context as _, anyhow, bail};
use aws_credential_types::Credentials;
use stint_core::catalog::{Catalog, Environment};
use stint_testkit::seed::{Seeder, emulator_config};

pub const DEMO_MEMBER: &str = "alice@example.com";
pub const DEMO_OUTSIDER: &str = "bob@example.com";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed", endpoint, catalog] => seed_world(endpoint, catalog).await,
        ["whoami", endpoint] => whoami(endpoint).await,
        ["provider"] => provider().await,
        ["people", endpoint, catalog] => seed_people(endpoint, catalog).await,
        ["assignments", endpoint, catalog, account] => {
            assignments(endpoint, catalog, account).await
        }
        ["members", endpoint, catalog, group] => members(endpoint, catalog, group).await,
        ["legacy-key", endpoint, account] => legacy_key(endpoint, account).await,
        _ => bail!(
            "usage: demo seed ENDPOINT CATALOG | demo whoami ENDPOINT | demo people ENDPOINT CATALOG | demo provider | demo assignments ENDPOINT CATALOG ACCOUNT | demo members ENDPOINT CATALOG GROUP | demo legacy-key ENDPOINT ACCOUNT"
        ),
    }
}

fn load_catalog(catalog_path: &str) -> anyhow::Result<Catalog> {
    let text =
        std::fs::read_to_string(catalog_path).with_context(|| format!("reading {catalog_path}"))?;
    Catalog::from_toml(&text).with_context(|| format!("loading {catalog_path}"))
}

async fn seed_world(endpoint: &str, catalog_path: &str) -> anyhow::Result<()> {
    let catalog = load_catalog(catalog_path)?;
    let seeder = Seeder::connect(endpoint).await;
    let store = &catalog.identity_store_id;
    let alice = seeder.user(store, "alice", DEMO_MEMBER).await?;
    seeder.user(store, "bob", DEMO_OUTSIDER).await?;
    for account in catalog.accounts() {
        seeder.provisioner_role(account.id.as_str()).await?;
        for persona in catalog.personas() {
            let name = catalog.group_name(&account.id, &persona.name);
            let group = seeder.group(store, &name).await?;
            let member = account.environment == Environment::Nonprod
                && persona.name.as_str() == "Product-Deployers";
            if member {
                seeder.add_member(store, &group, &alice).await?;
            }
            println!("group {name}{}", if member { " (alice)" } else { "" });
        }
        println!(
            "provisioner role arn:aws:iam::{}:role/{}",
            account.id, catalog.provisioner_role_name
        );
    }
    println!("users {DEMO_MEMBER}, {DEMO_OUTSIDER} in identity store {store}");
    Ok(())
}

async fn whoami(endpoint: &str) -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).map_err(|_| anyhow!("{name} is not set"));
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN").ok(),
        None,
        "demo",
    );
    let sdk = emulator_config(endpoint, credentials).await;
    let me = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .context("STS GetCallerIdentity")?;
    println!(
        "{}",
        serde_json::json!({ "Account": me.account(), "Arn": me.arn(), "UserId": me.user_id() })
    );
    Ok(())
}

async fn seed_people(endpoint: &str, catalog_path: &str) -> anyhow::Result<()> {
    let catalog = load_catalog(catalog_path)?;
    let people = catalog
        .people()
        .ok_or_else(|| anyhow!("{catalog_path} has no [people] table"))?;
    let seeder = Seeder::connect(endpoint).await;
    let store = &catalog.identity_store_id;
    let alice = seeder.user_id(store, DEMO_MEMBER).await?;
    let bob = seeder.user_id(store, DEMO_OUTSIDER).await?;
    let mut approver_groups = std::collections::BTreeSet::new();
    for persona in people.personas() {
        let arn = seeder.permission_set(&persona.permission_set).await?;
        println!("permission set {} {arn}", persona.permission_set);
        for account in catalog.accounts() {
            approver_groups.extend(persona.rules(account.environment).approver_groups.clone());
            if account.environment == Environment::Prod {
                let name = catalog.group_name(&account.id, &persona.name);
                let group = match seeder.group_id(store, &name).await {
                    Ok(group) => group,
                    Err(_) => seeder.group(store, &name).await?,
                };
                seeder.add_member(store, &group, &alice).await?;
                println!("group {name} (alice)");
            }
            // A persona activated by membership: its access group carries the standing
            // assignment, as an administrator sets it up once.
            if let Some(access_group) = persona.access_group(&account.id) {
                let group = seeder.group(store, access_group).await?;
                seeder
                    .assign_group(account.id.as_str(), &arn, &group)
                    .await?;
                println!(
                    "access group {access_group} (assigned {} on {})",
                    persona.permission_set, account.id
                );
            }
        }
    }
    for name in approver_groups {
        let group = seeder.group(store, &name).await?;
        seeder.add_member(store, &group, &bob).await?;
        println!("approver group {name} (bob)");
    }
    Ok(())
}

async fn assignments(endpoint: &str, catalog_path: &str, account: &str) -> anyhow::Result<()> {
    let catalog = load_catalog(catalog_path)?;
    let people = catalog
        .people()
        .ok_or_else(|| anyhow!("{catalog_path} has no [people] table"))?;
    let seeder = Seeder::connect(endpoint).await;
    for persona in people.personas() {
        let arn = seeder.permission_set_arn(&persona.permission_set).await?;
        for user in seeder.assigned_users(account, &arn).await? {
            let name = seeder.user_name(&catalog.identity_store_id, &user).await?;
            println!("{name}\t{}\t{account}", persona.permission_set);
        }
    }
    Ok(())
}

/// The user names of `group`'s members, as the identity store lists them.
async fn members(endpoint: &str, catalog_path: &str, group: &str) -> anyhow::Result<()> {
    let catalog = load_catalog(catalog_path)?;
    let store = &catalog.identity_store_id;
    let seeder = Seeder::connect(endpoint).await;
    let group_id = seeder.group_id(store, group).await?;
    let listed = seeder
        .identity_store
        .list_group_memberships()
        .identity_store_id(store)
        .group_id(&group_id)
        .send()
        .await
        .with_context(|| format!("listing the members of {group}"))?;
    for membership in listed.group_memberships() {
        if let Some(aws_sdk_identitystore::types::MemberId::UserId(user)) = membership.member_id() {
            println!("{}\t{group}", seeder.user_name(store, user).await?);
        }
    }
    Ok(())
}

/// What a JIT rollout must clean up: an IAM user with a long-lived access key, made the way
/// people used to give a pipeline access.
async fn legacy_key(endpoint: &str, account: &str) -> anyhow::Result<()> {
    let iam = Seeder::connect(endpoint).await.iam(account).await?;
    iam.create_user()
        .user_name("legacy-deployer")
        .send()
        .await
        .context("creating the user legacy-deployer")?;
    let key = iam
        .create_access_key()
        .user_name("legacy-deployer")
        .send()
        .await
        .context("making its access key")?;
    let id = key
        .access_key()
        .map(|k| k.access_key_id())
        .unwrap_or_default();
    println!("user legacy-deployer in {account} with access key {id}");
    Ok(())
}

async fn provider() -> anyhow::Result<()> {
    let issuer = stint_testkit::issuer::TestIssuer::start()?;
    issuer.sign_in_with(&["pwd", "mfa", "hwk"]);
    println!("provider {}", issuer.url);
    std::future::pending::<()>().await;
    Ok(())
}
