//! The ledger's hash chain. Each event carries the hash of the event before it, so an event
//! edited, removed or moved in storage breaks the chain at the first place it was touched.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ids::TransactionId;
use crate::record::{Action, Event, NewEvent, Status};
use crate::time_fmt::rfc3339;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Everything an event says, in a fixed field order: what the hash covers.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    transaction_id: &'a str,
    version: u64,
    at: String,
    actor: &'a str,
    action: Action,
    state: Status,
    reason: &'a str,
    data: &'a serde_json::Value,
    prev_hash: &'a str,
}

fn hash_of(fields: &Hashed<'_>) -> String {
    // Serializing strings, integers and a JSON value cannot fail.
    let bytes = serde_json::to_vec(fields).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// Seals a new event into the chain after `prev_hash` at position `seq`.
pub fn seal(
    seq: u64,
    prev_hash: &str,
    transaction_id: &TransactionId,
    version: u64,
    state: Status,
    event: NewEvent,
) -> Event {
    let hash = hash_of(&Hashed {
        seq,
        transaction_id: transaction_id.as_str(),
        version,
        at: rfc3339(event.at),
        actor: &event.actor,
        action: event.action,
        state,
        reason: &event.reason,
        data: &event.data,
        prev_hash,
    });
    Event {
        seq,
        transaction_id: transaction_id.clone(),
        version,
        at: event.at,
        actor: event.actor,
        action: event.action,
        state,
        reason: event.reason,
        data: event.data,
        prev_hash: prev_hash.to_owned(),
        hash,
    }
}

fn recompute(event: &Event) -> String {
    hash_of(&Hashed {
        seq: event.seq,
        transaction_id: event.transaction_id.as_str(),
        version: event.version,
        at: rfc3339(event.at),
        actor: &event.actor,
        action: event.action,
        state: event.state,
        reason: &event.reason,
        data: &event.data,
        prev_hash: &event.prev_hash,
    })
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum ChainFault {
    /// The event's content no longer matches its hash.
    Edited { seq: u64 },
    /// Events are missing before this one (a gap in the sequence).
    Removed { seq: u64, missing_from: u64 },
    /// This event does not follow the one stored before it: removed or reordered.
    Reordered { seq: u64 },
    /// The chain ends before the recorded head: events were removed from the end.
    Truncated { last_seq: u64, head_seq: u64 },
    /// A transaction's stored state is not what its last event says: the record was changed
    /// without an event.
    Projection { transaction_id: String },
    /// A fault in one transaction's own chain (ledgers that chain per transaction).
    InTransaction {
        transaction_id: String,
        cause: Box<ChainFault>,
    },
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edited { seq } => write!(
                f,
                "event {seq} was edited: its content does not match its hash"
            ),
            Self::Removed { seq, missing_from } => {
                write!(
                    f,
                    "events {missing_from}..{} were removed before event {seq}",
                    seq - 1
                )
            }
            Self::Reordered { seq } => write!(
                f,
                "event {seq} does not follow the event stored before it: events were removed or reordered"
            ),
            Self::Truncated { last_seq, head_seq } => write!(
                f,
                "the chain ends at event {last_seq} but its head says {head_seq}: events were removed from the end"
            ),
            Self::InTransaction {
                transaction_id,
                cause,
            } => {
                write!(f, "in transaction {transaction_id}: {cause}")
            }
            Self::Projection { transaction_id } => write!(
                f,
                "transaction {transaction_id} was changed without an event: its state does not match its last event"
            ),
        }
    }
}

/// The outcome of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub events_checked: u64,
    pub fault: Option<ChainFault>,
}

/// The chain head the ledger keeps beside the events: the last seq and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// Walks events in stored order, one at a time (a ledger can be large), and keeps the first
/// break it sees.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: String,
    checked: u64,
    fault: Option<ChainFault>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
            fault: None,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event; returns false once a fault has been found (stop feeding).
    pub fn push(&mut self, event: &Event) -> bool {
        if self.fault.is_some() {
            return false;
        }
        self.checked += 1;
        self.fault = if event.seq > self.expected_seq {
            Some(ChainFault::Removed {
                seq: event.seq,
                missing_from: self.expected_seq,
            })
        } else if event.seq < self.expected_seq || event.prev_hash != self.prev_hash {
            Some(ChainFault::Reordered { seq: event.seq })
        } else if recompute(event) != event.hash {
            Some(ChainFault::Edited { seq: event.seq })
        } else {
            None
        };
        self.expected_seq = event.seq + 1;
        self.prev_hash.clone_from(&event.hash);
        self.fault.is_none()
    }

    /// The report, checking the end of the chain against the recorded head.
    pub fn finish(self, head: Option<&ChainHead>) -> ChainReport {
        let last_seq = self.expected_seq - 1;
        let fault = self.fault.or_else(|| {
            head.filter(|h| h.seq != last_seq || h.hash != self.prev_hash)
                .map(|h| ChainFault::Truncated {
                    last_seq,
                    head_seq: h.seq,
                })
        });
        ChainReport {
            events_checked: self.checked,
            fault,
        }
    }
}

/// Verifies a whole chain held in memory.
pub fn verify<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    head: Option<&ChainHead>,
) -> ChainReport {
    let mut verifier = ChainVerifier::default();
    for event in events {
        if !verifier.push(event) {
            break;
        }
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chain(n: u64) -> Vec<Event> {
        let id = TransactionId::new_at(1_700_000_000, 0);
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event = seal(
                    seq,
                    &prev,
                    &id,
                    seq,
                    crate::record::State::Processing.into(),
                    NewEvent {
                        at: datetime!(2026-11-22 10:00:00 UTC),
                        actor: "test".into(),
                        action: Action::Requested,
                        reason: format!("event {seq}"),
                        data: serde_json::json!({"n": seq}),
                    },
                );
                prev.clone_from(&event.hash);
                event
            })
            .collect()
    }

    fn head(events: &[Event]) -> ChainHead {
        let last = events.last().unwrap();
        ChainHead {
            seq: last.seq,
            hash: last.hash.clone(),
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        let report = verify(&events, Some(&head(&events)));
        assert_eq!(
            report,
            ChainReport {
                events_checked: 5,
                fault: None
            }
        );
    }

    #[test]
    fn edits_removals_reorders_and_truncation_are_found_where_they_happen() {
        let events = chain(6);
        let h = head(&events);

        let mut edited = events.clone();
        edited[2].reason = "nothing to see".into();
        assert_eq!(
            verify(&edited, Some(&h)).fault,
            Some(ChainFault::Edited { seq: 3 })
        );

        let mut removed = events.clone();
        removed.remove(3);
        assert_eq!(
            verify(&removed, Some(&h)).fault,
            Some(ChainFault::Removed {
                seq: 5,
                missing_from: 4
            })
        );

        let mut renumbered = removed.clone();
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(
            verify(&renumbered, Some(&h)).fault,
            Some(ChainFault::Reordered { seq: 4 })
        );

        // Storage orders by seq, so a reorder moves content between positions.
        let mut swapped = events.clone();
        swapped.swap(1, 2);
        swapped[1].seq = 2;
        swapped[2].seq = 3;
        assert_eq!(
            verify(&swapped, Some(&h)).fault,
            Some(ChainFault::Reordered { seq: 2 })
        );

        let truncated = &events[..4];
        assert_eq!(
            verify(truncated, Some(&h)).fault,
            Some(ChainFault::Truncated {
                last_seq: 4,
                head_seq: 6
            })
        );
    }
}
