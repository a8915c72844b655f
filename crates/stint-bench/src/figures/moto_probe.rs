//! Moto's own latency per AWS operation, after the load (part of figures 1-4): the operations
//! stint makes, called straight through the SDK one at a time in the broker's own account
//! (roles `/bench/bench-probe-*`, deleted again), plus the calls stint sends together timed
//! together; then where the time of one warm run goes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use serde_json::json;
use tokio::task::JoinSet;

use crate::aws::{probe_config, sdk_error};
use crate::catalog;
use crate::client::{BRANCH, EMAIL, GROUP_TYPE, Target};
use crate::metrics::{Counts, merge_counts};
use crate::runs::{Outcome, Part, Run};
use crate::stats::{mean_ms, percentile, sorted};

/// Durations by operation (or by a set of operations sent together).
pub type Probe = BTreeMap<&'static str, Vec<Duration>>;

const PAIR_GRANT: &str = "[AttachRolePolicy+PutRolePolicy]";
const PAIR_LIST: &str = "[ListAttached+ListRolePolicies]";
const PAIR_REMOVE: &str = "[DetachRolePolicy+DeleteRolePolicy]";

async fn timed<T, E: std::error::Error + Send + Sync + 'static>(
    probe: &mut Probe,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let out = call
        .await
        .map_err(|e| anyhow!("{operation}: {}", stint_server::ops::error_chain(&e)))?;
    probe.entry(operation).or_default().push(started.elapsed());
    Ok(out)
}

/// IAM calls of one step of a saga, sent one at a time (each timed under its operation) or
/// together, as stint sends them (timed as one, under the set's name).
struct Batch<'p> {
    probe: &'p mut Probe,
    /// `Some(name)`: sent together.
    together: Option<&'static str>,
    calls: JoinSet<anyhow::Result<()>>,
    started: Instant,
}

impl<'p> Batch<'p> {
    fn new(probe: &'p mut Probe, together: Option<&'static str>) -> Self {
        Self {
            probe,
            together,
            calls: JoinSet::new(),
            started: Instant::now(),
        }
    }

    async fn call<T, E>(
        &mut self,
        operation: &'static str,
        sent: impl Future<Output = Result<T, E>> + Send + 'static,
    ) -> anyhow::Result<()>
    where
        T: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        if self.together.is_some() {
            self.calls
                .spawn(async move { sent.await.map(drop).map_err(sdk_error) });
        } else {
            timed(self.probe, operation, sent).await?;
        }
        Ok(())
    }

    /// Waits for calls sent together and records their combined time.
    async fn finish(mut self) -> anyhow::Result<()> {
        let Some(name) = self.together else {
            return Ok(());
        };
        while let Some(joined) = self.calls.join_next().await {
            joined.context(name)?.context(name)?;
        }
        self.probe
            .entry(name)
            .or_default()
            .push(self.started.elapsed());
        Ok(())
    }
}

/// What one role's grant and removal need.
struct Role<'a> {
    iam: &'a aws_sdk_iam::Client,
    name: &'a str,
    managed: &'a [String],
    inline: &'a str,
}

impl Role<'_> {
    /// AttachRolePolicy for each managed policy and PutRolePolicy, and then ListAttached +
    /// ListRolePolicies, then DetachRolePolicy for each and DeleteRolePolicy: three steps, each
    /// one batch (`together`: the name each step's set is timed under, or one at a time).
    async fn grant_and_remove(
        &self,
        probe: &mut Probe,
        together: [Option<&'static str>; 3],
    ) -> anyhow::Result<()> {
        let (iam, role) = (self.iam, self.name);
        let mut batch = Batch::new(probe, together[0]);
        for arn in self.managed {
            let call = iam.attach_role_policy().role_name(role).policy_arn(arn);
            batch.call("AttachRolePolicy", call.send()).await?;
        }
        let call = iam
            .put_role_policy()
            .role_name(role)
            .policy_name("stint-grant")
            .policy_document(self.inline);
        batch.call("PutRolePolicy", call.send()).await?;
        batch.finish().await?;

        let mut batch = Batch::new(probe, together[1]);
        let call = iam.list_attached_role_policies().role_name(role);
        batch.call("ListAttachedRolePolicies", call.send()).await?;
        let call = iam.list_role_policies().role_name(role);
        batch.call("ListRolePolicies", call.send()).await?;
        batch.finish().await?;

        let mut batch = Batch::new(probe, together[2]);
        for arn in self.managed {
            let call = iam.detach_role_policy().role_name(role).policy_arn(arn);
            batch.call("DetachRolePolicy", call.send()).await?;
        }
        let call = iam
            .delete_role_policy()
            .role_name(role)
            .policy_name("stint-grant");
        batch.call("DeleteRolePolicy", call.send()).await?;
        batch.finish().await?;

        timed(
            probe,
            "DeleteRole",
            iam.delete_role().role_name(role).send(),
        )
        .await?;
        Ok(())
    }
}

fn tag(key: &str, value: &str) -> anyhow::Result<aws_sdk_iam::types::Tag> {
    Ok(aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()?)
}

/// Calls moto directly through the SDK, the operations stint makes, one at a time, `rounds`
/// times, in the broker's own account (roles `/bench/bench-probe-*`, deleted again).
pub async fn probe(moto_url: &str, catalog_path: &Path, rounds: usize) -> anyhow::Result<Probe> {
    let (_, catalog) = catalog::load(catalog_path)?;
    let account = catalog::account(&catalog, &Target::example().account_name)?;
    let persona = catalog::persona(&catalog, GROUP_TYPE)?;
    let managed = persona
        .grant(account.environment)
        .managed_policies(&account.id);
    let group_name = catalog.group_name(&account.id, &persona.name);
    let store = catalog.identity_store_id.clone();
    let provisioner = format!(
        "arn:aws:iam::{}:role/{}",
        account.id, catalog.provisioner_role_name
    );

    let sdk = probe_config(moto_url).await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let ids = aws_sdk_identitystore::Client::new(&sdk);
    let unique = |path: &str, value: &str| -> anyhow::Result<AlternateIdentifier> {
        Ok(AlternateIdentifier::UniqueAttribute(
            UniqueAttribute::builder()
                .attribute_path(path)
                .attribute_value(value.into())
                .build()?,
        ))
    };
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": catalog.pipeline_principal_arn },
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            "Condition": { "StringEquals": { "sts:SourceIdentity": EMAIL } },
        }],
    })
    .to_string();
    let inline = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*" }],
    })
    .to_string();

    let mut probe = Probe::new();
    for round in 0..rounds {
        timed(
            &mut probe,
            "GetCallerIdentity",
            sts.get_caller_identity().send(),
        )
        .await?;
        timed(
            &mut probe,
            "AssumeRole",
            sts.assume_role()
                .role_arn(&provisioner)
                .role_session_name("bench-probe")
                .duration_seconds(900)
                .send(),
        )
        .await?;
        let user = timed(
            &mut probe,
            "GetUserId",
            ids.get_user_id()
                .identity_store_id(&store)
                .alternate_identifier(unique("emails.value", EMAIL)?)
                .send(),
        )
        .await?;
        let group = timed(
            &mut probe,
            "GetGroupId",
            ids.get_group_id()
                .identity_store_id(&store)
                .alternate_identifier(unique("displayName", &group_name)?)
                .send(),
        )
        .await?;
        timed(
            &mut probe,
            "IsMemberInGroups",
            ids.is_member_in_groups()
                .identity_store_id(&store)
                .member_id(MemberId::UserId(user.user_id().to_owned()))
                .group_ids(group.group_id())
                .send(),
        )
        .await?;

        let role = format!("bench-probe-{}-{round}", std::process::id());
        timed(
            &mut probe,
            "CreateRole",
            iam.create_role()
                .path("/bench/")
                .role_name(&role)
                .assume_role_policy_document(&trust)
                .description("stint bench probe")
                .max_session_duration(3600)
                .tags(tag("stint:transaction-id", &role)?)
                .tags(tag("stint:requester", EMAIL)?)
                .tags(tag("stint:branch", BRANCH)?)
                .tags(tag("stint:group-type", GROUP_TYPE)?)
                .tags(tag("stint:expires-at", "2099-01-01T00:00:00Z")?)
                .send(),
        )
        .await?;
        let one_at_a_time = Role {
            iam: &iam,
            name: &role,
            managed: &managed,
            inline: &inline,
        };
        one_at_a_time
            .grant_and_remove(&mut probe, [None; 3])
            .await?;

        // The calls stint sends together, timed together: does moto overlap them?
        let role = format!("bench-pair-{}-{round}", std::process::id());
        iam.create_role()
            .path("/bench/")
            .role_name(&role)
            .assume_role_policy_document(&trust)
            .send()
            .await
            .map_err(sdk_error)?;
        let together = Role {
            name: &role,
            ..one_at_a_time
        };
        together
            .grant_and_remove(
                &mut probe,
                [Some(PAIR_GRANT), Some(PAIR_LIST), Some(PAIR_REMOVE)],
            )
            .await?;
    }
    Ok(probe)
}

/// Per-operation moto latency, and what the counted calls of one warm run add up to.
pub fn print(
    probe: &Probe,
    rounds: usize,
    warm_prov: &Counts,
    warm_deprov: &Counts,
    seq: &Outcome,
) {
    println!(
        "== Moto's own latency per operation (SDK -> moto directly, {rounds} rounds, one at a time) =="
    );
    let header = ["operation", "p50 ms", "p99 ms", "mean ms"];
    println!(
        "  {:<28} {:>8} {:>8} {:>8}",
        header[0], header[1], header[2], header[3]
    );
    let mut p50s = BTreeMap::new();
    for (operation, values) in probe {
        let values = sorted(values.iter().copied());
        let p50 = percentile(&values, 50.0);
        p50s.insert(*operation, p50);
        println!(
            "  {:<28} {:>8.2} {:>8.2} {:>8.2}",
            operation,
            p50,
            percentile(&values, 99.0),
            mean_ms(&values)
        );
    }
    // Sum of (calls x moto p50) over the counted calls of one warm provisioning / deprovisioning.
    let aws_ms = |counts: &Counts| -> (f64, Vec<String>) {
        let mut sum = 0.0;
        let mut unknown = Vec::new();
        for ((_, operation), n) in counts {
            match p50s.get(operation.as_str()) {
                Some(p50) => sum += p50 * *n as f64,
                None => unknown.push(operation.clone()),
            }
        }
        (sum, unknown)
    };
    let stint_p50 = |pick: Part| percentile(&seq.sorted(pick), 50.0);
    println!("  Where the time of one warm run goes (concurrency 1):");
    for (label, counts, p50) in [
        ("provision", warm_prov, stint_p50(|r| r.provision)),
        ("deprovision", warm_deprov, stint_p50(|r| r.deprovision)),
        (
            "provision+deprovision",
            &merge_counts(warm_prov, warm_deprov),
            stint_p50(Run::total),
        ),
    ] {
        let (aws, unknown) = aws_ms(counts);
        let unknown = if unknown.is_empty() {
            String::new()
        } else {
            format!(" (not probed: {})", unknown.join(", "))
        };
        println!(
            "  {label:<22} p50 {p50:>7.2} ms; {:>2} AWS calls x moto p50 = {aws:>7.2} ms (if made one after another){unknown}; rest {:>7.2} ms",
            counts.values().sum::<u64>(),
            p50 - aws
        );
    }
    println!(
        "  (stint sends some calls together, so the sum of moto p50s is an upper bound on the time spent waiting for moto, and the rest a lower bound on stint's own time.)"
    );

    // The same, in stint's order with the calls it sends together timed together; only when
    // the counted calls are the ones stint-aws makes today (else its shape has changed).
    let names = |counts: &Counts| -> BTreeSet<String> {
        counts
            .keys()
            .map(|(_, operation)| operation.clone())
            .collect()
    };
    let expect = |list: &[&str]| -> BTreeSet<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    };
    let prov_shape = [
        "GetUserId",
        "IsMemberInGroups",
        "CreateRole",
        "AttachRolePolicy",
        "PutRolePolicy",
        "AssumeRole",
    ];
    // Deprovisioning removes what stint put there without listing it first.
    let deprov_shape = ["DetachRolePolicy", "DeleteRolePolicy", "DeleteRole"];
    let path =
        |steps: &[&str]| -> Option<f64> { steps.iter().map(|step| p50s.get(step).copied()).sum() };
    // The grant's session is opened while its permissions go on: the slower of the two.
    let together = match (p50s.get(PAIR_GRANT), p50s.get("AssumeRole")) {
        (Some(grant), Some(assume)) => Some(grant.max(*assume)),
        _ => None,
    };
    let prov_path = path(&["GetUserId", "IsMemberInGroups", "CreateRole"])
        .zip(together)
        .map(|(before, together)| before + together);
    let deprov_path = path(&[PAIR_REMOVE, "DeleteRole"]);
    match (prov_path, deprov_path) {
        (Some(prov), Some(deprov))
            if names(warm_prov) == expect(&prov_shape)
                && names(warm_deprov) == expect(&deprov_shape) =>
        {
            println!("  In stint's order, the calls it sends together timed together (moto p50s):");
            for (label, aws, p50) in [
                ("provision", prov, stint_p50(|r| r.provision)),
                ("deprovision", deprov, stint_p50(|r| r.deprovision)),
                (
                    "provision+deprovision",
                    prov + deprov,
                    stint_p50(Run::total),
                ),
            ] {
                println!(
                    "  {label:<22} p50 {p50:>7.2} ms; waiting for moto {aws:>7.2} ms; rest (stint, HTTP, SQLite) {:>7.2} ms",
                    p50 - aws
                );
            }
        }
        _ => println!(
            "  (stint's AWS call pattern is not the one this probe mirrors; the in-order estimate is skipped.)"
        ),
    }
    println!(
        "  (The probe runs after the load, not during it: a negative rest means moto answered more slowly then, i.e. the machine was busier. The CPU times per run above do not have that problem.)"
    );
    println!();
}
