//! People's access over HTTP against the AWS emulator: a person signed in at a loopback OpenID
//! provider asks, an approver approves, the permission set is assigned in Identity Center (read
//! back through the SDK), and the reaper takes it away at expiry. Overlapping grants share one
//! assignment; standing access is never removed; every refusal leaves Identity Center as it was.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stint_api::{AccessRequestInput, AccessRequestResponse, ClientError, Secret};
use stint_core::grant::ReapSettings;
use stint_testkit::fault_proxy::FaultProxy;
use stint_testkit::status_script::StatusScript;

use crate::harness::{
    PeopleApp, SignIn, USERS, moto_url, spawn_people_app, spawn_people_app_via,
    spawn_people_app_with,
};

fn ask(account: &str, duration: &str, reason: &str, ticket: Option<&str>) -> AccessRequestInput {
    AccessRequestInput {
        account: Some(account.to_owned()),
        persona: Some("Product-Deployers".to_owned()),
        duration: Some(duration.to_owned()),
        reason: Some(reason.to_owned()),
        ticket: ticket.map(str::to_owned),
        break_glass: None,
    }
}

impl PeopleApp {
    async fn request(
        &self,
        input: &AccessRequestInput,
        token: &Secret,
    ) -> Result<AccessRequestResponse, ClientError> {
        self.app.client().request_access(input, Some(token)).await
    }

    /// Moves the broker's clock and runs one reaper pass; answers how many grants expired.
    pub(crate) async fn expire_after(&self, elapsed: Duration) -> u64 {
        self.app.clock.advance(elapsed);
        let report = self
            .app
            .app
            .ops
            .reap(&ReapSettings::default())
            .await
            .unwrap();
        assert_eq!(report.errors, 0, "{report:?}");
        report.expired as u64
    }
}

/// The stable code of a refusal, with its HTTP status.
fn refused(result: Result<AccessRequestResponse, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, code, .. }) => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn prod_access_is_approved_by_another_person_assigned_in_identity_center_and_ends_at_expiry()
{
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let asked = people
        .request(
            &ask(
                "workload-prod",
                "1h",
                "roll back the payments deploy",
                Some("INC-4711"),
            ),
            &alice,
        )
        .await
        .unwrap();
    assert_eq!(asked.request.state, "requested");
    assert!(asked.grant.is_none());
    assert!(people.assigned(&app.prod).await.is_empty());

    // Alice cannot approve her own request, and bob needs a fresh MFA sign-in.
    let id = asked.request.id.clone();
    let own = app.client().approve(&id, Some(&alice)).await;
    assert_eq!(refused(own), (403, "self_approval".to_owned()));
    let bob_password = people.id_token(USERS.bob, SignIn::Password);
    let weak = app.client().approve(&id, Some(&bob_password)).await;
    assert_eq!(refused(weak), (403, "mfa_required".to_owned()));
    assert!(people.assigned(&app.prod).await.is_empty());

    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let approved = app.client().approve(&id, Some(&bob)).await.unwrap();
    assert_eq!(approved.request.state, "approved");
    assert_eq!(approved.request.approvals.len(), 1);
    assert_eq!(approved.request.approvals[0].approver, USERS.bob);
    let grant = approved.grant.expect("the approval starts a grant");
    assert_eq!(grant.state, "provisioned");
    assert_eq!(grant.held.as_deref(), Some("created"));
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    // Reading the request back shows the same grant.
    let read = app
        .client()
        .access_request(&id, Some(&alice))
        .await
        .unwrap();
    assert_eq!(
        read.request.grant.as_deref(),
        Some(grant.transaction_id.as_str())
    );

    assert_eq!(people.expire_after(Duration::from_secs(61 * 60)).await, 1);
    assert!(people.assigned(&app.prod).await.is_empty());
    let ended = app.transaction(&grant.transaction_id).await;
    assert_eq!(ended["transaction"]["state"], "deprovisioned", "{ended}");
}

#[tokio::test]
async fn overlapping_grants_share_one_assignment_until_the_last_one_ends() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let short = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let long = people
        .request(&ask("workload-nonprod", "3h", "long debug", None), &alice)
        .await
        .unwrap();
    let held = |r: &AccessRequestResponse| r.grant.as_ref().and_then(|g| g.held.clone());
    assert_eq!(held(&short).as_deref(), Some("created"));
    assert_eq!(held(&long).as_deref(), Some("shared"));
    // One assignment: a second CreateAccountAssignment would show as a second row.
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );

    assert_eq!(people.expire_after(Duration::from_secs(61 * 60)).await, 1);
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()],
        "the longer grant still holds the assignment"
    );
    assert_eq!(people.expire_after(Duration::from_secs(2 * 3600)).await, 1);
    assert!(people.assigned(&app.nonprod).await.is_empty());
}

#[tokio::test]
async fn standing_access_is_recorded_as_held_and_never_removed() {
    let people = spawn_people_app().await;
    let app = &people.app;
    app.seed
        .assign(&app.nonprod, &people.permission_set_arn, &app.users.alice)
        .await
        .unwrap();
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let grant = asked.grant.expect("nonprod needs no approval");
    assert_eq!(grant.held.as_deref(), Some("standing"));

    assert_eq!(people.expire_after(Duration::from_secs(61 * 60)).await, 1);
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );
}

#[tokio::test]
async fn every_refusal_has_its_code_and_changes_nothing_in_identity_center() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice_mfa = people.id_token(USERS.alice, SignIn::Mfa);
    let alice_password = people.id_token(USERS.alice, SignIn::Password);
    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let cases = [
        (
            ask("workload-nonprod", "1h", "debug", None),
            &bob,
            (403, "not_eligible"),
        ),
        (
            ask("workload-prod", "1h", "fix", Some("INC-1")),
            &alice_password,
            (403, "mfa_required"),
        ),
        (
            ask("workload-prod", "3h", "fix", Some("INC-1")),
            &alice_mfa,
            (400, "duration_too_long"),
        ),
        (
            ask("workload-prod", "1h", "", Some("INC-1")),
            &alice_mfa,
            (400, "justification_required"),
        ),
        (
            ask("workload-prod", "1h", "fix", Some("JIRA-1")),
            &alice_mfa,
            (400, "invalid_ticket"),
        ),
        (
            ask("workload-nonprod", "forever", "debug", None),
            &alice_mfa,
            (400, "invalid_duration"),
        ),
    ];
    for (input, token, (status, code)) in cases {
        let (got_status, got_code) = refused(people.request(&input, token).await);
        assert_eq!((got_status, got_code.as_str()), (status, code), "{input:?}");
    }
    // No token at all is refused before anything is read.
    let anonymous = app
        .client()
        .request_access(&ask("workload-nonprod", "1h", "debug", None), None)
        .await;
    assert!(
        matches!(
            anonymous,
            Err(ClientError::Refused {
                status: 400..=403,
                ..
            })
        ),
        "{anonymous:?}"
    );
    assert!(people.assigned(&app.nonprod).await.is_empty());
    assert!(people.assigned(&app.prod).await.is_empty());
}

/// Identity Center answers IN_PROGRESS for a while (the emulator never does; the proxy plays
/// AWS's documented answers): the broker polls until SUCCEEDED before calling the grant live.
#[tokio::test]
async fn an_assignment_in_progress_is_polled_until_identity_center_says_succeeded() {
    let proxy = FaultProxy::start(&moto_url(), 0).await.unwrap();
    proxy.statuses.script_creations(Some(StatusScript {
        pending_polls: 3,
        failure: None,
    }));
    let people = spawn_people_app_via(Some(proxy.url.clone())).await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let grant = asked.grant.expect("nonprod needs no approval");
    assert_eq!(grant.state, "provisioned");
    assert_eq!(
        proxy.statuses.in_progress_answers.load(Ordering::SeqCst),
        3,
        "every IN_PROGRESS answer was read before the grant went live"
    );
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );
}

/// A FAILED assignment ends the grant `failed` with AWS's reason; it is never shown active,
/// and a later request makes the assignment afresh.
#[tokio::test]
async fn a_failed_assignment_ends_the_grant_failed_with_aws_reason() {
    let proxy = FaultProxy::start(&moto_url(), 0).await.unwrap();
    let reason = "Received a 404 status error: Not supported account";
    proxy.statuses.script_creations(Some(StatusScript {
        pending_polls: 1,
        failure: Some(reason.to_owned()),
    }));
    let people = spawn_people_app_via(Some(proxy.url.clone())).await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let refusal = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap_err();
    let ClientError::Refused {
        status,
        code,
        message,
        transaction_id,
    } = refusal
    else {
        panic!("expected a refusal, got {refusal:?}");
    };
    assert_eq!((status, code.as_str()), (502, "assignment_failed"));
    assert!(message.contains(reason), "{message}");
    let grant = app
        .transaction(&transaction_id.expect("the grant's id"))
        .await;
    assert_eq!(grant["transaction"]["state"], "failed", "{grant}");
    assert!(people.assigned(&app.nonprod).await.is_empty());

    // Identity Center recovers: the next request makes the assignment.
    proxy.statuses.script_creations(None);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    assert_eq!(asked.grant.and_then(|g| g.held).as_deref(), Some("created"));
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );
}

/// A person gives access back early: only their own grant, and an overlapping grant keeps the
/// assignment until it ends too.
#[tokio::test]
async fn a_person_revokes_their_own_grant_early_and_only_theirs() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let carol = people.id_token(USERS.carol, SignIn::Password);
    let first = people
        .request(&ask("workload-nonprod", "2h", "debug", None), &alice)
        .await
        .unwrap();
    let second = people
        .request(&ask("workload-nonprod", "4h", "more debug", None), &alice)
        .await
        .unwrap();
    let grant_id = |r: &AccessRequestResponse| r.grant.clone().unwrap().transaction_id;

    let stranger = app
        .client()
        .revoke(&grant_id(&first), Some(&carol))
        .await
        .unwrap_err();
    assert!(
        matches!(&stranger, ClientError::Refused { status: 403, code, .. } if code == "not_owner"),
        "{stranger:?}"
    );

    app.client()
        .revoke(&grant_id(&first), Some(&alice))
        .await
        .unwrap();
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );
    app.client()
        .revoke(&grant_id(&second), Some(&alice))
        .await
        .unwrap();
    assert!(people.assigned(&app.nonprod).await.is_empty());
    let ended = app.transaction(&grant_id(&second)).await;
    assert_eq!(ended["transaction"]["state"], "deprovisioned", "{ended}");
}

/// Break-glass over HTTP: production access at once without an approver, where the persona
/// allows it, flagged on the request for review; the assignment exists in Identity Center.
#[tokio::test]
async fn break_glass_assigns_at_once_and_is_flagged() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let input = AccessRequestInput {
        break_glass: Some(true),
        ..ask("workload-prod", "30m", "payments are down", Some("INC-911"))
    };
    let asked = people.request(&input, &alice).await.unwrap();
    assert_eq!(asked.request.state, "approved");
    assert!(asked.request.break_glass);
    assert!(asked.request.approvals.is_empty());
    assert_eq!(asked.grant.unwrap().state, "provisioned");
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    let not_here = AccessRequestInput {
        break_glass: Some(true),
        ..ask("workload-nonprod", "30m", "debug", None)
    };
    let (status, code) = refused(people.request(&not_here, &alice).await);
    assert_eq!((status, code.as_str()), (403, "break_glass_not_allowed"));
}

/// What a person sees: their own requests and grants, and the open requests they may approve
/// (never their own, never one they already answered).
#[tokio::test]
async fn people_list_their_requests_grants_and_what_waits_for_them() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let prod = people
        .request(&ask("workload-prod", "1h", "fix", Some("INC-1")), &alice)
        .await
        .unwrap();
    let nonprod = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();

    let mine = app.client().access_requests(Some(&alice)).await.unwrap();
    let ids = |list: &[stint_api::AccessRequestView]| -> Vec<String> {
        list.iter().map(|r| r.id.clone()).collect()
    };
    assert_eq!(
        ids(&mine.mine),
        [nonprod.request.id.clone(), prod.request.id.clone()],
        "newest first"
    );
    assert!(mine.to_approve.is_empty(), "never one's own");
    let bobs = app.client().access_requests(Some(&bob)).await.unwrap();
    assert!(bobs.mine.is_empty());
    assert_eq!(ids(&bobs.to_approve), vec![prod.request.id.clone()]);

    let grants = app.client().grants(Some(&alice)).await.unwrap();
    assert_eq!(grants.grants.len(), 1);
    assert_eq!(grants.grants[0].account_name, "workload-nonprod");
    assert_eq!(grants.grants[0].state, "provisioned");

    app.client()
        .approve(&prod.request.id, Some(&bob))
        .await
        .unwrap();
    let bobs = app.client().access_requests(Some(&bob)).await.unwrap();
    assert!(
        bobs.to_approve.is_empty(),
        "answered: nothing waits for bob"
    );
    let grants = app.client().grants(Some(&alice)).await.unwrap();
    let mut accounts: Vec<_> = grants
        .grants
        .iter()
        .map(|g| g.account_name.clone())
        .collect();
    accounts.sort();
    assert_eq!(accounts, ["workload-nonprod", "workload-prod"]);
    assert!(
        app.client()
            .grants(Some(&bob))
            .await
            .unwrap()
            .grants
            .is_empty()
    );
}

/// Two approvers press approve at the same moment on a request that needs one: the ledger's
/// compare-and-set lets exactly one through; one grant, one assignment.
#[tokio::test]
async fn two_approvers_racing_start_one_grant_and_one_assignment() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let asked = people
        .request(&ask("workload-prod", "1h", "fix", Some("INC-2")), &alice)
        .await
        .unwrap();
    let id = asked.request.id;
    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let carol = people.id_token(USERS.carol, SignIn::Mfa);
    let client = app.client();
    let (first, second) = tokio::join!(
        client.approve(&id, Some(&bob)),
        client.approve(&id, Some(&carol))
    );
    let wins = [&first, &second].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{first:?} {second:?}");
    let lost = if first.is_err() { first } else { second }.unwrap_err();
    assert!(
        matches!(&lost, ClientError::Refused { status: 409, code, .. }
            if code == "write_conflict" || code == "not_pending"),
        "{lost:?}"
    );
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );
    assert_eq!(client.grants(Some(&alice)).await.unwrap().grants.len(), 1);
}

/// A revoke racing the reaper's expiry of the same grant: one of them ends it, once; the
/// assignment goes, and the grant's record holds one ending.
#[tokio::test]
async fn a_revoke_racing_an_expiry_ends_the_grant_once() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let grant = asked.grant.unwrap().transaction_id;
    app.clock.advance(Duration::from_secs(61 * 60));
    let client = app.client();
    let settings = ReapSettings::default();
    // The operator revokes (alice's token would be past its expiry on the moved clock).
    let (revoked, reaped) = tokio::join!(client.revoke(&grant, None), app.app.ops.reap(&settings));
    let reaped = reaped.unwrap();
    assert_eq!(reaped.errors, 0, "{reaped:?}");
    // Whichever lost saw the other's claim: the revoke says so or refuses as in progress.
    if let Err(error) = &revoked {
        assert!(
            matches!(error, ClientError::Refused { status: 409, .. }),
            "{error:?}"
        );
    }
    let ended = app.transaction(&grant).await;
    assert_eq!(ended["transaction"]["state"], "deprovisioned", "{ended}");
    let endings = ended["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "expired" || e["action"] == "deprovision_started")
        .count();
    assert_eq!(endings, 1, "{ended}");
    assert!(people.assigned(&app.nonprod).await.is_empty());
}

/// What a person may ask for: alice, in Product-Deployers of both accounts, both; bob, in no
/// such group, nothing (approving is not asking).
#[tokio::test]
async fn eligibility_lists_what_a_person_may_ask_for_with_its_rules() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let bob = people.id_token(USERS.bob, SignIn::Password);
    let hers = app.client().eligibility(Some(&alice)).await.unwrap();
    assert_eq!(
        hers.portal_url.as_deref(),
        Some("https://d-1234567890.awsapps.com/start")
    );
    let mut seen: Vec<_> = hers
        .eligible
        .iter()
        .map(|e| (e.account_name.clone(), e.environment.clone(), e.approvals))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("workload-nonprod".to_owned(), "nonprod".to_owned(), 0),
            ("workload-prod".to_owned(), "prod".to_owned(), 1)
        ]
    );
    let prod = hers
        .eligible
        .iter()
        .find(|e| e.environment == "prod")
        .unwrap();
    assert_eq!(prod.break_glass_seconds, Some(30 * 60));
    assert!(
        app.client()
            .eligibility(Some(&bob))
            .await
            .unwrap()
            .eligible
            .is_empty()
    );
}

/// A persona in a pilot (`[pilots]`): only the pilot group's members may ask, whatever their
/// usual groups say; refused people get `not_eligible`, and nothing is assigned.
#[tokio::test]
async fn a_pilot_limits_who_may_ask_to_the_pilot_group() {
    let people =
        spawn_people_app_with("\n[pilots.Product-Deployers]\ngroup = \"Pilot-Deployers\"\n").await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(
            &ask("workload-nonprod", "1h", "try the pilot", None),
            &alice,
        )
        .await;
    assert_eq!(refused(asked), (403, "not_eligible".to_owned()));
    assert!(
        app.client()
            .eligibility(Some(&alice))
            .await
            .unwrap()
            .eligible
            .is_empty()
    );
    assert!(people.assigned(&app.nonprod).await.is_empty());

    let pilot = app.seed.group(&app.store, "Pilot-Deployers").await.unwrap();
    app.seed
        .add_member(&app.store, &pilot, &app.users.bob)
        .await
        .unwrap();
    let bob = people.id_token(USERS.bob, SignIn::Password);
    let granted = people
        .request(&ask("workload-nonprod", "1h", "try the pilot", None), &bob)
        .await
        .unwrap();
    assert_eq!(granted.grant.unwrap().state, "provisioned");
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.bob.clone()]
    );
}

/// Identity Center sessions outlive the assignment: an early revoke puts a deny on the
/// permission set for alice's sessions in that account issued before now (read back from
/// Identity Center), and the reaper lifts it once no such session can be alive.
#[tokio::test]
async fn an_early_revoke_denies_live_sessions_and_the_reaper_lifts_it_later() {
    let people = spawn_people_app().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let grant = asked.grant.unwrap().transaction_id;
    app.client().revoke(&grant, Some(&alice)).await.unwrap();
    assert!(people.assigned(&app.nonprod).await.is_empty());

    let inline = people.inline_policy().await;
    let document: serde_json::Value = serde_json::from_str(&inline).unwrap();
    let deny = &document["Statement"][0];
    assert_eq!(deny["Effect"], "Deny", "{inline}");
    assert_eq!(deny["Condition"]["StringLike"]["aws:userid"], "*:alice");
    assert_eq!(
        deny["Condition"]["StringEquals"]["aws:PrincipalAccount"],
        app.nonprod.as_str()
    );
    assert!(deny["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string());
    let ended = app.transaction(&grant).await;
    assert!(
        ended.to_string().contains("sessions issued before"),
        "{ended}"
    );

    app.clock.advance(Duration::from_secs(13 * 3600));
    let report = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        (report.session_denies_lifted, report.errors),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(
        people.inline_policy().await,
        "",
        "nothing of stint's is left on the set"
    );
}

/// Provisioning the permission set after the deny is asynchronous in AWS (the emulator answers
/// at once and has no status call): the proxy plays IN_PROGRESS twice, then SUCCEEDED, and the
/// revoke waits for it.
#[tokio::test]
async fn cutting_sessions_waits_for_the_permission_set_to_be_provisioned() {
    let proxy = FaultProxy::start(&moto_url(), 0).await.unwrap();
    proxy.statuses.script_provisionings(Some(StatusScript {
        pending_polls: 2,
        failure: None,
    }));
    let people = spawn_people_app_via(Some(proxy.url.clone())).await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .request(&ask("workload-nonprod", "1h", "debug", None), &alice)
        .await
        .unwrap();
    let grant = asked.grant.unwrap().transaction_id;
    app.client().revoke(&grant, Some(&alice)).await.unwrap();
    assert_eq!(proxy.statuses.in_progress_answers.load(Ordering::SeqCst), 2);
    let ended = app.transaction(&grant).await;
    assert!(
        ended.to_string().contains("sessions issued before"),
        "{ended}"
    );
    assert!(people.inline_policy().await.contains("*:alice"));
}

/// The same flow on the DynamoDB ledger, where every step is a conditional
/// TransactWriteItems: two approvers racing start one grant; overlapping grants share one
/// assignment until the last one expires.
#[tokio::test]
async fn on_the_dynamodb_ledger_races_and_overlaps_hold_the_same() {
    let people = spawn_people_app().await; // seeds the world; its SQLite broker is not used
    let table = format!("stint-people-{}", uuid::Uuid::new_v4());
    let aws = stint_aws::AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&aws).await;
    stint_aws::DynamoLedger::new(&sdk, Default::default(), &table)
        .create_table()
        .await
        .unwrap();
    let clock = std::sync::Arc::new(stint_testkit::clock::ShiftedClock::default());
    let settings = stint_server::app::Settings {
        catalog_path: people.app.catalog_path.clone(),
        ledger_path: format!("dynamodb://{table}").into(),
        aws,
        issue_retry: stint_aws::IssueRetry::default(),
    };
    let broker = stint_server::app::App::build_with_clock(&settings, clock.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(stint_server::serve(
        listener,
        broker.clone(),
        std::future::pending(),
    ));
    let client = stint_api::Client::new(&url);
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);

    let asked = client
        .request_access(
            &ask("workload-prod", "1h", "fix", Some("INC-3")),
            Some(&alice),
        )
        .await
        .unwrap();
    let id = asked.request.id;
    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let carol = people.id_token(USERS.carol, SignIn::Mfa);
    let (first, second) = tokio::join!(
        client.approve(&id, Some(&bob)),
        client.approve(&id, Some(&carol))
    );
    assert_eq!(
        [&first, &second].iter().filter(|r| r.is_ok()).count(),
        1,
        "{first:?} {second:?}"
    );
    assert_eq!(
        people.assigned(&app.prod).await,
        vec![app.users.alice.clone()]
    );

    for duration in ["1h", "3h"] {
        client
            .request_access(
                &ask("workload-nonprod", duration, "debug", None),
                Some(&alice),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()]
    );
    clock.advance(Duration::from_secs(61 * 60));
    let report = broker.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!((report.expired, report.errors), (2, 0), "{report:?}");
    assert_eq!(
        people.assigned(&app.nonprod).await,
        vec![app.users.alice.clone()],
        "the 3h grant still holds it"
    );
    assert!(people.assigned(&app.prod).await.is_empty());
    clock.advance(Duration::from_secs(2 * 3600));
    let report = broker.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!((report.expired, report.errors), (1, 0), "{report:?}");
    assert!(people.assigned(&app.nonprod).await.is_empty());
}
