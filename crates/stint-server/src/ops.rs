//! The operations layer: every door (HTTP, Lambda, CLI) runs an operation through here. An
//! operation takes the wire input, runs the use case, counts its outcome in the metrics,
//! logs what happened (never a credential), and answers with the wire type, so a rule or a
//! log line lives in one place whatever door the caller came through.

use std::fmt::Write as _;
use std::sync::Arc;

use stint_core::access::{Decided, PeopleAccess};
use stint_core::audit::ChainReport;
use stint_core::error::{BrokerError, ErrorCode};
use stint_core::grant::{self, Caller, ReapReport, ReapSettings};
use stint_core::ids::TransactionId;
use stint_core::outbox::OutboxReport;
use stint_core::pipeline::{self, JobContext};
use stint_core::wiring::UseCases;

use crate::metrics::BrokerMetrics;
use crate::wire::{
    self, AccessRequestInput, AccessRequestList, AccessRequestResponse, ApproveInput, DenyInput,
    DeprovisionInput, DeprovisionResponse, Eligibility, GrantList, JobDeprovisionResponse,
    ProvisionInput, ProvisionResponse, TransactionResponse,
};

/// Notices one outbox pass delivers at most.
const NOTICES_PER_PASS: usize = 100;

#[derive(Clone)]
pub struct Operations {
    pub cases: UseCases,
    pub metrics: Arc<BrokerMetrics>,
}

impl Operations {
    /// Provisions for `caller`, from the job `context` names (retry-safe under its key).
    pub async fn provision(
        &self,
        input: &ProvisionInput,
        caller: &Caller,
        context: &JobContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        let result = self
            .cases
            .provision
            .run(&wire::provision_ask(input), caller, context)
            .await;
        self.metrics.outcome("provision", &result);
        let provisioned = result?;
        tracing::info!(
            transaction_id = %provisioned.transaction_id,
            role_arn = %provisioned.role_arn,
            delivery = ?provisioned.delivery,
            // No part of a credential is logged, not even the access key id.
            credentials = provisioned.credentials.as_ref().map(|_| "[redacted]"),
            "provisioned"
        );
        Ok(wire::provision_response(&provisioned))
    }

    pub async fn deprovision(
        &self,
        input: &DeprovisionInput,
        caller: &Caller,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let result =
            pipeline::deprovision(&self.cases.ender, &wire::deprovision_ask(input), caller).await;
        self.metrics.outcome("deprovision", &result);
        let done = result?;
        tracing::info!(
            transaction_id = %done.original_transaction_id,
            deprovisioning_transaction_id = %done.deprovisioning_transaction_id,
            already = done.already_deprovisioned,
            "deprovisioned"
        );
        Ok(wire::deprovision_response(&done))
    }

    /// Ends every grant of the calling pipeline's job (the give-back step, with no id).
    pub async fn deprovision_job(
        &self,
        caller: &Caller,
        context: &JobContext,
    ) -> Result<JobDeprovisionResponse, BrokerError> {
        let result = pipeline::give_back(&self.cases.ender, caller, context).await;
        self.metrics.outcome("deprovision_job", &result);
        let given = result?;
        tracing::info!(
            run = %given.run,
            deprovisioned = given.ended.len(),
            in_progress = given.in_progress.len(),
            "job deprovisioned"
        );
        Ok(wire::job_deprovision_response(&given))
    }

    /// Ends grant `id` now, cutting off its sessions: the owning pipeline, or an operator.
    pub async fn revoke(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let result = grant::revoke(&self.cases.ender, &id, caller).await;
        self.metrics.outcome("revoke", &result);
        let done = result?;
        tracing::info!(transaction_id = %id, "revoked");
        Ok(wire::deprovision_response(&done))
    }

    /// A transaction and its events, for whoever may see it.
    pub async fn transaction(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Result<TransactionResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let (grant, events) = grant::read(&self.cases.journal, &id, caller).await?;
        Ok(wire::transaction_response(&grant, &events))
    }

    fn people(&self) -> Result<&PeopleAccess, BrokerError> {
        self.cases.people.as_ref().ok_or_else(|| {
            BrokerError::new(
                ErrorCode::PeopleNotEnabled,
                "this broker has no [people] in its catalog (or no Identity Center instance)",
            )
        })
    }

    /// A person asks for access; with no approvals needed the grant starts now.
    pub async fn request_access(
        &self,
        input: &AccessRequestInput,
        caller: &Caller,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let result = self.people()?.ask(&wire::access_ask(input), caller).await;
        self.metrics.outcome("request_access", &result);
        self.log_decided("access requested", result)
    }

    pub async fn approve(
        &self,
        id: &str,
        input: &ApproveInput,
        caller: &Caller,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let result = self
            .people()?
            .approve(&id, caller, input.comment.as_deref())
            .await;
        self.metrics.outcome("approve", &result);
        self.log_decided("request approved", result)
    }

    pub async fn deny(
        &self,
        id: &str,
        input: &DenyInput,
        caller: &Caller,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let reason = input.reason.as_deref().unwrap_or("");
        let result = self.people()?.deny(&id, caller, reason).await;
        self.metrics.outcome("deny", &result);
        self.log_decided("request denied", result)
    }

    pub async fn withdraw(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let result = self.people()?.withdraw(&id, caller).await;
        self.metrics.outcome("withdraw", &result);
        self.log_decided("request withdrawn", result)
    }

    /// The caller's requests and those waiting for their approval.
    pub async fn access_requests(&self, caller: &Caller) -> Result<AccessRequestList, BrokerError> {
        let people = self.people()?;
        let mine = people.mine(caller).await?;
        let to_approve = people.to_approve(caller).await?;
        Ok(AccessRequestList {
            mine: mine
                .requests
                .iter()
                .map(wire::access_request_view)
                .collect(),
            to_approve: to_approve.iter().map(wire::access_request_view).collect(),
        })
    }

    /// What the caller may ask for, and where their CLI profiles sign in.
    pub async fn eligibility(&self, caller: &Caller) -> Result<Eligibility, BrokerError> {
        let people = self.people()?;
        let eligible = people.eligibility(caller).await?;
        let settings = self.cases.catalog.people();
        Ok(Eligibility {
            portal_url: settings.and_then(|s| s.portal_url.clone()),
            sso_region: settings.and_then(|s| s.sso_region.clone()),
            eligible: eligible.iter().map(wire::eligible_view).collect(),
        })
    }

    /// The caller's own grants.
    pub async fn person_grants(&self, caller: &Caller) -> Result<GrantList, BrokerError> {
        let mine = self.people()?.mine(caller).await?;
        Ok(GrantList {
            grants: mine
                .grants
                .iter()
                .map(|g| wire::person_grant_view(g, None))
                .collect(),
        })
    }

    /// A request and the grant it started, for its requester or an approver.
    pub async fn access_request(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let id = TransactionId::parse(id)?;
        let request = self.people()?.read(&id, caller).await?;
        let grant = match &request.grant {
            Some(grant) => self.cases.journal.find(grant).await?,
            None => None,
        };
        let events = self.cases.journal.events(&id).await?;
        Ok(AccessRequestResponse {
            request: wire::access_request_view(&request),
            grant: grant.as_ref().map(|g| wire::person_grant_view(g, None)),
            events: events.iter().map(wire::event_view).collect(),
        })
    }

    fn log_decided(
        &self,
        what: &str,
        result: Result<Decided, BrokerError>,
    ) -> Result<AccessRequestResponse, BrokerError> {
        let decided = result?;
        tracing::info!(
            request_id = %decided.request.id,
            state = %decided.request.state,
            transaction_id = decided.grant.as_ref().map(|g| g.id.to_string()),
            "{what}"
        );
        Ok(wire::access_request_response(&decided))
    }

    /// One reaper pass, counted and logged.
    pub async fn reap(&self, settings: &ReapSettings) -> Result<ReapReport, BrokerError> {
        let result = self.cases.reap(settings).await;
        // What the pass ended is told at once (the Lambda reaper and `stint reap` have no
        // outbox loop of their own).
        let _ = self.deliver_notices().await;
        match &result {
            Ok(report) => {
                self.metrics.reaped(report);
                if *report == ReapReport::default() {
                    tracing::debug!("reaper: nothing to do");
                } else {
                    tracing::info!(
                        expired = report.expired,
                        stuck = report.stuck,
                        orphans = report.orphans,
                        stray_assignments = report.stray_assignments,
                        requests_expired = report.requests_expired,
                        errors = report.errors,
                        "reaper pass"
                    );
                }
            }
            Err(error) => tracing::error!("reaper pass failed: {}", error_chain(error)),
        }
        result
    }

    /// Delivers the queued notices that are due; logs what it did.
    pub async fn deliver_notices(&self) -> Result<OutboxReport, BrokerError> {
        let result = self.cases.deliver_notices(NOTICES_PER_PASS).await;
        match &result {
            Ok(report) if *report != OutboxReport::default() => tracing::info!(
                delivered = report.delivered,
                retried = report.retried,
                undeliverable = report.undeliverable,
                "outbox pass"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!("outbox pass failed: {}", error_chain(error)),
        }
        result
    }

    /// Checks the ledger's hash chain.
    pub async fn verify_audit(&self) -> Result<ChainReport, BrokerError> {
        self.cases
            .journal
            .ledger
            .verify()
            .await
            .map_err(grant::ledger_error)
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics_text(&self, aws: &stint_aws::AwsCallCounter) -> String {
        self.metrics
            .render(self.cases.journal.ledger.as_ref(), aws)
            .await
    }
}

/// The error and every cause under it, for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
