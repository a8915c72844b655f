//! The page's form posts: ask, approve, deny, withdraw. Each checks that the post is the
//! page's own (Origin and the session's CSRF token), then runs the same operation as the API
//! as the signed-in person; the core's rules (no self-approval, approver groups, sign-in
//! strength) decide, whatever the form showed. Where a rule wants a fresher or stronger
//! sign-in, the browser is sent to sign in again and brought back.

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stint_api::{AccessRequestInput, ApproveInput, DenyInput};
use stint_core::error::{BrokerError, ErrorCode};

use super::session::{SignedIn, local_url};
use super::{WebError, WebState};

type Action = Result<Response, WebError>;

#[derive(Deserialize)]
pub struct AskForm {
    csrf: Option<String>,
    account: Option<String>,
    persona: Option<String>,
    duration: Option<String>,
    reason: Option<String>,
    ticket: Option<String>,
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: Option<String>,
    comment: Option<String>,
}

pub async fn ask(
    State(web): State<WebState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<AskForm>,
) -> Action {
    web.check_post(&headers, &signed_in, form.csrf.as_deref())?;
    let present = |v: Option<String>| v.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let input = AccessRequestInput {
        account: form.account,
        persona: form.persona,
        duration: present(form.duration),
        reason: form.reason,
        ticket: present(form.ticket),
        break_glass: None,
    };
    match web.app.ops.request_access(&input, &signed_in.caller).await {
        Ok(answer) => Ok(see(&format!("/requests/{}", answer.request.id))),
        Err(error) if wants_sign_in(&error) => {
            let acr = web
                .rules(
                    input.account.as_deref().unwrap_or_default(),
                    input.persona.as_deref().unwrap_or_default(),
                )
                .and_then(|(_, rules)| rules.required_acr.clone());
            Ok(sign_in_again("/access", acr.as_deref()))
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn approve(
    State(web): State<WebState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Action {
    web.check_post(&headers, &signed_in, form.csrf.as_deref())?;
    let here = format!("/requests/{id}");
    let input = ApproveInput {
        comment: form.comment.filter(|c| !c.trim().is_empty()),
    };
    match web.app.ops.approve(&id, &input, &signed_in.caller).await {
        Ok(_) => Ok(see(&here)),
        Err(error) if wants_sign_in(&error) => {
            let request = web.app.ops.access_request(&id, &signed_in.caller).await?;
            let acr = web
                .rules(&request.request.account_id, &request.request.persona)
                .and_then(|(_, rules)| rules.required_acr.clone());
            Ok(sign_in_again(&here, acr.as_deref()))
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn deny(
    State(web): State<WebState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Action {
    web.check_post(&headers, &signed_in, form.csrf.as_deref())?;
    let input = DenyInput {
        reason: form.comment.filter(|c| !c.trim().is_empty()),
    };
    web.app.ops.deny(&id, &input, &signed_in.caller).await?;
    Ok(see(&format!("/requests/{id}")))
}

pub async fn withdraw(
    State(web): State<WebState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Action {
    web.check_post(&headers, &signed_in, form.csrf.as_deref())?;
    web.app.ops.withdraw(&id, &signed_in.caller).await?;
    Ok(see(&format!("/requests/{id}")))
}

/// The refusals a new sign-in can cure.
fn wants_sign_in(error: &BrokerError) -> bool {
    matches!(
        error.code,
        ErrorCode::MfaRequired | ErrorCode::ReauthenticationRequired
    )
}

/// Sends the browser to sign in again now (and at `acr`), then back to `next`.
fn sign_in_again(next: &str, acr: Option<&str>) -> Response {
    let mut pairs = vec![("reauth", "1"), ("next", next)];
    if let Some(acr) = acr {
        pairs.push(("acr_values", acr));
    }
    see(&local_url("/login", &pairs))
}

fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}
