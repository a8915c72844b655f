//! The outbox: delivers queued notices (`notice.rs`) through the `Notifier` port, oldest
//! first, each delivery recorded on the notice. A failed delivery is tried again with
//! exponential backoff, and given up on (`undeliverable`, kept in the ledger) after
//! `MAX_ATTEMPTS`. Several brokers may run it at once: each notice's move is a compare-and-set,
//! so the ledger records one outcome per attempt (delivery itself is at least once).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::error::BrokerError;
use crate::grant::{Batch, Journal, Step, ledger_error};
use crate::notice::Notice;
use crate::ports::Notifier;
use crate::record::{Action, NoticeState, Status, advanced};
use crate::subject::Actor;

/// Attempts before a notice is given up on (about an hour of backoff in all).
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between two attempts.
const LONGEST_BACKOFF: Duration = Duration::from_secs(600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxReport {
    pub delivered: u64,
    /// Failed this time, queued again.
    pub retried: u64,
    /// Failed for the last time.
    pub undeliverable: u64,
}

#[derive(Clone)]
pub struct Outbox {
    pub journal: Journal,
    pub notifier: Arc<dyn Notifier>,
}

/// The actor of deliveries.
pub const OUTBOX: &str = "outbox";

impl Outbox {
    /// Delivers the queued notices that are due, at most `limit`.
    pub async fn deliver_due(&self, limit: usize) -> Result<OutboxReport, BrokerError> {
        let now = self.journal.now();
        let queued = self
            .journal
            .ledger
            .stale(Status::Notice(NoticeState::Queued), now, limit)
            .await
            .map_err(ledger_error)?;
        let mut due: Vec<Notice> = queued
            .iter()
            .filter_map(|record| Notice::decode(record).ok())
            .filter(|notice| notice.next_attempt_at <= now)
            .collect();
        // In the order things happened (ids are time-ordered), as people should read them.
        due.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut report = OutboxReport::default();
        for notice in due {
            match self.deliver(notice).await {
                Ok(NoticeState::Delivered) => report.delivered += 1,
                Ok(NoticeState::Queued) => report.retried += 1,
                Ok(NoticeState::Undeliverable) => report.undeliverable += 1,
                // Another broker recorded this attempt first.
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// One attempt, recorded; answers the state it left the notice in.
    async fn deliver(&self, notice: Notice) -> Result<NoticeState, BrokerError> {
        let actor = Actor(OUTBOX.to_owned());
        let result = self.notifier.deliver(&notice).await;
        let now = self.journal.now();
        let attempts = notice.attempts + 1;
        let (to, step) = match &result {
            Ok(()) => (
                NoticeState::Delivered,
                Step::new(
                    &actor,
                    Action::Notified,
                    format!("{} delivered", notice.kind.as_str()),
                ),
            ),
            Err(error) => {
                let to = if attempts >= MAX_ATTEMPTS {
                    NoticeState::Undeliverable
                } else {
                    NoticeState::Queued
                };
                let why = format!("attempt {attempts} failed: {error}");
                tracing::warn!(notice = %notice.id, attempts, "notice delivery failed: {error}");
                (to, Step::new(&actor, Action::NotifyFailed, why))
            }
        };
        let Some(mut next) = advanced(&notice, to, now) else {
            return Ok(notice.state);
        };
        next.attempts = attempts;
        if let Err(error) = &result {
            next.last_error = Some(error.to_string());
            next.next_attempt_at = now + backoff(attempts);
        }
        let mut batch = Batch::default();
        let step = step.data(json!({ "attempts": attempts }));
        self.journal.stage_record(&mut batch, next.encode(), step);
        self.journal.commit(batch).await?;
        Ok(to)
    }
}

/// 2, 4, 8 … seconds, at most `LONGEST_BACKOFF`.
fn backoff(attempts: u32) -> Duration {
    let seconds = 1u64 << attempts.min(16);
    Duration::from_secs(seconds).min(LONGEST_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(32));
        assert_eq!(backoff(9), Duration::from_secs(512));
        assert_eq!(backoff(10), Duration::from_secs(600));
        assert_eq!(backoff(40), Duration::from_secs(600));
    }
}
