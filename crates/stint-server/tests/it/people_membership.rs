//! People's grants activated by group membership (PIM for groups) against the AWS emulator:
//! the grant is a time-bound membership of the account's access group, read back through the
//! identity store; overlapping grants share it, a member from before stint stays one, and a
//! group an identity provider provisions by SCIM is refused with nothing changed.

use std::time::Duration;

use stint_api::{AccessRequestInput, ClientError};
use stint_testkit::fault_proxy::FaultProxy;

use crate::harness::{
    PeopleApp, SignIn, USERS, moto_url, random_digits, spawn_people_app_via_with,
};

const ACCESS_GROUP: &str = "Acme-Nonprod-Database-Admins";

/// The persona: membership of `ACCESS_GROUP` on the nonprod account, for whoever may deploy
/// there, no approval; its permission set is named for the test (the emulator's Identity
/// Center instance is shared by every test).
fn persona(permission_set: &str) -> String {
    format!(
        r#"
[people.personas.Database-Admins]
permission_set = "{permission_set}"
activation = "membership"
access_groups = {{ "{{NONPROD}}" = "{ACCESS_GROUP}" }}
eligible_groups = ["Acme_Platform_{{NONPROD}}_Product-Deployers"]
rules = {{ max_duration = "4h" }}
"#
    )
}

fn ask(duration: &str) -> AccessRequestInput {
    AccessRequestInput {
        account: Some("workload-nonprod".to_owned()),
        persona: Some("Database-Admins".to_owned()),
        duration: Some(duration.to_owned()),
        reason: Some("vacuum the orders table".to_owned()),
        ticket: None,
        break_glass: None,
    }
}

/// The app, the access group's id, and the group's standing assignment of the permission set
/// (made by hand, as the PIM-for-groups model has it).
async fn membership_app(via: Option<&FaultProxy>) -> (PeopleApp, String) {
    let name = format!("Acme-DBA-{}", random_digits(8));
    let extra = persona(&name);
    let people = spawn_people_app_via_with(via.map(|p| p.url.clone()), &extra).await;
    let seed = &people.app.seed;
    let group = seed.group(&people.app.store, ACCESS_GROUP).await.unwrap();
    let permission_set = seed.permission_set(&name).await.unwrap();
    seed.assign_group(&people.app.nonprod, &permission_set, &group)
        .await
        .unwrap();
    (people, group)
}

async fn members(people: &PeopleApp, group: &str) -> Vec<String> {
    let answer = people
        .app
        .seed
        .identity_store
        .list_group_memberships()
        .identity_store_id(&people.app.store)
        .group_id(group)
        .send()
        .await
        .unwrap();
    answer
        .group_memberships()
        .iter()
        .filter_map(|m| match m.member_id() {
            Some(aws_sdk_identitystore::types::MemberId::UserId(id)) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn membership_grants_are_group_memberships_shared_and_removed_by_the_last_to_end() {
    let (people, group) = membership_app(None).await;
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let client = people.app.client();

    let first = client
        .request_access(&ask("2h"), Some(&alice))
        .await
        .unwrap();
    let grant = first.grant.as_ref().unwrap();
    assert_eq!(grant.state, "provisioned");
    assert_eq!(grant.access_group.as_deref(), Some(ACCESS_GROUP));
    assert_eq!(grant.held.as_deref(), Some("created"));
    assert_eq!(
        members(&people, &group).await,
        vec![people.app.users.alice.clone()]
    );
    assert!(
        !people
            .assigned(&people.app.nonprod)
            .await
            .contains(&people.app.users.alice),
        "no account assignment is made for a membership grant"
    );

    let second = client
        .request_access(&ask("1h"), Some(&alice))
        .await
        .unwrap();
    assert_eq!(second.grant.unwrap().held.as_deref(), Some("shared"));
    assert_eq!(
        members(&people, &group).await.len(),
        1,
        "one membership for both"
    );

    assert_eq!(people.expire_after(Duration::from_secs(3601)).await, 1);
    assert_eq!(
        members(&people, &group).await,
        vec![people.app.users.alice.clone()]
    );
    assert_eq!(people.expire_after(Duration::from_secs(3600)).await, 1);
    assert!(
        members(&people, &group).await.is_empty(),
        "the last grant took it away"
    );
}

#[tokio::test]
async fn a_member_from_before_stint_keeps_the_membership_after_the_grant() {
    let (people, group) = membership_app(None).await;
    let alice = &people.app.users.alice;
    people
        .app
        .seed
        .add_member(&people.app.store, &group, alice)
        .await
        .unwrap();
    let token = people.id_token(USERS.alice, SignIn::Password);
    let asked = people
        .app
        .client()
        .request_access(&ask("1h"), Some(&token))
        .await
        .unwrap();
    assert_eq!(asked.grant.unwrap().held.as_deref(), Some("standing"));
    assert_eq!(people.expire_after(Duration::from_secs(3601)).await, 1);
    assert_eq!(members(&people, &group).await, vec![alice.clone()]);
}

#[tokio::test]
async fn a_group_provisioned_by_scim_is_refused_and_nothing_is_recorded_or_changed() {
    let proxy = FaultProxy::start(&moto_url(), 0).await.unwrap();
    let (people, group) = membership_app(Some(&proxy)).await;
    proxy.statuses.provision_by_scim(&group);
    let token = people.id_token(USERS.alice, SignIn::Password);
    let refused = people
        .app
        .client()
        .request_access(&ask("1h"), Some(&token))
        .await;
    match refused {
        Err(ClientError::Refused {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!(
                (status, code.as_str()),
                (422, "group_externally_provisioned")
            );
            assert!(message.contains("SCIM"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(members(&people, &group).await.is_empty());
    let listed = people
        .app
        .client()
        .access_requests(Some(&token))
        .await
        .unwrap();
    assert!(listed.mine.is_empty(), "nothing recorded: {listed:?}");
}
