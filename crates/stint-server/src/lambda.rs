//! The Lambda door of the serverless deployment, on the same operations as `stint serve`:
//! `provision` and `deprovision` take and return the pipeline contract's JSON, with the job's GitHub OIDC
//! token in `id_token` (the invoking role alone does not say which person triggered the run)
//! and the job's name in `job`; `reap` runs one reaper pass on a schedule. Refusals come back
//! as `{"status": "rejected"|"failed", "error": {"code", "message"}}` with the HTTP API's codes.
//!
//! A provisioning sent again by the same job (a workflow that retries after a lost answer)
//! never creates a second role: the grant is filed under the run's request key (repository,
//! run id, attempt, job and what is asked) and a retry gets that grant back with a fresh
//! session, as over HTTP. Each invocation needs a fresh token (a token is used once), and no
//! answer is stored: credentials never rest in the ledger. A `deprovision` event without a
//! `transaction_id` is the give-back step: it ends every grant of the job.
//!
//! `people` serves people's part of the HTTP API (`/v1/requests…`, `/v1/grants`,
//! `/v1/eligibility`) behind a Lambda function URL, with the HTTP handlers themselves
//! (`function_url.rs`). Only a request bearing an ID token of the catalog's `[people]` issuer
//! gets through (then verified as over HTTP): no operator or pipeline route is reachable there.

use serde_json::{Map, Value};
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::grant::{Caller, ReapSettings};
use stint_core::pipeline::JobContext;

use crate::app::App;
use crate::function_url::{self, UrlRequest};
use crate::wire::{self, DeprovisionInput, ProvisionInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Provision,
    Deprovision,
    Reap,
    People,
}

impl Function {
    /// From `provision`, `stint-provision`, or any function name ending in one of the four.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ("provision", Self::Provision),
            ("deprovision", Self::Deprovision),
            ("reap", Self::Reap),
            ("people", Self::People),
        ]
        .into_iter()
        .filter(|(suffix, _)| name.ends_with(suffix))
        .max_by_key(|(suffix, _)| suffix.len())
        .map(|(_, function)| function)
    }
}

/// Handles one event. Never fails: every outcome is an answer for the workflow to read.
pub async fn handle(app: &App, function: Function, event: Value) -> Value {
    if function == Function::People {
        return people(app, event).await;
    }
    if function == Function::Reap {
        return match app.ops.reap(&ReapSettings::default()).await {
            Ok(report) => serde_json::to_value(report).unwrap_or_default(),
            Err(error) => wire::error_body(&error),
        };
    }
    match handle_request(app, function, event).await {
        Ok(answer) | Err(answer) => answer,
    }
}

async fn handle_request(app: &App, function: Function, event: Value) -> Result<Value, Value> {
    let refusal = |error: BrokerError| wire::error_body(&error);
    let Value::Object(mut fields) = event else {
        return Err(refusal(BrokerError::new(
            ErrorCode::MalformedRequest,
            "the event must be a JSON object",
        )));
    };
    let token = take_string(&mut fields, "id_token").ok_or_else(|| {
        refusal(BrokerError::new(
            ErrorCode::MissingToken,
            "the event needs the job's OIDC token in `id_token`",
        ))
    })?;
    let context = JobContext {
        job: take_string(&mut fields, "job"),
        idempotency_key: None,
    };
    let verifier = app.verifier.as_ref().ok_or_else(|| {
        refusal(BrokerError::new(
            ErrorCode::MissingToken,
            "the broker's catalog has no [oidc] issuer to verify tokens with",
        ))
    })?;
    let claims = verifier.verify(&token).await.map_err(refusal)?;
    let caller = Caller::Pipeline(Box::new(claims));
    Ok(run(app, function, &caller, &context, fields).await)
}

async fn run(
    app: &App,
    function: Function,
    caller: &Caller,
    context: &JobContext,
    fields: Map<String, Value>,
) -> Value {
    let give_back = function == Function::Deprovision && !fields.contains_key("transaction_id");
    let event = Value::Object(fields);
    let malformed = |e: serde_json::Error| {
        wire::error_body(&BrokerError::new(
            ErrorCode::MalformedRequest,
            format!("the event is not the expected JSON: {e}"),
        ))
    };
    let answer = match function {
        Function::Provision => match serde_json::from_value::<ProvisionInput>(event) {
            Ok(input) => app
                .ops
                .provision(&input, caller, context)
                .await
                .map(to_value),
            Err(e) => return malformed(e),
        },
        Function::Deprovision if give_back => {
            app.ops.deprovision_job(caller, context).await.map(to_value)
        }
        Function::Deprovision => match serde_json::from_value::<DeprovisionInput>(event) {
            Ok(input) => app.ops.deprovision(&input, caller).await.map(to_value),
            Err(e) => return malformed(e),
        },
        Function::Reap | Function::People => {
            return wire::error_body(&BrokerError::new(
                ErrorCode::MalformedRequest,
                "this function takes no pipeline request",
            ));
        }
    };
    answer.unwrap_or_else(|error| wire::error_body(&error))
}

/// A function URL request for people's part of the API, let through only with a person's
/// ID token: without `[oidc]` a request without one would be the local operator.
async fn people(app: &App, event: Value) -> Value {
    let refuse = |error: BrokerError| {
        let status = crate::http::status_of(error.class());
        function_url::answer(status, wire::error_body(&error))
    };
    let Some(request) = UrlRequest::from_event(&event) else {
        return refuse(BrokerError::new(
            ErrorCode::MalformedRequest,
            "the people function answers Lambda function URL requests only",
        ));
    };
    let Some((verifier, _)) = &app.people_verifier else {
        return refuse(BrokerError::new(
            ErrorCode::PeopleNotEnabled,
            "the catalog has no [people] section",
        ));
    };
    let from_people = request
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .and_then(crate::http::unverified_issuer)
        .is_some_and(|iss| iss == verifier.issuer());
    if !from_people && request.path != "/healthz" {
        return refuse(BrokerError::new(
            ErrorCode::MissingToken,
            "send your ID token from the organisation's identity provider as Authorization: Bearer (stint login)",
        ));
    }
    function_url::serve(crate::http::people_router(app.clone()), request).await
}

fn to_value(answer: impl serde::Serialize) -> Value {
    serde_json::to_value(answer).unwrap_or_default()
}

fn take_string(fields: &mut Map<String, Value>, name: &str) -> Option<String> {
    match fields.remove(name) {
        Some(Value::String(value)) if !value.is_empty() => Some(value),
        _ => None,
    }
}
