//! The floor of figure 1: the bare AWS SDK making one provisioning's and one deprovisioning's
//! calls one after another (6 + 5), straight to the same moto stint serve uses, with nothing
//! else (no ledger, no HTTP, no concurrency), timed just before figure 1's runs; and stint's
//! provision+deprovision p50 as a ratio to the floor's p50 (issue 10's target: at most 0.9x,
//! reachable only by doing less than the naive sequence, e.g. sending calls together).
//!
//! The calls are the ones stint-aws makes, with the same arguments, as a warm stint serve makes
//! them: the provisioner session and the group id looked up once, before the runs (stint
//! caches both). Provision: identitystore GetUserId, IsMemberInGroups; iam CreateRole,
//! AttachRolePolicy (per managed policy), PutRolePolicy; sts AssumeRole of the new role.
//! Deprovision: ListAttachedRolePolicies, ListRolePolicies, DetachRolePolicy (per attached),
//! DeleteRolePolicy (per inline), DeleteRole. Roles go under `/bench/`, not stint's `/stint/`,
//! so no reaper ever takes one left by a failed run for its own.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_iam::types::Tag;
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use stint_core::policy::{grant_inline_policy, trust_policy};
use stint_core::ports::Clock as _;
use stint_server::clock::SystemClock;

use crate::aws::{sdk_error, stint_config};
use crate::catalog;
use crate::client::{BRANCH, EMAIL, GROUP_TYPE, Target};
use crate::report::{pass, print_latency_header, print_latency_row};
use crate::runs::{Outcome, Run};
use crate::stats::percentile;

/// Issue 10's target: stint's provision+deprovision p50 at most this times the floor's.
const TARGET_RATIO: f64 = 0.9;
/// Stint's inline policy name on a temporary role.
const INLINE_POLICY: &str = "stint-grant";
/// The session stint asks for, for the provisioner and for a grant (IAM's chained maximum).
const SESSION_SECONDS: i32 = 3600;

/// Everything a run needs that stint serve keeps between requests.
struct Floor {
    ids: aws_sdk_identitystore::Client,
    /// Acting as the provisioner role in the target account.
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    store: String,
    group_id: String,
    managed: Vec<String>,
    boundary: Option<String>,
    trust: String,
    inline: String,
    expires_at: String,
}

fn unique(path: &str, value: &str) -> anyhow::Result<AlternateIdentifier> {
    Ok(AlternateIdentifier::UniqueAttribute(
        UniqueAttribute::builder()
            .attribute_path(path)
            .attribute_value(value.into())
            .build()?,
    ))
}

fn tag(key: &str, value: &str) -> anyhow::Result<Tag> {
    Ok(Tag::builder().key(key).value(value).build()?)
}

impl Floor {
    /// The SDK clients (stint's own config), the provisioner session and the group id, and
    /// the role's documents, from the catalog figure 1's server runs with.
    async fn new(moto_url: &str, catalog_path: &Path) -> anyhow::Result<Self> {
        let (_, catalog) = catalog::load(catalog_path)?;
        let account = catalog::account(&catalog, &Target::example().account_name)?;
        let persona = catalog::persona(&catalog, GROUP_TYPE)?;
        let grant = persona.grant(account.environment);
        // Built once: the same documents stint builds per request, for an expiry within the
        // grant's TTL of every run.
        let expires_at = SystemClock.now() + grant.ttl;
        let trust = trust_policy(&catalog.pipeline_principal_arn, expires_at, EMAIL).to_json();
        let inline = grant_inline_policy(&grant.statements, expires_at).to_json();

        let sdk = stint_config(moto_url).await;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let ids = aws_sdk_identitystore::Client::new(&sdk);
        let provisioner = format!(
            "arn:aws:iam::{}:role/{}",
            account.id, catalog.provisioner_role_name
        );
        let session = sts
            .assume_role()
            .role_arn(&provisioner)
            .role_session_name("stint-provisioner")
            .set_external_id(catalog.provisioner_external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("assuming {provisioner}"))?;
        let creds = session
            .credentials()
            .ok_or_else(|| anyhow!("assuming {provisioner}: no credentials"))?;
        let provider = aws_credential_types::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "bench-floor",
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&sdk)
                .credentials_provider(provider)
                .build(),
        );
        let store = catalog.identity_store_id.clone();
        let group_name = catalog.group_name(&account.id, &persona.name);
        let group_id = ids
            .get_group_id()
            .identity_store_id(&store)
            .alternate_identifier(unique("displayName", &group_name)?)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("looking up group {group_name}"))?
            .group_id()
            .to_owned();
        Ok(Self {
            ids,
            iam,
            sts,
            store,
            group_id,
            managed: grant.managed_policies(&account.id),
            boundary: catalog.permissions_boundary(&account.id),
            trust,
            inline,
            expires_at: stint_core::time_fmt::iam_time(expires_at),
        })
    }

    /// GetUserId, IsMemberInGroups, CreateRole, AttachRolePolicy, PutRolePolicy, AssumeRole;
    /// the role's name and ARN.
    async fn provision(&self) -> anyhow::Result<(String, String)> {
        let user = self
            .ids
            .get_user_id()
            .identity_store_id(&self.store)
            .alternate_identifier(unique("emails.value", EMAIL)?)
            .send()
            .await
            .map_err(sdk_error)
            .context("GetUserId")?;
        let member = self
            .ids
            .is_member_in_groups()
            .identity_store_id(&self.store)
            .member_id(MemberId::UserId(user.user_id().to_owned()))
            .group_ids(&self.group_id)
            .send()
            .await
            .map_err(sdk_error)
            .context("IsMemberInGroups")?;
        if !member.results().iter().any(|r| r.membership_exists()) {
            bail!("{EMAIL} is not in the group (is moto seeded?)");
        }

        let transaction_id = uuid::Uuid::now_v7().to_string();
        let role = format!("floor-{transaction_id}");
        let created = self
            .iam
            .create_role()
            .path("/bench/")
            .role_name(&role)
            .description(format!(
                "stint {GROUP_TYPE} for {EMAIL} until {}",
                self.expires_at
            ))
            .assume_role_policy_document(&self.trust)
            .max_session_duration(SESSION_SECONDS)
            .set_permissions_boundary(self.boundary.clone())
            .tags(tag("stint:transaction-id", &transaction_id)?)
            .tags(tag("stint:requester", EMAIL)?)
            .tags(tag("stint:branch", BRANCH)?)
            .tags(tag("stint:group-type", GROUP_TYPE)?)
            .tags(tag("stint:expires-at", &self.expires_at)?)
            .send()
            .await
            .map_err(sdk_error)
            .context("CreateRole")?;
        let arn = created
            .role()
            .map(|r| r.arn().to_owned())
            .ok_or_else(|| anyhow!("CreateRole returned no role"))?;
        for policy in &self.managed {
            self.iam
                .attach_role_policy()
                .role_name(&role)
                .policy_arn(policy)
                .send()
                .await
                .map_err(sdk_error)
                .context("AttachRolePolicy")?;
        }
        self.iam
            .put_role_policy()
            .role_name(&role)
            .policy_name(INLINE_POLICY)
            .policy_document(&self.inline)
            .send()
            .await
            .map_err(sdk_error)
            .context("PutRolePolicy")?;
        self.sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name(&role)
            .source_identity(EMAIL)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(sdk_error)
            .context("AssumeRole")?;
        Ok((role, arn))
    }

    /// ListAttachedRolePolicies, ListRolePolicies, DetachRolePolicy and DeleteRolePolicy for
    /// what they listed, DeleteRole.
    async fn deprovision(&self, role: &str) -> anyhow::Result<()> {
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error)
            .context("ListAttachedRolePolicies")?;
        let inline = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error)
            .context("ListRolePolicies")?;
        for policy in attached.attached_policies() {
            let Some(arn) = policy.policy_arn() else {
                continue;
            };
            self.iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(sdk_error)
                .context("DetachRolePolicy")?;
        }
        for name in inline.policy_names() {
            self.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(sdk_error)
                .context("DeleteRolePolicy")?;
        }
        self.iam
            .delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error)
            .context("DeleteRole")?;
        Ok(())
    }

    async fn run_once(&self) -> anyhow::Result<Run> {
        let started = Instant::now();
        let (role, _arn) = self.provision().await.context("floor provisioning")?;
        let provisioned = started.elapsed();
        let started = Instant::now();
        self.deprovision(&role)
            .await
            .context("floor deprovisioning")?;
        Ok(Run {
            provision: provisioned,
            deprovision: started.elapsed(),
        })
    }
}

/// The floor's warm-up (not kept) and `runs` timed runs, one at a time, against moto at
/// `moto_url` seeded with the catalog at `catalog_path`.
pub async fn measure(
    moto_url: &str,
    catalog_path: &Path,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<Outcome> {
    let floor = Floor::new(moto_url, catalog_path)
        .await
        .context("setting up the floor")?;
    for _ in 0..warmup {
        floor.run_once().await.context("a floor warm-up run")?;
    }
    let mut outcome = Outcome::default();
    let started = Instant::now();
    for _ in 0..runs {
        outcome.record(floor.run_once().await);
    }
    outcome.wall = started.elapsed();
    outcome.max_in_flight = 1;
    Ok(outcome)
}

/// The floor's latency table, and stint's concurrency-1 p50 (and p99) as a ratio to it.
pub fn print(floor: &Outcome, warmup: usize, stint: &Outcome) {
    println!(
        "== Floor: the bare AWS SDK, the same 6 + 5 calls one after another (SDK -> moto directly, same moto, no ledger, no HTTP; {} runs after {warmup} warm-up runs, just before concurrency 1) ==",
        floor.attempted()
    );
    print_latency_header();
    let floor_total = floor.sorted(Run::total);
    print_latency_row("floor: provision+deprovision", &floor_total, floor.errors);
    print_latency_row(
        "floor:   provision (6 calls)",
        &floor.sorted(|r| r.provision),
        floor.errors,
    );
    print_latency_row(
        "floor:   deprovision (5 calls)",
        &floor.sorted(|r| r.deprovision),
        floor.errors,
    );
    for message in &floor.first_errors {
        println!("  error: {message}");
    }
    let stint_total = stint.sorted(Run::total);
    let at = |values: &[Duration], p: f64| percentile(values, p);
    let (floor_p50, stint_p50) = (at(&floor_total, 50.0), at(&stint_total, 50.0));
    let ratio = stint_p50 / floor_p50;
    println!(
        "  stint provision+deprovision (concurrency 1) / floor: p50 {stint_p50:.2} / {floor_p50:.2} ms = {ratio:.2}x; p99 {:.2} / {:.2} ms = {:.2}x",
        at(&stint_total, 99.0),
        at(&floor_total, 99.0),
        at(&stint_total, 99.0) / at(&floor_total, 99.0),
    );
    let measured = ratio.is_finite() && floor.errors == 0 && stint.errors == 0;
    println!(
        "Target: stint provision+deprovision p50 <= {TARGET_RATIO}x the floor's p50: {ratio:.2}x  {}",
        pass(measured && ratio <= TARGET_RATIO)
    );
    println!();
}
