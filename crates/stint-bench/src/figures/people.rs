//! Figures 13-16, people's access: one `stint serve` (SQLite ledger) whose `[people]` trusts a
//! loopback OpenID provider in this process (the test issuer), against moto seeded here with
//! the persona's permission set, people `user0..` eligible in both accounts and an approver.
//!
//! 13. Request to active over HTTP, one at a time, each person a new assignment: auto-approved
//!     (nonprod, one `POST /v1/requests`) and approved (prod: the person's request, then the
//!     approver's `POST /v1/requests/{id}/approve`; the pair and the approve alone).
//! 14. The floor: the bare SDK making one activation's calls (GetUserId, IsMemberInGroups,
//!     ListAccountAssignments, CreateAccountAssignment) one after another on the same moto,
//!     for the same person just before stint's auto-approved run (its assignment deleted again,
//!     untimed), so both see the same assignments; stint's p50 as a ratio to it.
//! 15. AWS calls by operation and ledger writes per activation, per request and approve, and per
//!     expiry, from `GET /metrics` around each request. The server's clock cannot be moved, so
//!     expiry is measured as a revoke (`POST /v1/transactions/{id}/revoke`, operator mode): it
//!     ends the grant through the same path as the reaper's expiry (`grant/end.rs`), and, being
//!     early, also cuts the person's live sessions (DescribeUser, Get/PutInlinePolicy,
//!     ProvisionPermissionSet); an expiry makes only the DeleteAccountAssignment.
//! 16. Many people at once (nonprod, auto-approved, all released together), then what Identity
//!     Center holds, read through the SDK: each of them assigned exactly once.
//!
//! Tokens are minted before their timers start.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use aws_sdk_ssoadmin::types::{
    AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType,
};
use serde_json::json;
use stint_api::{AccessRequestInput, AccessRequestResponse, Client, Secret};
use stint_core::catalog::{Account, Catalog, Environment};
use stint_testkit::issuer::{AUDIENCE, TestIssuer, now};
use stint_testkit::seed::Seeder;

use crate::args::StintSetup;
use crate::aws::{sdk_error, stint_config};
use crate::catalog;
use crate::client::{GROUP_TYPE, http_client};
use crate::metrics::{CallCounts, Counts, aws_calls};
use crate::report::{pass, print_latency_header, print_latency_row};
use crate::spawn::Server;
use crate::stats::{percentile, sorted};

/// Target: stint's auto-approved request-to-active p50 at most this times the floor's.
const TARGET_RATIO: f64 = 1.2;
/// What every request asks for (within the example's nonprod 8h and prod 2h).
const DURATION: &str = "1h";
const APPROVER: &str = "approver@example.com";
/// How long an assignment change moto answered `IN_PROGRESS` is polled for, at most.
const SETTLE_BOUND: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct PeopleArgs {
    /// The catalog (seeded with `demo seed`), with a `[people]` table for Product-Deployers:
    /// its nonprod account auto-approved, its prod account with one approval.
    #[command(flatten)]
    stint: StintSetup,
    /// Runs first, not measured: caches warm (each is one person more).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Sequential runs of each kind (auto-approved, approved, floor), one person each.
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// People asking at once in the concurrent run.
    #[arg(long, default_value_t = 200)]
    concurrent: usize,
}

pub async fn run(args: &PeopleArgs) -> anyhow::Result<()> {
    let setup = &args.stint.setup;
    let issuer = TestIssuer::start()?;
    let (text, _) = catalog::load(&setup.catalog)?;
    let catalog_path = setup.dir.join("people-oidc-catalog.toml");
    catalog::write_with_people_issuer(&text, &issuer, &catalog_path)?;
    let (_, catalog) = catalog::load(&catalog_path)?;
    let people = args.warmup + args.runs;
    let world = World::seed(&setup.moto_url, &catalog, people.max(args.concurrent)).await?;

    let server = Server::sqlite(&args.stint, &catalog_path, "people").await?;
    let http = http_client(args.concurrent.max(2))?;
    let client = Client::with_http(&server.url, http.clone());
    let floor = Floor::new(&setup.moto_url, &world).await?;
    let bench = Bench {
        world: &world,
        issuer: &issuer,
        client: &client,
        http: &http,
        url: &server.url,
    };

    // 13-15: one person per run; the floor just before stint's auto-approved run, same person.
    let mut seq = Sequential::default();
    for i in 0..people {
        let measured = i >= args.warmup;
        let floor_run = floor.activate(&world.users[i]).await;
        seq.floor.record(measured, floor_run);
        seq.auto
            .record(measured, bench.auto_approved(i, &mut seq.calls).await);
        seq.approved
            .record(measured, bench.approved(i, &mut seq.calls).await);
        if i + 1 == args.warmup {
            seq.calls.reset_warm();
        }
    }
    let mut revokes = Latencies::default();
    let grants = std::mem::take(&mut seq.calls.grants);
    for grant in &grants {
        revokes.record(true, bench.revoke(grant, &mut seq.calls.expiry).await);
    }
    let nonprod = world.nonprod.id.to_string();
    let left = world.seeder.assigned_users(&nonprod, &world.ps_arn).await;
    let left = left.context("listing what the revokes left")?;

    // 16: many people at once.
    let together = bench.concurrent(args.concurrent).await?;
    server.stop().await?;

    print_sequential(args, &seq, &revokes, grants.len(), left.len());
    print_concurrent(args.concurrent, &together);
    Ok(())
}

/// What the section seeded, and what it asks for.
struct World {
    seeder: Seeder,
    store: String,
    nonprod: Account,
    prod: Account,
    /// The nonprod account's `Company_Org_AccountId_Persona` group (the floor's eligibility).
    nonprod_group: String,
    ps_arn: String,
    instance_arn: String,
    /// `user{i}@example.com` with their user ids.
    users: Vec<(String, String)>,
}

impl World {
    /// The persona's permission set, `count` people in both accounts' persona groups, and an
    /// approver in the prod approver groups; the groups themselves come from `demo seed`.
    async fn seed(moto_url: &str, catalog: &Catalog, count: usize) -> anyhow::Result<Self> {
        let people = catalog
            .people()
            .ok_or_else(|| anyhow!("the catalog has no [people] table"))?;
        let persona = people
            .personas()
            .find(|p| p.name.as_str() == GROUP_TYPE)
            .ok_or_else(|| anyhow!("[people] has no persona {GROUP_TYPE}"))?;
        let nonprod = catalog::first_nonprod(catalog)?;
        let prod = catalog
            .accounts()
            .iter()
            .find(|a| a.environment == Environment::Prod)
            .cloned()
            .ok_or_else(|| anyhow!("the catalog has no prod account"))?;
        let (auto, gated) = (
            persona.rules(nonprod.environment),
            persona.rules(prod.environment),
        );
        if auto.approvals != 0 || gated.approvals != 1 {
            bail!(
                "{GROUP_TYPE} needs no approval on nonprod and exactly one on prod here (has {} and {})",
                auto.approvals,
                gated.approvals
            );
        }
        let seeder = Seeder::connect(moto_url).await;
        let store = catalog.identity_store_id.clone();
        let instance_arn = seeder.sso_instance().await?;
        let ps_arn = permission_set(&seeder, &instance_arn, &persona.permission_set).await?;
        let group = async |name: &str| group_id(&seeder, &store, name).await;
        let nonprod_group = group(&catalog.group_name(&nonprod.id, &persona.name)).await?;
        let prod_group = group(&catalog.group_name(&prod.id, &persona.name)).await?;
        let mut users = Vec::with_capacity(count);
        for i in 0..count {
            let email = format!("user{i}@example.com");
            let id = seeder
                .user(&store, &format!("user{i}"), &email)
                .await
                .with_context(|| format!("seeding {email} (a fresh identity store each run)"))?;
            seeder.add_member(&store, &nonprod_group, &id).await?;
            seeder.add_member(&store, &prod_group, &id).await?;
            users.push((email, id));
        }
        let approver = seeder.user(&store, "approver", APPROVER).await?;
        for name in &gated.approver_groups {
            let approvers = group(name).await?;
            seeder.add_member(&store, &approvers, &approver).await?;
        }
        Ok(Self {
            seeder,
            store,
            nonprod,
            prod,
            nonprod_group,
            ps_arn,
            instance_arn,
            users,
        })
    }
}

/// The permission set called `name`, made if Identity Center has none.
async fn permission_set(seeder: &Seeder, instance: &str, name: &str) -> anyhow::Result<String> {
    let sso = seeder.sso_admin();
    let mut token = None;
    loop {
        let page = sso
            .list_permission_sets()
            .instance_arn(instance)
            .set_next_token(token)
            .send()
            .await
            .map_err(sdk_error)
            .context("ListPermissionSets")?;
        for arn in page.permission_sets() {
            let described = sso
                .describe_permission_set()
                .instance_arn(instance)
                .permission_set_arn(arn)
                .send()
                .await
                .map_err(sdk_error)
                .context("DescribePermissionSet")?;
            if described.permission_set().and_then(|p| p.name()) == Some(name) {
                return Ok(arn.clone());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(seeder.permission_set(name).await?);
        }
    }
}

fn unique(path: &str, value: &str) -> anyhow::Result<AlternateIdentifier> {
    Ok(AlternateIdentifier::UniqueAttribute(
        UniqueAttribute::builder()
            .attribute_path(path)
            .attribute_value(value.into())
            .build()?,
    ))
}

/// The group called `name`, made if the identity store has none.
async fn group_id(seeder: &Seeder, store: &str, name: &str) -> anyhow::Result<String> {
    let found = seeder
        .identity_store
        .get_group_id()
        .identity_store_id(store)
        .alternate_identifier(unique("displayName", name)?)
        .send()
        .await;
    match found {
        Ok(found) => Ok(found.group_id().to_owned()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(seeder.group(store, name).await?)
        }
        Err(error) => Err(sdk_error(error).context(format!("looking up the group {name}"))),
    }
}

/// The bare SDK doing one activation's calls, with what a warm `stint serve` keeps between
/// requests (the instance, the permission set's ARN, the group id) looked up once.
struct Floor {
    ids: aws_sdk_identitystore::Client,
    sso: aws_sdk_ssoadmin::Client,
    store: String,
    account: String,
    group_id: String,
    instance: String,
    ps_arn: String,
}

impl Floor {
    async fn new(moto_url: &str, world: &World) -> anyhow::Result<Self> {
        let sdk = stint_config(moto_url).await;
        Ok(Self {
            ids: aws_sdk_identitystore::Client::new(&sdk),
            sso: aws_sdk_ssoadmin::Client::new(&sdk),
            store: world.store.clone(),
            account: world.nonprod.id.to_string(),
            group_id: world.nonprod_group.clone(),
            instance: world.instance_arn.clone(),
            ps_arn: world.ps_arn.clone(),
        })
    }

    /// GetUserId, IsMemberInGroups, ListAccountAssignments (every page, as stint reads them),
    /// CreateAccountAssignment (its status polled while `IN_PROGRESS`), timed; then, untimed,
    /// DeleteAccountAssignment, so stint's run for the same person makes the assignment anew.
    async fn activate(&self, (email, _): &(String, String)) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let user = self
            .ids
            .get_user_id()
            .identity_store_id(&self.store)
            .alternate_identifier(unique("emails.value", email)?)
            .send()
            .await
            .map_err(sdk_error)
            .context("GetUserId")?
            .user_id()
            .to_owned();
        let member = self
            .ids
            .is_member_in_groups()
            .identity_store_id(&self.store)
            .member_id(MemberId::UserId(user.clone()))
            .group_ids(&self.group_id)
            .send()
            .await
            .map_err(sdk_error)
            .context("IsMemberInGroups")?;
        if !member.results().iter().any(|r| r.membership_exists()) {
            bail!("floor: {email} is not in the persona's group");
        }
        let mut token = None;
        loop {
            let page = self
                .sso
                .list_account_assignments()
                .instance_arn(&self.instance)
                .account_id(&self.account)
                .permission_set_arn(&self.ps_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error)
                .context("ListAccountAssignments")?;
            if page
                .account_assignments()
                .iter()
                .any(|a| a.principal_id() == Some(user.as_str()))
            {
                bail!("floor: {email} is assigned already");
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let created = self
            .sso
            .create_account_assignment()
            .instance_arn(&self.instance)
            .target_id(&self.account)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&self.ps_arn)
            .principal_type(PrincipalType::User)
            .principal_id(&user)
            .send()
            .await
            .map_err(sdk_error)
            .context("CreateAccountAssignment")?;
        self.settle(created.account_assignment_creation_status(), true)
            .await?;
        let took = started.elapsed();

        let deleted = self
            .sso
            .delete_account_assignment()
            .instance_arn(&self.instance)
            .target_id(&self.account)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&self.ps_arn)
            .principal_type(PrincipalType::User)
            .principal_id(&user)
            .send()
            .await
            .map_err(sdk_error)
            .context("DeleteAccountAssignment (the floor's own)")?;
        self.settle(deleted.account_assignment_deletion_status(), false)
            .await?;
        Ok(took)
    }

    /// Polls a creation (or deletion) while moto says `IN_PROGRESS`; fails on `FAILED`.
    async fn settle(
        &self,
        first: Option<&AccountAssignmentOperationStatus>,
        creation: bool,
    ) -> anyhow::Result<()> {
        let mut status = first.and_then(|s| s.status()).cloned();
        let request = first.and_then(|s| s.request_id()).map(str::to_owned);
        let started = Instant::now();
        while let (Some(StatusValues::InProgress), Some(request)) = (&status, &request) {
            if started.elapsed() > SETTLE_BOUND {
                bail!("assignment request {request} still IN_PROGRESS");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            status = if creation {
                self.sso
                    .describe_account_assignment_creation_status()
                    .instance_arn(&self.instance)
                    .account_assignment_creation_request_id(request)
                    .send()
                    .await
                    .map_err(sdk_error)?
                    .account_assignment_creation_status()
                    .and_then(|s| s.status())
                    .cloned()
            } else {
                self.sso
                    .describe_account_assignment_deletion_status()
                    .instance_arn(&self.instance)
                    .account_assignment_deletion_request_id(request)
                    .send()
                    .await
                    .map_err(sdk_error)?
                    .account_assignment_deletion_status()
                    .and_then(|s| s.status())
                    .cloned()
            };
        }
        if status == Some(StatusValues::Failed) {
            bail!("assignment request {request:?} FAILED");
        }
        Ok(())
    }
}

/// Latencies of one kind of run that succeeded (measured runs only), and the failures.
#[derive(Default)]
struct Latencies {
    values: Vec<Duration>,
    errors: usize,
    first_errors: Vec<String>,
}

impl Latencies {
    fn record(&mut self, measured: bool, result: anyhow::Result<Duration>) {
        match result {
            Ok(took) if measured => self.values.push(took),
            Ok(_) => {}
            Err(error) => {
                self.errors += 1;
                if self.first_errors.len() < 3 {
                    self.first_errors.push(format!("{error:#}"));
                }
            }
        }
    }

    fn sorted(&self) -> Vec<Duration> {
        sorted(self.values.iter().copied())
    }
}

/// An approved run: the person's request, the approver's approve.
#[derive(Default)]
struct Approved {
    request: Latencies,
    approve: Latencies,
    pair: Latencies,
}

impl Approved {
    fn record(&mut self, measured: bool, result: anyhow::Result<(Duration, Duration)>) {
        match result {
            Ok((request, approve)) => {
                self.request.record(measured, Ok(request));
                self.approve.record(measured, Ok(approve));
                self.pair.record(measured, Ok(request + approve));
            }
            Err(error) => self.pair.record(measured, Err(error)),
        }
    }
}

/// AWS calls by operation and ledger writes summed over some requests of one kind.
#[derive(Default)]
struct Tally {
    requests: u64,
    calls: Counts,
    writes: Option<u64>,
}

impl Tally {
    fn add(&mut self, delta: &CallCounts) {
        self.requests += 1;
        for (key, n) in &delta.calls {
            *self.calls.entry(key.clone()).or_default() += n;
        }
        self.writes = match (self.writes, delta.ledger_writes) {
            (Some(sum), Some(n)) => Some(sum + n),
            (None, Some(n)) if self.requests == 1 => Some(n),
            _ => None,
        };
    }

    /// A per-request average: whole when it is, else to two places; `-` for none.
    fn per(&self, total: Option<u64>) -> String {
        match (total, self.requests) {
            (Some(total), requests) if requests > 0 => {
                if total % requests == 0 {
                    (total / requests).to_string()
                } else {
                    format!("{:.2}", total as f64 / requests as f64)
                }
            }
            _ => "-".to_owned(),
        }
    }

    fn op(&self, key: &(String, String)) -> String {
        self.per(Some(self.calls.get(key).copied().unwrap_or(0)))
    }

    fn total(&self) -> String {
        self.per(Some(self.calls.values().sum()))
    }
}

/// The counted requests: the first activation (cold caches), the measured ones, and the
/// grants to end.
#[derive(Default)]
struct Calls {
    first: Tally,
    auto: Tally,
    request: Tally,
    approve: Tally,
    expiry: Tally,
    /// Every grant the runs made (warm-up too), to revoke.
    grants: Vec<String>,
}

impl Calls {
    /// The warm-up is over: what the measured runs count starts now.
    fn reset_warm(&mut self) {
        self.auto = Tally::default();
        self.request = Tally::default();
        self.approve = Tally::default();
    }
}

#[derive(Default)]
struct Sequential {
    floor: Latencies,
    auto: Latencies,
    approved: Approved,
    calls: Calls,
}

/// What a run needs to reach the broker and mint tokens.
struct Bench<'a> {
    world: &'a World,
    issuer: &'a TestIssuer,
    client: &'a Client,
    http: &'a reqwest::Client,
    url: &'a str,
}

/// An ID token for `email` as the provider mints it after a fresh sign-in with MFA.
fn id_token(issuer: &TestIssuer, email: &str) -> Secret {
    let at = now();
    Secret::new(issuer.mint(&json!({
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": format!("sub-{email}"),
        "email": email,
        "iat": at,
        "exp": at + 300,
        "auth_time": at,
        "amr": ["pwd", "mfa", "hwk"],
    })))
}

fn ask(account: &Account, i: usize, ticket: bool) -> AccessRequestInput {
    AccessRequestInput {
        account: Some(account.name.to_string()),
        persona: Some(GROUP_TYPE.to_owned()),
        duration: Some(DURATION.to_owned()),
        reason: Some(format!("benchmark run {i}")),
        ticket: ticket.then(|| format!("CHG-{}", 1000 + i)),
        break_glass: None,
    }
}

/// The grant's id if the answer says it is active on an assignment stint made for it.
fn activated(answer: &AccessRequestResponse) -> anyhow::Result<String> {
    match &answer.grant {
        Some(grant) if grant.state == "provisioned" && grant.held.as_deref() == Some("created") => {
            Ok(grant.transaction_id.clone())
        }
        _ => bail!("not a new active assignment: {answer:?}"),
    }
}

impl Bench<'_> {
    async fn calls(&self) -> anyhow::Result<CallCounts> {
        aws_calls(self.http, self.url).await
    }

    /// Person `i` asks for nonprod (no approval): one request, timed; its calls counted.
    async fn auto_approved(&self, i: usize, calls: &mut Calls) -> anyhow::Result<Duration> {
        let (email, _) = &self.world.users[i];
        let token = id_token(self.issuer, email);
        let input = ask(&self.world.nonprod, i, false);
        let before = self.calls().await?;
        let started = Instant::now();
        let answer = self.client.request_access(&input, Some(&token)).await;
        let took = started.elapsed();
        let delta = self.calls().await?.since(&before);
        let grant = activated(&answer.context("POST /v1/requests (nonprod)")?)?;
        calls.grants.push(grant);
        if i == 0 {
            calls.first.add(&delta);
        }
        calls.auto.add(&delta);
        Ok(took)
    }

    /// Person `i` asks for prod, the approver approves: each timed, their calls counted.
    async fn approved(&self, i: usize, calls: &mut Calls) -> anyhow::Result<(Duration, Duration)> {
        let (email, _) = &self.world.users[i];
        let token = id_token(self.issuer, email);
        let input = ask(&self.world.prod, i, true);
        let before = self.calls().await?;
        let started = Instant::now();
        let asked = self.client.request_access(&input, Some(&token)).await;
        let request = started.elapsed();
        let between = self.calls().await?;
        let asked = asked.context("POST /v1/requests (prod)")?;
        if asked.request.state != "requested" || asked.grant.is_some() {
            bail!("prod was not left for approval: {asked:?}");
        }
        let token = id_token(self.issuer, APPROVER);
        let started = Instant::now();
        let approved = self.client.approve(&asked.request.id, Some(&token)).await;
        let approve = started.elapsed();
        let after = self.calls().await?;
        let grant = activated(&approved.context("POST /v1/requests/{id}/approve")?)?;
        calls.grants.push(grant);
        calls.request.add(&between.since(&before));
        calls.approve.add(&after.since(&between));
        Ok((request, approve))
    }

    /// Revokes `grant` (operator mode: no token), timed; its calls counted.
    async fn revoke(&self, grant: &str, tally: &mut Tally) -> anyhow::Result<Duration> {
        let before = self.calls().await?;
        let started = Instant::now();
        let done = self.client.revoke(grant, None).await;
        let took = started.elapsed();
        let delta = self.calls().await?.since(&before);
        let done = done.with_context(|| format!("POST /v1/transactions/{grant}/revoke"))?;
        if done.already_deprovisioned {
            bail!("revoke of {grant}: already ended");
        }
        tally.add(&delta);
        Ok(took)
    }

    /// People `0..n` ask for nonprod at once (tokens minted first, every task released
    /// together); then the assignments Identity Center holds.
    async fn concurrent(&self, n: usize) -> anyhow::Result<Together> {
        let n = n.min(self.world.users.len());
        let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (email, _) = &self.world.users[i];
            let token = id_token(self.issuer, email);
            let input = ask(&self.world.nonprod, i, false);
            let client = self.client.clone();
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                let started = Instant::now();
                let answer = client.request_access(&input, Some(&token)).await;
                let took = started.elapsed();
                answer
                    .map_err(anyhow::Error::from)
                    .and_then(|a| activated(&a))
                    .map(|_| took)
            });
        }
        let before = self.calls().await?;
        barrier.wait().await;
        let started = Instant::now();
        let mut latencies = Latencies::default();
        while let Some(joined) = tasks.join_next().await {
            latencies.record(true, joined.map_err(anyhow::Error::from).and_then(|r| r));
        }
        let wall = started.elapsed();
        let mut calls = Tally::default();
        calls.add(&self.calls().await?.since(&before));
        calls.requests = latencies.values.len() as u64;
        let nonprod = self.world.nonprod.id.to_string();
        let assigned = self
            .world
            .seeder
            .assigned_users(&nonprod, &self.world.ps_arn)
            .await
            .context("listing the assignments")?;
        let expected: BTreeSet<&str> = self.world.users[..n]
            .iter()
            .map(|(_, id)| id.as_str())
            .collect();
        Ok(Together {
            n,
            latencies,
            wall,
            calls,
            assigned,
            expected: expected.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// The concurrent run: its latencies, wall time and calls, and what Identity Center holds.
struct Together {
    n: usize,
    latencies: Latencies,
    wall: Duration,
    calls: Tally,
    assigned: Vec<String>,
    expected: BTreeSet<String>,
}

fn print_errors(errors: &[String]) {
    for message in errors.iter().take(3) {
        println!("  error: {message}");
    }
}

fn print_sequential(
    args: &PeopleArgs,
    seq: &Sequential,
    revokes: &Latencies,
    grants: usize,
    left: usize,
) {
    println!(
        "== People: request -> active over HTTP (one stint serve, SQLite ledger, [people] on a loopback OpenID provider; {} runs of each kind after {} warm-up runs, one person each, a new assignment each) ==",
        args.runs, args.warmup
    );
    print_latency_header();
    let auto = seq.auto.sorted();
    let floor = seq.floor.sorted();
    let rows = [
        ("auto-approved: POST request (nonprod)", &seq.auto),
        ("approved: request + approve (prod)", &seq.approved.pair),
        ("approved:   POST request (prod)", &seq.approved.request),
        ("approved:   POST approve (prod)", &seq.approved.approve),
        ("expiry as revoke (both accounts)", revokes),
    ];
    for (label, latencies) in rows {
        print_latency_row(label, &latencies.sorted(), latencies.errors);
    }
    print_errors(
        &[&seq.auto, &seq.approved.pair, revokes]
            .iter()
            .flat_map(|l| l.first_errors.clone())
            .collect::<Vec<_>>(),
    );
    println!();

    println!(
        "== Floor: the bare AWS SDK making one activation's 4 calls one after another (GetUserId, IsMemberInGroups, ListAccountAssignments, CreateAccountAssignment; SDK -> moto directly, same moto, same person just before stint's auto-approved run, its assignment then deleted untimed) =="
    );
    print_latency_header();
    print_latency_row("floor: 4 calls (nonprod)", &floor, seq.floor.errors);
    print_errors(&seq.floor.first_errors);
    let (stint_p50, floor_p50) = (percentile(&auto, 50.0), percentile(&floor, 50.0));
    let ratio = stint_p50 / floor_p50;
    println!(
        "  stint auto-approved / floor: p50 {stint_p50:.2} / {floor_p50:.2} ms = {ratio:.2}x; p99 {:.2} / {:.2} ms = {:.2}x",
        percentile(&auto, 99.0),
        percentile(&floor, 99.0),
        percentile(&auto, 99.0) / percentile(&floor, 99.0),
    );
    let measured = ratio.is_finite() && seq.floor.errors == 0 && seq.auto.errors == 0;
    println!(
        "Target: stint auto-approved request -> active p50 <= {TARGET_RATIO}x the floor's p50: {ratio:.2}x  {}",
        pass(measured && ratio <= TARGET_RATIO)
    );
    println!();

    let calls = &seq.calls;
    println!(
        "== People: AWS calls and ledger writes per request (GET /metrics around each; means over {} auto-approved, {} approved, {} revoked) ==",
        calls.auto.requests, calls.approve.requests, calls.expiry.requests
    );
    println!(
        "  expiry is measured as a revoke (operator mode), by the reaper's path (grant/end.rs); an early revoke also cuts live sessions (DescribeUser, Get/PutInlinePolicy, ProvisionPermissionSet): the reaper's expiry makes only the DeleteAccountAssignment"
    );
    let columns: [(&str, &Tally); 5] = [
        ("auto, 1st", &calls.first),
        ("auto", &calls.auto),
        ("request", &calls.request),
        ("approve", &calls.approve),
        ("expiry", &calls.expiry),
    ];
    let row = |label: &str, cells: Vec<String>| {
        println!(
            "  {label:<44} {}",
            cells
                .iter()
                .map(|c| format!("{c:>10}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    };
    row(
        "service / operation",
        columns.iter().map(|(name, _)| (*name).to_owned()).collect(),
    );
    let ops: BTreeSet<&(String, String)> = columns
        .iter()
        .flat_map(|(_, tally)| tally.calls.keys())
        .collect();
    for key in ops {
        row(
            &format!("{} {}", key.0, key.1),
            columns.iter().map(|(_, t)| t.op(key)).collect(),
        );
    }
    row(
        "AWS calls",
        columns.iter().map(|(_, t)| t.total()).collect(),
    );
    row(
        "ledger writes",
        columns.iter().map(|(_, t)| t.per(t.writes)).collect(),
    );
    println!(
        "  auto-approved activation: {} AWS calls, {} ledger writes; approved: {} + {} calls, {} + {} writes; expiry: {} calls, {} writes",
        calls.auto.total(),
        calls.auto.per(calls.auto.writes),
        calls.request.total(),
        calls.approve.total(),
        calls.request.per(calls.request.writes),
        calls.approve.per(calls.approve.writes),
        calls.expiry.total(),
        calls.expiry.per(calls.expiry.writes),
    );
    println!(
        "  ListAccountAssignments reads every page of the permission set's assignments on the account, one more each run (revoked only after the runs): past a page, two calls (the floor reads the same pages)"
    );
    println!(
        "  revoked {} of {grants} grants; assignments left on the nonprod account after: {left}",
        revokes.values.len()
    );
    println!();
}

fn print_concurrent(asked: usize, together: &Together) {
    let n = together.n;
    println!(
        "== People: {n} people ask at once (nonprod, auto-approved, {n} connections, released together{}) ==",
        if n < asked {
            ", fewer than asked: not enough people seeded"
        } else {
            ""
        }
    );
    print_latency_header();
    let values = together.latencies.sorted();
    print_latency_row(
        &format!("{n} requests at once"),
        &values,
        together.latencies.errors,
    );
    print_errors(&together.latencies.first_errors);
    println!(
        "  {} of {n} active, wall {:.2} s ({:.1} activations/s); {} AWS calls per activation",
        values.len(),
        together.wall.as_secs_f64(),
        values.len() as f64 / together.wall.as_secs_f64(),
        together.calls.total(),
    );
    let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &together.assigned {
        *rows.entry(user.as_str()).or_default() += 1;
    }
    let repeated = rows.values().filter(|&&count| count > 1).count();
    let missing = together
        .expected
        .iter()
        .filter(|u| !rows.contains_key(u.as_str()))
        .count();
    let others = rows
        .keys()
        .filter(|u| !together.expected.contains(**u))
        .count();
    let exact = together.assigned.len() == n && rows.len() == n && missing == 0 && others == 0;
    println!(
        "Check: Identity Center (ListAccountAssignments through the SDK) holds {} rows for {} distinct users: {n} expected, {missing} missing, {repeated} repeated, {others} not asked for  {}",
        together.assigned.len(),
        rows.len(),
        pass(exact && values.len() == n)
    );
    println!();
}
