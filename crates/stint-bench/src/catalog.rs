//! The catalogs the sections run with: loading one, the account and persona a section asks
//! for, a copy that turns on token authentication against the loopback issuer, and one whose
//! `[people]` trusts that issuer.

use std::path::Path;

use anyhow::{Context as _, anyhow};
use stint_core::catalog::{Account, Catalog, Environment, Persona};
use stint_testkit::issuer::{ACTOR_ID, AUDIENCE, REPOSITORY_ID, TestIssuer};

use crate::client::EMAIL;

/// The catalog's text and the catalog.
pub fn load(path: &Path) -> anyhow::Result<(String, Catalog)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let catalog =
        Catalog::from_toml(&text).with_context(|| format!("loading {}", path.display()))?;
    Ok((text, catalog))
}

/// The first nonprod account, where alice is a Product-Deployers member.
pub fn first_nonprod(catalog: &Catalog) -> anyhow::Result<Account> {
    catalog
        .accounts()
        .iter()
        .find(|a| a.environment == Environment::Nonprod)
        .cloned()
        .ok_or_else(|| anyhow!("the catalog has no nonprod account"))
}

/// The account called `name`.
pub fn account<'a>(catalog: &'a Catalog, name: &str) -> anyhow::Result<&'a Account> {
    catalog
        .accounts()
        .iter()
        .find(|a| a.name.as_str() == name)
        .ok_or_else(|| anyhow!("the catalog has no account {name}"))
}

/// The persona called `name`.
pub fn persona<'a>(catalog: &'a Catalog, name: &str) -> anyhow::Result<&'a Persona> {
    catalog
        .personas()
        .find(|p| p.name.as_str() == name)
        .ok_or_else(|| anyhow!("the catalog has no persona {name}"))
}

/// Writes to `out` the catalog `text` plus what turns on authentication against `issuer`
/// for the nonprod Product-Deployers: `[oidc]`, alice's GitHub identity, a pipeline rule.
pub fn write_with_oidc(text: &str, issuer: &TestIssuer, out: &Path) -> anyhow::Result<()> {
    let addition = format!(
        r#"
# Added by scripts/bench: authenticate callers with tokens from the benchmark's issuer.
[oidc]
issuer = "{url}"
audience = "{AUDIENCE}"

[[identities]]
github_actor_id = {ACTOR_ID}
email = "{EMAIL}"

[[pipelines]]
repository_ids = [{REPOSITORY_ID}]
environments = ["nonprod"]
personas = ["Product-Deployers"]
"#,
        url = issuer.url
    );
    std::fs::write(out, format!("{text}\n{addition}"))
        .with_context(|| format!("writing {}", out.display()))
}

/// Writes to `out` the catalog `text` with its `[people]` table's `issuer` pointing at
/// `issuer` (people then sign in at the benchmark's loopback provider); the table must be
/// there already (the example catalog's is), with `client_id` the provider's audience.
pub fn write_with_people_issuer(text: &str, issuer: &TestIssuer, out: &Path) -> anyhow::Result<()> {
    let mut in_people = false;
    let mut replaced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_people = trimmed.starts_with("[people]");
        }
        if in_people && !replaced && trimmed.starts_with("issuer") && trimmed.contains('=') {
            lines.push(format!(
                "issuer = \"{}\"   # scripts/bench: the benchmark's loopback provider",
                issuer.url
            ));
            replaced = true;
        } else {
            lines.push(line.to_owned());
        }
    }
    if !replaced {
        return Err(anyhow!("the catalog has no [people] table with an issuer"));
    }
    let written = lines.join("\n") + "\n";
    let catalog = Catalog::from_toml(&written).context("loading the catalog with [people]")?;
    let client_id = catalog.people().map(|p| p.client_id.as_str());
    if client_id != Some(AUDIENCE) {
        return Err(anyhow!(
            "[people] client_id is {client_id:?}; the benchmark's provider mints ID tokens for {AUDIENCE:?}"
        ));
    }
    std::fs::write(out, written).with_context(|| format!("writing {}", out.display()))
}
