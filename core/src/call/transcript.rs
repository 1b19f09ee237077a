//! The order in which the call's transcript is written. An agent turn is settled before it
//! is heard, but its record should carry how long synthesis took: it is held back until its
//! first audio arrives (or the next record, or the end of the call, whichever comes first), and
//! the lines that follow it wait behind it, so the transcript stays in the order things were
//! said.

use std::time::Duration;

use super::io::Outbox;
use super::record::{Record, Speaker, Turn};

/// Records waiting for the held-back agent turn.
#[derive(Debug, Default)]
pub(super) struct Transcript {
    /// The agent's latest turn, waiting for its first audio.
    held: Option<Turn>,
    /// System lines said after it.
    after: Vec<Turn>,
}

impl Transcript {
    /// A turn to record; an agent turn not yet heard (`unheard`) is held back.
    pub(super) fn turn(
        &mut self,
        turn: Turn,
        unheard: bool,
        tts_first_byte: Option<Duration>,
        out: &mut Outbox,
    ) {
        self.release(tts_first_byte, out);
        if turn.speaker == Speaker::Agent && turn.tts_first_byte.is_none() && unheard {
            self.held = Some(turn);
        } else {
            out.record(Record::Turn(turn));
        }
    }

    /// A line of the call's own (a transfer, a hang-up): after the held-back turn, if any.
    pub(super) fn system_line(&mut self, line: Turn, out: &mut Outbox) {
        if self.held.is_some() {
            self.after.push(line);
        } else {
            out.record(Record::Turn(line));
        }
    }

    /// Records the held-back turn (with its synthesis time, when one was measured) and what
    /// waited behind it.
    pub(super) fn release(&mut self, tts_first_byte: Option<Duration>, out: &mut Outbox) {
        if let Some(mut turn) = self.held.take() {
            turn.tts_first_byte = tts_first_byte;
            out.record(Record::Turn(turn));
        }
        for turn in self.after.drain(..) {
            out.record(Record::Turn(turn));
        }
    }
}
