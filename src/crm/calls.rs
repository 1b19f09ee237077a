//! The record of calls: one log per call and its turns (the transcript, with what the caller
//! actually heard of each agent turn and per-stage latencies). Written as a call goes, read by
//! the staff API.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::appointments::Page;
use super::error::{CrmError, is_unique_violation};
use entity::{call_log, call_recording, call_turn};

pub use callbridge_core::call::record::Speaker;

/// Opens the log of a call; a second start for the same call sid returns the first log.
pub async fn start(
    db: &impl ConnectionTrait,
    call_sid: &str,
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<call_log::Model, CrmError> {
    let find = || {
        call_log::Entity::find()
            .filter(call_log::Column::CallSid.eq(call_sid))
            .one(db)
    };
    if let Some(existing) = find().await? {
        return Ok(existing);
    }
    let inserted = call_log::ActiveModel {
        call_sid: Set(call_sid.to_string()),
        from_number: Set(from.map(str::to_string)),
        to_number: Set(to.map(str::to_string)),
        started_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        Err(e) if is_unique_violation(&e) => find().await?.ok_or(CrmError::Db(e)),
        Err(e) => Err(e.into()),
    }
}

/// A turn to record.
#[derive(Debug, Clone, Default)]
pub struct TurnRecord {
    /// What was said (agent: what was generated).
    pub text: String,
    /// Agent turns: what the caller heard before any barge-in.
    pub heard_text: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Speech-to-text final after end of speech, ms.
    pub stt_ms: Option<i32>,
    /// LLM time to first token, ms.
    pub llm_first_token_ms: Option<i32>,
    /// TTS time to first byte, ms.
    pub tts_first_byte_ms: Option<i32>,
}

/// Appends a turn with the next sequence number.
pub async fn append_turn(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    speaker: Speaker,
    turn: &TurnRecord,
) -> Result<call_turn::Model, CrmError> {
    let seq = next_seq(db, call_log_id).await?;
    insert_turn(db, call_log_id, seq, speaker, turn).await
}

/// The sequence number the call's next turn takes.
pub async fn next_seq(db: &impl ConnectionTrait, call_log_id: i32) -> Result<i32, CrmError> {
    let last = call_turn::Entity::find()
        .filter(call_turn::Column::CallLogId.eq(call_log_id))
        .order_by_desc(call_turn::Column::Seq)
        .one(db)
        .await?;
    Ok(last.map_or(1, |t| t.seq + 1))
}

/// Stores a turn as number `seq` of the call (the one writer of a call's turns counts them
/// itself rather than asking the database each time).
pub async fn insert_turn(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    seq: i32,
    speaker: Speaker,
    turn: &TurnRecord,
) -> Result<call_turn::Model, CrmError> {
    Ok(call_turn::ActiveModel {
        call_log_id: Set(call_log_id),
        seq: Set(seq),
        speaker: Set(speaker.as_str().into()),
        text: Set(turn.text.clone()),
        heard_text: Set(turn.heard_text.clone()),
        started_at: Set(turn.started_at),
        stt_ms: Set(turn.stt_ms),
        llm_first_token_ms: Set(turn.llm_first_token_ms),
        tts_first_byte_ms: Set(turn.tts_first_byte_ms),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The caller interrupted the last agent turn of a call and heard only `heard` of it.
pub async fn set_heard(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    heard: &str,
) -> Result<(), CrmError> {
    let last = call_turn::Entity::find()
        .filter(call_turn::Column::CallLogId.eq(call_log_id))
        .filter(call_turn::Column::Speaker.eq(Speaker::Agent.as_str()))
        .order_by_desc(call_turn::Column::Seq)
        .one(db)
        .await?;
    if let Some(turn) = last {
        call_turn::ActiveModel {
            id: Set(turn.id),
            heard_text: Set(Some(heard.to_string())),
            ..Default::default()
        }
        .update(db)
        .await?;
    }
    Ok(())
}

/// Sets the call's summary (`crm::summary`).
pub async fn set_summary(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    summary: &str,
) -> Result<(), CrmError> {
    call_log::Entity::update_many()
        .col_expr(call_log::Column::Summary, Some(summary.to_string()).into())
        .filter(call_log::Column::Id.eq(call_log_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the outcome of call `call_sid` (an advisor took it: `taken`); whether it was logged.
pub async fn set_outcome(
    db: &impl ConnectionTrait,
    call_sid: &str,
    outcome: &str,
) -> Result<bool, CrmError> {
    let updated = call_log::Entity::update_many()
        .col_expr(call_log::Column::Outcome, Some(outcome.to_string()).into())
        .filter(call_log::Column::CallSid.eq(call_sid))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Notes a recording of call `call_sid` (the file relative to `RECORDINGS_DIR`, and when its
/// first sample was heard, so the console can place the transcript's turns in it). Noting the
/// same file again changes nothing.
pub async fn add_recording(
    db: &impl ConnectionTrait,
    call_sid: &str,
    path: &str,
    started_at: DateTime<Utc>,
) -> Result<(), CrmError> {
    let inserted = call_recording::ActiveModel {
        call_sid: Set(call_sid.to_string()),
        path: Set(path.to_string()),
        started_at: Set(started_at),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The recordings of call `call_sid`, in the order they started.
pub async fn recordings(
    db: &impl ConnectionTrait,
    call_sid: &str,
) -> Result<Vec<call_recording::Model>, CrmError> {
    Ok(call_recording::Entity::find()
        .filter(call_recording::Column::CallSid.eq(call_sid))
        .order_by_asc(call_recording::Column::StartedAt)
        .order_by_asc(call_recording::Column::Id)
        .all(db)
        .await?)
}

/// Closes the log of a call with its outcome ("booked", "transferred", "hung_up"...).
pub async fn finish(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    outcome: &str,
    summary: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), CrmError> {
    call_log::Entity::update_many()
        .col_expr(call_log::Column::EndedAt, Some(now).into())
        .col_expr(call_log::Column::Outcome, Some(outcome.to_string()).into())
        .col_expr(
            call_log::Column::Summary,
            summary.map(str::to_string).into(),
        )
        .filter(call_log::Column::Id.eq(call_log_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The outcome of calls whose process died with them (a crash, SIGKILL, a lost node).
pub const INTERRUPTED: &str = "interrupted";

/// Gives calls left without an outcome the outcome [`INTERRUPTED`]: every such call when no
/// other node can be running calls (`started_before` = `None`), else those started before
/// `started_before` (older than any call could still be). Returns how many.
pub async fn mark_interrupted(
    db: &impl ConnectionTrait,
    started_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<u64, CrmError> {
    let mut update = call_log::Entity::update_many()
        .col_expr(call_log::Column::EndedAt, Some(now).into())
        .col_expr(
            call_log::Column::Outcome,
            Some(INTERRUPTED.to_string()).into(),
        )
        .filter(call_log::Column::Outcome.is_null());
    if let Some(before) = started_before {
        update = update.filter(call_log::Column::StartedAt.lt(before));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Gives one call the outcome [`INTERRUPTED`] if it has none: its stream ended without the
/// node that ran it deciding anything (the node died). A node that is alive after all and
/// finishes the call later overwrites it with the real outcome ([`finish`]). Returns whether
/// the call's log changed.
pub async fn mark_call_interrupted(
    db: &impl ConnectionTrait,
    call_sid: &str,
    now: DateTime<Utc>,
) -> Result<bool, CrmError> {
    let update = call_log::Entity::update_many()
        .col_expr(call_log::Column::EndedAt, Some(now).into())
        .col_expr(
            call_log::Column::Outcome,
            Some(INTERRUPTED.to_string()).into(),
        )
        .filter(call_log::Column::CallSid.eq(call_sid))
        .filter(call_log::Column::Outcome.is_null())
        .exec(db)
        .await?;
    Ok(update.rows_affected > 0)
}

/// Which calls a listing shows.
#[derive(Debug, Clone, Default)]
pub struct CallFilter<'a> {
    /// With this outcome.
    pub outcome: Option<&'a str>,
    /// Started in `[from, to)` (a day in the shop's zone, as instants).
    pub started: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Calls, newest first, matching `filter`, and how many match in all.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CallFilter<'_>,
    page: Page,
) -> Result<(Vec<call_log::Model>, u64), CrmError> {
    let mut q = call_log::Entity::find();
    if let Some(o) = filter.outcome {
        q = q.filter(call_log::Column::Outcome.eq(o));
    }
    if let Some((from, to)) = filter.started {
        q = q
            .filter(call_log::Column::StartedAt.gte(from))
            .filter(call_log::Column::StartedAt.lt(to));
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(call_log::Column::StartedAt)
        .order_by_desc(call_log::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Every outcome calls have ended with, for a filter's choices.
pub async fn outcomes(db: &impl ConnectionTrait) -> Result<Vec<String>, CrmError> {
    let rows: Vec<Option<String>> = call_log::Entity::find()
        .select_only()
        .column(call_log::Column::Outcome)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut outcomes: Vec<String> = rows.into_iter().flatten().collect();
    outcomes.sort();
    Ok(outcomes)
}

/// One call and its turns in order.
pub async fn with_turns(
    db: &impl ConnectionTrait,
    call_sid: &str,
) -> Result<Option<(call_log::Model, Vec<call_turn::Model>)>, CrmError> {
    let Some(log) = call_log::Entity::find()
        .filter(call_log::Column::CallSid.eq(call_sid))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let turns = call_turn::Entity::find()
        .filter(call_turn::Column::CallLogId.eq(log.id))
        .order_by_asc(call_turn::Column::Seq)
        .all(db)
        .await?;
    Ok(Some((log, turns)))
}
