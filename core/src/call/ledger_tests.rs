//! Tests of `ledger`.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

use super::*;

const MULAW_BPM: usize = 8;

fn ledger() -> PlaybackLedger {
    PlaybackLedger::new(LedgerConfig {
        bytes_per_ms: MULAW_BPM,
        lead: Duration::from_millis(200),
        mark_interval: Duration::from_millis(100),
    })
}

fn drain(l: &mut PlaybackLedger, now: Instant) -> Vec<LedgerOutput> {
    std::iter::from_fn(|| l.poll_transmit(now)).collect()
}

fn media_ms(out: &[LedgerOutput]) -> u64 {
    out.iter()
        .map(|o| match o {
            LedgerOutput::Media(b) => (b.len() / MULAW_BPM) as u64,
            _ => 0,
        })
        .sum()
}

fn marks(out: &[LedgerOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            LedgerOutput::Mark(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn sends_no_more_than_the_lead_ahead() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    l.push_audio(u, &vec![0xFF; 8 * 1000]); // one second
    l.finish_utterance(u);
    let out = drain(&mut l, t0);
    assert_eq!(media_ms(&out), 200);
    assert_eq!(l.ahead(t0), Duration::from_millis(200));
    // Nothing more until half the lead has played.
    assert_eq!(l.next_timeout(t0), Some(t0 + Duration::from_millis(100)));
    assert!(drain(&mut l, t0 + Duration::from_millis(50)).is_empty());
    let out = drain(&mut l, t0 + Duration::from_millis(100));
    assert_eq!(media_ms(&out), 100);
}

#[test]
fn a_whole_reply_plays_out_with_marks_on_a_virtual_clock() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    l.push_audio(u, &vec![0xFF; 8 * 530]);
    l.finish_utterance(u);
    let mut now = t0;
    let mut sent = Vec::new();
    while let Some(deadline) = l.next_timeout(now) {
        now = now.max(deadline);
        sent.extend(drain(&mut l, now));
    }
    assert_eq!(media_ms(&sent), 530);
    let names = marks(&sent);
    // A mark every 100 ms and one at the end.
    assert_eq!(names.len(), 6);
    assert_eq!(l.progress(u).unwrap().sent_ms, 530);
    // The carrier echoes them as playback passes; the last one means all was heard.
    for (i, name) in names.iter().enumerate() {
        let at = t0 + Duration::from_millis(100 * (i as u64 + 1));
        assert_eq!(l.handle_mark(at, name), Ok(Some(u)));
    }
    let p = l.progress(u).unwrap();
    assert_eq!(p.heard_ms, 530);
    assert!(p.is_fully_heard());
    l.forget_settled();
    assert!(l.progress(u).is_none());
}

#[test]
fn clear_reports_what_was_heard_and_ignores_flushed_marks() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    l.push_audio(u, &vec![0xFF; 8 * 2000]);
    l.finish_utterance(u);
    let mut now = t0;
    let mut names = Vec::new();
    // Play 300 ms on the virtual clock, echoing marks as they are reached.
    while now < t0 + Duration::from_millis(300) {
        let out = drain(&mut l, now);
        names.extend(marks(&out));
        now += Duration::from_millis(20);
    }
    let first = names.remove(0);
    let second = names.remove(0);
    l.handle_mark(t0 + Duration::from_millis(100), &first)
        .unwrap();
    l.handle_mark(t0 + Duration::from_millis(200), &second)
        .unwrap();
    let report = l.clear(now);
    assert_eq!(report.len(), 1);
    let r = report[0];
    assert_eq!(r.heard_ms, 200);
    assert!(
        r.estimated_heard_ms >= 280 && r.estimated_heard_ms <= r.sent_ms,
        "{r:?}"
    );
    assert_eq!(drain(&mut l, now).last(), Some(&LedgerOutput::Clear));
    // The carrier now echoes the flushed marks: they must not count as heard.
    for name in &names {
        l.handle_mark(now, name).unwrap();
    }
    let p = l.progress(u).unwrap();
    assert_eq!(p.heard_ms, 200);
    assert!(p.interrupted);
    // Audio pushed to a cleared utterance is dropped; a new utterance plays.
    l.push_audio(u, &[0xFF; 160]);
    assert_eq!(l.queued_ms(), 0);
    let v = l.begin_utterance();
    l.push_audio(v, &[0xFF; 160]);
    l.finish_utterance(v);
    let out = drain(&mut l, now);
    assert_eq!(media_ms(&out), 20);
}

#[test]
fn pushes_that_are_not_whole_milliseconds_still_add_up() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    for _ in 0..16 {
        l.push_audio(u, &[0xFF; 5]); // 80 bytes in all: 10 ms of mu-law
    }
    l.finish_utterance(u);
    let out = drain(&mut l, t0);
    assert_eq!(l.progress(u).unwrap().total_ms, 10);
    for name in marks(&out) {
        l.handle_mark(t0 + Duration::from_millis(10), &name)
            .unwrap();
    }
    assert!(l.progress(u).unwrap().is_fully_heard());
}

#[test]
fn unknown_marks_are_reported() {
    let mut l = ledger();
    assert_eq!(
        l.handle_mark(Instant::now(), "nope"),
        Err(UnknownMark("nope".into()))
    );
}

#[test]
fn a_late_mark_pushes_the_playout_estimate_back() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    l.push_audio(u, &vec![0xFF; 8 * 1000]);
    let out = drain(&mut l, t0);
    let names = marks(&out);
    // The carrier was slow: the 100 ms mark comes back only at 250 ms.
    l.handle_mark(t0 + Duration::from_millis(250), &names[0])
        .unwrap();
    // 100 ms sent after that mark are still to play.
    assert_eq!(
        l.ahead(t0 + Duration::from_millis(250)),
        Duration::from_millis(100)
    );
}

#[test]
fn partial_frames_wait_until_the_utterance_finishes() {
    let t0 = Instant::now();
    let mut l = ledger();
    let u = l.begin_utterance();
    l.push_audio(u, &[0xFF; 100]);
    assert!(drain(&mut l, t0).is_empty());
    assert_eq!(l.next_timeout(t0), None);
    l.finish_utterance(u);
    let out = drain(&mut l, t0);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(&out[0], LedgerOutput::Media(b) if b.len() == 100));
    assert!(matches!(&out[1], LedgerOutput::Mark(_)));
}
