//! The ledger on DynamoDB, for several brokers (Lambda functions, `stint serve` replicas)
//! sharing one table. One item per record (a grant, an access request) and one per event, in the
//! record's partition. Items written before `kind` was an attribute carry it in the body.
//!
//! | item        | pk          | sk           | attributes                                          |
//! |-------------|-------------|--------------|-----------------------------------------------------|
//! | record      | `T#<id>`    | `T`          | `v` version, `st` status, `kind`, `exp`/`upd` unix seconds, `head` last event hash, `body` JSON |
//! | event       | `T#<id>`    | `E#<v:010>`  | `at`, `actor`, `action`, `es` state, `reason`, `data`, `prev`, `hash` |
//! | used token  | `J#<jti>`   | `J`          | `ttl` (DynamoDB TTL removes it after expiry)        |
//! | request key | `K#<key>`   | `K`          | `id` the record it files, `fp` fingerprint, `ttl`   |
//! | run filing  | `R#<run>`   | `T#<id>`     | (none: the key names the record)                    |
//!
//! Every write is one `TransactWriteItems`: for each record in it (a saga step may move a grant
//! and create its linked record at once), the record item, conditional on the version (and
//! chain head) this writer saw, its event items, conditional on not existing, and on a first
//! write its filing: the request key (conditional on no live key) and the run item. The
//! reaper's queries use two sparse indexes: `by_expiry` (`st`, `exp`) and `by_update` (`st`, `upd`);
//! `by_run` queries a run's partition, strongly consistent (no index to lag behind).
//!
//! Tamper evidence with many writers: each transaction is its own hash chain (event N carries
//! the hash of event N-1, and the transaction item the hash of the last). Writers never
//! contend on a shared chain head, so the chain costs no throughput; an edited, removed or
//! reordered event, or a transaction changed without an event, is found by `verify`. Deleting
//! a whole transaction's items is not visible in its chain: the table's deletion protection,
//! point-in-time recovery and IAM (no function may delete items) cover that.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, Put, ScalarAttributeType, Select,
    SseSpecification, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use stint_core::audit::{self, ChainFault, ChainReport, ChainVerifier};
use stint_core::ids::TransactionId;
use stint_core::ports::{Filing, Ledger, LedgerError, PortError, RecordWrite};
use stint_core::record::{Event, State, Status, StoredRecord, kind_name};
use stint_core::time_fmt::{parse_rfc3339, rfc3339};
use time::OffsetDateTime;

use crate::calls::AwsCallCounter;
use crate::error::port_error;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub const BY_EXPIRY: &str = "by_expiry";
pub const BY_UPDATE: &str = "by_update";

pub struct DynamoLedger {
    client: Client,
    table: String,
    /// This process's view of each open transaction's chain head: saves a read per append.
    /// A stale head only makes the conditional write fail, which is a conflict anyway.
    heads: Mutex<HashMap<TransactionId, (u64, String)>>,
}

impl DynamoLedger {
    /// A DynamoDB error as the ledger's; a missing table says how to make it, once.
    fn failed<E>(&self, context: impl Into<String>, error: E) -> LedgerError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if error.code() == Some("ResourceNotFoundException") {
            return storage(PortError::new(
                context,
                format!(
                    "the DynamoDB table {table} does not exist: create it with `stint ledger init dynamodb://{table}` (or deploy/broker.yaml)",
                    table = self.table
                ),
            ));
        }
        storage(port_error(context, error))
    }
}

/// What `init_table` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableInit {
    Created,
    /// A ledger table was there already; TTL and recovery are on now.
    AlreadyThere,
}

fn storage(error: PortError) -> LedgerError {
    LedgerError::Storage(Box::new(error))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &HashMap<String, AttributeValue>, key: &str) -> Option<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn get_i(item: &HashMap<String, AttributeValue>, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn txn_pk(id: &TransactionId) -> String {
    format!("T#{id}")
}

fn event_sk(version: u64) -> String {
    format!("E#{version:010}")
}

fn key_pk(key: &str) -> String {
    format!("K#{key}")
}

impl DynamoLedger {
    pub fn new(sdk: &SdkConfig, counter: AwsCallCounter, table: impl Into<String>) -> Self {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(counter)
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
            heads: Mutex::new(HashMap::new()),
        }
    }

    /// Creates the table with the schema `deploy/broker.yaml` declares (for tests and local
    /// use; production tables come from CloudFormation or `init_table`).
    pub async fn create_table(&self) -> Result<(), PortError> {
        self.table_spec()?
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(format!("creating table {}", self.table), e))
    }

    /// `stint ledger init`: makes the ledger's table as `deploy/broker.yaml` does (keys, both
    /// indexes, on-demand, deletion protection, encryption, TTL on `ttl`, point-in-time
    /// recovery), or checks that an existing one has the ledger's keys and indexes and turns
    /// on the TTL and recovery it lacks. Safe to run again.
    pub async fn init_table(&self) -> Result<TableInit, PortError> {
        let context = || format!("creating table {}", self.table);
        let created = self
            .table_spec()?
            .deletion_protection_enabled(true)
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .send()
            .await;
        let outcome = match created {
            Ok(_) => TableInit::Created,
            Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => {
                self.check_shape().await?;
                TableInit::AlreadyThere
            }
            Err(e) => return Err(port_error(context(), e)),
        };
        self.wait_active().await?;
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| port_error(format!("reading the TTL of {}", self.table), e))?;
        let ttl_on = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status())
            .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
        if !ttl_on {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .map_err(build_error)?;
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(spec)
                .send()
                .await
                .map_err(|e| port_error(format!("turning on the TTL of {}", self.table), e))?;
        }
        let recovery = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .map_err(build_error)?;
        self.client
            .update_continuous_backups()
            .table_name(&self.table)
            .point_in_time_recovery_specification(recovery)
            .send()
            .await
            .map_err(|e| port_error(format!("turning on recovery for {}", self.table), e))?;
        Ok(outcome)
    }

    /// An existing table must have the ledger's keys and both indexes.
    async fn check_shape(&self) -> Result<(), PortError> {
        let described = self.describe().await?;
        let table = described.as_ref();
        let keys: Vec<(&str, &KeyType)> = table
            .map(|t| t.key_schema())
            .unwrap_or_default()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        let indexes: Vec<&str> = table
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.index_name())
            .collect();
        let keyed = keys == [("pk", &KeyType::Hash), ("sk", &KeyType::Range)];
        if keyed && indexes.contains(&BY_EXPIRY) && indexes.contains(&BY_UPDATE) {
            return Ok(());
        }
        Err(PortError::new(
            format!("checking table {}", self.table),
            format!(
                "it exists but is not a stint ledger (keys {keys:?}, indexes {indexes:?}; a ledger has pk/sk and the indexes {BY_EXPIRY} and {BY_UPDATE}): name another table"
            ),
        ))
    }

    async fn describe(
        &self,
    ) -> Result<Option<aws_sdk_dynamodb::types::TableDescription>, PortError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| port_error(format!("describing table {}", self.table), e))?;
        Ok(described.table)
    }

    /// Waits (up to a minute) until the table is ACTIVE: TTL and recovery need it so.
    async fn wait_active(&self) -> Result<(), PortError> {
        for _ in 0..60 {
            let described = self.describe().await?;
            let status = described.as_ref().and_then(|t| t.table_status());
            if status == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Err(PortError::new(
            format!("creating table {}", self.table),
            "it did not become ACTIVE within a minute",
        ))
    }

    /// The table as `deploy/broker.yaml` declares it: keys, attributes, both indexes.
    fn table_spec(
        &self,
    ) -> Result<
        aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
        PortError,
    > {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attribute = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
        };
        let index = |name: &str, range: &str| -> Result<GlobalSecondaryIndex, PortError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key("st", KeyType::Hash).map_err(build_error)?)
                .key_schema(key(range, KeyType::Range).map_err(build_error)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)
        };
        Ok(self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(build_error)?)
            .key_schema(key("sk", KeyType::Range).map_err(build_error)?)
            .attribute_definitions(attribute("pk", ScalarAttributeType::S).map_err(build_error)?)
            .attribute_definitions(attribute("sk", ScalarAttributeType::S).map_err(build_error)?)
            .attribute_definitions(attribute("st", ScalarAttributeType::S).map_err(build_error)?)
            .attribute_definitions(attribute("exp", ScalarAttributeType::N).map_err(build_error)?)
            .attribute_definitions(attribute("upd", ScalarAttributeType::N).map_err(build_error)?)
            .global_secondary_indexes(index(BY_EXPIRY, "exp")?)
            .global_secondary_indexes(index(BY_UPDATE, "upd")?))
    }

    /// The chain head `write` must follow: the hash of the stored record's expected version.
    async fn head_before(&self, write: &RecordWrite) -> Result<String, LedgerError> {
        let expected = write.expected_version();
        if expected == 0 {
            return Ok(audit::GENESIS.to_owned());
        }
        let id = &write.record.id;
        let cached = self.heads.lock().ok().and_then(|h| h.get(id).cloned());
        if let Some((version, hash)) = cached
            && version == expected
        {
            return Ok(hash);
        }
        let item = self.get_item(id).await?;
        Ok(item
            .as_ref()
            .and_then(|i| get_s(i, "head"))
            .unwrap_or(audit::GENESIS)
            .to_owned())
    }

    /// The record item of `write`, conditional on the version and chain head it follows.
    fn record_put(&self, write: &RecordWrite, prev: &str, head: &str) -> PutBuilder {
        let txn = &write.record;
        let mut item = HashMap::from([
            ("pk".to_owned(), s(txn_pk(&txn.id))),
            ("sk".to_owned(), s("T")),
            ("v".to_owned(), n(txn.version)),
            ("st".to_owned(), s(txn.status.as_str())),
            ("kind".to_owned(), s(txn.kind)),
            ("upd".to_owned(), n(txn.updated_at.unix_timestamp())),
            ("head".to_owned(), s(head)),
            ("body".to_owned(), s(&txn.body)),
        ]);
        if let Some(expires_at) = txn.expires_at {
            item.insert("exp".to_owned(), n(expires_at.unix_timestamp()));
        }
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        match write.expected_version() {
            0 => put.condition_expression("attribute_not_exists(pk)"),
            expected => put
                .condition_expression("v = :prev AND head = :head")
                .expression_attribute_values(":prev", n(expected))
                .expression_attribute_values(":head", s(prev)),
        }
    }

    /// An event item, conditional on its version not being taken.
    fn event_put(&self, event: &Event) -> PutBuilder {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                ("pk".to_owned(), s(txn_pk(&event.transaction_id))),
                ("sk".to_owned(), s(event_sk(event.version))),
                ("v".to_owned(), n(event.version)),
                ("at".to_owned(), s(rfc3339(event.at))),
                ("actor".to_owned(), s(&event.actor)),
                ("action".to_owned(), s(event.action.as_str())),
                ("es".to_owned(), s(event.state.as_str())),
                ("reason".to_owned(), s(&event.reason)),
                ("data".to_owned(), s(event.data.to_string())),
                ("prev".to_owned(), s(&event.prev_hash)),
                ("hash".to_owned(), s(&event.hash)),
            ])))
            .condition_expression("attribute_not_exists(pk)")
    }

    /// The items that file a record's first version: its request key, if no live key files
    /// another record (an expired one not yet removed by TTL counts as gone), and its run.
    fn filing_puts(&self, id: &TransactionId, filing: &Filing, now: i64) -> Vec<PutBuilder> {
        let mut puts = Vec::new();
        if let Some(key) = &filing.request_key {
            let item = HashMap::from([
                ("pk".to_owned(), s(key_pk(&key.key))),
                ("sk".to_owned(), s("K")),
                ("id".to_owned(), s(id.as_str())),
                ("fp".to_owned(), s(&key.fingerprint)),
                ("ttl".to_owned(), n(key.expires_at.unix_timestamp())),
            ]);
            puts.push(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", n(now)),
            );
        }
        if let Some(run) = &filing.run {
            let item = HashMap::from([
                ("pk".to_owned(), s(format!("R#{run}"))),
                ("sk".to_owned(), s(txn_pk(id))),
            ]);
            puts.push(Put::builder().table_name(&self.table).set_item(Some(item)));
        }
        puts
    }

    /// After a cancelled write, the request key it filed if another record holds it.
    async fn key_taken(&self, writes: &[RecordWrite]) -> Result<Option<LedgerError>, LedgerError> {
        for write in writes {
            let Some(key) = &write.filing.request_key else {
                continue;
            };
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(key_pk(&key.key)))
                .key("sk", s("K"))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| self.failed("reading a request key", e))?;
            let item = out.item.unwrap_or_default();
            let holder = get_s(&item, "id").and_then(|id| TransactionId::parse(id).ok());
            if let Some(holder) = holder
                && holder != write.record.id
            {
                return Ok(Some(LedgerError::KeyTaken {
                    key: key.key.clone(),
                    transaction_id: holder,
                    fingerprint: get_s(&item, "fp").unwrap_or_default().to_owned(),
                }));
            }
        }
        Ok(None)
    }

    /// After a cancelled write: a re-sent write whose first attempt landed (a timed-out
    /// answer) finds its own events at every head, which is this write succeeding; anything
    /// else is someone else's write, a `Conflict` on the first record that moved.
    async fn after_cancel(
        &self,
        writes: &[RecordWrite],
        heads: &[String],
    ) -> Result<(), LedgerError> {
        let mut conflict = None;
        for (write, head) in writes.iter().zip(heads) {
            let txn = &write.record;
            if let Ok(mut cached) = self.heads.lock() {
                cached.remove(&txn.id);
            }
            let stored = self.get_item(&txn.id).await?;
            let landed = stored.as_ref().is_some_and(|item| {
                get_n(item, "v") == Some(txn.version) && get_s(item, "head") == Some(head.as_str())
            });
            if !landed && conflict.is_none() {
                let found =
                    stored.and_then(|i| Some((get_n(&i, "v")?, Status::parse(get_s(&i, "st")?)?)));
                conflict = Some(LedgerError::Conflict {
                    id: txn.id.clone(),
                    expected: write.expected_version(),
                    found,
                });
            }
        }
        match conflict {
            Some(conflict) => Err(conflict),
            None => {
                for (write, head) in writes.iter().zip(heads) {
                    self.remember(&write.record, head);
                }
                Ok(())
            }
        }
    }

    async fn get_item(
        &self,
        id: &TransactionId,
    ) -> Result<Option<HashMap<String, AttributeValue>>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(txn_pk(id)))
            .key("sk", s("T"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed(format!("reading transaction {id}"), e))?;
        Ok(out.item)
    }

    fn remember(&self, txn: &StoredRecord, hash: &str) {
        if let Ok(mut heads) = self.heads.lock() {
            if txn.status.is_terminal() {
                heads.remove(&txn.id);
            } else {
                heads.insert(txn.id.clone(), (txn.version, hash.to_owned()));
            }
        }
    }

    async fn query_transactions(
        &self,
        index: &str,
        range: &str,
        status: Status,
        bound: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let pages = self
            .query_pages(&format!("querying {index}"), limit, |q| {
                q.index_name(index)
                    .key_condition_expression(format!("st = :st AND {range} <= :bound"))
                    .expression_attribute_values(":st", s(status.as_str()))
                    .expression_attribute_values(":bound", n(bound))
            })
            .await?;
        pages
            .iter()
            .flat_map(|p| p.items())
            .take(limit)
            .map(record_of)
            .collect()
    }

    /// The pages of a query on the table, following `LastEvaluatedKey` until the end or until
    /// at least `enough` items are in.
    async fn query_pages(
        &self,
        context: &str,
        enough: usize,
        configure: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<Vec<QueryOutput>, LedgerError> {
        let mut pages: Vec<QueryOutput> = Vec::new();
        let mut items = 0;
        let mut start = None;
        loop {
            let page = configure(self.client.query().table_name(&self.table))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.failed(context, e))?;
            start = page
                .last_evaluated_key
                .clone()
                .filter(|key| !key.is_empty());
            items += page.items().len();
            let more = start.is_some() && items < enough;
            pages.push(page);
            if !more {
                return Ok(pages);
            }
        }
    }
}

/// Seals `write`'s events into its record's chain after `prev` (per record: seq = version).
fn seal_chain(write: &RecordWrite, prev: &str) -> Vec<Event> {
    let mut prev = prev.to_owned();
    let id = &write.record.id;
    write
        .versioned_events()
        .map(|(version, state, event)| {
            let sealed = audit::seal(version, &prev, id, version, *state, event.clone());
            prev.clone_from(&sealed.hash);
            sealed
        })
        .collect()
}

fn first_id(writes: &[RecordWrite]) -> String {
    writes
        .first()
        .map_or_else(String::new, |w| w.record.id.to_string())
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> PortError {
    PortError::new("building a DynamoDB request", e.to_string())
}

fn record_of(item: &HashMap<String, AttributeValue>) -> Result<StoredRecord, LedgerError> {
    let unreadable = |what: &str| storage(PortError::new("reading a record", what.to_owned()));
    let body = get_s(item, "body").ok_or_else(|| unreadable("no body"))?;
    let id = get_s(item, "pk")
        .and_then(|pk| pk.strip_prefix("T#"))
        .and_then(|id| TransactionId::parse(id).ok())
        .ok_or_else(|| unreadable("no id"))?;
    let kind = match get_s(item, "kind") {
        Some(kind) => kind_name(kind),
        // Written before `kind` was an attribute: the body (schema 1) names it.
        None => serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("kind")?.as_str().and_then(kind_name)),
    };
    Ok(StoredRecord {
        id,
        kind: kind.ok_or_else(|| unreadable("no kind"))?,
        status: get_s(item, "st")
            .and_then(Status::parse)
            .ok_or_else(|| unreadable("no status"))?,
        version: get_n(item, "v").ok_or_else(|| unreadable("no version"))?,
        expires_at: get_i(item, "exp").and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
        updated_at: get_i(item, "upd")
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .ok_or_else(|| unreadable("no update time"))?,
        body: body.to_owned(),
    })
}

fn event_of(id: &TransactionId, item: &HashMap<String, AttributeValue>) -> Option<Event> {
    Some(Event {
        seq: get_n(item, "v")?,
        transaction_id: id.clone(),
        version: get_n(item, "v")?,
        at: parse_rfc3339(get_s(item, "at")?)?,
        actor: get_s(item, "actor")?.to_owned(),
        action: serde_json::from_value(serde_json::Value::String(
            get_s(item, "action")?.to_owned(),
        ))
        .ok()?,
        state: Status::parse(get_s(item, "es")?)?,
        reason: get_s(item, "reason")?.to_owned(),
        data: serde_json::from_str(get_s(item, "data")?).ok()?,
        prev_hash: get_s(item, "prev")?.to_owned(),
        hash: get_s(item, "hash")?.to_owned(),
    })
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn write(&self, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError> {
        let mut items = Vec::new();
        let mut sealed = Vec::new();
        let mut heads = Vec::new();
        for write in writes {
            let prev = self.head_before(write).await?;
            let events = seal_chain(write, &prev);
            let Some(head) = events.last().map(|e| e.hash.clone()) else {
                let message = format!("a write for {} carries no event", write.record.id);
                return Err(storage(PortError::new("writing the ledger", message)));
            };
            items.push(self.record_put(write, &prev, &head));
            items.extend(events.iter().map(|event| self.event_put(event)));
            let now = write.record.updated_at.unix_timestamp();
            items.extend(self.filing_puts(&write.record.id, &write.filing, now));
            heads.push(head);
            sealed.extend(events);
        }
        let items = items
            .into_iter()
            .map(|put| {
                put.build()
                    .map(|p| TransactWriteItem::builder().put(p).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| storage(build_error(e)))?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => {
                for (write, head) in writes.iter().zip(&heads) {
                    self.remember(&write.record, head);
                }
                Ok(sealed)
            }
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                if let Some(taken) = self.key_taken(writes).await? {
                    return Err(taken);
                }
                self.after_cancel(writes, &heads).await?;
                Ok(sealed)
            }
            Err(e) => Err(self.failed(format!("appending to transaction {}", first_id(writes)), e)),
        }
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<StoredRecord>, LedgerError> {
        let Some(item) = self.get_item(id).await? else {
            return Ok(None);
        };
        let record = record_of(&item)?;
        // The next write over this record then needs no second read for its chain head.
        if let Some(head) = get_s(&item, "head") {
            self.remember(&record, head);
        }
        Ok(Some(record))
    }

    async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, LedgerError> {
        let pages = self
            .query_pages(&format!("reading events of {id}"), usize::MAX, |q| {
                q.key_condition_expression("pk = :pk AND begins_with(sk, :e)")
                    .expression_attribute_values(":pk", s(txn_pk(id)))
                    .expression_attribute_values(":e", s("E#"))
                    .consistent_read(true)
            })
            .await?;
        pages
            .iter()
            .flat_map(|p| p.items())
            .map(|item| {
                event_of(id, item)
                    .ok_or_else(|| storage(PortError::new("reading an event", "unreadable event")))
            })
            .collect()
    }

    async fn count(&self, status: Status) -> Result<u64, LedgerError> {
        let pages = self
            .query_pages("counting transactions", usize::MAX, |q| {
                q.index_name(BY_UPDATE)
                    .key_condition_expression("st = :st")
                    .expression_attribute_values(":st", s(status.as_str()))
                    .select(Select::Count)
            })
            .await?;
        Ok(pages
            .iter()
            .map(|p| u64::try_from(p.count).unwrap_or(0))
            .sum())
    }

    async fn expired(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.query_transactions(
            BY_EXPIRY,
            "exp",
            Status::Grant(State::Provisioned),
            now.unix_timestamp(),
            limit,
        )
        .await
    }

    async fn stale(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.query_transactions(BY_UPDATE, "upd", status, before.unix_timestamp(), limit)
            .await
    }

    async fn use_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<bool, LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("J#{jti}")))
            .item("sk", s("J"))
            .item("ttl", n(expires_at.unix_timestamp()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(self.failed("recording a token", e)),
        }
    }

    async fn by_run(&self, run: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        let pages = self
            .query_pages(
                &format!("reading the grants of run {run}"),
                usize::MAX,
                |q| {
                    q.key_condition_expression("pk = :pk")
                        .expression_attribute_values(":pk", s(format!("R#{run}")))
                        .consistent_read(true)
                },
            )
            .await?;
        let ids = pages
            .iter()
            .flat_map(|p| p.items())
            .filter_map(|item| get_s(item, "sk")?.strip_prefix("T#"))
            .filter_map(|id| TransactionId::parse(id).ok())
            .collect::<Vec<_>>();
        let mut records = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(item) = self.get_item(id).await? {
                records.push(record_of(&item)?);
            }
        }
        Ok(records)
    }

    /// Scans the table and checks every transaction's chain and head.
    async fn verify(&self) -> Result<ChainReport, LedgerError> {
        let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        let mut heads: BTreeMap<String, (u64, String, String)> = BTreeMap::new();
        let mut unreadable = None;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.failed("scanning the ledger", e))?;
            for item in page.items() {
                let (Some(pk), Some(sk)) = (get_s(item, "pk"), get_s(item, "sk")) else {
                    continue;
                };
                let Some(id) = pk.strip_prefix("T#") else {
                    continue;
                };
                if sk == "T" {
                    let head = (
                        get_n(item, "v").unwrap_or(0),
                        get_s(item, "st").unwrap_or("").to_owned(),
                        get_s(item, "head").unwrap_or("").to_owned(),
                    );
                    heads.insert(id.to_owned(), head);
                } else if let Some(event) = TransactionId::parse(id)
                    .ok()
                    .and_then(|tid| event_of(&tid, item))
                {
                    events.entry(id.to_owned()).or_default().push(event);
                } else {
                    unreadable.get_or_insert(id.to_owned());
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let mut checked = 0;
        if let Some(id) = unreadable {
            let fault = ChainFault::InTransaction {
                transaction_id: id,
                cause: Box::new(ChainFault::Edited { seq: 0 }),
            };
            return Ok(ChainReport {
                events_checked: checked,
                fault: Some(fault),
            });
        }
        for (id, (version, state, head)) in &heads {
            let mut chain = events.remove(id).unwrap_or_default();
            chain.sort_by_key(|e| e.seq);
            checked += chain.len() as u64;
            let mut verifier = ChainVerifier::default();
            for event in &chain {
                if !verifier.push(event) {
                    break;
                }
            }
            let report = verifier.finish(Some(&audit::ChainHead {
                seq: *version,
                hash: head.clone(),
            }));
            let fault = report.fault.map(|fault| ChainFault::InTransaction {
                transaction_id: id.clone(),
                cause: Box::new(fault),
            });
            let projection_broken = chain.last().is_none_or(|last| last.state.as_str() != state);
            let fault = fault.or_else(|| {
                projection_broken.then(|| ChainFault::Projection {
                    transaction_id: id.clone(),
                })
            });
            if fault.is_some() {
                return Ok(ChainReport {
                    events_checked: checked,
                    fault,
                });
            }
        }
        // Events whose transaction item is gone.
        if let Some(id) = events.into_keys().next() {
            return Ok(ChainReport {
                events_checked: checked,
                fault: Some(ChainFault::Projection { transaction_id: id }),
            });
        }
        Ok(ChainReport {
            events_checked: checked,
            fault: None,
        })
    }
}
