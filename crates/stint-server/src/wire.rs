//! The JSON stint speaks, over HTTP, in Lambda events and on the CLI, built from the domain.
//! The shapes themselves are `stint-api`'s (the pipeline contract's field names exactly, plus
//! `expires_at`, `delivery` and `credentials`), shared with every client; this module turns
//! core's outcomes into them and reads their inputs as the use cases' asks. The public shapes
//! are kept apart from the ledger's stored ones; this is the one place secrets are revealed, on
//! purpose.

use serde_json::Value;
use stint_core::BrokerError;
use stint_core::access::{AccessAsk, AccessRequest, Decided, Eligible};
use stint_core::catalog::Delivery as CoreDelivery;
use stint_core::catalog::Environment;
use stint_core::grant::{Deprovisioned, Grant, Joined, Mechanism};
use stint_core::pipeline::{DeprovisionAsk, GivenBack, ProvisionAsk, Provisioned};
use stint_core::record::Event;
use stint_core::subject::PipelineClaims;
use stint_core::time_fmt::rfc3339;

pub use stint_api::{
    AccessRequestInput, AccessRequestList, AccessRequestResponse, AccessRequestView, ApprovalView,
    ApproveInput, DenyInput, Eligibility, EligibleView, GrantList, PersonGrantView,
};
pub use stint_api::{
    CallerView, CredentialsBody, Delivery, DeprovisionInput, DeprovisionResponse, ErrorBody,
    ErrorDetail, EventView, FailureView, Health, JobDeprovisionResponse, ProvisionInput,
    ProvisionResponse, Secret, TransactionResponse, TransactionView,
};

/// The provisioning input as the use case reads it.
pub fn provision_ask(input: &ProvisionInput) -> ProvisionAsk<'_> {
    ProvisionAsk {
        email: input.email.as_deref(),
        branch: input.branch.as_deref(),
        target_aws_account: input.target_aws_account.as_deref(),
        target_aws_account_id: input.target_aws_account_id.as_deref(),
        group_type: input.group_type.as_deref(),
    }
}

/// The deprovisioning input as the use case reads it.
pub fn deprovision_ask(input: &DeprovisionInput) -> DeprovisionAsk<'_> {
    DeprovisionAsk {
        transaction_id: input.transaction_id.as_deref(),
        target_aws_account: input.target_aws_account.as_deref(),
        role_arn: input.role_arn.as_deref(),
    }
}

pub fn provision_response(p: &Provisioned) -> ProvisionResponse {
    ProvisionResponse {
        transaction_id: p.transaction_id.to_string(),
        iam_role_arn: p.role_arn.clone(),
        role_name: p.role_name.to_string(),
        role_ttl_hours: ttl_hours(p.ttl.as_secs()),
        status: "provisioned".to_owned(),
        expires_at: rfc3339(p.expires_at),
        delivery: match p.delivery {
            CoreDelivery::Broker => Delivery::Broker,
            CoreDelivery::Oidc => Delivery::Oidc,
        },
        credentials: p.credentials.as_ref().map(|c| CredentialsBody {
            access_key_id: Secret::new(c.access_key_id.clone()),
            secret_access_key: Secret::new(c.secret_access_key.expose()),
            session_token: Secret::new(c.session_token.expose()),
            expiration: rfc3339(c.expiration),
        }),
    }
}

/// Whole hours as an integer (`24`), otherwise hours with two decimals (`1.5`).
fn ttl_hours(seconds: u64) -> serde_json::Number {
    if seconds.is_multiple_of(3600) {
        serde_json::Number::from(seconds / 3600)
    } else {
        let hours = (seconds as f64 / 36.0).round() / 100.0;
        serde_json::Number::from_f64(hours).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

pub fn deprovision_response(d: &Deprovisioned) -> DeprovisionResponse {
    DeprovisionResponse {
        deprovisioning_transaction_id: d.deprovisioning_transaction_id.to_string(),
        status: "deprovisioned".to_owned(),
        original_transaction_id: d.original_transaction_id.to_string(),
        already_deprovisioned: d.already_deprovisioned,
    }
}

pub fn job_deprovision_response(given: &GivenBack) -> JobDeprovisionResponse {
    JobDeprovisionResponse {
        status: "deprovisioned".to_owned(),
        run: given.run.clone(),
        deprovisioned: given.ended.iter().map(deprovision_response).collect(),
        in_progress: given.in_progress.iter().map(ToString::to_string).collect(),
    }
}

/// A transaction as `GET /v1/transactions/{id}` shows it: one flat object, as it always was,
/// whatever shape the ledger stores.
pub fn transaction_view(g: &Grant) -> TransactionView {
    let terms = &g.terms;
    TransactionView {
        id: g.id.to_string(),
        kind: g.kind.as_str().to_owned(),
        state: g.state.as_str().to_owned(),
        version: g.version,
        account_id: terms.target.account_id.to_string(),
        account_name: terms.target.account_name.to_string(),
        group_type: terms.target.persona.to_string(),
        requester: terms.subject.requester.to_string(),
        branch: terms.branch.as_ref().map(ToString::to_string),
        role_name: g.role_name().map(ToString::to_string).unwrap_or_default(),
        role_arn: g.role_arn().map(str::to_owned),
        ttl_seconds: terms.ttl_seconds,
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
        expires_at: g.expires_at.map(rfc3339),
        original_transaction_id: g.links.original.as_ref().map(ToString::to_string),
        deprovisioning_transaction_id: g.links.deprovisioning.as_ref().map(ToString::to_string),
        failure: g.failure.as_ref().map(|f| FailureView {
            code: f.code.clone(),
            message: f.message.clone(),
        }),
        caller: terms.subject.pipeline().map(caller_view),
    }
}

fn caller_view(c: &PipelineClaims) -> CallerView {
    CallerView {
        sub: c.sub.clone(),
        actor: c.actor.clone(),
        actor_id: c.actor_id.clone(),
        repository: c.repository.clone(),
        repository_id: c.repository_id.clone(),
        repository_owner: c.repository_owner.clone(),
        repository_owner_id: c.repository_owner_id.clone(),
        git_ref: c.git_ref.clone(),
        ref_protected: c.ref_protected.clone(),
        sha: c.sha.clone(),
        event_name: c.event_name.clone(),
        environment: c.environment.clone(),
        workflow: c.workflow.clone(),
        job_workflow_ref: c.job_workflow_ref.clone(),
        run_id: c.run_id.clone(),
        run_attempt: c.run_attempt.clone(),
    }
}

pub fn event_view(e: &Event) -> EventView {
    EventView {
        seq: e.seq,
        transaction_id: e.transaction_id.to_string(),
        version: e.version,
        at: rfc3339(e.at),
        actor: e.actor.clone(),
        action: e.action.as_str().to_owned(),
        state: e.state.as_str().to_owned(),
        reason: e.reason.clone(),
        data: e.data.clone(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

pub fn transaction_response(grant: &Grant, events: &[Event]) -> TransactionResponse {
    TransactionResponse {
        transaction: transaction_view(grant),
        events: events.iter().map(event_view).collect(),
    }
}

/// `{"status": "rejected"|"failed", "error": {"code", "message"}, "transaction_id"?}`, as a
/// JSON value (the Lambda door stores it for retries; keys in order, as they always were).
pub fn error_body(error: &BrokerError) -> Value {
    let body = ErrorBody {
        status: if error.class().is_rejection() {
            "rejected"
        } else {
            "failed"
        }
        .to_owned(),
        error: ErrorDetail {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        },
        transaction_id: error.transaction_id.clone(),
    };
    serde_json::to_value(body).unwrap_or_default()
}

/// A person's ask as the use case reads it.
pub fn access_ask(input: &AccessRequestInput) -> AccessAsk<'_> {
    AccessAsk {
        account: input.account.as_deref(),
        persona: input.persona.as_deref(),
        duration: input.duration.as_deref(),
        reason: input.reason.as_deref(),
        ticket: input.ticket.as_deref(),
        break_glass: input.break_glass.unwrap_or(false),
    }
}

pub fn access_request_view(r: &AccessRequest) -> AccessRequestView {
    let terms = &r.terms;
    AccessRequestView {
        id: r.id.to_string(),
        state: r.state.as_str().to_owned(),
        requester: terms.requester.to_string(),
        account_id: terms.target.account_id.to_string(),
        account_name: terms.target.account_name.to_string(),
        persona: terms.target.persona.to_string(),
        duration_seconds: terms.duration_seconds,
        reason: terms.reason.clone(),
        ticket: terms.ticket.clone(),
        break_glass: terms.break_glass,
        approvals: r
            .approvals
            .iter()
            .map(|a| ApprovalView {
                approver: a.approver.clone(),
                at: rfc3339(a.at),
                comment: a.comment.clone(),
            })
            .collect(),
        grant: r.grant.as_ref().map(ToString::to_string),
        created_at: rfc3339(r.created_at),
        answer_by: rfc3339(r.answer_by),
    }
}

pub fn person_grant_view(g: &Grant, joined: Option<Joined>) -> PersonGrantView {
    let (permission_set, access_group) = match &g.terms.mechanism {
        Mechanism::Assignment { permission_set, .. } => (permission_set.clone(), None),
        Mechanism::Membership {
            permission_set,
            group,
            ..
        } => (permission_set.clone(), Some(group.clone())),
        Mechanism::Role { name, .. } => (name.to_string(), None),
    };
    PersonGrantView {
        transaction_id: g.id.to_string(),
        state: g.state.as_str().to_owned(),
        account_id: g.terms.target.account_id.to_string(),
        account_name: g.terms.target.account_name.to_string(),
        persona: g.terms.target.persona.to_string(),
        request_id: g.links.request.as_ref().map(ToString::to_string),
        permission_set,
        expires_at: g.expires_at.map(rfc3339),
        held: joined.and_then(|j| {
            serde_json::to_value(j)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        }),
        access_group,
    }
}

pub fn eligible_view(e: &Eligible) -> EligibleView {
    EligibleView {
        account_id: e.account.id.to_string(),
        account_name: e.account.name.to_string(),
        environment: match e.account.environment {
            Environment::Prod => "prod",
            Environment::Nonprod => "nonprod",
        }
        .to_owned(),
        persona: e.persona.to_string(),
        permission_set: e.permission_set.clone(),
        max_duration_seconds: e.rules.max_duration.as_secs(),
        approvals: e.rules.approvals,
        break_glass_seconds: e.rules.break_glass.map(|d| d.as_secs()),
    }
}

pub fn access_request_response(d: &Decided) -> AccessRequestResponse {
    AccessRequestResponse {
        request: access_request_view(&d.request),
        grant: d.grant.as_ref().map(|g| person_grant_view(g, d.joined)),
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::ttl_hours;

    #[test]
    fn ttl_hours_are_whole_when_they_can_be() {
        assert_eq!(ttl_hours(86400).to_string(), "24");
        assert_eq!(ttl_hours(5400).to_string(), "1.5");
        assert_eq!(ttl_hours(900).to_string(), "0.25");
    }
}
