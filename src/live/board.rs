//! What each node knows about the calls in progress, built from the live events it sees (its
//! own and, in a cluster, the other nodes'): the snapshot a console page starts from before
//! the events that follow. Sans-IO: time is passed in. Bounded: at most [`MAX_CALLS`] calls
//! of at most [`MAX_TURNS`] turns each, and a call nothing has been heard of for
//! [`FORGET_AFTER`] (its node died before saying it ended) is forgotten.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::event::LiveEvent;

/// Calls tracked at most (the oldest-seen go first).
pub const MAX_CALLS: usize = 1000;
/// Turns kept per call (the latest).
pub const MAX_TURNS: usize = 200;
/// A call silent this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);

/// One call in progress, as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCall {
    /// Call id.
    pub sid: String,
    /// The `started` event, when it was seen (a node that joined mid-call has only turns).
    pub started: Option<LiveEvent>,
    /// Finished turns and cut replies (`turn` and `heard` events), oldest first.
    pub turns: VecDeque<LiveEvent>,
    /// What the caller is saying now, if anything.
    pub hearing: String,
    #[serde(skip)]
    seen: Option<Instant>,
}

/// The calls in progress.
#[derive(Debug, Default)]
pub struct Board {
    calls: HashMap<String, LiveCall>,
}

impl Board {
    /// Applies `event`, seen at `now`.
    pub fn apply(&mut self, event: &LiveEvent, now: Instant) {
        if let LiveEvent::Ended { sid, .. } = event {
            self.calls.remove(sid);
            return;
        }
        if !self.calls.contains_key(event.sid()) && self.calls.len() >= MAX_CALLS {
            self.forget_oldest();
        }
        let call = self
            .calls
            .entry(event.sid().to_string())
            .or_insert_with(|| LiveCall {
                sid: event.sid().to_string(),
                started: None,
                turns: VecDeque::new(),
                hearing: String::new(),
                seen: None,
            });
        call.seen = Some(now);
        match event {
            LiveEvent::Started { .. } => call.started = Some(event.clone()),
            LiveEvent::Hearing { text, .. } => call.hearing = text.clone(),
            LiveEvent::Turn { speaker, .. } => {
                if speaker == "caller" {
                    call.hearing.clear();
                }
                call.turns.push_back(event.clone());
                if call.turns.len() > MAX_TURNS {
                    call.turns.pop_front();
                }
            }
            LiveEvent::Heard { .. } => call.turns.push_back(event.clone()),
            LiveEvent::Ended { .. } => {}
        }
    }

    fn forget_oldest(&mut self) {
        if let Some(sid) = self
            .calls
            .values()
            .min_by_key(|c| c.seen)
            .map(|c| c.sid.clone())
        {
            self.calls.remove(&sid);
        }
    }

    /// The calls in progress at `now`, oldest-started first; calls silent for
    /// [`FORGET_AFTER`] are dropped first.
    pub fn snapshot(&mut self, now: Instant) -> Vec<LiveCall> {
        self.calls.retain(|_, c| {
            c.seen
                .is_some_and(|s| now.saturating_duration_since(s) < FORGET_AFTER)
        });
        let mut calls: Vec<LiveCall> = self.calls.values().cloned().collect();
        calls.sort_by_key(|c| c.seen);
        calls.sort_by_key(started_at);
        calls
    }
}

fn started_at(c: &LiveCall) -> Option<chrono::DateTime<chrono::Utc>> {
    match &c.started {
        Some(LiveEvent::Started { at, .. }) => Some(*at),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // The tests take any instant as the origin.
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn started(sid: &str, minute: u32) -> LiveEvent {
        LiveEvent::Started {
            sid: sid.into(),
            from: Some("+15125550101".into()),
            caller: Some("Maria".into()),
            vehicles: vec![],
            node: "a".into(),
            at: chrono::Utc
                .with_ymd_and_hms(2026, 12, 7, 9, minute, 0)
                .unwrap(),
        }
    }

    fn turn(sid: &str, speaker: &str, text: &str) -> LiveEvent {
        LiveEvent::Turn {
            sid: sid.into(),
            speaker: speaker.into(),
            text: text.into(),
            at: chrono::Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
            stt_ms: None,
            llm_ms: None,
            tts_ms: None,
        }
    }

    #[test]
    fn a_call_shows_what_is_being_said_then_its_turns_and_goes_when_it_ends() {
        let t0 = Instant::now();
        let mut b = Board::default();
        b.apply(&started("CA2", 5), t0);
        b.apply(&started("CA1", 1), t0);
        b.apply(
            &LiveEvent::Hearing {
                sid: "CA1".into(),
                text: "I need an".into(),
            },
            t0,
        );
        let snap = b.snapshot(t0);
        assert_eq!(
            snap.iter().map(|c| c.sid.as_str()).collect::<Vec<_>>(),
            ["CA1", "CA2"]
        );
        assert_eq!(snap[0].hearing, "I need an");
        b.apply(&turn("CA1", "caller", "I need an oil change"), t0);
        b.apply(&turn("CA1", "agent", "Sure. Which day?"), t0);
        let snap = b.snapshot(t0);
        assert_eq!(snap[0].hearing, "");
        assert_eq!(snap[0].turns.len(), 2);
        b.apply(
            &LiveEvent::Ended {
                sid: "CA1".into(),
                outcome: "booked".into(),
            },
            t0,
        );
        assert_eq!(b.snapshot(t0).len(), 1);
    }

    #[test]
    fn a_call_joined_midway_still_shows_and_silence_is_forgotten() {
        let t0 = Instant::now();
        let mut b = Board::default();
        b.apply(&turn("CA9", "agent", "Anything else?"), t0);
        let snap = b.snapshot(t0);
        assert_eq!(snap.len(), 1);
        assert!(snap[0].started.is_none());
        assert!(b.snapshot(t0 + FORGET_AFTER).is_empty());
    }

    #[test]
    fn calls_and_turns_are_bounded() {
        let t0 = Instant::now();
        let mut b = Board::default();
        for i in 0..MAX_CALLS + 5 {
            b.apply(
                &started(&format!("CA{i}"), 0),
                t0 + Duration::from_millis(i as u64),
            );
        }
        let snap = b.snapshot(t0 + Duration::from_secs(1));
        assert_eq!(snap.len(), MAX_CALLS);
        assert!(!snap.iter().any(|c| c.sid == "CA0"));
        for i in 0..MAX_TURNS + 10 {
            b.apply(&turn("CA7", "agent", &i.to_string()), t0);
        }
        let call = b.snapshot(t0).into_iter().find(|c| c.sid == "CA7").unwrap();
        assert_eq!(call.turns.len(), MAX_TURNS);
        assert_eq!(
            call.turns.back(),
            Some(&turn("CA7", "agent", &(MAX_TURNS + 9).to_string()))
        );
    }
}
