//! How a call ends, decided once by the call machine and read by everything after it: the
//! close frame, the hand-off to the carrier, the call log's outcome and the metric label all
//! come from one [`CallEnd`], so no layer re-models the ending as strings of its own.

use crate::tool::BookingChange;

/// Why the agent handed the caller to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferReason {
    /// The caller asked for one (the model called `transfer_to_service_desk`).
    CallerAsked,
    /// The agent could not understand what the caller wanted.
    NotUnderstood,
    /// The agent understood but cannot do it (no record of the caller, a request outside its
    /// tools).
    CannotHelp,
    /// The caller pressed the transfer key.
    TransferDigit,
    /// Speech recognition failed and no fallback was left.
    SttDown,
    /// Speech synthesis failed and no fallback was left.
    TtsDown,
    /// The language model failed and no fallback was left.
    LlmDown,
    /// The model kept calling tools without answering.
    TooManyToolRounds,
    /// The call reached its maximum length.
    MaxDuration,
    /// The instance was shutting down and the call was wound down to the desk.
    Draining,
}

impl TransferReason {
    /// Words for the transcript and the log.
    pub fn describe(self) -> &'static str {
        match self {
            TransferReason::CallerAsked => "the caller asked for a person",
            TransferReason::NotUnderstood => "the agent could not understand the caller",
            TransferReason::CannotHelp => "the agent could not help with the request",
            TransferReason::TransferDigit => "caller pressed the transfer digit",
            TransferReason::SttDown => "speech-to-text is down",
            TransferReason::TtsDown => "text-to-speech is down",
            TransferReason::LlmDown => "the language model failed",
            TransferReason::TooManyToolRounds => "too many tool rounds",
            TransferReason::MaxDuration => "maximum call length reached",
            TransferReason::Draining => "the instance was shutting down",
        }
    }
}

/// Why the agent said goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoodbyeReason {
    /// The caller was done (the model called `end_call`).
    CallerDone,
    /// The caller stayed silent through the re-prompts.
    Silence,
    /// The instance was shutting down and the call was wound down with a goodbye.
    Draining,
}

impl GoodbyeReason {
    /// Words for the transcript and the log.
    pub fn describe(self) -> &'static str {
        match self {
            GoodbyeReason::CallerDone => "the caller was done",
            GoodbyeReason::Silence => "the caller stayed silent",
            GoodbyeReason::Draining => "the instance was shutting down",
        }
    }
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndCause {
    /// The carrier sent `stop`: the caller hung up.
    CallerHungUp,
    /// The socket closed without `stop`.
    Disconnected,
    /// The carrier sent nothing for the idle limit: it is gone, though its socket is open.
    CarrierSilent,
    /// The stream was refused (a bad stream token, the call cap), with why.
    Rejected(String),
    /// The stream could not be served (an unsupported format, a socket error), with why.
    Failed(String),
    /// The carrier sent a message over the socket's hard limit (the socket cannot go on).
    MessageTooBig,
    /// The call reached its maximum length (an agent call is handed to the desk).
    MaxDuration,
    /// The instance shut down before the call ended.
    Drained,
    /// The agent handed the caller to the service desk.
    Transferred(TransferReason),
    /// The agent said goodbye and ended the call.
    Goodbye(GoodbyeReason),
}

impl EndCause {
    /// The stable name: the `outcome` label of `callbridge_calls_total` and, unless the call
    /// changed the appointment book, the call log's outcome.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndCause::CallerHungUp => "caller_hung_up",
            EndCause::Disconnected | EndCause::CarrierSilent => "disconnected",
            EndCause::Rejected(_) => "rejected",
            EndCause::Failed(_) | EndCause::MessageTooBig => "failed",
            EndCause::MaxDuration => "max_duration",
            EndCause::Drained => "drained",
            EndCause::Transferred(_) => "transferred",
            EndCause::Goodbye(GoodbyeReason::Draining) => "drained",
            EndCause::Goodbye(_) => "completed",
        }
    }

    /// What happened, for the log line that ends the call.
    pub fn describe(&self) -> String {
        match self {
            EndCause::CallerHungUp => "carrier sent stop".into(),
            EndCause::Disconnected => "socket closed without stop".into(),
            EndCause::CarrierSilent => "the carrier sent nothing for the idle limit".into(),
            EndCause::Rejected(why) | EndCause::Failed(why) => why.clone(),
            EndCause::MessageTooBig => "a carrier message over the socket's limit".into(),
            EndCause::MaxDuration => "maximum call length reached".into(),
            EndCause::Drained => "instance shutting down".into(),
            EndCause::Transferred(r) => format!("transferred: {}", r.describe()),
            EndCause::Goodbye(r) => format!("goodbye: {}", r.describe()),
        }
    }
}

/// How a call that is still going when the instance drains is wound down: after the agent's
/// current turn, a short line, then the desk or a goodbye (`DRAIN_ENDING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnding {
    /// Hand the caller to the service desk (nothing they asked for is lost).
    Transfer,
    /// Ask the caller to call back, and hang up.
    Goodbye,
}

impl std::str::FromStr for DrainEnding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "transfer" => Ok(DrainEnding::Transfer),
            "goodbye" => Ok(DrainEnding::Goodbye),
            other => Err(format!("unknown drain ending {other:?}")),
        }
    }
}

/// Where the carrier sends the caller once the stream is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// To the service desk.
    Transfer,
    /// Goodbye.
    HangUp,
}

impl Handoff {
    /// As labelled in `callbridge_call_control_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Handoff::Transfer => "transfer",
            Handoff::HangUp => "hang_up",
        }
    }

    /// Back from [`Handoff::as_str`] (a decision kept in the session store for another node).
    pub fn parse(s: &str) -> Option<Self> {
        [Handoff::Transfer, Handoff::HangUp]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}

/// How the media socket is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// 1000: the call is over.
    Normal,
    /// 1001: the instance is going away.
    GoingAway,
    /// 1008: the stream was refused.
    Policy,
    /// 1009: a message was too big to process.
    TooBig,
    /// 1011: something failed on our side.
    Error,
}

impl Close {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Close::Normal => 1000,
            Close::GoingAway => 1001,
            Close::Policy => 1008,
            Close::TooBig => 1009,
            Close::Error => 1011,
        }
    }
}

/// The end of a call, with everything that follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEnd {
    /// Why it ended.
    pub cause: EndCause,
    /// The last change the call made to the appointment book.
    pub change: Option<BookingChange>,
}

impl CallEnd {
    /// The call log's outcome: a transfer says so; otherwise a change to the appointment book
    /// is what the call achieved; otherwise how it ended.
    pub fn outcome(&self) -> &'static str {
        match (&self.cause, self.change) {
            (EndCause::Transferred(_), _) => "transferred",
            (_, Some(change)) => change.as_str(),
            (cause, None) => cause.as_str(),
        }
    }

    /// The `outcome` label of `callbridge_calls_total` (a closed set).
    pub fn label(&self) -> &'static str {
        self.cause.as_str()
    }

    /// The close frame: code and reason (at most 120 bytes; close reasons are capped at 123).
    pub fn close(&self) -> (Close, String) {
        let (close, reason) = match &self.cause {
            EndCause::Rejected(why) => (Close::Policy, why.as_str()),
            EndCause::Failed(why) => (Close::Error, why.as_str()),
            EndCause::Drained => (Close::GoingAway, "server shutting down"),
            EndCause::MessageTooBig => (Close::TooBig, "message too big"),
            EndCause::CarrierSilent => (Close::GoingAway, "no media from the carrier"),
            _ => (Close::Normal, ""),
        };
        let mut end = reason.len().min(120);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        (close, reason[..end].to_string())
    }

    /// Whether this ending is a fault on our side (logged as a warning).
    pub fn is_fault(&self) -> bool {
        matches!(
            self.cause,
            EndCause::Rejected(_) | EndCause::Failed(_) | EndCause::MessageTooBig
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_end_gives_the_outcome_the_label_and_the_close_frame() {
        let booked_then_bye = CallEnd {
            cause: EndCause::Goodbye(GoodbyeReason::CallerDone),
            change: Some(BookingChange::Booked),
        };
        assert_eq!(booked_then_bye.outcome(), "booked");
        assert_eq!(booked_then_bye.label(), "completed");
        assert_eq!(booked_then_bye.close(), (Close::Normal, String::new()));
        let transferred = CallEnd {
            cause: EndCause::Transferred(TransferReason::TransferDigit),
            change: Some(BookingChange::Cancelled),
        };
        assert_eq!(transferred.outcome(), "transferred");
        let hung_up = CallEnd {
            cause: EndCause::CallerHungUp,
            change: None,
        };
        assert_eq!(hung_up.outcome(), "caller_hung_up");
        let refused = CallEnd {
            cause: EndCause::Rejected("é".repeat(100)),
            change: None,
        };
        let (close, reason) = refused.close();
        assert_eq!((close.code(), reason.len()), (1008, 120));
        assert!(refused.is_fault());
        let drained = CallEnd {
            cause: EndCause::Drained,
            change: None,
        };
        assert_eq!(drained.close().0.code(), 1001);
    }
}
