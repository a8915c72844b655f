//! Notices to people's channels, against a loopback receiver standing in for a Slack incoming
//! webhook and a generic signed webhook: each step of a request is told once, the generic
//! body's signature checks out with the shared secret, typed text cannot mention or link in
//! Slack, and a channel that fails delays its notices without failing the request.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use stint_api::AccessRequestInput;
use stint_server::notify::{SigningSecret, sign};

use crate::harness::{PeopleApp, SignIn, USERS, spawn_people_app_with};

const SECRET: &str = "a-long-random-shared-secret";

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// The status every post is answered with (0: 200).
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(record)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, url)
    }

    fn at(&self, path: &str) -> Vec<Received> {
        let all = self.received.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }
}

async fn record(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = receiver.status.load(Ordering::SeqCst);
    if status != 0 {
        return StatusCode::from_u16(status).unwrap();
    }
    receiver.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::OK
}

async fn spawn_with_channels() -> (PeopleApp, Receiver) {
    let (receiver, url) = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let extra = format!(
        r#"
[notifications]
slack_webhook_url = "{url}/slack"
webhook_url = "{url}/hook"
webhook_secret_file = "{}"
page_url = "http://127.0.0.1:8080"
"#,
        secret_file.display()
    );
    let people = spawn_people_app_with(&extra).await;
    // The secret is read at start: the file may go now.
    drop(dir);
    (people, receiver)
}

fn kinds(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn each_step_is_told_on_both_channels_signed_and_escaped() {
    let (people, receiver) = spawn_with_channels().await;
    let app = &people.app;
    let alice = people.id_token(USERS.alice, SignIn::Mfa);
    let input = AccessRequestInput {
        account: Some("workload-prod".into()),
        persona: Some("Product-Deployers".into()),
        duration: Some("1h".into()),
        reason: Some("<!channel> fix <http://evil|this>".into()),
        ticket: Some("INC-7".into()),
        break_glass: None,
    };
    let asked = app
        .client()
        .request_access(&input, Some(&alice))
        .await
        .unwrap();
    let id = asked.request.id;
    // Queued with the request, delivered by the outbox (not in the request's way).
    assert!(receiver.at("/slack").is_empty());
    let report = app.app.ops.deliver_notices().await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");

    let slack = receiver.at("/slack");
    assert_eq!(slack.len(), 1);
    let message: Value = serde_json::from_str(&slack[0].body).unwrap();
    let section = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("alice@example.com asks for Product-Deployers on workload-prod"),
        "{section}"
    );
    assert!(
        section.contains("&lt;!channel&gt;") && !section.contains("<!channel>"),
        "{section}"
    );
    let context = message["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        context.contains("Acme_Platform_Prod-Approvers"),
        "{context}"
    );
    assert_eq!(
        message["blocks"][2]["elements"][0]["url"],
        format!("http://127.0.0.1:8080/requests/{id}")
    );

    let hook = receiver.at("/hook");
    assert_eq!(hook.len(), 1);
    let header = |name: &str| hook[0].headers[name].to_str().unwrap().to_owned();
    let expected = sign(
        &SigningSecret::new(SECRET),
        &header("stint-timestamp"),
        &hook[0].body,
    );
    assert_eq!(header("stint-signature"), format!("v1={expected}"));
    let forged = sign(
        &SigningSecret::new("another secret"),
        &header("stint-timestamp"),
        &hook[0].body,
    );
    assert_ne!(header("stint-signature"), format!("v1={forged}"));
    let body: Value = serde_json::from_str(&hook[0].body).unwrap();
    assert_eq!(body["kind"], "request_created");
    assert_eq!(body["about"]["request_id"], id.as_str());
    assert_eq!(header("stint-notice-id"), body["id"].as_str().unwrap());

    // The channel is down: bob's approval goes through all the same.
    receiver.status.store(503, Ordering::SeqCst);
    let bob = people.id_token(USERS.bob, SignIn::Mfa);
    let approved = app.client().approve(&id, Some(&bob)).await.unwrap();
    assert_eq!(approved.request.state, "approved");
    let report = app.app.ops.deliver_notices().await.unwrap();
    assert_eq!((report.delivered, report.retried), (0, 2), "{report:?}");

    // Back up: after the backoff, both are delivered, once.
    receiver.status.store(0, Ordering::SeqCst);
    app.clock.advance(Duration::from_secs(3));
    let report = app.app.ops.deliver_notices().await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    let mut told = kinds(&receiver.at("/hook"));
    told[1..].sort();
    assert_eq!(
        told,
        ["request_created", "grant_started", "request_approved"]
    );
    assert_eq!(
        app.app.ops.deliver_notices().await.unwrap(),
        Default::default()
    );
}
