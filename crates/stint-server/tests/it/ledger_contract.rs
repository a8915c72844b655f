//! One contract, two ledgers: the same tests run, unchanged, against the SQLite ledger and the
//! DynamoDB ledger (on the emulator). Each backend only says how to build one and how to tamper
//! with a stored event.

use std::sync::Arc;

use stint_aws::{AwsCallCounter, AwsSettings, DynamoLedger};
use stint_core::grant::{Grant, Kind, Mechanism, Target, Terms, stored};
use stint_core::ids::{AccountId, AccountName, Email, GroupType, RoleName, TransactionId};
use stint_core::ports::{Filing, Ledger, LedgerError, RecordWrite, RequestKey};
use stint_core::record::{Action, NewEvent, State, Status, StoredRecord};
use stint_core::subject::{Origin, Subject};
use stint_server::ledger::SqliteLedger;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::harness::moto_url;

const T0: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

fn txn(
    state: State,
    version: u64,
    expires_at: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
) -> StoredRecord {
    let id = TransactionId::new_at(
        1_800_000_000,
        uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000_000,
    );
    let terms = Terms {
        subject: Subject {
            requester: Email::parse("alice@example.com").unwrap(),
            origin: Origin::Operator,
        },
        target: Target {
            account_id: AccountId::parse("222222222222").unwrap(),
            account_name: AccountName::parse("nonprod").unwrap(),
            persona: GroupType::parse("Product-Deployers").unwrap(),
        },
        mechanism: Mechanism::Role {
            name: RoleName::for_transaction("stint", &id).unwrap(),
            arn: None,
            managed_policies: vec![],
        },
        branch: None,
        ttl_seconds: 3600,
    };
    let mut grant = Grant::new(id, Kind::Provision, state, terms, updated_at);
    grant.version = version;
    grant.expires_at = expires_at;
    stored::encode(&grant)
}

/// `t` at another status and version.
fn moved(t: &StoredRecord, status: impl Into<Status>, version: u64) -> StoredRecord {
    StoredRecord {
        status: status.into(),
        version,
        ..t.clone()
    }
}

fn event(action: Action, reason: &str) -> NewEvent {
    NewEvent {
        at: T0,
        actor: "test".into(),
        action,
        reason: reason.into(),
        data: serde_json::json!({"k": 1}),
    }
}

/// Creates `t` at version 1 and moves it to `t.state` at version 2 (two events).
async fn store(ledger: &dyn Ledger, t: &StoredRecord) {
    let first = moved(t, State::Processing, 1);
    ledger
        .append(&first, event(Action::Requested, "asked"))
        .await
        .unwrap();
    let second = moved(t, t.status, 2);
    ledger
        .append(&second, event(Action::Provisioned, "granted"))
        .await
        .unwrap();
}

/// What each backend provides to the contract.
trait Backend {
    fn ledger(&self) -> Arc<dyn Ledger>;
    /// Changes event `version` of `id` in storage, behind the ledger's back.
    async fn tamper(&self, id: &TransactionId, version: u64);
}

struct Sqlite {
    path: std::path::PathBuf,
    ledger: Arc<SqliteLedger>,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        Self {
            ledger: Arc::new(SqliteLedger::open(&path).unwrap()),
            path,
            _dir: dir,
        }
    }
}

impl Backend for Sqlite {
    fn ledger(&self) -> Arc<dyn Ledger> {
        self.ledger.clone()
    }
    async fn tamper(&self, id: &TransactionId, version: u64) {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .execute(
                "UPDATE events SET reason = 'nothing happened' WHERE transaction_id = ?1 AND version = ?2",
                rusqlite::params![id.as_str(), version],
            )
            .unwrap();
    }
}

struct Dynamo {
    table: String,
    client: aws_sdk_dynamodb::Client,
    ledger: Arc<DynamoLedger>,
}

impl Dynamo {
    async fn new() -> Self {
        let settings = AwsSettings {
            region: "us-east-1".into(),
            endpoint_url: Some(moto_url()),
        };
        let sdk = stint_aws::load_sdk_config(&settings).await;
        let table = format!("stint-test-{}", uuid::Uuid::new_v4());
        let ledger = DynamoLedger::new(&sdk, AwsCallCounter::default(), &table);
        ledger.create_table().await.unwrap();
        Self {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            table,
            ledger: Arc::new(ledger),
        }
    }
}

impl Backend for Dynamo {
    fn ledger(&self) -> Arc<dyn Ledger> {
        self.ledger.clone()
    }
    async fn tamper(&self, id: &TransactionId, version: u64) {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("T#{id}")))
            .key("sk", AttributeValue::S(format!("E#{version:010}")))
            .update_expression("SET reason = :r")
            .expression_attribute_values(":r", AttributeValue::S("nothing happened".into()))
            .send()
            .await
            .unwrap();
    }
}

async fn appends_are_conditional_on_the_version(backend: impl Backend) {
    let ledger = backend.ledger();
    let t = txn(State::Provisioned, 2, Some(T0), T0);
    store(ledger.as_ref(), &t).await;
    // A writer that read version 1 and writes version 2 again loses.
    let stale = moved(&t, State::Failed, 2);
    let conflict = ledger.append(&stale, event(Action::Failed, "late")).await;
    assert!(
        matches!(
            conflict,
            Err(LedgerError::Conflict {
                found: Some((2, Status::Grant(State::Provisioned))),
                ..
            })
        ),
        "{conflict:?}"
    );
    // Nor can a transaction be created twice.
    let again = moved(&t, State::Processing, 1);
    assert!(matches!(
        ledger
            .append(&again, event(Action::Requested, "twice"))
            .await,
        Err(LedgerError::Conflict { .. })
    ));
    assert_eq!(ledger.get(&t.id).await.unwrap().unwrap(), t);
    let events = ledger.events(&t.id).await.unwrap();
    let versions: Vec<_> = events
        .iter()
        .map(|e| (e.version, e.action, e.state))
        .collect();
    assert_eq!(
        versions,
        [
            (1, Action::Requested, State::Processing.into()),
            (2, Action::Provisioned, State::Provisioned.into())
        ]
    );
}

async fn one_of_two_racing_writers_wins(backend: impl Backend) {
    let ledger = backend.ledger();
    let t = txn(State::Provisioned, 2, Some(T0), T0);
    store(ledger.as_ref(), &t).await;
    let a = moved(&t, State::Deprovisioning, 3);
    let b = a.clone();
    let (ra, rb) = tokio::join!(
        ledger.append(&a, event(Action::DeprovisionStarted, "a")),
        ledger.append(&b, event(Action::Expired, "b"))
    );
    assert_eq!(
        usize::from(ra.is_ok()) + usize::from(rb.is_ok()),
        1,
        "{ra:?} {rb:?}"
    );
    assert_eq!(ledger.events(&t.id).await.unwrap().len(), 3);
}

async fn the_reapers_queries_find_what_is_due(backend: impl Backend) {
    let ledger = backend.ledger();
    let minute = time::Duration::minutes(1);
    let expired = txn(State::Provisioned, 2, Some(T0 - minute), T0 - 60 * minute);
    let live = txn(State::Provisioned, 2, Some(T0 + minute), T0 - 60 * minute);
    let stuck = txn(State::Processing, 2, None, T0 - 30 * minute);
    let busy = txn(State::Processing, 2, None, T0);
    for t in [&expired, &live, &stuck, &busy] {
        store(ledger.as_ref(), t).await;
    }
    let due: Vec<_> = ledger
        .expired(T0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(due, std::slice::from_ref(&expired.id));
    let stale: Vec<_> = ledger
        .stale(State::Processing.into(), T0 - 10 * minute, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(stale, std::slice::from_ref(&stuck.id));
    assert_eq!(ledger.count(State::Provisioned.into()).await.unwrap(), 2);
    assert_eq!(ledger.count(State::Processing.into()).await.unwrap(), 2);
}

async fn a_token_is_used_once(backend: impl Backend) {
    let ledger = backend.ledger();
    let jti = uuid::Uuid::new_v4().to_string();
    assert!(
        ledger
            .use_token(&jti, T0 + time::Duration::minutes(5), T0)
            .await
            .unwrap()
    );
    assert!(
        !ledger
            .use_token(&jti, T0 + time::Duration::minutes(5), T0)
            .await
            .unwrap()
    );
}

async fn an_edited_event_breaks_the_chain(backend: impl Backend) {
    let ledger = backend.ledger();
    let t = txn(State::Provisioned, 2, Some(T0), T0);
    store(ledger.as_ref(), &t).await;
    store(ledger.as_ref(), &txn(State::Failed, 2, None, T0)).await;
    let report = ledger.verify().await.unwrap();
    assert_eq!((report.fault, report.events_checked), (None, 4));
    backend.tamper(&t.id, 2).await;
    let fault = ledger
        .verify()
        .await
        .unwrap()
        .fault
        .expect("tampering went unnoticed");
    assert!(fault.to_string().contains("edited"), "{fault}");
}

/// The first write of a record filed under a request key and a run.
fn filed(t: &StoredRecord, key: &str, fingerprint: &str, run: &str) -> RecordWrite {
    RecordWrite {
        record: moved(t, State::Processing, 1),
        events: vec![(State::Processing.into(), event(Action::Requested, "asked"))],
        filing: Filing {
            request_key: Some(RequestKey {
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
                expires_at: T0 + time::Duration::hours(24),
            }),
            run: Some(run.to_owned()),
        },
    }
}

/// A request key files one record: a second record under it is refused whole (neither the
/// record nor its run filing lands) and told which record holds the key; a run finds what was
/// filed under it, and only that.
async fn a_request_key_files_one_record_and_a_run_finds_its_grants(backend: impl Backend) {
    let ledger = backend.ledger();
    let key = uuid::Uuid::new_v4().to_string();
    let run = format!("1/{}/1/deploy", uuid::Uuid::new_v4());
    let first = txn(State::Processing, 1, None, T0);
    ledger
        .write(&[filed(&first, &key, "fp-1", &run)])
        .await
        .unwrap();
    assert!(ledger.get(&first.id).await.unwrap().is_some());

    let second = txn(State::Processing, 1, None, T0);
    let refused = ledger.write(&[filed(&second, &key, "fp-2", &run)]).await;
    match refused {
        Err(LedgerError::KeyTaken {
            transaction_id,
            fingerprint,
            ..
        }) => assert_eq!(
            (transaction_id, fingerprint.as_str()),
            (first.id.clone(), "fp-1")
        ),
        other => panic!("expected KeyTaken, got {other:?}"),
    }
    assert_eq!(
        ledger.get(&second.id).await.unwrap(),
        None,
        "nothing of it landed"
    );

    let other_key = uuid::Uuid::new_v4().to_string();
    let third = txn(State::Processing, 1, None, T0);
    ledger
        .write(&[filed(&third, &other_key, "fp-3", &run)])
        .await
        .unwrap();
    let elsewhere = txn(State::Processing, 1, None, T0);
    let other_run = format!("{run}-other");
    let other = uuid::Uuid::new_v4().to_string();
    ledger
        .write(&[filed(&elsewhere, &other, "fp-4", &other_run)])
        .await
        .unwrap();

    let mut found: Vec<_> = ledger
        .by_run(&run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    found.sort();
    let mut expected = vec![first.id, third.id];
    expected.sort();
    assert_eq!(found, expected);
    assert!(ledger.by_run("1/none/1/deploy").await.unwrap().is_empty());
}

/// An access request is a record like a grant: conditional appends, the same chain, its own
/// statuses, and a body the ledger stores without reading.
async fn an_access_request_is_a_record_like_a_grant(backend: impl Backend) {
    use stint_core::access::{AccessRequest, Approval, RequestTerms};
    use stint_core::record::RequestState;
    let ledger = backend.ledger();
    let grant = txn(State::Provisioned, 2, Some(T0), T0);
    store(ledger.as_ref(), &grant).await;
    let terms = RequestTerms {
        requester: Email::parse("alice@example.com").unwrap(),
        target: Target {
            account_id: AccountId::parse("333333333333").unwrap(),
            account_name: AccountName::parse("prod").unwrap(),
            persona: GroupType::parse("Product-Deployers").unwrap(),
        },
        duration_seconds: 3600,
        reason: "INC-7".into(),
        ticket: None,
        break_glass: false,
    };
    let id = TransactionId::new_at(
        1_800_000_100,
        uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000_000,
    );
    let asked = AccessRequest::new(id.clone(), terms, T0, T0 + time::Duration::hours(1));
    ledger
        .append(&asked.encode(), event(Action::Requested, "asked"))
        .await
        .unwrap();
    let mut approved = asked.advance(RequestState::Approved, T0).unwrap();
    approved.approvals.push(Approval {
        approver: "bob@example.com".into(),
        user_id: Some("u-bob".into()),
        at: T0,
        comment: Some("checked".into()),
    });
    approved.grant = Some(TransactionId::parse(grant.id.as_str()).unwrap());
    // Two approvers racing on version 1: one wins.
    let record = approved.encode();
    let (a, b) = tokio::join!(
        ledger.append(&record, event(Action::Approved, "bob")),
        ledger.append(&record, event(Action::Approved, "carol"))
    );
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "{a:?} {b:?}"
    );
    let stored = ledger.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.kind, "request");
    assert_eq!(AccessRequest::decode(&stored).unwrap(), approved);
    assert!(
        stored::decode(&stored).is_err(),
        "a request read as a grant"
    );
    assert_eq!(
        ledger.count(RequestState::Approved.into()).await.unwrap(),
        1
    );
    let trail: Vec<_> = ledger
        .events(&id)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.version, e.action, e.state))
        .collect();
    assert_eq!(
        trail,
        [
            (1, Action::Requested, RequestState::Requested.into()),
            (2, Action::Approved, RequestState::Approved.into())
        ]
    );
    // The reaper's grant queries never return a request.
    assert!(
        ledger
            .expired(T0 + time::Duration::days(1), 100)
            .await
            .unwrap()
            .iter()
            .all(|r| r.kind != "request")
    );
    assert_eq!(ledger.verify().await.unwrap().fault, None);
}

macro_rules! contract {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Sqlite::new()).await;
            })*
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Dynamo::new().await).await;
            })*
        }
    };
}

contract!(
    appends_are_conditional_on_the_version,
    one_of_two_racing_writers_wins,
    the_reapers_queries_find_what_is_due,
    a_token_is_used_once,
    an_edited_event_breaks_the_chain,
    a_request_key_files_one_record_and_a_run_finds_its_grants,
    an_access_request_is_a_record_like_a_grant
);
