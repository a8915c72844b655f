//! Expiry you can count on, against the AWS emulator: the reaper ends grants past their TTL
//! (with a moved clock, not a wait) and leaves live ones; an early revoke denies the issued
//! sessions before the role is deleted; roles with no live transaction are swept.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use stint_core::grant::ReapSettings;
use stint_core::ids::{AccountId, RoleName};
use stint_core::ports::{
    ListedRole, PortError, RoleContents, RoleDeletion, RolePermissions, RoleProvisioner, RoleSpec,
};
use stint_testkit::seed::Seeder;
use time::OffsetDateTime;

use crate::harness::{actions, decode_policy, spawn_app};

#[tokio::test]
async fn the_reaper_ends_grants_past_their_ttl_and_only_those() {
    let app = spawn_app().await;
    let old = app.provision_alice().await;
    app.clock.advance(Duration::from_secs(23 * 3600));
    let young = app.provision_alice().await;
    app.clock.advance(Duration::from_secs(2 * 3600)); // old: 25 h, TTL 24 h; young: 2 h

    let report = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        (report.expired, report.stuck, report.orphans, report.errors),
        (1, 0, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        app.stint_roles(&app.nonprod).await,
        [young["role_name"].as_str().unwrap()]
    );

    let ended = app
        .transaction(old["transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(ended["transaction"]["state"], "deprovisioned");
    assert!(actions(&ended).contains(&"expired".to_owned()), "{ended}");
    assert!(
        ended["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "reaper")
    );
    let live = app
        .transaction(young["transaction_id"].as_str().unwrap())
        .await;
    assert_eq!(live["transaction"]["state"], "provisioned");

    // A second pass finds nothing more.
    let again = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(again, Default::default());
}

/// Wraps the real IAM adapter and, at the moment a role is deleted, reads from the emulator
/// what inline policies the role still holds.
struct DeletionWitness {
    inner: Arc<dyn RoleProvisioner>,
    seed: Seeder,
    seen: Mutex<Vec<Vec<String>>>,
    revoke_policy: Mutex<Option<serde_json::Value>>,
}

#[async_trait]
impl RoleProvisioner for DeletionWitness {
    async fn create_role(&self, spec: &RoleSpec) -> Result<String, PortError> {
        self.inner.create_role(spec).await
    }
    async fn grant(
        &self,
        account: &AccountId,
        role: &RoleName,
        permissions: &RolePermissions,
    ) -> Result<(), PortError> {
        self.inner.grant(account, role, permissions).await
    }
    async fn delete_role(
        &self,
        account: &AccountId,
        role: &RoleName,
        contents: &RoleContents,
    ) -> Result<RoleDeletion, PortError> {
        let iam = self.seed.iam(account.as_str()).await.unwrap();
        let names = iam
            .list_role_policies()
            .role_name(role.as_str())
            .send()
            .await
            .unwrap();
        self.seen
            .lock()
            .unwrap()
            .push(names.policy_names().to_vec());
        if names.policy_names().iter().any(|n| n == "stint-revoke") {
            let doc = iam
                .get_role_policy()
                .role_name(role.as_str())
                .policy_name("stint-revoke")
                .send()
                .await
                .unwrap();
            *self.revoke_policy.lock().unwrap() = Some(decode_policy(doc.policy_document()));
        }
        self.inner.delete_role(account, role, contents).await
    }
    async fn role_exists(&self, account: &AccountId, role: &RoleName) -> Result<bool, PortError> {
        self.inner.role_exists(account, role).await
    }
    async fn list_roles(
        &self,
        account: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, PortError> {
        self.inner.list_roles(account, path).await
    }
    async fn revoke_sessions(
        &self,
        account: &AccountId,
        role: &RoleName,
        before: OffsetDateTime,
    ) -> Result<(), PortError> {
        self.inner.revoke_sessions(account, role, before).await
    }
}

#[tokio::test]
async fn an_early_revoke_denies_issued_sessions_before_the_role_is_deleted() {
    let mut app = spawn_app().await;
    let witness = Arc::new(DeletionWitness {
        inner: app.app.ops.cases.ender.roles.clone(),
        seed: Seeder::connect(&crate::harness::moto_url()).await,
        seen: Mutex::default(),
        revoke_policy: Mutex::default(),
    });
    app.app.ops.cases = app.app.ops.cases.with_roles(witness.clone());
    let granted = app.provision_alice().await;
    let id =
        stint_core::ids::TransactionId::parse(granted["transaction_id"].as_str().unwrap()).unwrap();

    let done = app
        .app
        .ops
        .revoke(id.as_str(), &stint_core::grant::Caller::operator("test"))
        .await
        .unwrap();
    assert!(!done.already_deprovisioned);
    assert!(app.stint_roles(&app.nonprod).await.is_empty());
    let seen = witness.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].contains(&"stint-revoke".to_owned()),
        "deleted before the deny was in place: {seen:?}"
    );
    let deny = witness.revoke_policy.lock().unwrap().clone().unwrap();
    assert_eq!(deny["Statement"][0]["Effect"], "Deny");
    assert_eq!(deny["Statement"][0]["Action"], "*");
    assert!(
        deny["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string(),
        "{deny}"
    );

    let txn = app.transaction(id.as_str()).await;
    let steps = actions(&txn);
    let revoked = steps.iter().position(|a| a == "sessions_revoked");
    let deleted = steps.iter().position(|a| a == "deprovisioned");
    assert!(revoked.is_some() && revoked < deleted, "{steps:?}");
}

#[tokio::test]
async fn revoke_over_http() {
    let app = spawn_app().await;
    let granted = app.provision_alice().await;
    let id = granted["transaction_id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/v1/transactions/{id}/revoke"), &json!({}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("deprovisioned")),
        "{body}"
    );
    assert!(app.stint_roles(&app.nonprod).await.is_empty());
    let (status, again) = app
        .post(&format!("/v1/transactions/{id}/revoke"), &json!({}))
        .await;
    assert_eq!(
        (status, again["already_deprovisioned"].as_bool()),
        (200, Some(true)),
        "{again}"
    );
}

#[tokio::test]
async fn roles_without_a_live_transaction_are_swept_after_the_grace_period() {
    let app = spawn_app().await;
    let live = app.provision_alice().await;
    // Two roles in stint's path that no transaction holds: one named like stint's, one not.
    let iam = app.seed.iam(&app.nonprod).await.unwrap();
    let stray = format!("stint-{}", uuid::Uuid::new_v4());
    for name in [stray.as_str(), "stint-handmade"] {
        iam.create_role()
            .path("/stint/")
            .role_name(name)
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .unwrap();
    }
    iam.put_role_policy()
        .role_name(&stray)
        .policy_name("leftover")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let report = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!(
        report.orphans, 0,
        "swept within the grace period: {report:?}"
    );
    app.clock.advance(Duration::from_secs(10 * 60));
    let report = app.app.ops.reap(&ReapSettings::default()).await.unwrap();
    assert_eq!((report.orphans, report.errors), (2, 0), "{report:?}");
    assert_eq!(
        app.stint_roles(&app.nonprod).await,
        [live["role_name"].as_str().unwrap()]
    );

    let record = app.transaction(stray.trim_start_matches("stint-")).await;
    assert_eq!(record["transaction"]["kind"], "orphan");
    assert_eq!(actions(&record), ["orphan_removed"]);
}
