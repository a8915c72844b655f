//! Ledgers written before stored records had schema numbers (schema 1, by the stint of
//! commit 7e00f2a: `fixtures/ledger-schema1.*`, see fixtures/README.md) are read by this
//! stint on both backends: every record decodes, the public view of each is exactly the JSON
//! the API answered then, the hash chain verifies, and a new event over an old record lands
//! as schema 2.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use stint_aws::{AwsCallCounter, AwsSettings, DynamoLedger};
use stint_core::grant::{Journal, Kind, Step, stored};
use stint_core::ids::TransactionId;
use stint_core::ports::Ledger;
use stint_core::record::{Action, State};
use stint_core::subject::Actor;
use stint_server::clock::SystemClock;
use stint_server::ledger::SqliteLedger;
use stint_server::wire::transaction_view;

use crate::harness::moto_url;

const SQLITE_DUMP: &str = include_str!("../../../stint-testkit/fixtures/ledger-schema1.sql");
const DYNAMODB_ITEMS: &str =
    include_str!("../../../stint-testkit/fixtures/ledger-schema1-dynamodb.json");

/// Reads every record of an old ledger through this stint, and moves one.
async fn reads_and_moves(ledger: Arc<dyn Ledger>, bodies: HashMap<String, Value>) {
    assert_eq!(ledger.verify().await.unwrap().fault, None, "old chain");
    let journal = Journal::new(ledger.clone(), Arc::new(SystemClock));
    let mut kinds = Vec::new();
    for (id, body) in &bodies {
        let id = TransactionId::parse(id).unwrap();
        let grant = journal.load(&id).await.unwrap();
        kinds.push((grant.kind, grant.state));
        // The public view is the JSON the API answered before the stored shape changed.
        let view = serde_json::to_value(transaction_view(&grant)).unwrap();
        assert_eq!(&view, body, "{id}");
    }
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        kinds,
        [
            (Kind::Deprovision, State::Deprovisioned),
            (Kind::Provision, State::Deprovisioned),
            (Kind::Provision, State::Provisioned),
            (Kind::Provision, State::Rejected),
        ]
    );
    let (live_id, _) = bodies
        .iter()
        .find(|(_, b)| b["state"] == "provisioned")
        .unwrap();
    let live = journal
        .load(&TransactionId::parse(live_id).unwrap())
        .await
        .unwrap();
    let step = Step::new(
        &Actor("test".into()),
        Action::Unstuck,
        "touched by a newer stint",
    );
    let moved = journal
        .transition(&live, State::Provisioned, step)
        .await
        .unwrap();
    let record = ledger.get(&live.id).await.unwrap().unwrap();
    assert!(record.body.starts_with("{\"schema\":2,"), "{}", record.body);
    assert_eq!(stored::decode(&record).unwrap(), moved);
    assert_eq!(
        ledger.verify().await.unwrap().fault,
        None,
        "chain after the move"
    );
}

#[tokio::test]
async fn a_schema_1_sqlite_ledger_is_read_and_extended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SQLITE_DUMP)
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn.prepare("SELECT id, body FROM transactions").unwrap();
    let bodies: HashMap<String, Value> = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .unwrap()
        .map(|r| {
            let (id, body) = r.unwrap();
            (id, serde_json::from_str(&body).unwrap())
        })
        .collect();
    reads_and_moves(Arc::new(SqliteLedger::open(&path).unwrap()), bodies).await;
}

#[tokio::test]
async fn a_schema_1_dynamodb_ledger_is_read_and_extended() {
    let settings = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(moto_url()),
    };
    let sdk = stint_aws::load_sdk_config(&settings).await;
    let table = format!("stint-schema1-{}", uuid::Uuid::new_v4());
    let ledger = DynamoLedger::new(&sdk, AwsCallCounter::default(), &table);
    ledger.create_table().await.unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let items: Vec<HashMap<String, HashMap<String, String>>> =
        serde_json::from_str(DYNAMODB_ITEMS).unwrap();
    let mut bodies = HashMap::new();
    for item in items {
        let attributes: HashMap<String, AttributeValue> = item
            .into_iter()
            .map(|(name, typed)| {
                let (kind, value) = typed.into_iter().next().unwrap();
                let value = match kind.as_str() {
                    "S" => AttributeValue::S(value),
                    "N" => AttributeValue::N(value),
                    other => panic!("fixture attribute type {other}"),
                };
                (name, value)
            })
            .collect();
        if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(body))) =
            (attributes.get("pk"), attributes.get("body"))
        {
            let id = pk.trim_start_matches("T#").to_owned();
            bodies.insert(id, serde_json::from_str(body).unwrap());
        }
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(attributes))
            .send()
            .await
            .unwrap();
    }
    reads_and_moves(Arc::new(ledger), bodies).await;
}
