//! AWS's asynchronous Identity Center answers, which the emulator never gives (it answers
//! SUCCEEDED at once): the fault proxy plays them for account assignment creations and
//! deletions and for permission-set provisionings (whose status call the emulator lacks), as
//! AWS documents them. A scripted change answers `IN_PROGRESS` for its first
//! status reads, then either the emulator's own `SUCCEEDED` (the change was forwarded) or
//! `FAILED` with a reason (the change was not forwarded: AWS made nothing).
//! It also marks groups as provisioned by an external identity provider (SCIM), which the
//! emulator cannot make: their `DescribeGroup` answers carry `ExternalIds`, as AWS's do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How scripted changes of one kind (creations or deletions) go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusScript {
    /// Status reads that answer `IN_PROGRESS` before the outcome.
    pub pending_polls: u32,
    /// `Some(reason)`: the change fails with AWS's reason; `None`: it succeeds.
    pub failure: Option<String>,
}

/// The scripts in force and what they answered.
#[derive(Debug, Default)]
pub struct StatusScripts {
    creations: Mutex<Option<StatusScript>>,
    deletions: Mutex<Option<StatusScript>>,
    provisionings: Mutex<Option<StatusScript>>,
    /// Request id → status reads left before the outcome, and the failure reason.
    pending: Mutex<HashMap<String, (u32, Option<String>)>>,
    /// Status reads answered `IN_PROGRESS`.
    pub in_progress_answers: AtomicU64,
    /// Group ids whose `DescribeGroup` answers carry `ExternalIds` (SCIM-provisioned).
    scim_groups: Mutex<Vec<String>>,
}

/// What the proxy does with one request.
pub(crate) enum Scripted {
    /// Not scripted: forward as it is.
    Pass,
    /// Answer this without forwarding.
    Answer(Response),
    /// Forward, then rewrite the emulator's answer with `rewrite`.
    Rewrite(Box<dyn FnOnce(&Value) -> Value + Send>),
}

/// The names of one kind of change in sso-admin's JSON protocol.
struct Kind {
    status_field: &'static str,
    request_id_field: &'static str,
    /// Whether the emulator answers the status call itself once the change is done.
    emulator_answers: bool,
}

const CREATION: Kind = Kind {
    status_field: "AccountAssignmentCreationStatus",
    request_id_field: "AccountAssignmentCreationRequestId",
    emulator_answers: true,
};
const DELETION: Kind = Kind {
    status_field: "AccountAssignmentDeletionStatus",
    request_id_field: "AccountAssignmentDeletionRequestId",
    emulator_answers: true,
};
const PROVISIONING: Kind = Kind {
    status_field: "PermissionSetProvisioningStatus",
    request_id_field: "ProvisionPermissionSetRequestId",
    emulator_answers: false,
};

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

impl StatusScripts {
    pub fn script_creations(&self, script: Option<StatusScript>) {
        if let Ok(mut slot) = self.creations.lock() {
            *slot = script;
        }
    }

    pub fn script_deletions(&self, script: Option<StatusScript>) {
        if let Ok(mut slot) = self.deletions.lock() {
            *slot = script;
        }
    }

    pub fn script_provisionings(&self, script: Option<StatusScript>) {
        if let Ok(mut slot) = self.provisionings.lock() {
            *slot = script;
        }
    }

    /// Marks a group as provisioned by an external identity provider through SCIM.
    pub fn provision_by_scim(&self, group_id: &str) {
        if let Ok(mut groups) = self.scim_groups.lock() {
            groups.push(group_id.to_owned());
        }
    }

    fn describe_group(&self, body: &Bytes) -> Scripted {
        let asked: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let scim = asked
            .get("GroupId")
            .and_then(Value::as_str)
            .is_some_and(|id| {
                self.scim_groups
                    .lock()
                    .is_ok_and(|groups| groups.iter().any(|g| g == id))
            });
        if !scim {
            return Scripted::Pass;
        }
        Scripted::Rewrite(Box::new(|answer: &Value| {
            let mut answer = answer.clone();
            answer["ExternalIds"] =
                json!([{ "Issuer": "https://scim.example.com/v2", "Id": "ext-7f3a" }]);
            answer
        }))
    }

    /// What to do with a request whose `X-Amz-Target` is `target`.
    pub(crate) fn route(self: &Arc<Self>, target: &str, body: &Bytes) -> Scripted {
        let operation = target.rsplit('.').next().unwrap_or_default();
        match operation {
            "CreateAccountAssignment" => self.change(&self.creations, &CREATION),
            "DeleteAccountAssignment" => self.change(&self.deletions, &DELETION),
            "DescribeAccountAssignmentCreationStatus" => self.status(&CREATION, body),
            "DescribeAccountAssignmentDeletionStatus" => self.status(&DELETION, body),
            "ProvisionPermissionSet" => self.change(&self.provisionings, &PROVISIONING),
            "DescribePermissionSetProvisioningStatus" => self.status(&PROVISIONING, body),
            "DescribeGroup" => self.describe_group(body),
            _ => Scripted::Pass,
        }
    }

    fn change(
        self: &Arc<Self>,
        script: &Mutex<Option<StatusScript>>,
        kind: &'static Kind,
    ) -> Scripted {
        let Some(script) = script.lock().ok().and_then(|s| s.clone()) else {
            return Scripted::Pass;
        };
        if script.failure.is_some() {
            // AWS makes nothing for a change that fails: do not forward it.
            let id = format!("scripted-{}", NEXT_REQUEST.fetch_add(1, Ordering::SeqCst));
            self.remember(&id, &script);
            let status = json!({ "Status": "IN_PROGRESS", "RequestId": id });
            return Scripted::Answer(json_answer(&json!({ kind.status_field: status })));
        }
        let pending = Arc::clone(self);
        Scripted::Rewrite(Box::new(move |answer: &Value| {
            let mut answer = answer.clone();
            if let Some(status) = answer.get_mut(kind.status_field) {
                if let Some(id) = status.get("RequestId").and_then(Value::as_str) {
                    pending.remember(id, &script);
                }
                status["Status"] = json!("IN_PROGRESS");
            }
            answer
        }))
    }

    fn status(&self, kind: &'static Kind, body: &Bytes) -> Scripted {
        let asked: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(id) = asked.get(kind.request_id_field).and_then(Value::as_str) else {
            return Scripted::Pass;
        };
        let Ok(mut pending) = self.pending.lock() else {
            return Scripted::Pass;
        };
        let Some((left, failure)) = pending.get_mut(id) else {
            return Scripted::Pass;
        };
        if *left > 0 {
            *left -= 1;
            self.in_progress_answers.fetch_add(1, Ordering::SeqCst);
            let status = json!({ "Status": "IN_PROGRESS", "RequestId": id });
            return Scripted::Answer(json_answer(&json!({ kind.status_field: status })));
        }
        match failure.clone() {
            Some(reason) => {
                let status =
                    json!({ "Status": "FAILED", "RequestId": id, "FailureReason": reason });
                Scripted::Answer(json_answer(&json!({ kind.status_field: status })))
            }
            // The emulator made the change and answers SUCCEEDED itself.
            None if kind.emulator_answers => Scripted::Pass,
            None => {
                let status = json!({ "Status": "SUCCEEDED", "RequestId": id });
                Scripted::Answer(json_answer(&json!({ kind.status_field: status })))
            }
        }
    }

    fn remember(&self, id: &str, script: &StatusScript) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(
                id.to_owned(),
                (script.pending_polls, script.failure.clone()),
            );
        }
    }
}

fn json_answer(body: &Value) -> Response {
    (
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}
