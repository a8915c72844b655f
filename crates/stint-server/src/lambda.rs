//! The Lambda door of the serverless deployment, on the same operations as `stint serve`:
//! `provision` and `deprovision` take and return the pipeline contract's JSON, with the job's GitHub OIDC
//! token in `id_token` (the invoking role alone does not say which person triggered the run)
//! and the job's name in `job`; `reap` runs one reaper pass on a schedule. Refusals come back
//! as `{"status": "rejected"|"failed", "error": {"code", "message"}}` with the HTTP API's codes.
//!
//! A retried invocation (Lambda's own retries, a workflow that sends again) never creates a
//! second role: the run's idempotency key (repository, run id, attempt, job and what is asked)
//! is held in the ledger with the first result, which every retry gets back.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::grant::{Caller, ReapSettings};
use stint_core::ports::Idempotency;
use stint_core::subject::PipelineClaims;

use crate::app::App;
use crate::ops::error_chain;
use crate::tokens::VerifiedToken;
use crate::wire::{self, DeprovisionInput, ProvisionInput};

/// How long a run's first answer is kept for its retries.
const IDEMPOTENCY_WINDOW: time::Duration = time::Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Provision,
    Deprovision,
    Reap,
}

impl Function {
    /// From `provision`, `stint-provision`, or any function name ending in one of the three.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ("provision", Self::Provision),
            ("deprovision", Self::Deprovision),
            ("reap", Self::Reap),
        ]
        .into_iter()
        .filter(|(suffix, _)| name.ends_with(suffix))
        .max_by_key(|(suffix, _)| suffix.len())
        .map(|(_, function)| function)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Deprovision => "deprovision",
            Self::Reap => "reap",
        }
    }
}

/// Handles one event. Never fails: every outcome is an answer for the workflow to read.
pub async fn handle(app: &App, function: Function, event: Value) -> Value {
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
    let job = take_string(&mut fields, "job").unwrap_or_default();
    let verifier = app.verifier.as_ref().ok_or_else(|| {
        refusal(BrokerError::new(
            ErrorCode::MissingToken,
            "the broker's catalog has no [oidc] issuer to verify tokens with",
        ))
    })?;
    let verified = verifier.check(&token).await.map_err(refusal)?;
    let key = idempotency_key(function, &verified.claims, &job, &fields);
    let journal = &app.ops.cases.journal;
    let keep_until = journal.now() + IDEMPOTENCY_WINDOW;
    match journal.ledger.begin_idempotent(&key, keep_until).await {
        Ok(Idempotency::Done(first)) => {
            return serde_json::from_str(&first).map_err(|_| Value::Null);
        }
        Ok(Idempotency::InProgress) => {
            return Err(refusal(BrokerError::new(
                ErrorCode::InProgress,
                "an earlier invocation for this run is still being handled",
            )));
        }
        Ok(Idempotency::New) => {}
        Err(e) => {
            return Err(refusal(
                BrokerError::new(ErrorCode::LedgerError, "the ledger could not be read")
                    .with_cause(e),
            ));
        }
    }
    let answer = run(app, function, verified, fields).await;
    // Every later retry gets exactly this answer, refusals included.
    if let Err(e) = journal
        .ledger
        .finish_idempotent(&key, &answer.to_string())
        .await
    {
        tracing::error!("storing the answer for {key}: {}", error_chain(&e));
    }
    Ok(answer)
}

async fn run(
    app: &App,
    function: Function,
    verified: VerifiedToken,
    fields: Map<String, Value>,
) -> Value {
    let consumed = match &app.verifier {
        Some(verifier) => verifier.consume(&verified).await,
        None => Ok(()),
    };
    if let Err(error) = consumed {
        return wire::error_body(&error);
    }
    let caller = Caller::Pipeline(Box::new(verified.claims));
    let event = Value::Object(fields);
    let malformed = |e: serde_json::Error| {
        wire::error_body(&BrokerError::new(
            ErrorCode::MalformedRequest,
            format!("the event is not the expected JSON: {e}"),
        ))
    };
    let answer = match function {
        Function::Provision => match serde_json::from_value::<ProvisionInput>(event) {
            Ok(input) => app.ops.provision(&input, &caller).await.map(to_value),
            Err(e) => return malformed(e),
        },
        Function::Deprovision => match serde_json::from_value::<DeprovisionInput>(event) {
            Ok(input) => app.ops.deprovision(&input, &caller).await.map(to_value),
            Err(e) => return malformed(e),
        },
        Function::Reap => {
            return wire::error_body(&BrokerError::new(
                ErrorCode::MalformedRequest,
                "reap takes no request",
            ));
        }
    };
    answer.unwrap_or_else(|error| wire::error_body(&error))
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

/// The same run, job and request always give the same key; anything else, another.
fn idempotency_key(
    function: Function,
    claims: &PipelineClaims,
    job: &str,
    request: &Map<String, Value>,
) -> String {
    let material = serde_json::json!([
        function.name(),
        claims.repository_id,
        claims.run_id,
        claims.run_attempt,
        job,
        request,
    ]);
    hex::encode(Sha256::digest(material.to_string()))
}
