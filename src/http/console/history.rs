//! Call history: past calls filtered by outcome and day, and one call's transcript with what
//! the caller actually heard of each agent turn (a reply cut by a barge-in shows where it was
//! cut), each turn's stage latencies, and the appointments the call made.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use minijinja::context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::auth::Signed;
use super::pages;
use super::people::local_time;
use crate::crm::appointments::{self, Page};
use crate::crm::calls::{self, CallFilter};
use crate::crm::{CrmError, Schedule};
use crate::state::AppState;

/// Calls on one page of the history.
const PER_PAGE: u64 = 50;

/// The history's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    outcome: String,
    day: String,
    page: u64,
}

#[derive(Serialize)]
struct CallRow {
    sid: String,
    from: String,
    started: String,
    duration: String,
    outcome: String,
    summary: String,
}

fn duration(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// `GET /console/calls?outcome=&day=&page=`.
pub async fn list(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let day = NaiveDate::parse_from_str(q.day.trim(), "%Y-%m-%d").ok();
    let outcome = q.outcome.trim();
    let filter = CallFilter {
        outcome: (!outcome.is_empty()).then_some(outcome),
        started: day.map(|d| schedule.day_window(d)),
    };
    let page = Page {
        limit: PER_PAGE,
        offset: q.page.min(10_000) * PER_PAGE,
    };
    let (rows, total) = match calls::list(&state.db, &filter, page).await {
        Ok(r) => r,
        Err(e) => return pages::failed(&session, "call records could not be read", &e),
    };
    let outcomes = match calls::outcomes(&state.db).await {
        Ok(o) => o,
        Err(e) => return pages::failed(&session, "call records could not be read", &e),
    };
    let calls: Vec<CallRow> = rows
        .into_iter()
        .map(|c| CallRow {
            started: local_time(&state, c.started_at),
            duration: c
                .ended_at
                .map(|e| duration((e - c.started_at).num_seconds()))
                .unwrap_or_default(),
            sid: c.call_sid,
            from: c.from_number.unwrap_or_default(),
            outcome: c.outcome.unwrap_or_else(|| "in progress".into()),
            summary: c.summary.unwrap_or_default(),
        })
        .collect();
    let shown = page.offset + calls.len() as u64;
    let day_text = day
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let filter_query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("outcome", outcome)
        .append_pair("day", &day_text)
        .finish();
    pages::render(
        StatusCode::OK,
        "calls.html",
        context! {
            calls, total, outcomes,
            outcome => outcome,
            day => day_text,
            filter_query,
            page => q.page,
            prev_page => q.page.checked_sub(1),
            next_page => (shown < total).then_some(q.page + 1),
            ..pages::me(&session)
        },
    )
}

#[derive(Serialize)]
struct TurnRow {
    speaker: String,
    at: String,
    /// What was said (the caller) or what the agent meant to say.
    text: String,
    /// What the caller heard of an agent turn cut short, and the part they never heard.
    heard: Option<String>,
    unheard: Option<String>,
    stt_ms: Option<i32>,
    llm_ms: Option<i32>,
    tts_ms: Option<i32>,
    /// Which of the call's recordings holds the turn, and how many seconds into it the turn
    /// began (the page plays the recording in step).
    leg: Option<usize>,
    offset: Option<f64>,
}

/// Splits an agent turn into what was heard and the rest, when it was cut short.
fn heard_split(text: &str, heard: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(heard) = heard else {
        return (None, None);
    };
    if heard == text {
        return (None, None);
    }
    let rest = text.strip_prefix(heard).map(|r| r.trim().to_string());
    (Some(heard.to_string()), rest.filter(|r| !r.is_empty()))
}

/// `GET /console/calls/{sid}`.
pub async fn detail(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(sid): Path<String>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let (log, turns) = match calls::with_turns(&state.db, &sid).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return pages::problem(
                StatusCode::NOT_FOUND,
                "No such call",
                "There is no record of that call.",
                Some(&session),
            );
        }
        Err(e) => return pages::failed(&session, "call records could not be read", &e),
    };
    let booked = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CallSid.eq(sid.as_str()))
        .order_by_asc(entity::appointment::Column::Id)
        .all(&state.db)
        .await
        .map_err(CrmError::from);
    let booked = match booked {
        Ok(rows) => appointments::views(&state.db, &schedule, rows).await,
        Err(e) => Err(e),
    };
    let booked = match booked {
        Ok(v) => v,
        Err(e) => return pages::failed(&session, "call records could not be read", &e),
    };
    let recordings = match calls::recordings(&state.db, &sid).await {
        Ok(r) => r,
        Err(e) => return pages::failed(&session, "call records could not be read", &e),
    };
    let turns: Vec<TurnRow> = turns
        .into_iter()
        .map(|t| {
            let (heard, unheard) = heard_split(&t.text, t.heard_text.as_deref());
            // The recording that was running when the turn began: the last one started by
            // then (a turn a moment before the first file began belongs to the first).
            let leg = recordings
                .iter()
                .rposition(|r| r.started_at <= t.started_at)
                .or((!recordings.is_empty()).then_some(0));
            TurnRow {
                leg,
                offset: leg.map(|i| {
                    let since = t.started_at - recordings[i].started_at;
                    (since.num_milliseconds().max(0) as f64) / 1000.0
                }),
                at: t
                    .started_at
                    .with_timezone(&schedule.tz)
                    .format("%H:%M:%S")
                    .to_string(),
                speaker: t.speaker,
                text: t.text,
                heard,
                unheard,
                stt_ms: t.stt_ms,
                llm_ms: t.llm_first_token_ms,
                tts_ms: t.tts_first_byte_ms,
            }
        })
        .collect();
    pages::render(
        StatusCode::OK,
        "call.html",
        context! {
            sid => log.call_sid,
            from => log.from_number.unwrap_or_default(),
            started => local_time(&state, log.started_at),
            duration => log.ended_at.map(|e| duration((e - log.started_at).num_seconds())),
            outcome => log.outcome.unwrap_or_else(|| "in progress".into()),
            summary => log.summary,
            recordings => recordings.len(),
            turns,
            booked,
            ..pages::me(&session)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_renders_with_its_page_links() {
        let ctx = context! {
            calls => vec![CallRow { sid: "CA1".into(), from: "+1".into(), started: "now".into(), duration: "1:00".into(), outcome: "booked".into(), summary: String::new() }],
            total => 120, outcomes => ["booked"], outcome => "booked", day => "2026-12-07",
            filter_query => "outcome=booked&day=2026-12-07", prev_page => Some(0), next_page => Some(2),
        };
        let r = pages::render(StatusCode::OK, "calls.html", ctx);
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn a_cut_reply_splits_at_what_was_heard() {
        let text = "Tuesday at 9 works. Shall I book it?";
        assert_eq!(heard_split(text, None), (None, None));
        assert_eq!(heard_split(text, Some(text)), (None, None));
        assert_eq!(
            heard_split(text, Some("Tuesday at 9 works.")),
            (
                Some("Tuesday at 9 works.".into()),
                Some("Shall I book it?".into())
            )
        );
        // Nothing heard at all: the whole reply is what they missed... shown as heard "".
        assert_eq!(
            heard_split(text, Some("")),
            (Some(String::new()), Some(text.into()))
        );
    }
}
