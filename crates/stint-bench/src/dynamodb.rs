//! DynamoDB tables in moto for the sections with a DynamoDB ledger: creating one as stint's
//! ledger wants it, counting, emptying and filling it, and timing moto's own
//! TransactWriteItems on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, Select, TransactWriteItem, WriteRequest,
};
use stint_aws::DynamoLedger;

use crate::aws::sdk_error;

/// A ledger table in moto, and a client for the driver's own calls on it.
pub struct Table {
    pub name: String,
    pub client: aws_sdk_dynamodb::Client,
    creator: DynamoLedger,
}

impl Table {
    /// Creates the table `name` as stint's DynamoDB ledger wants it.
    pub async fn create(sdk: &SdkConfig, name: String) -> anyhow::Result<Self> {
        let creator = DynamoLedger::new(sdk, Default::default(), &name);
        creator
            .create_table()
            .await
            .map_err(|e| anyhow!("creating the DynamoDB table {name}: {e}"))?;
        Ok(Self {
            client: aws_sdk_dynamodb::Client::new(sdk),
            name,
            creator,
        })
    }

    /// Items in the table, by a counting scan.
    pub async fn count_items(&self) -> anyhow::Result<u64> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.name)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("counting the items of {}", self.name))?;
            total += u64::try_from(page.count()).unwrap_or(0);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(total),
            }
        }
    }

    /// Deletes the table and creates it again, empty; returns how many items it held.
    /// Deleting the items instead is not enough: moto keeps an empty partition per deleted
    /// transaction, and copies those too.
    pub async fn reset(&self) -> anyhow::Result<u64> {
        let items = self.count_items().await?;
        self.client
            .delete_table()
            .table_name(&self.name)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("deleting {}", self.name))?;
        self.creator
            .create_table()
            .await
            .map_err(|e| anyhow!("creating the DynamoDB table {} again: {e}", self.name))?;
        Ok(items)
    }

    /// Fills the table with `count` items shaped like the ledger's (a transaction item and
    /// nine event items per transaction, hashes and JSON included).
    pub async fn fill(&self, count: usize) -> anyhow::Result<()> {
        let s = |v: String| AttributeValue::S(v);
        let n = |v: u64| AttributeValue::N(v.to_string());
        let hash = "ab".repeat(32);
        let data = serde_json::json!({
            "role_arn": "arn:aws:iam::222222222222:role/stint/stint-01a2016e-f886-7b60-8d21-f95cbffda71d",
            "policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
            "requester": "alice@example.com",
        })
        .to_string();
        let mut requests = Vec::new();
        for i in 0..count {
            let (txn, k) = (i / 10, i % 10);
            let pk = format!("T#bench-fill-{}-{txn}", std::process::id());
            let mut item = HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("v".to_owned(), n(k as u64)),
                ("hash".to_owned(), s(hash.clone())),
                ("data".to_owned(), s(data.clone())),
            ]);
            if k == 0 {
                item.insert("sk".to_owned(), s("T".to_owned()));
                item.insert("st".to_owned(), s("deprovisioned".to_owned()));
                item.insert("exp".to_owned(), n(4_000_000_000));
                item.insert("upd".to_owned(), n(1_700_000_000 + txn as u64));
                item.insert("head".to_owned(), s(hash.clone()));
                item.insert("body".to_owned(), s(data.repeat(3)));
            } else {
                item.insert("sk".to_owned(), s(format!("E#{k:010}")));
                item.insert("at".to_owned(), s("2026-01-01T00:00:00Z".to_owned()));
                item.insert("actor".to_owned(), s("alice@example.com".to_owned()));
                item.insert("action".to_owned(), s("provisioned".to_owned()));
                item.insert("es".to_owned(), s("provisioned".to_owned()));
                item.insert("reason".to_owned(), s("-".to_owned()));
                item.insert("prev".to_owned(), s(hash.clone()));
            }
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| anyhow!("building a put: {e}"))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(requests).await
    }

    /// BatchWriteItem in chunks of 25, resending what comes back unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> anyhow::Result<()> {
        let table = &self.name;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for _ in 0..10 {
                if pending.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(|| format!("BatchWriteItem on {table}"))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                bail!(
                    "BatchWriteItem on {table} left {} items unprocessed",
                    pending.len()
                );
            }
        }
        Ok(())
    }

    /// Moto's own latency for a TransactWriteItems like the ledger's (two conditional puts, a
    /// transaction item and an event item), SDK -> moto directly, `rounds` times; sorted.
    pub async fn time_transact_write(&self, rounds: usize) -> anyhow::Result<Vec<Duration>> {
        let table = &self.name;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: u64| AttributeValue::N(v.to_string());
        let mut times = Vec::new();
        for round in 0..rounds {
            let pk = format!("T#bench-probe-{}-{round}", uuid::Uuid::new_v4());
            let put = |sk: &str| -> anyhow::Result<TransactWriteItem> {
                let put = Put::builder()
                    .table_name(table)
                    .item("pk", s(&pk))
                    .item("sk", s(sk))
                    .item("st", s("probe"))
                    .item("exp", n(4_000_000_000))
                    .item("upd", n(1_700_000_000))
                    .item("body", s("{}"))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| anyhow!("building a put: {e}"))?;
                Ok(TransactWriteItem::builder().put(put).build())
            };
            let call = self
                .client
                .transact_write_items()
                .transact_items(put("T")?)
                .transact_items(put("E#0000000001")?);
            let started = Instant::now();
            call.send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("TransactWriteItems on {table}"))?;
            times.push(started.elapsed());
        }
        times.sort();
        Ok(times)
    }
}
