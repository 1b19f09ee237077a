//! Which caller sounds over the agent are an interruption. On a phone line the agent hears
//! "uh-huh", "okay", a cough, a voice in the room, and its own voice leaking back from the
//! handset; stopping for each makes it unusable. An interruption needs real words: a
//! transcript over the agent that is only backchannel words, or only words the agent is
//! saying itself (its echo), is not one. Speech with no transcript at all still interrupts
//! once it has gone on long enough (the recogniser may lag or be down).

use std::time::Instant;

use super::{Action, Agent, Phase};
use crate::call::observe::Observation;

/// Words a listener says to show they are listening, not to take the turn.
const BACKCHANNELS: &[&str] = &[
    "uh-huh", "uh", "huh", "um", "mm", "mhm", "mm-hmm", "hmm", "hm", "okay", "ok", "yeah", "yep",
    "right", "sure", "alright", "aha", "ah", "oh", "got", "it", "i", "see", "cool",
];

/// What a transcript heard over the agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Only listening noises ("uh-huh", "okay", "I see").
    Backchannel,
    /// Only words the agent itself is saying: its voice leaking back.
    Echo,
    /// Words of the caller's own: an interruption.
    Words,
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Classifies `transcript`, heard while the agent says `agent_text`.
pub fn classify(transcript: &str, agent_text: &str) -> Overlap {
    let heard = words(transcript);
    if heard.iter().all(|w| BACKCHANNELS.contains(&w.as_str())) {
        return Overlap::Backchannel;
    }
    let said = words(agent_text);
    if heard.len() >= 2 && heard.iter().all(|w| said.contains(w)) {
        return Overlap::Echo;
    }
    Overlap::Words
}

impl Agent {
    /// What the agent is saying in this reply (for telling its echo from the caller).
    pub(super) fn agent_text(&self) -> String {
        format!("{} {}", self.spoken.join(" "), self.reply)
    }

    /// An interim transcript over the agent: the caller's own words interrupt (once the
    /// speech has lasted `barge_in_min_speech`); backchannels and echo do not, and the speech
    /// they came from no longer interrupts by its length alone.
    pub(super) fn words_over_agent(&mut self, text: &str, now: Instant, out: &mut Vec<Action>) {
        match classify(text, &self.agent_text()) {
            Overlap::Words => {
                let due = self
                    .overlap_since
                    .map(|s| s + self.config.barge_in_min_speech);
                match due {
                    Some(at) if now < at => self.barge_in_at = Some(at),
                    _ => self.barge_in(now, out),
                }
            }
            Overlap::Backchannel | Overlap::Echo => self.barge_in_at = None,
        }
    }

    pub(super) fn barge_in(&mut self, _now: Instant, out: &mut Vec<Action>) {
        self.barge_in_at = None;
        if !self.speaking && self.phase != Phase::Thinking {
            return;
        }
        out.push(Action::Observe(Observation::BargeIn));
        self.stop(out);
        self.phase = Phase::CallerSpeaking;
    }

    /// A final transcript's words took the turn. If voice activity has already heard the
    /// speech end (a recogniser that transcribes whole segments hands its words over after
    /// it), the caller's turn is over too: the recogniser is asked for anything it still
    /// holds and the turn ends with its final, as when voice activity ends a turn.
    pub(super) fn barged_in_after_speech(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.phase == Phase::CallerSpeaking && !self.caller_voice {
            out.push(Action::FinalizeStt);
            self.phase = Phase::AwaitingFinal(now + self.config.finalize_grace);
        }
    }

    /// The caller's turn was taken while they are still speaking (they went on after a
    /// pause that ended it): that speech is over the agent's answer from now, and
    /// interrupts it as any other would.
    pub(super) fn still_speaking(&mut self, now: Instant) {
        if self.caller_voice {
            self.overlap_since = Some(now);
            let wait = self.config.barge_in_without_words;
            self.barge_in_at.get_or_insert(now + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str =
        "We are open Monday to Friday from 7:30 to 6. On Saturday we open from 8 to 2.";

    #[test]
    fn listening_noises_and_the_agents_own_voice_are_not_interruptions() {
        for noise in [
            "Uh-huh.",
            "okay",
            "Yeah, right.",
            "mm-hmm",
            "Okay, I see.",
            "",
            "Oh.",
        ] {
            assert_eq!(classify(noise, AGENT), Overlap::Backchannel, "{noise:?}");
        }
        for echo in ["Monday to Friday", "on saturday we open"] {
            assert_eq!(classify(echo, AGENT), Overlap::Echo, "{echo:?}");
        }
        for words in [
            "Wait, what about Sunday?",
            "No",
            "Okay but I need Saturday",
            "Actually, cancel that.",
            "Friday",
        ] {
            assert_eq!(classify(words, AGENT), Overlap::Words, "{words:?}");
        }
    }
}
