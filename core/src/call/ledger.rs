//! The playback ledger: paces outbound audio a bounded lead ahead of real time and keeps, from
//! the marks the carrier echoes, an exact account of how much of each utterance the caller has
//! heard.
//!
//! Audio is queued per utterance. [`PlaybackLedger::poll_transmit`] releases it in whole frames
//! whenever less than half the lead is buffered at the carrier, topping the buffer back up to
//! the full lead (fewer, larger writes instead of one per 20 ms frame), and places a mark every
//! `mark_interval` of audio and at each utterance's end. Carriers echo a mark once everything
//! before it has played, so a mark's offset is a lower bound on what was heard. A `clear` makes
//! the carrier drop its buffer and echo every pending mark at once; those echoes say nothing
//! about playback, so the ledger flags them as flushed before they come back.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Identifies one utterance (one reply, or one echoed block) in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtteranceId(pub u64);

/// Pacing parameters.
#[derive(Debug, Clone, Copy)]
pub struct LedgerConfig {
    /// Bytes of one millisecond of outbound audio (8 for mu-law 8 kHz).
    pub bytes_per_ms: usize,
    /// How far ahead of real time audio may be sent.
    pub lead: Duration,
    /// Audio between marks within an utterance.
    pub mark_interval: Duration,
}

/// What the ledger wants sent to the carrier, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOutput {
    /// Audio in the carrier's outbound format.
    Media(Vec<u8>),
    /// A mark to be echoed when playback reaches this point.
    Mark(String),
    /// Drop everything the carrier has buffered.
    Clear,
}

/// One utterance's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UtteranceProgress {
    /// Audio queued so far, in ms.
    pub total_ms: u64,
    /// Audio sent to the carrier, in ms.
    pub sent_ms: u64,
    /// Audio the carrier confirmed played, in ms (from marks).
    pub heard_ms: u64,
    /// No more audio will be added.
    pub finished: bool,
    /// Cut short by a clear.
    pub interrupted: bool,
    /// Bytes queued so far: `total_ms` is derived from the sum, so pushes that are not whole
    /// milliseconds add up to the same total that is sent.
    total_bytes: usize,
}

impl UtteranceProgress {
    /// Everything was sent and confirmed played.
    pub fn is_fully_heard(&self) -> bool {
        self.finished && !self.interrupted && self.heard_ms == self.total_ms
    }
}

/// What a clear cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// The utterance that was playing or queued.
    pub utterance: UtteranceId,
    /// Confirmed heard by marks.
    pub heard_ms: u64,
    /// Best estimate of what played by the clock (at least `heard_ms`, at most `sent_ms`).
    pub estimated_heard_ms: u64,
    /// Sent before the clear.
    pub sent_ms: u64,
    /// Queued in all.
    pub total_ms: u64,
}

/// A mark name the ledger did not send (or already resolved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mark {0:?}")]
pub struct UnknownMark(pub String);

#[derive(Debug)]
struct PendingMark {
    name: String,
    utterance: UtteranceId,
    offset_ms: u64,
    /// Total ms sent (all utterances) when the mark was placed: where the playout clock stands
    /// once the carrier echoes it.
    sent_total_ms: u64,
    flushed: bool,
}

#[derive(Debug)]
struct Queued {
    utterance: UtteranceId,
    bytes: Vec<u8>,
    /// Bytes of `bytes` already sent.
    cursor: usize,
}

/// The per-call playback ledger. Sans-IO: time is passed in.
#[derive(Debug)]
pub struct PlaybackLedger {
    config: LedgerConfig,
    frame_bytes: usize,
    next_utterance: u64,
    next_mark: u64,
    queue: VecDeque<Queued>,
    utterances: BTreeMap<UtteranceId, UtteranceProgress>,
    /// Ms of audio already covered by a mark, per utterance.
    marked_ms: BTreeMap<UtteranceId, u64>,
    pending_marks: VecDeque<PendingMark>,
    /// When the carrier will have played everything sent, by our estimate.
    playout_end: Option<Instant>,
    sent_total_ms: u64,
    outbox: VecDeque<LedgerOutput>,
}

impl PlaybackLedger {
    /// A ledger for audio of `bytes_per_ms` bytes per millisecond.
    pub fn new(config: LedgerConfig) -> Self {
        assert!(
            config.bytes_per_ms > 0,
            "the ledger paces constant-bit-rate audio"
        );
        PlaybackLedger {
            frame_bytes: config.bytes_per_ms * 20,
            config,
            next_utterance: 1,
            next_mark: 1,
            queue: VecDeque::new(),
            utterances: BTreeMap::new(),
            marked_ms: BTreeMap::new(),
            pending_marks: VecDeque::new(),
            playout_end: None,
            sent_total_ms: 0,
            outbox: VecDeque::new(),
        }
    }

    fn ms(&self, bytes: usize) -> u64 {
        (bytes / self.config.bytes_per_ms) as u64
    }

    /// Opens a new utterance; audio for it is added with [`PlaybackLedger::push_audio`].
    pub fn begin_utterance(&mut self) -> UtteranceId {
        let id = UtteranceId(self.next_utterance);
        self.next_utterance += 1;
        self.utterances.insert(id, UtteranceProgress::default());
        id
    }

    /// Queues audio for `utterance` (ignored if the utterance is finished or was cleared).
    pub fn push_audio(&mut self, utterance: UtteranceId, bytes: &[u8]) {
        let Some(p) = self.utterances.get_mut(&utterance) else {
            return;
        };
        if p.finished || p.interrupted || bytes.is_empty() {
            return;
        }
        p.total_bytes += bytes.len();
        p.total_ms = (p.total_bytes / self.config.bytes_per_ms) as u64;
        match self.queue.back_mut() {
            Some(q) if q.utterance == utterance => q.bytes.extend_from_slice(bytes),
            _ => self.queue.push_back(Queued {
                utterance,
                bytes: bytes.to_vec(),
                cursor: 0,
            }),
        }
    }

    /// No more audio will come for `utterance`; its last partial frame may go out and a final
    /// mark follows it.
    pub fn finish_utterance(&mut self, utterance: UtteranceId) {
        if let Some(p) = self.utterances.get_mut(&utterance) {
            p.finished = true;
        }
    }

    /// The account of one utterance.
    pub fn progress(&self, utterance: UtteranceId) -> Option<UtteranceProgress> {
        self.utterances.get(&utterance).copied()
    }

    /// Forgets utterances that are fully resolved (heard or interrupted, no marks pending), so
    /// a long call does not grow the ledger.
    pub fn forget_settled(&mut self) {
        let pending: std::collections::BTreeSet<UtteranceId> =
            self.pending_marks.iter().map(|m| m.utterance).collect();
        let queued: std::collections::BTreeSet<UtteranceId> =
            self.queue.iter().map(|q| q.utterance).collect();
        self.utterances.retain(|id, p| {
            let settled = (p.interrupted || (p.finished && p.heard_ms == p.total_ms))
                && !pending.contains(id)
                && !queued.contains(id);
            !settled
        });
        let utterances = &self.utterances;
        self.marked_ms.retain(|id, _| utterances.contains_key(id));
    }

    /// Audio buffered at the carrier by the clock, at `now`.
    pub fn ahead(&self, now: Instant) -> Duration {
        self.playout_end
            .map_or(Duration::ZERO, |end| end.saturating_duration_since(now))
    }

    /// Audio queued but not yet sent.
    pub fn queued_ms(&self) -> u64 {
        self.queue
            .iter()
            .map(|q| self.ms(q.bytes.len() - q.cursor))
            .sum()
    }

    /// Nothing queued, nothing buffered at `now`, no marks outstanding.
    pub fn is_idle(&self, now: Instant) -> bool {
        self.queue.is_empty() && self.ahead(now).is_zero() && self.pending_marks.is_empty()
    }

    /// Whether the head of the queue has audio that may go out now (whole frames, or the
    /// tail of a finished utterance).
    fn sendable(&self) -> bool {
        self.queue.front().is_some_and(|q| {
            let left = q.bytes.len() - q.cursor;
            let finished = self.is_finished(q.utterance);
            left >= self.frame_bytes || (finished && left > 0)
        })
    }

    fn is_finished(&self, utterance: UtteranceId) -> bool {
        self.utterances.get(&utterance).is_some_and(|p| p.finished)
    }

    /// A finished utterance whose audio is all sent still owes its final mark.
    fn end_mark_due(&self) -> bool {
        self.queue
            .front()
            .is_some_and(|q| q.cursor == q.bytes.len() && self.is_finished(q.utterance))
    }

    /// When [`PlaybackLedger::poll_transmit`] should next be called, given the time is `now`;
    /// `None` while nothing is waiting. A deadline at or before `now` means at once.
    pub fn next_timeout(&self, now: Instant) -> Option<Instant> {
        if !self.outbox.is_empty() || self.end_mark_due() {
            return Some(now);
        }
        if !self.sendable() {
            return None;
        }
        Some(self.refill_at(now))
    }

    /// When the ledger will next accept audio for sending: once the carrier's buffer falls to
    /// half the lead. Audio handed over earlier would only wait in the queue, so producers may
    /// batch their work up to this instant without delaying playback.
    pub fn refill_at(&self, now: Instant) -> Instant {
        self.playout_end
            .and_then(|end| end.checked_sub(self.config.lead / 2))
            .unwrap_or(now)
            .max(now)
    }

    /// Produces what should be sent at `now`; call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<LedgerOutput> {
        if let Some(out) = self.outbox.pop_front() {
            return Some(out);
        }
        self.fill(now);
        self.outbox.pop_front()
    }

    /// Pops a finished, fully sent head utterance and places its final mark.
    fn settle_head(&mut self) -> bool {
        if !self.end_mark_due() {
            return false;
        }
        let q = self.queue.pop_front().expect("end_mark_due implies a head");
        let sent = self.utterances.get(&q.utterance).map_or(0, |p| p.sent_ms);
        self.place_mark(q.utterance, sent);
        true
    }

    fn fill(&mut self, now: Instant) {
        while self.settle_head() {}
        if self.ahead(now) > self.config.lead / 2 {
            return;
        }
        let lead_ms = self.config.lead.as_millis() as u64;
        let mark_ms = self.config.mark_interval.as_millis().max(1) as u64;
        let mut budget_ms = lead_ms.saturating_sub(self.ahead(now).as_millis() as u64);
        while budget_ms > 0 && self.sendable() {
            let q = self.queue.front_mut().expect("sendable implies a head");
            let utterance = q.utterance;
            let progress = self.utterances.get(&utterance).copied().unwrap_or_default();
            let left = q.bytes.len() - q.cursor;
            // Up to the next mark boundary and the budget, in whole frames.
            let marked = *self.marked_ms.get(&utterance).unwrap_or(&0);
            let to_boundary_ms = (marked + mark_ms).saturating_sub(progress.sent_ms).max(1);
            let want_ms = budget_ms.min(to_boundary_ms);
            let mut want_bytes = (want_ms as usize * self.config.bytes_per_ms)
                .div_ceil(self.frame_bytes)
                * self.frame_bytes;
            if want_bytes > left {
                want_bytes = if progress.finished {
                    left
                } else {
                    left / self.frame_bytes * self.frame_bytes
                };
            }
            let chunk = q.bytes[q.cursor..q.cursor + want_bytes].to_vec();
            q.cursor += want_bytes;
            let chunk_ms = (want_bytes / self.config.bytes_per_ms) as u64;
            let start = self.playout_end.map_or(now, |end| end.max(now));
            self.playout_end = Some(start + Duration::from_millis(chunk_ms));
            self.sent_total_ms += chunk_ms;
            budget_ms = budget_ms.saturating_sub(chunk_ms.max(1));
            let p = self.utterances.entry(utterance).or_default();
            p.sent_ms += chunk_ms;
            let sent = p.sent_ms;
            self.outbox.push_back(LedgerOutput::Media(chunk));
            if !self.settle_head() && sent >= marked + mark_ms {
                self.place_mark(utterance, sent);
            }
        }
    }

    fn place_mark(&mut self, utterance: UtteranceId, offset_ms: u64) {
        let name = format!("cb{}", self.next_mark);
        self.next_mark += 1;
        self.marked_ms.insert(utterance, offset_ms);
        self.pending_marks.push_back(PendingMark {
            name: name.clone(),
            utterance,
            offset_ms,
            sent_total_ms: self.sent_total_ms,
            flushed: false,
        });
        self.outbox.push_back(LedgerOutput::Mark(name));
    }

    /// The carrier echoed mark `name` at `now`. Marks arrive in order; any earlier pending
    /// mark is resolved with it. Returns the utterance whose heard position advanced.
    pub fn handle_mark(
        &mut self,
        now: Instant,
        name: &str,
    ) -> Result<Option<UtteranceId>, UnknownMark> {
        let Some(index) = self.pending_marks.iter().position(|m| m.name == name) else {
            return Err(UnknownMark(name.to_string()));
        };
        let mut advanced = None;
        for mark in self.pending_marks.drain(..=index) {
            if mark.flushed {
                continue;
            }
            if let Some(p) = self.utterances.get_mut(&mark.utterance) {
                p.heard_ms = p.heard_ms.max(mark.offset_ms);
                advanced = Some(mark.utterance);
            }
            // The carrier is exactly here: whatever was sent after the mark is still to play.
            let remaining = self.sent_total_ms - mark.sent_total_ms;
            let corrected = now + Duration::from_millis(remaining);
            self.playout_end = Some(self.playout_end.map_or(corrected, |e| e.max(corrected)));
        }
        Ok(advanced)
    }

    /// Stops playback at `now`: drops queued audio, asks the carrier to drop its buffer, and
    /// reports what each affected utterance got to.
    pub fn clear(&mut self, now: Instant) -> Vec<Interruption> {
        let ahead_ms = self.ahead(now).as_millis() as u64;
        let mut affected: Vec<UtteranceId> = self.queue.iter().map(|q| q.utterance).collect();
        for m in self.pending_marks.iter_mut() {
            m.flushed = true;
            if !affected.contains(&m.utterance) {
                affected.push(m.utterance);
            }
        }
        self.queue.clear();
        self.outbox.retain(|o| !matches!(o, LedgerOutput::Media(_)));
        self.outbox.push_back(LedgerOutput::Clear);
        self.playout_end = None;
        // Walk back from the newest sent audio to attribute what was still buffered.
        let mut unplayed = ahead_ms;
        let mut report = Vec::new();
        for id in affected.iter().rev() {
            let Some(p) = self.utterances.get_mut(id) else {
                continue;
            };
            let unplayed_here = unplayed.min(p.sent_ms);
            unplayed -= unplayed_here;
            let estimated = (p.sent_ms - unplayed_here).max(p.heard_ms);
            if p.heard_ms < p.total_ms || !p.finished {
                p.interrupted = true;
            }
            report.push(Interruption {
                utterance: *id,
                heard_ms: p.heard_ms,
                estimated_heard_ms: estimated,
                sent_ms: p.sent_ms,
                total_ms: p.total_ms,
            });
        }
        report.reverse();
        report.retain(|r| r.heard_ms < r.total_ms || r.total_ms == 0);
        report
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
