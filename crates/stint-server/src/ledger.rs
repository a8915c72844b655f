//! The embedded ledger: SQLite, one file. A `transactions` table holds each transaction's
//! current state (a projection, written only together with an event); `events` is the
//! append-only, hash-chained history; `chain_head` remembers the last event so removal from
//! the end shows. WAL mode with `synchronous = NORMAL`: a process crash (even SIGKILL) loses
//! nothing committed; a power loss may lose the last commits.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use stint_core::audit::{self, ChainFault, ChainHead, ChainReport, ChainVerifier};
use stint_core::ids::TransactionId;
use stint_core::ports::{Ledger, LedgerError, RecordWrite};
use stint_core::record::{Event, Status, StoredRecord, kind_name};
use stint_core::time_fmt::{parse_rfc3339, rfc3339};
use time::OffsetDateTime;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transactions (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    -- Unix seconds, for the reaper's queries.
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_state_expiry ON transactions (state, expires_at);
CREATE INDEX IF NOT EXISTS transactions_by_state_update ON transactions (state, updated_at);
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    version        INTEGER NOT NULL,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    state          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    data           TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    UNIQUE (transaction_id, version)
);
CREATE TABLE IF NOT EXISTS used_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
-- use_token prunes expired tokens on every call: without this, a scan of the whole table.
CREATE INDEX IF NOT EXISTS used_tokens_by_expiry ON used_tokens (expires_at);
-- Held whole answers (credentials included) before request keys replaced it.
DROP TABLE IF EXISTS idempotency;
CREATE TABLE IF NOT EXISTS request_keys (
    key            TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_keys_by_expiry ON request_keys (expires_at);
CREATE TABLE IF NOT EXISTS run_grants (
    run            TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    PRIMARY KEY (run, transaction_id)
);
CREATE TABLE IF NOT EXISTS chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("the ledger lock was poisoned by a panic")]
    Poisoned,
}

fn storage(error: impl Into<SqliteError>) -> LedgerError {
    LedgerError::Storage(Box::new(error.into()))
}

/// One connection behind a mutex: SQLite takes one writer at a time anyway, and every
/// statement here is short. Calls run on the blocking pool, off the async workers.
#[derive(Clone)]
pub struct SqliteLedger {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteLedger {
    pub fn open(path: &Path) -> Result<Self, SqliteError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| storage(SqliteError::Poisoned))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| storage(SqliteError::Corrupt(format!("ledger task failed: {e}"))))?
    }
}

/// Writes every record and its events in one SQLite transaction: the first record not at its
/// expected version rolls the whole write back as a `Conflict`.
fn write(conn: &mut Connection, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError> {
    if let Some(empty) = writes.iter().find(|w| w.events.is_empty()) {
        let message = format!("a write for {} carries no event", empty.record.id);
        return Err(storage(SqliteError::Corrupt(message)));
    }
    let db = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage)?;
    let mut head = read_head(&db).map_err(storage)?;
    let mut sealed_events = Vec::new();
    for write in writes {
        file_record(&db, write)?;
        store_record(&db, write)?;
        for (version, state, event) in write.versioned_events() {
            let (seq, prev_hash) = head.as_ref().map_or((1, audit::GENESIS.to_owned()), |h| {
                (h.seq + 1, h.hash.clone())
            });
            let sealed = audit::seal(
                seq,
                &prev_hash,
                &write.record.id,
                version,
                *state,
                event.clone(),
            );
            insert_event(&db, &sealed)?;
            head = Some(ChainHead {
                seq: sealed.seq,
                hash: sealed.hash.clone(),
            });
            sealed_events.push(sealed);
        }
    }
    if let Some(head) = &head {
        db.execute(
            "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
            params![head.seq, head.hash],
        )
        .map_err(storage)?;
    }
    db.commit().map_err(storage)?;
    Ok(sealed_events)
}

/// Files a record's first version under its request key (unless the key files another record:
/// `KeyTaken`) and its run. Keys past their expiry are forgotten first.
fn file_record(db: &rusqlite::Transaction<'_>, write: &RecordWrite) -> Result<(), LedgerError> {
    let id = write.record.id.as_str();
    if let Some(key) = &write.filing.request_key {
        let now = write.record.updated_at.unix_timestamp();
        db.execute("DELETE FROM request_keys WHERE expires_at < ?1", [now])
            .map_err(storage)?;
        let filed = db
            .execute(
                "INSERT OR IGNORE INTO request_keys (key, transaction_id, fingerprint, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    key.key,
                    id,
                    key.fingerprint,
                    key.expires_at.unix_timestamp()
                ],
            )
            .map_err(storage)?;
        if filed == 0 {
            let (taken, fingerprint) = db
                .query_row(
                    "SELECT transaction_id, fingerprint FROM request_keys WHERE key = ?1",
                    [&key.key],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .map_err(storage)?;
            let transaction_id = TransactionId::parse(&taken)
                .map_err(|e| storage(SqliteError::Corrupt(e.to_string())))?;
            return Err(LedgerError::KeyTaken {
                key: key.key.clone(),
                transaction_id,
                fingerprint,
            });
        }
    }
    if let Some(run) = &write.filing.run {
        db.execute(
            "INSERT OR IGNORE INTO run_grants (run, transaction_id) VALUES (?1, ?2)",
            params![run, id],
        )
        .map_err(storage)?;
    }
    Ok(())
}

/// Inserts or moves one record, if it is at the version the write expects.
fn store_record(db: &rusqlite::Transaction<'_>, write: &RecordWrite) -> Result<(), LedgerError> {
    let txn = &write.record;
    let expected = write.expected_version();
    let expires_at = txn.expires_at.map(OffsetDateTime::unix_timestamp);
    let updated_at = txn.updated_at.unix_timestamp();
    let body = &txn.body;
    let written = if expected == 0 {
        db.execute(
            "INSERT OR IGNORE INTO transactions (id, kind, state, version, expires_at, updated_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![txn.id.as_str(), txn.kind, txn.status.as_str(), txn.version, expires_at, updated_at, body],
        )
    } else {
        db.execute(
            "UPDATE transactions SET state = ?2, version = ?3, expires_at = ?4, updated_at = ?5, body = ?6
             WHERE id = ?1 AND version = ?7",
            params![txn.id.as_str(), txn.status.as_str(), txn.version, expires_at, updated_at, body, expected],
        )
    }
    .map_err(storage)?;
    if written == 1 {
        return Ok(());
    }
    let found = db
        .query_row(
            "SELECT version, state FROM transactions WHERE id = ?1",
            [txn.id.as_str()],
            |row| Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(storage)?
        .and_then(|(version, state)| Some((version, Status::parse(&state)?)));
    Err(LedgerError::Conflict {
        id: txn.id.clone(),
        expected,
        found,
    })
}

fn insert_event(db: &rusqlite::Transaction<'_>, sealed: &Event) -> Result<(), LedgerError> {
    db.execute(
        "INSERT INTO events (seq, transaction_id, version, at, actor, action, state, reason, data, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            sealed.seq,
            sealed.transaction_id.as_str(),
            sealed.version,
            rfc3339(sealed.at),
            sealed.actor,
            sealed.action.as_str(),
            sealed.state.as_str(),
            sealed.reason,
            sealed.data.to_string(),
            sealed.prev_hash,
            sealed.hash,
        ],
    )
    .map_err(storage)?;
    Ok(())
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

const RECORD_COLUMNS: &str = "id, kind, state, version, expires_at, updated_at, body";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredRecord, SqliteError>> {
    let (id, kind, state): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let (version, expires_at, updated_at, body): (u64, Option<i64>, i64, String) =
        (row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?);
    let corrupt =
        |what: &str| SqliteError::Corrupt(format!("record {id} has an unreadable {what}"));
    let time = |secs: i64| OffsetDateTime::from_unix_timestamp(secs).ok();
    Ok((|| {
        Ok(StoredRecord {
            id: TransactionId::parse(&id).map_err(|_| corrupt("id"))?,
            kind: kind_name(&kind).ok_or_else(|| corrupt("kind"))?,
            status: Status::parse(&state).ok_or_else(|| corrupt("state"))?,
            version,
            expires_at: expires_at.and_then(time),
            updated_at: time(updated_at).ok_or_else(|| corrupt("update time"))?,
            body,
        })
    })())
}

fn query_records(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredRecord>, LedgerError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM transactions {filter}"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map(params, record_from_row).map_err(storage)?;
    rows.map(|row| row.map_err(storage)?.map_err(storage))
        .collect()
}

fn read_head(conn: &Connection) -> rusqlite::Result<Option<ChainHead>> {
    conn.query_row("SELECT seq, hash FROM chain_head WHERE id = 1", [], |row| {
        Ok(ChainHead {
            seq: row.get(0)?,
            hash: row.get(1)?,
        })
    })
    .optional()
}

const EVENT_COLUMNS: &str =
    "seq, transaction_id, version, at, actor, action, state, reason, data, prev_hash, hash";

/// Reads an event row. Fields that do not parse make a corrupt event, which the chain check
/// then reports as edited.
fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event, SqliteError>> {
    let text = |i: usize| row.get::<_, String>(i);
    let (transaction_id, at, action, state, data) =
        (text(1)?, text(3)?, text(5)?, text(6)?, text(8)?);
    let corrupt = |what: &str| {
        SqliteError::Corrupt(format!(
            "event {} has an unreadable {what}",
            row.get::<_, u64>(0).unwrap_or(0)
        ))
    };
    let parsed = (|| {
        Ok(Event {
            seq: row.get(0).map_err(SqliteError::from)?,
            transaction_id: TransactionId::parse(&transaction_id)
                .map_err(|_| corrupt("transaction id"))?,
            version: row.get(2).map_err(SqliteError::from)?,
            at: parse_rfc3339(&at).ok_or_else(|| corrupt("time"))?,
            actor: text(4).map_err(SqliteError::from)?,
            action: serde_json::from_value(serde_json::Value::String(action))
                .map_err(|_| corrupt("action"))?,
            state: Status::parse(&state).ok_or_else(|| corrupt("state"))?,
            reason: text(7).map_err(SqliteError::from)?,
            data: serde_json::from_str(&data).map_err(|_| corrupt("data"))?,
            prev_hash: text(9).map_err(SqliteError::from)?,
            hash: text(10).map_err(SqliteError::from)?,
        })
    })();
    Ok(parsed)
}

fn verify(conn: &Connection) -> Result<ChainReport, SqliteError> {
    let head = read_head(conn)?;
    let mut verifier = ChainVerifier::default();
    let mut stmt = conn.prepare(&format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        let ok = match event_from_row(row)? {
            Ok(event) => verifier.push(&event),
            Err(_) => {
                return Ok(ChainReport {
                    events_checked: seq,
                    fault: Some(ChainFault::Edited { seq }),
                });
            }
        };
        if !ok {
            break;
        }
    }
    let report = verifier.finish(head.as_ref());
    if report.fault.is_some() {
        return Ok(report);
    }
    // Each transaction's stored state must be what its last event made it.
    let mismatch: Option<String> = conn
        .query_row(
            "SELECT t.id FROM transactions t
             LEFT JOIN events e ON e.transaction_id = t.id AND e.version = t.version
             WHERE e.seq IS NULL OR e.state != t.state
                OR EXISTS (SELECT 1 FROM events later WHERE later.transaction_id = t.id AND later.version > t.version)
             LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(ChainReport {
        fault: mismatch.map(|transaction_id| ChainFault::Projection { transaction_id }),
        ..report
    })
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn write(&self, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError> {
        let writes = writes.to_vec();
        self.with_conn(move |conn| write(conn, &writes)).await
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<StoredRecord>, LedgerError> {
        let id = id.clone();
        self.with_conn(move |conn| {
            query_records(conn, "WHERE id = ?1", [id.as_str()]).map(|r| r.into_iter().next())
        })
        .await
    }

    async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, LedgerError> {
        let id = id.clone();
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE transaction_id = ?1 ORDER BY seq"
                ))
                .map_err(storage)?;
            let rows = stmt
                .query_map([id.as_str()], event_from_row)
                .map_err(storage)?;
            rows.map(|row| row.map_err(storage)?.map_err(storage))
                .collect()
        })
        .await
    }

    async fn count(&self, status: Status) -> Result<u64, LedgerError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM transactions WHERE state = ?1",
                [status.as_str()],
                |row| row.get(0),
            )
            .map_err(storage)
        })
        .await
    }

    async fn expired(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.with_conn(move |conn| {
            query_records(
                conn,
                "WHERE state = 'provisioned' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
                params![now.unix_timestamp(), limit_of(limit)],
            )
        })
        .await
    }

    async fn stale(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.with_conn(move |conn| {
            query_records(
                conn,
                "WHERE state = ?1 AND updated_at <= ?2 ORDER BY updated_at LIMIT ?3",
                params![status.as_str(), before.unix_timestamp(), limit_of(limit)],
            )
        })
        .await
    }

    async fn use_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, LedgerError> {
        let jti = jti.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM used_tokens WHERE expires_at < ?1",
                [now.unix_timestamp()],
            )
            .map_err(storage)?;
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO used_tokens (jti, expires_at) VALUES (?1, ?2)",
                    params![jti, expires_at.unix_timestamp()],
                )
                .map_err(storage)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn by_run(&self, run: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        let run = run.to_owned();
        self.with_conn(move |conn| {
            query_records(
                conn,
                "WHERE id IN (SELECT transaction_id FROM run_grants WHERE run = ?1) ORDER BY id",
                [run],
            )
        })
        .await
    }

    async fn verify(&self) -> Result<ChainReport, LedgerError> {
        self.with_conn(|conn| verify(conn).map_err(storage)).await
    }
}
