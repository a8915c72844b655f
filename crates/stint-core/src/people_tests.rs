//! People's access over the in-memory ports: asking, approving under the rules, the grant as
//! an Identity Center assignment shared by overlapping grants, standing access left alone, a
//! failed assignment never shown as active, expiry through the reaper, and a crash at every
//! step of an activation leaving no assignment without a live grant after a reaper pass.

use std::time::Duration;

use time::OffsetDateTime;

use crate::access::{AccessAsk, Decided, PeopleAccess};
use crate::error::ErrorCode;
use crate::grant::{Caller, Ending, Joined, REAPER, ReapSettings};
use crate::ids::Email;
use crate::ports::AssignmentStatus;
use crate::record::{RequestState, State};
use crate::subject::{Actor, PersonClaims};
use crate::testkit::{Fault, World};

fn person(world: &World, email: &str, amr: &[&str]) -> Caller {
    let now: OffsetDateTime = world.clock.0.lock().map(|n| *n).unwrap();
    Caller::Person(Box::new(PersonClaims {
        email: Email::parse(email).unwrap(),
        subject: format!("sub-{email}"),
        amr: amr.iter().map(|a| (*a).to_owned()).collect(),
        acr: None,
        auth_time: Some(now),
    }))
}

fn people(world: &World) -> &PeopleAccess {
    world.cases.people.as_ref().unwrap()
}

fn nonprod(duration: &'static str) -> AccessAsk<'static> {
    AccessAsk {
        account: Some("nonprod"),
        persona: Some("Operators"),
        duration: Some(duration),
        reason: Some("rotate the cache nodes"),
        ticket: None,
        break_glass: false,
    }
}

fn prod() -> AccessAsk<'static> {
    AccessAsk {
        account: Some("prod"),
        persona: Some("Operators"),
        ..nonprod("1h")
    }
}

async fn end(world: &World, decided: &Decided) {
    let grant = decided.grant.clone().unwrap();
    world
        .cases
        .ender
        .end(grant, &Actor(REAPER.to_owned()), Ending::REVOKED)
        .await
        .unwrap();
}

#[tokio::test]
async fn nonprod_access_starts_at_once_and_the_reaper_ends_it_at_expiry() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let decided = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    assert_eq!(decided.request.state, RequestState::Approved);
    let grant = decided.grant.as_ref().unwrap();
    assert_eq!(grant.state, State::Provisioned);
    assert_eq!(decided.joined, Some(Joined::Created));
    assert_eq!(world.assigner.held().len(), 1);
    assert_eq!(world.assigner.held()[0].user_id, "u-alice");

    world.clock.advance(Duration::from_secs(3601));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!((report.expired, report.errors), (1, 0), "{report:?}");
    assert!(
        world.assigner.held().is_empty(),
        "AWS has no expiry: the reaper removed it"
    );
    assert_eq!(world.grant(&grant.id).await.state, State::Deprovisioned);
    assert_eq!(world.verify_audit().await.unwrap().fault, None);
}

#[tokio::test]
async fn overlapping_grants_share_one_assignment_and_the_last_to_end_removes_it() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let first = people(&world).ask(&nonprod("2h"), &alice).await.unwrap();
    let second = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    assert_eq!(
        (first.joined, second.joined),
        (Some(Joined::Created), Some(Joined::Shared))
    );
    let calls = world.assigner.calls.lock().unwrap().clone();
    assert_eq!(calls, ["assign u-alice"], "one assignment for both");

    // The shorter grant ends first: alice keeps her access through the longer one.
    end(&world, &second).await;
    assert_eq!(
        world.assigner.held().len(),
        1,
        "the other grant still holds it"
    );
    end(&world, &first).await;
    assert!(
        world.assigner.held().is_empty(),
        "the last grant removed it"
    );
}

#[tokio::test]
async fn standing_access_is_recorded_as_held_and_never_removed() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    // Someone assigned it by hand before stint: find it as stint would and keep it.
    let decided = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    end(&world, &decided).await;
    let assignment = decided.grant.as_ref().unwrap().assignment().unwrap();
    world
        .assigner
        .assignments
        .lock()
        .unwrap()
        .insert(assignment);
    let standing = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    assert_eq!(standing.joined, Some(Joined::Standing));
    end(&world, &standing).await;
    assert_eq!(
        world.assigner.held().len(),
        1,
        "stint never removes what it did not make"
    );
}

#[tokio::test]
async fn production_needs_two_approvers_neither_the_requester_nor_an_outsider() {
    let world = World::new();
    world.directory.members.lock().unwrap().insert(
        "Approvers".into(),
        vec!["u-bob".into(), "u-carol".into(), "u-alice".into()],
    );
    let alice = person(&world, "alice@example.com", &["pwd", "mfa"]);
    let asked = people(&world).ask(&prod(), &alice).await.unwrap();
    assert_eq!(asked.request.state, RequestState::Requested);
    assert!(world.assigner.held().is_empty());
    let id = asked.request.id.clone();
    let access = people(&world);
    let code = |r: Result<Decided, crate::error::BrokerError>| r.unwrap_err().code;

    // Alice is an approver herself, and still cannot approve her own request.
    assert_eq!(
        code(access.approve(&id, &alice, None).await),
        ErrorCode::SelfApproval
    );
    let dave = person(&world, "dave@example.com", &["mfa"]);
    assert_eq!(
        code(access.approve(&id, &dave, None).await),
        ErrorCode::NotAnApprover
    );
    let bob_no_mfa = person(&world, "bob@example.com", &["pwd"]);
    assert_eq!(
        code(access.approve(&id, &bob_no_mfa, None).await),
        ErrorCode::MfaRequired
    );
    let bob = person(&world, "bob@example.com", &["mfa"]);
    let once = access.approve(&id, &bob, None).await.unwrap();
    assert_eq!(
        (once.request.state, once.grant.is_none()),
        (RequestState::Requested, true)
    );
    assert_eq!(
        code(access.approve(&id, &bob, None).await),
        ErrorCode::AlreadyApproved
    );
    assert!(
        world.assigner.held().is_empty(),
        "nothing before the last approval"
    );
    let carol = person(&world, "carol@example.com", &["mfa"]);
    let approved = access
        .approve(&id, &carol, Some("  checked the change  "))
        .await
        .unwrap();
    assert_eq!(
        approved.request.approvals[1].comment.as_deref(),
        Some("checked the change"),
        "kept, trimmed"
    );
    assert_eq!(approved.request.state, RequestState::Approved);
    assert_eq!(approved.grant.unwrap().state, State::Provisioned);
    assert_eq!(world.assigner.held().len(), 1);
    assert_eq!(
        code(access.approve(&id, &carol, None).await),
        ErrorCode::NotPending
    );
}

#[tokio::test]
async fn refusals_change_nothing() {
    let world = World::new();
    world.directory.members.lock().unwrap().insert(
        "Acme_Platform_222222222222_Operators".into(),
        vec!["u-alice".into()],
    );
    let access = people(&world);
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let mallory = person(&world, "mallory@example.com", &["pwd", "mfa"]);
    let cases = [
        (
            access.ask(&nonprod("5h"), &alice).await,
            ErrorCode::DurationTooLong,
        ),
        (
            access.ask(&nonprod("1h"), &mallory).await,
            ErrorCode::NotEligible,
        ),
        (access.ask(&prod(), &alice).await, ErrorCode::MfaRequired),
        (
            access
                .ask(
                    &AccessAsk {
                        reason: Some(" "),
                        ..prod()
                    },
                    &person(&world, "alice@example.com", &["mfa"]),
                )
                .await,
            ErrorCode::JustificationRequired,
        ),
        (
            access.ask(&nonprod("1h"), &Caller::operator("cli")).await,
            ErrorCode::NotAPerson,
        ),
    ];
    for (result, expected) in cases {
        assert_eq!(result.unwrap_err().code, expected);
    }
    assert_eq!(world.ledger_writes(), 0, "nothing recorded");
    assert!(world.assigner.held().is_empty());
}

#[tokio::test]
async fn a_failed_assignment_ends_the_grant_failed_and_holds_nothing() {
    let world = World::new();
    *world.assigner.outcome.lock().unwrap() = Some(AssignmentStatus::Failed {
        reason: "the permission set is not provisioned to the account".into(),
    });
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let error = people(&world)
        .ask(&nonprod("1h"), &alice)
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::AssignmentFailed);
    assert!(
        error.message.contains("not provisioned to the account"),
        "{error}"
    );
    let grants = world.transactions();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].state, State::Failed, "never shown as active");
    assert!(world.assigner.held().is_empty());
    // The next try starts clean: the holding was released.
    *world.assigner.outcome.lock().unwrap() = None;
    let decided = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    assert_eq!(decided.joined, Some(Joined::Created));
}

/// Runs `ask` once cleanly to count its port calls, then again with `fault` at each of
/// them, each time followed by a reaper pass; `check` looks at each world after.
async fn fault_every_step_of(ask: AccessAsk<'static>, check: impl Fn(&World, &str)) {
    let clean = World::new();
    let alice = person(&clean, "alice@example.com", &["pwd"]);
    people(&clean).ask(&ask, &alice).await.unwrap();
    let steps = clean.plan.steps_taken();
    assert!(steps >= 5, "{steps} steps");
    for step in 0..steps {
        for fault in [
            Fault::Fail,
            Fault::FailAfter,
            Fault::CrashBefore,
            Fault::CrashAfter,
        ] {
            let world = World::new();
            let alice = person(&world, "alice@example.com", &["pwd"]);
            world.plan.arm(step, fault);
            let _ =
                tokio::time::timeout(Duration::from_millis(200), people(&world).ask(&ask, &alice))
                    .await;
            world.plan.disarm();
            world.clock.advance(Duration::from_secs(16 * 60));
            let report = world.reap(&ReapSettings::default()).await.unwrap();
            let context = format!("{fault:?} at step {step}: {report:?}");
            assert_eq!(report.errors, 0, "{context}");
            check(&world, &context);
        }
    }
}

/// A crash or failure at every port call of an activation, then a reaper pass: no assignment
/// exists without a live grant holding it, and nothing is left mid-way.
#[tokio::test]
async fn a_crash_at_every_step_of_an_activation_leaves_no_assignment_behind() {
    fault_every_step_of(nonprod("1h"), |world, context| {
        let live: Vec<_> = world
            .transactions()
            .into_iter()
            .filter(|g| g.state == State::Provisioned)
            .filter_map(|g| g.assignment())
            .collect();
        for held in world.assigner.held() {
            assert!(
                live.contains(&held),
                "{context}: {held:?} held by no live grant"
            );
        }
        for assignment in &live {
            assert!(
                world.assigner.held().contains(assignment),
                "{context}: a live grant without its assignment"
            );
        }
        assert!(
            world
                .transactions()
                .iter()
                .all(|g| !matches!(g.state, State::Processing | State::Deprovisioning)),
            "{context}: left mid-way"
        );
    })
    .await;
}

/// A crash or failure at every port call of an ending (the reaper's expiry), then later
/// passes: the assignment goes once its last grant has ended, whatever was interrupted, and
/// no holding is left claiming it.
#[tokio::test]
async fn a_crash_at_every_step_of_an_expiry_leaves_no_assignment_behind() {
    let clean = World::new();
    let alice = person(&clean, "alice@example.com", &["pwd"]);
    people(&clean).ask(&nonprod("1h"), &alice).await.unwrap();
    let before = clean.plan.steps_taken();
    clean.clock.advance(Duration::from_secs(3601));
    clean.reap(&ReapSettings::default()).await.unwrap();
    let steps = clean.plan.steps_taken() - before;
    assert!(steps >= 2, "{steps} steps");
    for step in 0..steps {
        for fault in [
            Fault::Fail,
            Fault::FailAfter,
            Fault::CrashBefore,
            Fault::CrashAfter,
        ] {
            let world = World::new();
            let alice = person(&world, "alice@example.com", &["pwd"]);
            people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
            world.clock.advance(Duration::from_secs(3601));
            world.plan.arm(world.plan.steps_taken() + step, fault);
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                world.reap(&ReapSettings::default()),
            )
            .await;
            world.plan.disarm();
            // Past stuck_after: whatever was cut off is resolved now.
            for _ in 0..2 {
                world.clock.advance(Duration::from_secs(16 * 60));
                world.reap(&ReapSettings::default()).await.unwrap();
            }
            let context = format!("{fault:?} at step {step}");
            assert!(
                world.assigner.held().is_empty(),
                "{context}: assignment left"
            );
            assert!(
                world.transactions().iter().all(|g| g.state.is_terminal()),
                "{context}: a grant left live or mid-way"
            );
        }
    }
}

#[tokio::test]
async fn a_request_not_answered_in_time_expires_and_can_no_longer_be_approved() {
    let world = World::new();
    world
        .directory
        .members
        .lock()
        .unwrap()
        .insert("Approvers".into(), vec!["u-bob".into()]);
    let alice = person(&world, "alice@example.com", &["pwd", "mfa"]);
    let asked = people(&world).ask(&prod(), &alice).await.unwrap();
    assert_eq!(asked.request.state, RequestState::Requested);
    let id = asked.request.id.clone();

    // Not yet due: the reaper leaves it.
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.requests_expired, 0, "{report:?}");

    world.clock.advance(Duration::from_secs(25 * 3600));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.requests_expired, 1, "{report:?}");
    let bob = person(&world, "bob@example.com", &["pwd", "mfa"]);
    let late = people(&world).approve(&id, &bob, None).await.unwrap_err();
    assert_eq!(late.code, ErrorCode::NotPending, "{late:?}");
    assert!(world.assigner.held().is_empty());
    // A second pass finds nothing more.
    let again = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(again.requests_expired, 0);
}

/// Defence in depth: a grant that ended without leaving its holding (here moved to
/// `deprovisioned` past the ender, as a bug or a hand edit of the ledger would) leaves an
/// assignment no live grant holds. The reaper's sweep finds the holding by its age and removes
/// the assignment; standing access in the same state is released but stays in AWS.
#[tokio::test]
async fn the_sweep_removes_an_assignment_that_no_live_grant_holds() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let decided = people(&world).ask(&nonprod("4h"), &alice).await.unwrap();
    let grant = decided.grant.unwrap();
    let actor = Actor("test".to_owned());
    let journal = &world.cases.journal;
    let step = |why: &str| crate::grant::Step::new(&actor, crate::record::Action::Expired, why);
    let ending = journal
        .transition(&grant, State::Deprovisioning, step("cut short"))
        .await
        .unwrap();
    journal
        .transition(
            &ending,
            State::Deprovisioned,
            step("ended past the holding"),
        )
        .await
        .unwrap();
    assert_eq!(world.assigner.held().len(), 1);

    // Too recent to judge: the sweep waits stuck_after.
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.stray_assignments, 0, "{report:?}");
    world.clock.advance(Duration::from_secs(16 * 60));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        (report.stray_assignments, report.errors),
        (1, 0),
        "{report:?}"
    );
    assert!(world.assigner.held().is_empty());
    let again = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(again.stray_assignments, 0);
}

/// Every step people are told of is queued in the write that makes it, and delivered later
/// by the outbox; a channel that fails does not fail the request, and the notice is tried
/// again with backoff until it goes through.
#[tokio::test]
async fn notices_ride_with_each_change_and_the_outbox_retries_a_failing_channel() {
    let world = World::new();
    world
        .directory
        .members
        .lock()
        .unwrap()
        .insert("Approvers".into(), vec!["u-bob".into(), "u-carol".into()]);
    world
        .notifier
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let alice = person(&world, "alice@example.com", &["pwd", "mfa"]);
    let writes = world.ledger_writes();
    let asked = people(&world).ask(&prod(), &alice).await.unwrap();
    assert_eq!(
        world.ledger_writes() - writes,
        1,
        "the notice rides in the request's write"
    );
    let id = asked.request.id.clone();

    let report = world.cases.deliver_notices(100).await.unwrap();
    assert_eq!((report.delivered, report.retried), (0, 1), "{report:?}");
    // Not due again until the backoff has passed.
    let report = world.cases.deliver_notices(100).await.unwrap();
    assert_eq!(report, Default::default());

    world
        .notifier
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    world.clock.advance(Duration::from_secs(3));
    let report = world.cases.deliver_notices(100).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let created = world.notifier.received.lock().unwrap()[0].clone();
    assert_eq!(created.attempts, 1, "one failed attempt before");
    assert_eq!(created.about.approver_groups, ["Approvers"]);

    for approver in ["bob@example.com", "carol@example.com"] {
        let approver = person(&world, approver, &["pwd", "mfa"]);
        people(&world).approve(&id, &approver, None).await.unwrap();
    }
    world.clock.advance(Duration::from_secs(3601));
    world.reap(&ReapSettings::default()).await.unwrap();
    world.cases.deliver_notices(100).await.unwrap();
    // The approval and the start happen at one instant of the test's frozen clock, so their
    // order between themselves is not fixed here; everything else is in order.
    let mut kinds = world.notifier.kinds();
    kinds[1..3].sort_unstable();
    assert_eq!(
        kinds,
        [
            "request_created",
            "grant_started",
            "request_approved",
            "grant_ended"
        ]
    );
    // Delivered once each: nothing is left queued.
    assert_eq!(
        world.cases.deliver_notices(100).await.unwrap(),
        Default::default()
    );
}

/// Break-glass: where the rules allow it, a person activates at once without approval, for at
/// most the break-glass duration, always with a reason and the same sign-in strength; every
/// channel hears of it and the request says it wants review. Where it is not allowed, it is
/// refused and nothing is written.
#[tokio::test]
async fn break_glass_activates_at_once_loudly_and_only_where_allowed() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd", "mfa"]);
    let glass = |ask: AccessAsk<'static>| AccessAsk {
        break_glass: true,
        ..ask
    };
    let code = |r: Result<Decided, crate::error::BrokerError>| r.unwrap_err().code;
    let access = people(&world);
    assert_eq!(
        code(access.ask(&glass(nonprod("30m")), &alice).await),
        ErrorCode::BreakGlassNotAllowed
    );
    let too_long = AccessAsk {
        duration: Some("1h"),
        ..glass(prod())
    };
    assert_eq!(
        code(access.ask(&too_long, &alice).await),
        ErrorCode::DurationTooLong
    );
    let no_reason = AccessAsk {
        reason: None,
        duration: Some("30m"),
        ..glass(prod())
    };
    assert_eq!(
        code(access.ask(&no_reason, &alice).await),
        ErrorCode::JustificationRequired
    );
    let weak = person(&world, "alice@example.com", &["pwd"]);
    let ask = AccessAsk {
        duration: Some("30m"),
        ..glass(prod())
    };
    assert_eq!(code(access.ask(&ask, &weak).await), ErrorCode::MfaRequired);
    assert_eq!(world.ledger_writes(), 0, "refusals write nothing");

    let decided = access.ask(&ask, &alice).await.unwrap();
    assert_eq!(decided.request.state, RequestState::Approved);
    assert!(decided.request.terms.break_glass);
    assert!(decided.request.approvals.is_empty());
    assert_eq!(decided.grant.unwrap().state, State::Provisioned);
    assert_eq!(world.assigner.held().len(), 1);
    world.cases.deliver_notices(100).await.unwrap();
    // One instant of the frozen clock: their order between themselves is not fixed here.
    let mut kinds = world.notifier.kinds();
    kinds.sort_unstable();
    assert_eq!(kinds, ["break_glass_used", "grant_started"]);
}

/// An early revoke of the last grant holding an assignment cuts off the person's live sessions
/// in that account (Identity Center sessions outlive the assignment); a revoke while another
/// grant still holds it does not; an expiry does not (the grant ran its course); the reaper
/// lifts the deny once no session it cut can be alive (12 h).
#[tokio::test]
async fn an_early_revoke_cuts_live_sessions_only_when_the_access_goes() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let first = people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    let second = people(&world).ask(&nonprod("2h"), &alice).await.unwrap();
    let denies = || world.assigner.session_denies.lock().unwrap().len();

    end(&world, &first).await;
    assert_eq!(denies(), 0, "another grant still holds the assignment");
    end(&world, &second).await;
    assert!(world.assigner.held().is_empty());
    assert_eq!(denies(), 1, "the last revoke cuts the sessions");
    let grant = world
        .cases
        .journal
        .load(&second.grant.clone().unwrap().id)
        .await
        .unwrap();
    let events = world.cases.journal.events(&grant.id).await.unwrap();
    assert!(
        events.iter().any(|e| e.data["sessions_cut"]
            .as_str()
            .is_some_and(|s| s.contains("denied"))),
        "the ledger says so"
    );

    world.clock.advance(Duration::from_secs(11 * 3600));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        report.session_denies_lifted, 0,
        "a session may still be alive"
    );
    world.clock.advance(Duration::from_secs(2 * 3600));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(report.session_denies_lifted, 1, "{report:?}");
    assert_eq!(denies(), 0);

    // An expiry does not cut sessions.
    people(&world).ask(&nonprod("1h"), &alice).await.unwrap();
    world.clock.advance(Duration::from_secs(3601));
    world.reap(&ReapSettings::default()).await.unwrap();
    assert!(world.assigner.held().is_empty());
    assert_eq!(denies(), 0);
}

fn admins(duration: &'static str) -> AccessAsk<'static> {
    AccessAsk {
        persona: Some("Admins"),
        ..nonprod(duration)
    }
}

/// The PIM-for-groups model: the grant is a membership of the persona's access group, shared
/// by overlapping grants, never taken from a member who was there before stint, and gone at
/// expiry; no account assignment is made for it.
#[tokio::test]
async fn membership_grants_share_the_group_and_the_last_to_end_removes_the_member() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let first = people(&world).ask(&admins("2h"), &alice).await.unwrap();
    let second = people(&world).ask(&admins("1h"), &alice).await.unwrap();
    assert_eq!(
        (first.joined, second.joined),
        (Some(Joined::Created), Some(Joined::Shared))
    );
    let member = ("g-acme-nonprod-admins".to_owned(), "u-alice".to_owned());
    assert_eq!(world.members.held(), vec![member.clone()]);
    assert!(world.assigner.held().is_empty(), "no assignment is made");

    world.clock.advance(Duration::from_secs(3601));
    world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(world.members.held(), vec![member], "the 2h grant holds it");
    world.clock.advance(Duration::from_secs(3600));
    let report = world.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!((report.expired, report.errors), (1, 0), "{report:?}");
    assert!(world.members.held().is_empty(), "the last grant removed it");
    assert_eq!(world.verify_audit().await.unwrap().fault, None);
}

#[tokio::test]
async fn a_member_before_stint_stays_a_member() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    let member = ("g-acme-nonprod-admins".to_owned(), "u-alice".to_owned());
    world.members.members.lock().unwrap().insert(member.clone());
    let standing = people(&world).ask(&admins("1h"), &alice).await.unwrap();
    assert_eq!(standing.joined, Some(Joined::Standing));
    end(&world, &standing).await;
    assert_eq!(world.members.held(), vec![member]);
}

#[tokio::test]
async fn a_group_provisioned_by_scim_or_missing_for_the_account_is_refused_and_nothing_changes() {
    let world = World::new();
    let alice = person(&world, "alice@example.com", &["pwd"]);
    world
        .members
        .external
        .lock()
        .unwrap()
        .insert("Acme-Nonprod-Admins".to_owned());
    let refused = people(&world).ask(&admins("1h"), &alice).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::GroupExternallyProvisioned);
    assert!(refused.message.contains("SCIM"), "{}", refused.message);

    let prod = AccessAsk {
        account: Some("prod"),
        ..admins("1h")
    };
    let refused = people(&world).ask(&prod, &alice).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::NoAccessGroup);
    assert!(world.members.held().is_empty());
    assert!(world.transactions().is_empty(), "no grant recorded");
}

#[tokio::test]
async fn a_crash_at_every_step_of_a_membership_activation_leaves_no_member_behind() {
    fault_every_step_of(admins("1h"), |world, context| {
        let live = world
            .transactions()
            .into_iter()
            .filter(|g| g.state == State::Provisioned)
            .count();
        assert_eq!(world.members.held().len(), live.min(1), "{context}");
    })
    .await;
}
