//! A job's always-run give-back step: ends every live grant filed under the job (repository,
//! run id, attempt, job name) without knowing an id, so a grant whose answer never reached
//! the job (the broker died after `provisioned`) goes at once instead of at its expiry.

use crate::error::{BrokerError, ErrorCode};
use crate::grant::{Caller, Deprovisioned, Ending, GrantEnder};
use crate::ids::TransactionId;
use crate::record::State;

use super::job::{JobContext, run_key};

/// What a give-back ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenBack {
    /// The job, as `repository_id/run_id/attempt/job`.
    pub run: String,
    /// Every grant of the job that was live, now ended, and those that had ended already.
    pub ended: Vec<Deprovisioned>,
    /// Still being provisioned or deprovisioned: the attempt doing it finishes it, or the
    /// reaper's sweep of stuck transactions does.
    pub in_progress: Vec<TransactionId>,
}

/// Ends the grants of the caller's job. Tries every one; the first failure is the answer.
pub async fn give_back(
    ender: &GrantEnder,
    caller: &Caller,
    context: &JobContext,
) -> Result<GivenBack, BrokerError> {
    let Some(claims) = caller.claims() else {
        return Err(BrokerError::new(
            ErrorCode::NotAPipeline,
            "only a pipeline's verified token names a job to give back; deprovision by transaction id instead",
        ));
    };
    let run = run_key(claims, context.job()?);
    let grants = ender.journal.by_run(&run).await?;
    let mut given = GivenBack {
        run,
        ended: Vec::new(),
        in_progress: Vec::new(),
    };
    let mut failure = None;
    for grant in grants {
        caller.check_owner(&grant)?;
        match grant.state {
            State::Processing | State::Deprovisioning => given.in_progress.push(grant.id),
            State::Rejected | State::Failed => {}
            State::Provisioned | State::Deprovisioned => {
                match ender
                    .end_in_any_state(grant, &caller.actor(), Ending::REQUESTED)
                    .await
                {
                    Ok(done) => given.ended.push(done),
                    Err(error) => {
                        failure.get_or_insert(error);
                    }
                }
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(given),
    }
}
