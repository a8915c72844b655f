//! Pipelines prove who they are with GitHub Actions OIDC tokens: forgeries and misuse are
//! refused, each with its own code and nothing created in AWS; valid tokens get access through
//! both delivery modes.

use serde_json::{Value, json};
use stint_core::policy::web_identity_trust_policy;
use stint_core::time_fmt::parse_rfc3339;
use stint_testkit::issuer::{self, TestIssuer, now};

use crate::harness::{TestApp, USERS, actions, decode_policy, spawn_pipeline_app};

impl TestApp {
    pub async fn post_with_token(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_with_token(&self, id: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}/v1/transactions/{id}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The pipeline contract's provisioning request, without an email: the token says who asks.
    pub fn pipeline_request(&self, account: &str) -> Value {
        let (name, id) = if account == "prod" {
            ("workload-prod", &self.prod)
        } else {
            ("workload-nonprod", &self.nonprod)
        };
        json!({ "branch": "main", "target_aws_account": name, "target_aws_account_id": id })
    }

    pub async fn assert_nothing_created(&self, what: &str) {
        assert!(
            self.stint_roles(&self.nonprod).await.is_empty(),
            "{what}: role created in nonprod"
        );
        assert!(
            self.stint_roles(&self.prod).await.is_empty(),
            "{what}: role created in prod"
        );
    }
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused_each_with_its_code() {
    let (app, issuer) = spawn_pipeline_app().await;
    let good = issuer.claims();
    let with = |change: fn(&mut Value, &TestIssuer)| {
        let mut claims = issuer.claims();
        change(&mut claims, &issuer);
        issuer.mint(&claims)
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing_token"),
        ("not a JWT", Some("not-a-jwt".into()), "malformed_token"),
        (
            "forged signature",
            Some(issuer::forged(&good)),
            "bad_signature",
        ),
        (
            "alg none",
            Some(issuer::unsigned(&good)),
            "unsupported_algorithm",
        ),
        (
            "HS256 keyed with the public key",
            Some(issuer::hs256_with_public_key(&good)),
            "unsupported_algorithm",
        ),
        ("no kid", Some(issuer::without_kid(&good)), "missing_kid"),
        (
            "unknown kid",
            Some(issuer::unknown_kid(&good)),
            "unknown_kid",
        ),
        (
            "wrong iss",
            Some(with(|c, _| c["iss"] = json!("https://token.example.com"))),
            "wrong_issuer",
        ),
        (
            "wrong aud",
            Some(with(|c, _| c["aud"] = json!("sts.amazonaws.com"))),
            "wrong_audience",
        ),
        (
            "expired",
            Some(with(|c, _| c["exp"] = json!(now() - 120))),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(with(|c, _| c["nbf"] = json!(now() + 300))),
            "token_not_yet_valid",
        ),
        (
            "too old",
            Some(with(|c, _| {
                c["iat"] = json!(now() - 3600);
                c["exp"] = json!(now() + 300);
            })),
            "token_too_old",
        ),
    ];
    for (what, token, code) in cases {
        let (status, body) = app
            .post_with_token(
                "/v1/provision",
                token.as_deref(),
                &app.pipeline_request("nonprod"),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some(code)),
            "{what}: {body}"
        );
        assert_eq!(body["status"], "rejected", "{what}");
    }
    app.assert_nothing_created("bad tokens").await;
    // The unknown kid made the broker look again, but not again and again.
    let fetches = issuer
        .jwks_fetches
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&fetches), "JWKS fetched {fetches} times");
}

#[tokio::test]
async fn a_token_is_accepted_once() {
    let (app, issuer) = spawn_pipeline_app().await;
    let token = issuer.mint(&issuer.claims());
    let (status, body) = app
        .post_with_token(
            "/v1/provision",
            Some(&token),
            &app.pipeline_request("nonprod"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post_with_token(
            "/v1/provision",
            Some(&token),
            &app.pipeline_request("nonprod"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("token_replayed")),
        "{body}"
    );
    assert_eq!(
        app.stint_roles(&app.nonprod).await.len(),
        1,
        "the replay created a role"
    );
}

#[tokio::test]
async fn runs_the_allow_lists_do_not_admit_are_refused() {
    let (app, issuer) = spawn_pipeline_app().await;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "repository not allowed",
            issuer.mint_with(|c| {
                c["repository"] = json!("acme/other");
                c["repository_id"] = json!("501");
            }),
            "nonprod",
            "repository_not_allowed",
        ),
        // Renamed away, and a new repository took the old name: the id gives it away.
        (
            "reused name, other id",
            issuer.mint_with(|c| c["repository_id"] = json!("999")),
            "nonprod",
            "repository_not_allowed",
        ),
        (
            "unprotected ref to prod",
            issuer.mint_with(|c| c["ref_protected"] = json!("false")),
            "prod",
            "unprotected_ref",
        ),
        (
            "pull_request_target to prod",
            issuer.mint_with(|c| c["event_name"] = json!("pull_request_target")),
            "prod",
            "event_not_allowed",
        ),
        (
            "pull_request_target to nonprod",
            issuer.mint_with(|c| c["event_name"] = json!("pull_request_target")),
            "nonprod",
            "event_not_allowed",
        ),
        (
            "not the pinned workflow",
            issuer.mint_with(|c| {
                c["job_workflow_ref"] =
                    json!("acme/infra/.github/workflows/deploy.yml@refs/heads/main");
            }),
            "prod",
            "workflow_not_allowed",
        ),
        (
            "actor mapped to nobody",
            issuer.mint_with(|c| c["actor_id"] = json!("4242")),
            "nonprod",
            "unknown_actor",
        ),
        (
            "actor with no directory user",
            issuer.mint_with(|c| c["actor_id"] = json!("1004")),
            "nonprod",
            "unknown_user",
        ),
        (
            "actor not in the group",
            issuer.mint_with(|c| c["actor_id"] = json!("1002")),
            "nonprod",
            "not_a_member",
        ),
    ];
    for (what, token, account, code) in cases {
        let (status, body) = app
            .post_with_token(
                "/v1/provision",
                Some(&token),
                &app.pipeline_request(account),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some(code)),
            "{what}: {body}"
        );
    }
    // The contract's typed `email` is still accepted, but must be the token's user.
    let mut typed = app.pipeline_request("nonprod");
    typed["email"] = json!(USERS.bob);
    let token = issuer.mint(&issuer.claims());
    let (status, body) = app
        .post_with_token("/v1/provision", Some(&token), &typed)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("identity_mismatch")),
        "{body}"
    );
    app.assert_nothing_created("refused runs").await;
}

#[tokio::test]
async fn broker_delivery_returns_credentials_and_records_the_verified_run() {
    let (app, issuer) = spawn_pipeline_app().await;
    let mut request = app.pipeline_request("nonprod");
    request["email"] = json!(USERS.alice);
    let token = issuer.mint(&issuer.claims());
    let (status, body) = app
        .post_with_token("/v1/provision", Some(&token), &request)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivery"], "broker");
    assert!(body["credentials"]["session_token"].as_str().is_some());

    let id = body["transaction_id"].as_str().unwrap();
    // Reading a transaction needs a token too, from the repository that asked.
    let (status, refused) = app.get_with_token(id, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
    let stranger = issuer.mint_with(|c| c["repository_id"] = json!("501"));
    let (status, refused) = app.get_with_token(id, Some(&stranger)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("not_owner"))
    );
    let (status, txn) = app
        .get_with_token(id, Some(&issuer.mint(&issuer.claims())))
        .await;
    assert_eq!(status, 200, "{txn}");
    let caller = &txn["transaction"]["caller"];
    for (claim, value) in [
        ("repository", "acme/infra"),
        ("ref", "refs/heads/main"),
        ("sha", "a1b2c3d4e5f6"),
        ("run_id", "9001"),
        ("run_attempt", "1"),
        ("workflow", "deploy"),
        ("actor_id", "1001"),
    ] {
        assert_eq!(caller[claim], value, "{claim}");
    }
    assert_eq!(txn["transaction"]["requester"], USERS.alice);
    assert_eq!(
        txn["events"][0]["actor"],
        "github:alice#1001@acme/infra#500"
    );

    // Only the same repository may end it.
    let deprovision = json!({
        "transaction_id": body["transaction_id"], "target_aws_account": "workload-nonprod", "role_arn": body["iam_role_arn"],
    });
    let stranger = issuer.mint_with(|c| c["repository_id"] = json!("501"));
    let (status, refused) = app
        .post_with_token("/v1/deprovision", Some(&stranger), &deprovision)
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("not_owner")),
        "{refused}"
    );
    let (status, done) = app
        .post_with_token(
            "/v1/deprovision",
            Some(&issuer.mint(&issuer.claims())),
            &deprovision,
        )
        .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("deprovisioned")),
        "{done}"
    );
    let (_, txn) = app
        .get_with_token(id, Some(&issuer.mint(&issuer.claims())))
        .await;
    assert_eq!(txn["transaction"]["state"], "deprovisioned");
    assert!(actions(&txn).contains(&"deprovisioned".to_owned()));
}

#[tokio::test]
async fn oidc_delivery_trusts_only_this_run_and_hands_out_no_credentials() {
    let (app, issuer) = spawn_pipeline_app().await;
    let claims = issuer.claims();
    let (status, body) = app
        .post_with_token(
            "/v1/provision",
            Some(&issuer.mint(&claims)),
            &app.pipeline_request("prod"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivery"], "oidc");
    assert!(body.get("credentials").is_none(), "{body}");

    let role_name = body["role_name"].as_str().unwrap();
    let iam = app.seed.iam(&app.prod).await.unwrap();
    let role = iam.get_role().role_name(role_name).send().await.unwrap();
    let role = role.role().unwrap();
    let trust = decode_policy(role.assume_role_policy_document().unwrap());
    let host = issuer.url.trim_start_matches("http://");
    let expires_at = parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let expected = web_identity_trust_policy(
        &format!("arn:aws:iam::{}:oidc-provider/{host}", app.prod),
        host,
        "sts.amazonaws.com",
        "repo:acme/infra:ref:refs/heads/main",
        expires_at,
    );
    assert_eq!(trust, serde_json::to_value(expected).unwrap());
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"][format!("{host}:sub")],
        claims["sub"]
    );
    // The workflow's own session may last the grant (1h30m in prod), not just one hour.
    assert_eq!(role.max_session_duration(), Some(5400));
}
