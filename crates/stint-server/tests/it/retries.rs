//! A provisioning sent again (a lost answer, a broker that died after `provisioned`) gets the
//! grant the first attempt made, never a second role: by the job's verified run and name, or
//! by the caller's `Idempotency-Key`. The job's give-back step ends every grant of the job
//! without knowing an id, and nothing of any other job. Asserted on what moto holds.

use serde_json::{Value, json};

use crate::harness::{TestApp, USERS, actions, spawn_app, spawn_pipeline_app};

impl TestApp {
    /// POSTs `body` with the given token, `Stint-Job` and `Idempotency-Key` headers.
    pub async fn post_as(
        &self,
        path: &str,
        token: Option<&str>,
        job: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(job) = job {
            request = request.header(stint_api::JOB_HEADER, job);
        }
        if let Some(key) = key {
            request = request.header(stint_api::IDEMPOTENCY_KEY_HEADER, key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The answer's grant, without the session (a retry gets a fresh one).
fn grant_of(answer: &Value) -> Value {
    json!([
        answer["transaction_id"],
        answer["iam_role_arn"],
        answer["role_name"],
        answer["expires_at"]
    ])
}

#[tokio::test]
async fn a_provisioning_sent_again_by_the_same_job_gets_the_same_grant() {
    let (app, issuer) = spawn_pipeline_app().await;
    let body = app.pipeline_request("nonprod");
    let send = |job: &'static str| {
        let token = issuer.mint(&issuer.claims());
        let body = body.clone();
        let app = &app;
        async move {
            app.post_as("/v1/provision", Some(&token), Some(job), None, Some(&body))
                .await
        }
    };
    let (status, first) = send("deploy").await;
    assert_eq!(status, 200, "{first}");
    // The answer was lost; the job asks again with a fresh token.
    let (status, again) = send("deploy").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(grant_of(&again), grant_of(&first));
    assert!(
        again["credentials"]["access_key_id"].is_string(),
        "a retry gets a session: {again}"
    );
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 1, "one role");
    let id = first["transaction_id"].as_str().unwrap();
    let read = issuer.mint(&issuer.claims());
    let (_, transaction) = app.get_with_token(id, Some(&read)).await;
    assert!(
        actions(&transaction).contains(&"credentials_reissued".to_owned()),
        "the second session is on the record: {transaction}"
    );

    // Another job of the same run asking the same is another grant.
    let (status, other) = send("test").await;
    assert_eq!(status, 200, "{other}");
    assert_ne!(other["transaction_id"], first["transaction_id"]);
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 2);

    // A token is still good for one call: resending the very same one is a replay.
    let token = issuer.mint(&issuer.claims());
    let (status, _) = app
        .post_as(
            "/v1/provision",
            Some(&token),
            Some("deploy"),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(status, 200);
    let (status, replayed) = app
        .post_as(
            "/v1/provision",
            Some(&token),
            Some("deploy"),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(
        (status, replayed["error"]["code"].as_str()),
        (401, Some("token_replayed")),
        "{replayed}"
    );
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 2);
}

#[tokio::test]
async fn an_idempotency_key_gets_the_same_grant_and_refuses_another_request() {
    let app = spawn_app().await;
    let body = app.request(USERS.alice);
    let key = uuid::Uuid::new_v4().to_string();
    let (status, first) = app
        .post_as("/v1/provision", None, None, Some(&key), Some(&body))
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = app
        .post_as("/v1/provision", None, None, Some(&key), Some(&body))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(grant_of(&again), grant_of(&first));
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 1);

    let mut other = body.clone();
    other["branch"] = json!("main");
    let (status, reused) = app
        .post_as("/v1/provision", None, None, Some(&key), Some(&other))
        .await;
    assert_eq!(
        (status, reused["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{reused}"
    );
    let (status, bad) = app
        .post_as("/v1/provision", None, None, Some("two words"), Some(&body))
        .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key")),
        "{bad}"
    );
    assert_eq!(
        app.stint_roles(&app.nonprod).await.len(),
        1,
        "refusals create nothing"
    );
    // Without a key, an operator's request is a new grant each time, as it always was.
    let (status, _) = app
        .post_as("/v1/provision", None, None, None, Some(&body))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 2);
}

#[tokio::test]
async fn the_give_back_step_ends_every_grant_of_its_job_and_only_those() {
    let (app, issuer) = spawn_pipeline_app().await;
    let body = app.pipeline_request("nonprod");
    let provision = |token: String, job: &'static str| {
        let body = body.clone();
        let app = &app;
        async move {
            let (status, answer) = app
                .post_as("/v1/provision", Some(&token), Some(job), None, Some(&body))
                .await;
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };
    // The answers are dropped, as a broker that died before sending them would leave it.
    provision(issuer.mint(&issuer.claims()), "deploy").await;
    let other_job = provision(issuer.mint(&issuer.claims()), "test").await;
    let later_run = provision(issuer.mint_with(|c| c["run_id"] = json!("9002")), "deploy").await;
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 3);

    let give_back = |token: String| {
        let app = &app;
        async move {
            app.post_as(
                "/v1/job/deprovision",
                Some(&token),
                Some("deploy"),
                None,
                None,
            )
            .await
        }
    };
    let (status, given) = give_back(issuer.mint(&issuer.claims())).await;
    assert_eq!(status, 200, "{given}");
    let ended = given["deprovisioned"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ended.len(), 1, "{given}");
    assert_eq!(ended[0]["already_deprovisioned"], false, "{given}");
    let mut left = app.stint_roles(&app.nonprod).await;
    left.sort();
    let mut expected = vec![
        other_job["role_name"].as_str().unwrap().to_owned(),
        later_run["role_name"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(left, expected, "only the job's own grant ended");

    // Safe to run again: it says the grant had ended already.
    let (status, again) = give_back(issuer.mint(&issuer.claims())).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["deprovisioned"][0]["already_deprovisioned"], true,
        "{again}"
    );
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 2);
}

#[tokio::test]
async fn only_a_pipeline_can_give_back_a_job() {
    let app = spawn_app().await;
    app.provision_alice().await;
    let (status, refused) = app
        .post_as("/v1/job/deprovision", None, Some("deploy"), None, None)
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("not_a_pipeline")),
        "{refused}"
    );
    assert_eq!(app.stint_roles(&app.nonprod).await.len(), 1);
}
