//! Approving from Slack, against a loopback receiver standing in for Slack: the
//! request-created message carries Approve and Deny buttons; signed callbacks run as the
//! mapped directory person under the page's rules (a prod approval wants a fresh MFA sign-in,
//! so the answer is the page's link; the requester cannot approve their own); forged, stale,
//! replayed and unsigned callbacks are refused and change nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use stint_api::AccessRequestInput;

use crate::harness::{PeopleApp, SignIn, USERS, spawn_people_app_with};

const SECRET: &str = "slack-signing-secret-for-tests";

/// Stands in for Slack: takes the incoming-webhook messages and the `response_url` posts.
#[derive(Clone, Default)]
struct Slack {
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Slack {
    async fn start() -> (Self, String) {
        let slack = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(
                |State(slack): State<Slack>, uri: axum::http::Uri, body: Bytes| async move {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    slack
                        .received
                        .lock()
                        .unwrap()
                        .push((uri.path().to_owned(), body));
                },
            )
            .with_state(slack.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (slack, url)
    }

    fn at(&self, path: &str) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| serde_json::from_str(body).unwrap())
            .collect()
    }

    /// The first message posted to `path`, waiting up to 30 s: the click is answered at once
    /// and its outcome posted when it is done (an approval polls Identity Center).
    async fn first_at(&self, path: &str) -> Value {
        for _ in 0..600 {
            if let Some(first) = self.at(path).into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing was posted to {path} within 30 s");
    }
}

/// A persona whose prod grants want one approval but no particular sign-in, so a Slack click
/// can approve it: its permission set, made here, and its eligible group, made after the start.
const READERS: &str = "Readers";

async fn spawn_with_slack() -> (PeopleApp, Slack, String) {
    spawn_with_slack_and(None).await
}

async fn spawn_with_slack_and(readers_set: Option<&str>) -> (PeopleApp, Slack, String) {
    let (slack, url) = Slack::start().await;
    let readers = readers_set.map_or_else(String::new, |set| {
        format!(
            r#"
[people.personas.{READERS}]
permission_set = "{set}"
eligible_groups = ["{set}-Eligible"]
prod = {{ max_duration = "1h", approvals = 1, approver_groups = ["Acme_Platform_Prod-Approvers"] }}
"#
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("slack-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let extra = readers
        + &format!(
            r#"
[notifications]
slack_webhook_url = "{url}/webhook"
page_url = "http://127.0.0.1:8080"

[slack]
signing_secret_file = "{}"
users = {{ U0ALICE = "{alice}", U0BOB = "{bob}" }}
"#,
            secret_file.display(),
            alice = USERS.alice,
            bob = USERS.bob,
        );
    let people = spawn_people_app_with(&extra).await;
    drop(dir);
    (people, slack, url)
}

/// A block_actions callback as Slack sends it: a form with the JSON `payload`.
fn callback_body(user: &str, action: &str, request: &str, response_url: Option<&str>) -> String {
    let mut payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": user },
        "actions": [{ "action_id": action, "value": request, "type": "button" }],
    });
    if let Some(url) = response_url {
        payload["response_url"] = json!(url);
    }
    let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
    form.query_pairs_mut()
        .append_pair("payload", &payload.to_string());
    form.query().unwrap().to_owned()
}

fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `body` to the callback with the given timestamp and signature: status and JSON.
async fn post(people: &PeopleApp, body: &str, timestamp: &str, signature: &str) -> (u16, Value) {
    let response = people
        .app
        .http
        .post(format!("{}/slack/actions", people.app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn now() -> String {
    stint_testkit::issuer::now().to_string()
}

async fn state_of(people: &PeopleApp, id: &str) -> String {
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let answer = people
        .app
        .client()
        .access_request(id, Some(&alice))
        .await
        .unwrap();
    answer.request.state
}

#[tokio::test]
async fn slack_buttons_follow_the_pages_rules_and_only_signed_callbacks_count() {
    let (people, slack, slack_url) = spawn_with_slack().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let input = AccessRequestInput {
        account: Some("workload-prod".into()),
        persona: Some("Product-Deployers".into()),
        duration: Some("1h".into()),
        reason: Some("hotfix".into()),
        ticket: Some("INC-9".into()),
        break_glass: None,
    };
    let id = app
        .client()
        .request_access(&input, Some(&alice))
        .await
        .unwrap()
        .request
        .id;

    // The request-created message carries the buttons, valued with the request id.
    app.app.ops.deliver_notices().await.unwrap();
    let messages = slack.at("/webhook");
    assert_eq!(messages.len(), 1);
    let blocks = messages[0]["blocks"].as_array().unwrap();
    let buttons = &blocks.last().unwrap()["elements"];
    assert_eq!(buttons[0]["action_id"], "stint_approve");
    assert_eq!(buttons[1]["action_id"], "stint_deny");
    assert_eq!(buttons[0]["value"], id.as_str());

    // Bob approves from Slack: prod wants a fresh MFA sign-in Slack cannot vouch for, so he
    // is sent to the page; nothing changed.
    let body = callback_body("U0BOB", "stint_approve", &id, None);
    let ts = now();
    let signed = signature(SECRET, &ts, &body);
    let (status, answer) = post(&people, &body, &ts, &signed).await;
    assert_eq!(status, 200, "{answer}");
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("MFA"), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:8080/requests/{id}")),
        "{text}"
    );
    assert_eq!(state_of(&people, &id).await, "requested");

    // The same callback again (a replay) is refused.
    let (status, answer) = post(&people, &body, &ts, &signed).await;
    assert_eq!(
        (status, &answer["error"]),
        (409, &json!("callback_replayed"))
    );

    // Forged, unsigned and stale callbacks are refused before anything runs.
    let deny = callback_body("U0BOB", "stint_deny", &id, None);
    let ts = now();
    let (status, _) = post(
        &people,
        &deny,
        &ts,
        &signature("not the secret", &ts, &deny),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(&people, &deny, &ts, "").await;
    assert_eq!(status, 401);
    let old = (stint_testkit::issuer::now() - 301).to_string();
    let (status, answer) = post(&people, &deny, &old, &signature(SECRET, &old, &deny)).await;
    assert_eq!((status, &answer["error"]), (401, &json!("stale_timestamp")));
    // A body changed after signing does not verify.
    let tampered = callback_body("U0ALICE", "stint_deny", &id, None);
    let (status, _) = post(&people, &tampered, &ts, &signature(SECRET, &ts, &deny)).await;
    assert_eq!(status, 401);
    assert_eq!(state_of(&people, &id).await, "requested");

    // Alice cannot approve her own request from Slack either; a stranger is told to use the
    // page.
    let own = callback_body("U0ALICE", "stint_approve", &id, None);
    let ts = now();
    let (_, answer) = post(&people, &own, &ts, &signature(SECRET, &ts, &own)).await;
    assert!(
        answer["text"].as_str().unwrap().contains("self_approval"),
        "{answer}"
    );
    let stranger = callback_body("U0NOBODY", "stint_approve", &id, None);
    let (_, answer) = post(&people, &stranger, &ts, &signature(SECRET, &ts, &stranger)).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("not in stint's catalog"),
        "{answer}"
    );
    assert_eq!(state_of(&people, &id).await, "requested");
    assert!(people.assigned(&app.prod).await.is_empty());

    // Bob denies from Slack: acknowledged at once, the outcome posted to the response_url.
    let response_url = format!("{slack_url}/response");
    let deny = callback_body("U0BOB", "stint_deny", &id, Some(&response_url));
    let ts = now();
    let (status, _) = post(&people, &deny, &ts, &signature(SECRET, &ts, &deny)).await;
    assert_eq!(status, 200);
    let told = slack.first_at("/response").await;
    let text = told["text"].as_str().unwrap();
    assert!(text.contains("denied"), "{text}");
    assert_eq!(state_of(&people, &id).await, "denied");
}

#[tokio::test]
async fn slack_approval_where_the_rules_allow_it_assigns_in_identity_center() {
    let seed = stint_testkit::seed::Seeder::connect(&crate::harness::moto_url()).await;
    let set = format!("Acme-Readers-{}", crate::harness::random_digits(8));
    let set_arn = seed.permission_set(&set).await.unwrap();
    let (people, slack, slack_url) = spawn_with_slack_and(Some(&set)).await;
    let app = &people.app;
    let eligible = app
        .seed
        .group(&app.store, &format!("{set}-Eligible"))
        .await
        .unwrap();
    app.seed
        .add_member(&app.store, &eligible, &app.users.alice)
        .await
        .unwrap();
    let alice = people.id_token(USERS.alice, SignIn::Password);
    let input = AccessRequestInput {
        account: Some("workload-prod".into()),
        persona: Some(READERS.into()),
        duration: Some("30m".into()),
        reason: Some("read the incident's logs".into()),
        ticket: None,
        break_glass: None,
    };
    let id = app
        .client()
        .request_access(&input, Some(&alice))
        .await
        .unwrap()
        .request
        .id;
    assert!(
        app.seed
            .assigned_users(&app.prod, &set_arn)
            .await
            .unwrap()
            .is_empty()
    );

    let response_url = format!("{slack_url}/response");
    let approve = callback_body("U0BOB", "stint_approve", &id, Some(&response_url));
    let ts = now();
    let (status, _) = post(&people, &approve, &ts, &signature(SECRET, &ts, &approve)).await;
    assert_eq!(status, 200);
    let told = slack.first_at("/response").await;
    let text = told["text"].as_str().unwrap();
    assert!(text.contains("approved"), "{text}");
    assert_eq!(state_of(&people, &id).await, "approved");
    // Identity Center holds alice's assignment, read back through the SDK.
    assert_eq!(
        app.seed.assigned_users(&app.prod, &set_arn).await.unwrap(),
        vec![app.users.alice.clone()]
    );
}
