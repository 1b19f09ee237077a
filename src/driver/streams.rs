//! The provider streams one call has open: its speech recognition, speech synthesis and
//! running completion. Opening, replacing and dropping them is what the call machine asks;
//! reading them is a branch of the executor's one `select!`.

use std::future::pending;

use crate::call::Slot;
use crate::providers::Providers;
use crate::providers::llm::{CompletionRequest, LlmEvent, LlmStream};
use crate::providers::registry::Pair;
use crate::providers::stt::{SttEvent, SttStream};
use crate::providers::tts::{TtsEvent, TtsStream};

/// A call's open streams.
#[derive(Debug, Default)]
pub struct Streams {
    /// Speech recognition.
    pub stt: Option<SttStream>,
    /// Speech synthesis.
    pub tts: Option<TtsStream>,
    /// The running completion and its request number.
    pub llm: Option<(u64, LlmStream)>,
}

/// The provider in `slot` of `pair`.
pub fn provider<T: ?Sized>(pair: &Pair<T>, slot: Slot) -> Option<&T> {
    match slot {
        Slot::Primary => pair.primary.as_deref(),
        Slot::Fallback => pair.fallback.as_deref(),
    }
}

impl Streams {
    /// Starts completion `turn` on the model in `slot`; false when there is none.
    pub fn start_llm(
        &mut self,
        providers: &Providers,
        slot: Slot,
        turn: u64,
        request: CompletionRequest,
    ) -> bool {
        let Some(model) = provider(&providers.llm, slot) else {
            self.llm = None;
            return false;
        };
        self.llm = Some((turn, model.stream(request)));
        true
    }
}

/// The next event of a recognition stream (`None`: it ended); never, without one.
pub async fn next_stt(s: &mut Option<SttStream>) -> Option<SttEvent> {
    match s {
        Some(s) => s.next().await,
        None => pending().await,
    }
}

/// The next event of a synthesis stream (`None`: it ended); never, without one.
pub async fn next_tts(s: &mut Option<TtsStream>) -> Option<TtsEvent> {
    match s {
        Some(s) => s.next().await,
        None => pending().await,
    }
}

/// The next event of the running completion with its request number (`None`: it ended);
/// never, without one.
pub async fn next_llm(s: &mut Option<(u64, LlmStream)>) -> (u64, Option<LlmEvent>) {
    match s {
        Some((turn, s)) => (*turn, s.next().await),
        None => pending().await,
    }
}
