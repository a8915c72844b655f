//! Every refusal answers in the API's envelope, `{"status", "error": {"code", "message"}}`,
//! with its own stable code, including those the framework would otherwise make in plain text;
//! and a pipeline that holds another repository's transaction id learns nothing about the
//! grant, whatever account and role it names.

use serde_json::{Value, json};

use crate::harness::{spawn_app, spawn_pipeline_app};

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}

fn envelope(status: u16, body: &Value) -> (u16, &str, &str) {
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (
        status,
        body["status"].as_str().unwrap_or_default(),
        body["error"]["code"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn framework_refusals_answer_in_the_envelope_with_their_own_codes() {
    let app = spawn_app().await;
    let url = |path: &str| format!("{}{path}", app.url);
    let http = &app.http;
    let large = json!({ "email": "a".repeat(70 * 1024) });
    let cases = [
        (
            "body too large",
            http.post(url("/v1/provision")).json(&large),
            (413, "rejected", "body_too_large"),
        ),
        (
            "wrong content type",
            http.post(url("/v1/provision"))
                .header("content-type", "text/plain")
                .body(app.request(crate::harness::USERS.alice).to_string()),
            (415, "rejected", "unsupported_media_type"),
        ),
        (
            "no content type",
            http.post(url("/v1/deprovision")).body("{}"),
            (415, "rejected", "unsupported_media_type"),
        ),
        (
            "malformed JSON",
            http.post(url("/v1/provision"))
                .header("content-type", "application/json")
                .body("{\"email\":"),
            (400, "rejected", "malformed_request"),
        ),
        (
            "unknown route",
            http.get(url("/v1/nothing-here")),
            (404, "rejected", "unknown_route"),
        ),
        (
            "wrong method",
            http.get(url("/v1/provision")),
            (405, "rejected", "method_not_allowed"),
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        assert_eq!(envelope(status, &body), expected, "{what}: {body}");
    }
    app.assert_nothing_created("framework refusals").await;
}

#[tokio::test]
async fn a_stranger_learns_nothing_about_a_grant_whatever_it_names() {
    let (app, issuer) = spawn_pipeline_app().await;
    let mut request = app.pipeline_request("nonprod");
    request["email"] = json!(crate::harness::USERS.alice);
    let owner = issuer.mint(&issuer.claims());
    let (status, granted) = app
        .post_with_token("/v1/provision", Some(&owner), &request)
        .await;
    assert_eq!(status, 200, "{granted}");
    let id = granted["transaction_id"].as_str().unwrap();
    let role = granted["iam_role_arn"].as_str().unwrap();
    let wrong_role = "arn:aws:iam::222222222222:role/stint/somebody-else";
    for (account, role_arn) in [
        ("workload-prod", role),
        ("workload-nonprod", wrong_role),
        ("workload-prod", wrong_role),
    ] {
        let stranger = issuer.mint_with(|c| c["repository_id"] = json!("501"));
        let body =
            json!({ "transaction_id": id, "target_aws_account": account, "role_arn": role_arn });
        let (status, refused) = app
            .post_with_token("/v1/deprovision", Some(&stranger), &body)
            .await;
        assert_eq!(
            envelope(status, &refused),
            (403, "rejected", "not_owner"),
            "deprovision naming {account} and {role_arn}: {refused}"
        );
        let text = refused.to_string();
        assert!(
            !text.contains("222222222222") && !text.contains(role),
            "{text}"
        );
    }
    let stranger = issuer.mint_with(|c| c["repository_id"] = json!("501"));
    let (status, refused) = app
        .post_with_token(
            &format!("/v1/transactions/{id}/revoke"),
            Some(&stranger),
            &json!({}),
        )
        .await;
    assert_eq!(
        envelope(status, &refused),
        (403, "rejected", "not_owner"),
        "revoke"
    );
    let stranger = issuer.mint_with(|c| c["repository_id"] = json!("501"));
    let (status, refused) = app.get_with_token(id, Some(&stranger)).await;
    assert_eq!(
        envelope(status, &refused),
        (403, "rejected", "not_owner"),
        "read"
    );
    // The owner's grant is untouched.
    let owner = issuer.mint(&issuer.claims());
    let (status, txn) = app.get_with_token(id, Some(&owner)).await;
    assert_eq!(
        (status, txn["transaction"]["state"].as_str()),
        (200, Some("provisioned"))
    );
}
