//! Removing call records past their age (`RETENTION_DAYS`): a call's log and its transcript
//! go together, in batches, each batch in one transaction. Safe with several nodes running it
//! at once: on PostgreSQL a batch first takes a transaction-scoped advisory lock and a node
//! that cannot get it leaves the work to the one that has it; on SQLite the database's one
//! write lock serialises batches. Each removal is counted by the node whose `DELETE` returned
//! the row, so a call is removed (and reported) once; that node is also the one told which
//! recording files the removed calls had, so each file is removed once too.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

use super::error::CrmError;
use entity::{call_log, call_recording, call_turn};

/// Calls removed per transaction.
pub const BATCH: u64 = 500;

/// The advisory lock key of the retention job (any fixed number the deployment does not use).
const LOCK_KEY: i64 = 0x6362_7265_7465_6e74; // "cbretent"

/// What one run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Call logs.
    pub calls: u64,
    /// Their turns.
    pub turns: u64,
    /// The removed calls' recordings (relative to `RECORDINGS_DIR`): the caller removes the
    /// files, after the rows are gone (a file without a row is harmless; a row without its
    /// file only shows no recording).
    pub recordings: Vec<String>,
    /// Whether another node held the job's lock (it is doing the work).
    pub skipped: bool,
}

/// Removes calls that started before `cutoff` and are over (an outcome or an end), with
/// their turns, `BATCH` at a time until none is left.
pub async fn remove_calls_before(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
) -> Result<Removed, CrmError> {
    let mut removed = Removed::default();
    loop {
        // SQLite: the write lock first (a read that later writes would fail when another
        // connection wrote in between); PostgreSQL: the job's advisory lock.
        let txn = match db.get_database_backend() {
            DbBackend::Sqlite => {
                db.begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await?
            }
            _ => db.begin().await?,
        };
        if db.get_database_backend() == DbBackend::Postgres {
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [LOCK_KEY.into()],
                ))
                .await?;
            let locked: bool = match row {
                Some(r) => r.try_get("", "locked")?,
                None => false,
            };
            if !locked {
                removed.skipped = true;
                return Ok(removed);
            }
        }
        let rows: Vec<(i32, String)> = call_log::Entity::find()
            .select_only()
            .column(call_log::Column::Id)
            .column(call_log::Column::CallSid)
            .filter(call_log::Column::StartedAt.lt(cutoff))
            .filter(
                call_log::Column::EndedAt
                    .is_not_null()
                    .or(call_log::Column::Outcome.is_not_null()),
            )
            .order_by_asc(call_log::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        if rows.is_empty() {
            return Ok(removed);
        }
        let ids: Vec<i32> = rows.iter().map(|(id, _)| *id).collect();
        let sids: Vec<String> = rows.into_iter().map(|(_, sid)| sid).collect();
        let recordings: Vec<String> = call_recording::Entity::find()
            .select_only()
            .column(call_recording::Column::Path)
            .filter(call_recording::Column::CallSid.is_in(sids.clone()))
            .into_tuple()
            .all(&txn)
            .await?;
        call_recording::Entity::delete_many()
            .filter(call_recording::Column::CallSid.is_in(sids))
            .exec(&txn)
            .await?;
        let turns = call_turn::Entity::delete_many()
            .filter(call_turn::Column::CallLogId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let calls = call_log::Entity::delete_many()
            .filter(call_log::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        removed.recordings.extend(recordings);
        removed.turns += turns.rows_affected;
        removed.calls += calls.rows_affected;
        if (ids.len() as u64) < BATCH {
            return Ok(removed);
        }
    }
}
