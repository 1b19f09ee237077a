//! `callbridge demo`: a known customer phones a running callbridge and books an oil change,
//! in the caller clips of `fixtures/calls/` (built into the binary, so the demo runs from
//! anywhere). Afterwards the call is read back from the database the server writes: the
//! transcript as the server heard and spoke it, with each turn's stage timings, and the
//! appointment the call booked. On the built-in engines this is the product working end to
//! end on one machine with no keys.

use std::time::Duration;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::leg::{CallerTurn, TurnReport};
use super::run::CallSummary;
use crate::audio::wav;
use crate::crm::appointments::{self, AppointmentView};
use crate::crm::calls;
use crate::crm::error::CrmError;
use crate::crm::schedule::Schedule;
use entity::{appointment, call_log, call_turn};

/// The demo caller: Maria, a customer of the demo CRM with a Honda on file.
pub const CALLER: &str = "+15125550101";

/// What the caller says, in order: each is said once the agent has finished speaking.
const SCRIPT: [(&str, &[u8]); 4] = [
    (
        "book_oil_change",
        include_bytes!("../../fixtures/calls/book_oil_change.wav"),
    ),
    (
        "tuesday_morning",
        include_bytes!("../../fixtures/calls/tuesday_morning.wav"),
    ),
    (
        "yes_correct",
        include_bytes!("../../fixtures/calls/yes_correct.wav"),
    ),
    (
        "thanks_bye",
        include_bytes!("../../fixtures/calls/thanks_bye.wav"),
    ),
];

/// The caller's turns.
pub fn turns() -> Vec<CallerTurn> {
    SCRIPT
        .iter()
        .map(|(name, bytes)| {
            let clip = wav::read(bytes).unwrap_or_else(|e| panic!("built-in clip {name}: {e}"));
            CallerTurn {
                audio: clip.data,
                barge_in_after: None,
                dtmf: None,
            }
        })
        .collect()
}

/// The call as the server recorded it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// The call's log: outcome, summary.
    pub log: call_log::Model,
    /// What was said, in order, with stage timings.
    pub turns: Vec<call_turn::Model>,
    /// Appointments the call booked or moved.
    pub bookings: Vec<AppointmentView>,
}

/// Reads the record of `call_sid`, waiting up to `wait` for the server to close its log (the
/// recorder writes just behind the call). `None` if no such call was logged.
pub async fn read_record(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    call_sid: &str,
    wait: Duration,
) -> Result<Option<CallRecord>, CrmError> {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    let (log, turns) = loop {
        match calls::with_turns(db, call_sid).await? {
            Some((log, turns)) if log.outcome.is_some() || waited >= wait => break (log, turns),
            None if waited >= wait => return Ok(None),
            _ => {
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    };
    let rows = appointment::Entity::find()
        .filter(appointment::Column::CallSid.eq(call_sid))
        .all(db)
        .await?;
    let bookings = appointments::views(db, schedule, rows).await?;
    Ok(Some(CallRecord {
        log,
        turns,
        bookings,
    }))
}

fn ms(v: Option<i32>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())
}

/// The demo's printout: the transcript with each turn's timings, the caller's view of
/// latency, and the booking.
pub fn report(summary: &CallSummary, record: &CallRecord) -> String {
    let mut out = String::from("Transcript (as the server heard and spoke it):\n");
    for t in &record.turns {
        let timings = if t.speaker == calls::Speaker::Caller.as_str() {
            format!("  [recognised {} after the caller stopped]", ms(t.stt_ms))
        } else if t.llm_first_token_ms.is_some() || t.tts_first_byte_ms.is_some() {
            format!(
                "  [agent's first words {}, first audio {}]",
                ms(t.llm_first_token_ms),
                ms(t.tts_first_byte_ms)
            )
        } else {
            String::new()
        };
        out.push_str(&format!("  {:>6}: {}{timings}\n", t.speaker, t.text));
        if let Some(heard) = t.heard_text.as_deref().filter(|h| *h != t.text) {
            out.push_str(&format!("          (the caller heard only: {heard})\n"));
        }
    }
    out.push_str("Latency the caller heard (end of their speech to the agent's voice):\n");
    for TurnReport {
        index,
        caller_audio,
        latency,
    } in &summary.turns
    {
        let answered = latency
            .map(|l| format!("{} ms", l.as_millis()))
            .unwrap_or_else(|| "no answer".into());
        out.push_str(&format!(
            "  turn {}: spoke {:.1} s, answered after {answered}\n",
            index + 1,
            caller_audio.as_secs_f64()
        ));
    }
    out.push_str(&format!(
        "Outcome: {}\n",
        record.log.outcome.as_deref().unwrap_or("(still open)")
    ));
    if record.bookings.is_empty() {
        out.push_str("Booking: none was made\n");
    }
    for b in &record.bookings {
        out.push_str(&format!(
            "Booking #{}: {} for {}{}, {} ({})\n",
            b.id,
            b.service,
            b.customer_name,
            b.vehicle
                .as_deref()
                .map(|v| format!("'s {v}"))
                .unwrap_or_default(),
            b.spoken,
            b.status
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_four_phone_line_clips() {
        let turns = turns();
        assert_eq!(turns.len(), 4);
        for (name, bytes) in SCRIPT {
            let clip = wav::read(bytes).unwrap();
            assert_eq!(clip.format, crate::audio::AudioFormat::MULAW_8K, "{name}");
        }
        for t in &turns {
            // A second or more each.
            assert!(t.audio.len() > 8000, "{}", t.audio.len());
        }
    }
}
