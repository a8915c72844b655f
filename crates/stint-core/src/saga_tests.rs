//! Deterministic fault injection: the provisioning and deprovisioning sagas fail or crash at
//! every step in turn; after a reaper pass no role exists without a live transaction and no
//! transaction is left mid-way. Also the reaper's own rules, with a test clock.

use std::time::Duration;

use crate::error::ErrorCode;
use crate::grant::{Caller, Kind, ReapSettings};
use crate::ids::TransactionId;
use crate::pipeline::{DeprovisionAsk, JobContext, ProvisionAsk, Provisioned};
use crate::record::State;
use crate::testkit::{Fault, World};

fn request() -> ProvisionAsk<'static> {
    ProvisionAsk {
        email: Some("alice@example.com"),
        branch: Some("main"),
        target_aws_account: Some("nonprod"),
        target_aws_account_id: Some("222222222222"),
        group_type: None,
    }
}

/// Every way a step can go wrong.
const FAULTS: [Fault; 4] = [
    Fault::Fail,
    Fault::FailAfter,
    Fault::CrashBefore,
    Fault::CrashAfter,
];

fn operator() -> Caller {
    Caller::operator("test")
}

/// Runs `saga`, dropping it if it hangs: a crashed process.
async fn run<T>(saga: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(Duration::from_millis(200), saga)
        .await
        .ok()
}

/// After the reaper has run: every role belongs to a live grant, nothing is mid-way, and the
/// ledger's chain is intact.
async fn assert_clean(world: &World, context: &str) {
    world.plan.disarm();
    world.clock.advance(Duration::from_secs(16 * 60));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.errors, 0, "{context}: {report:?}");
    let now = world.clock.0.lock().map(|n| *n).unwrap();
    let txns = world.transactions();
    for (account, name) in world.iam.role_names() {
        let live = txns.iter().any(|t| {
            t.kind == Kind::Provision
                && t.role_name().is_some_and(|n| n.as_str() == name)
                && *t.account_id() == account
                && t.state == State::Provisioned
                && t.expires_at.is_some_and(|at| at > now)
        });
        assert!(
            live,
            "{context}: role {name} left without a live transaction: {txns:#?}"
        );
    }
    for t in &txns {
        assert!(
            !matches!(t.state, State::Processing | State::Deprovisioning),
            "{context}: {} left {}",
            t.id,
            t.state
        );
    }
    assert_eq!(world.verify_audit().await.unwrap().fault, None, "{context}");
}

#[tokio::test]
async fn provisioning_fails_or_crashes_at_every_step_and_leaves_nothing() {
    let clean = World::new();
    clean.provision(&request(), &operator()).await.unwrap();
    let steps = clean.plan.steps_taken();
    // Every port call is a step: two ledger writes, two directory reads, create, grant, issue.
    assert_eq!(steps, 7, "{steps} steps");
    for step in 0..steps {
        for fault in FAULTS {
            let world = World::new();
            world.plan.arm(step, fault);
            let outcome = run(world.provision(&request(), &operator())).await;
            if matches!(fault, Fault::Fail | Fault::FailAfter) {
                assert!(
                    matches!(outcome, Some(Err(_))),
                    "step {step}: a failure must be reported"
                );
            }
            assert_clean(&world, &format!("provision, {fault:?} at step {step}")).await;
        }
    }
}

fn keyed() -> JobContext {
    JobContext {
        job: None,
        idempotency_key: Some("retry-1".to_owned()),
    }
}

#[tokio::test]
async fn a_retry_under_the_same_key_gets_the_first_grant_for_one_more_write() {
    let world = World::new();
    let first = world
        .provision_in(&request(), &operator(), &keyed())
        .await
        .unwrap();
    let again = world
        .provision_in(&request(), &operator(), &keyed())
        .await
        .unwrap();
    assert_eq!(
        (&again.transaction_id, &again.role_arn, again.expires_at),
        (&first.transaction_id, &first.role_arn, first.expires_at)
    );
    assert!(again.credentials.is_some(), "a fresh session");
    assert_eq!(world.iam.role_names().len(), 1);
    // The refused intent writes nothing; the new session is one event on the grant.
    assert_eq!(world.ledger_writes(), 3);
    let mut other = request();
    other.branch = Some("release");
    let reused = world.provision_in(&other, &operator(), &keyed()).await;
    assert_eq!(
        reused.map(|_| ()).unwrap_err().code,
        ErrorCode::IdempotencyKeyReused
    );
    assert_eq!(world.iam.role_names().len(), 1);
}

/// A retry after the first attempt failed or crashed at any step: never a second role; the
/// retry gets the first grant, or the first attempt's failure, or (if the first left no
/// intent) a grant of its own; and the reaper still leaves nothing behind.
#[tokio::test]
async fn a_retry_after_a_fault_at_every_step_never_makes_a_second_role() {
    for step in 0..7 {
        for fault in FAULTS {
            let context = format!("{fault:?} at step {step}");
            let world = World::new();
            world.plan.arm(step, fault);
            let first = run(world.provision_in(&request(), &operator(), &keyed())).await;
            world.plan.disarm();
            let retry = world.provision_in(&request(), &operator(), &keyed()).await;
            assert!(world.iam.role_names().len() <= 1, "{context}");
            match (&first, &retry) {
                (Some(Ok(first)), Ok(retry)) => {
                    assert_eq!(first.transaction_id, retry.transaction_id, "{context}")
                }
                // The recorded failure, or the first attempt's intent still mid-way (it
                // landed but its answer was lost) until the reaper's sweep ends it.
                (Some(Err(first)), Err(retry)) => assert!(
                    retry.code == first.code || retry.code == ErrorCode::InProgress,
                    "{context}: {first:?} then {retry:?}"
                ),
                (_, Ok(retry)) => {
                    let grant = world.grant(&retry.transaction_id).await;
                    assert_eq!(grant.state, State::Provisioned, "{context}");
                }
                (_, Err(retry)) => assert!(
                    matches!(
                        retry.code,
                        ErrorCode::InProgress | ErrorCode::NotProvisioned
                    ) || first.is_some(),
                    "{context}: {retry:?}"
                ),
            }
            assert_clean(&world, &context).await;
        }
    }
}

#[tokio::test]
async fn deprovisioning_fails_or_crashes_at_every_step_and_leaves_nothing() {
    let count = World::new();
    let granted = count.provision(&request(), &operator()).await.unwrap();
    count.plan.disarm();
    count
        .deprovision(&deprovision_input(&granted), &operator())
        .await
        .unwrap();
    let steps = count.plan.steps_taken();
    for step in 0..steps {
        for fault in FAULTS {
            let world = World::new();
            let granted = world.provision(&request(), &operator()).await.unwrap();
            world.plan.arm(step, fault);
            run(world.deprovision(&deprovision_input(&granted), &operator())).await;
            let context = format!("deprovision, {fault:?} at step {step}");
            assert_clean(&world, &context).await;
            // The grant is either still live with its role, or gone with its role.
            let txn = world.grant(&granted.transaction_id).await;
            let has_role = !world.iam.role_names().is_empty();
            assert_eq!(
                has_role,
                txn.state == State::Provisioned,
                "{context}: {txn:?}"
            );
        }
    }
}

fn deprovision_input(granted: &Provisioned) -> DeprovisionAsk<'_> {
    DeprovisionAsk {
        transaction_id: Some(granted.transaction_id.as_str()),
        target_aws_account: Some("nonprod"),
        role_arn: Some(&granted.role_arn),
    }
}

#[tokio::test]
async fn the_reaper_ends_expired_grants_and_leaves_live_ones() {
    let world = World::new();
    let old = world.provision(&request(), &operator()).await.unwrap();
    world.clock.advance(Duration::from_secs(50 * 60));
    let young = world.provision(&request(), &operator()).await.unwrap();
    world.clock.advance(Duration::from_secs(11 * 60)); // old is 61 minutes old, TTL 1 h
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        (report.expired, report.orphans, report.errors),
        (1, 0, 0),
        "{report:?}"
    );
    let state = |id: &TransactionId| {
        let txns = world.transactions();
        txns.iter().find(|t| &t.id == id).map(|t| t.state)
    };
    assert_eq!(state(&old.transaction_id), Some(State::Deprovisioned));
    assert_eq!(state(&young.transaction_id), Some(State::Provisioned));
    let roles: Vec<_> = world.iam.role_names().into_iter().map(|(_, n)| n).collect();
    assert_eq!(roles, [young.role_name.to_string()]);
    let events = world
        .cases
        .journal
        .events(&old.transaction_id)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.actor == "reaper"));
}

#[tokio::test]
async fn two_reapers_at_once_end_each_grant_once() {
    let world = World::new();
    for _ in 0..5 {
        world.provision(&request(), &operator()).await.unwrap();
    }
    world.clock.advance(Duration::from_secs(2 * 3600));
    let settings = ReapSettings::default();
    let (a, b) = tokio::join!(world.reap(&settings), world.reap(&settings));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expired + b.expired, 5, "{a:?} {b:?}");
    let records = world
        .transactions()
        .into_iter()
        .filter(|t| t.kind == Kind::Deprovision)
        .count();
    assert_eq!(records, 5, "a grant was deprovisioned twice");
    assert!(world.iam.role_names().is_empty());
}

#[tokio::test]
async fn an_orphaned_role_is_swept_and_recorded() {
    let world = World::new();
    let granted = world.provision(&request(), &operator()).await.unwrap();
    // The ledger loses the grant (say, restored from an older backup): its role is an orphan.
    world.ledger_forget(&granted.transaction_id);
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.orphans, 0, "swept inside the grace period");
    world.clock.advance(Duration::from_secs(6 * 60));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.orphans, 1, "{report:?}");
    assert!(world.iam.role_names().is_empty());
    let record = world.grant(&granted.transaction_id).await;
    assert_eq!(
        (record.kind, record.state),
        (Kind::Orphan, State::Deprovisioned)
    );
}

#[tokio::test]
async fn an_early_revoke_denies_sessions_before_deleting_the_role() {
    let world = World::new();
    let granted = world.provision(&request(), &operator()).await.unwrap();
    let done = world
        .revoke(&granted.transaction_id, &operator())
        .await
        .unwrap();
    assert!(!done.already_deprovisioned);
    let journal = world.iam.journal.lock().unwrap().clone();
    let role = granted.role_name.to_string();
    let revoke = journal
        .iter()
        .position(|l| *l == format!("put stint-revoke on {role}"));
    let delete = journal.iter().position(|l| *l == format!("delete {role}"));
    assert!(revoke.is_some() && revoke < delete, "{journal:?}");
}

#[tokio::test]
async fn a_grant_costs_two_ledger_writes_to_provision_and_two_to_end() {
    let world = World::new();
    let granted = world.provision(&request(), &operator()).await.unwrap();
    assert_eq!(world.ledger_writes(), 2, "provisioning");
    world
        .deprovision(&deprovision_input(&granted), &operator())
        .await
        .unwrap();
    assert_eq!(world.ledger_writes(), 4, "deprovisioning");
    let revoked = world.provision(&request(), &operator()).await.unwrap();
    world
        .revoke(&revoked.transaction_id, &operator())
        .await
        .unwrap();
    assert_eq!(
        world.ledger_writes(),
        8,
        "revoking, sessions cut off on the way"
    );
    let events = world
        .cases
        .journal
        .events(&granted.transaction_id)
        .await
        .unwrap();
    let actions: Vec<_> = events
        .iter()
        .map(|e| (e.version, e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (1, "requested"),
            (2, "authorized"),
            (3, "role_created"),
            (4, "provisioned"),
            (5, "deprovision_started"),
            (6, "deprovisioned"),
        ]
    );
    assert_eq!(world.verify_audit().await.unwrap().fault, None);
}
