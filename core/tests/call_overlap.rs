//! Sounds over the agent that are not the caller taking the turn, from the recorded clips
//! through the real voice activity detector: a backchannel ("Uh-huh.", "Yeah.", "Right."),
//! a cough, a voice in the room behind the caller. The agent is not stopped by any of them;
//! the caller's real question still stops it.

mod common;

use std::time::Duration;

use callbridge_core::call::observe::Observation;
use callbridge_core::stt::SttEvent;
use common::Line;

const REPLY: &str = "A brake inspection is sixty nine dollars and ninety nine cents, and it takes \
                     about an hour. We check the pads, the rotors, the calipers and the brake \
                     fluid, and we tell you what we find before we fix anything.";

/// A greeted call whose agent is two seconds into a long answer.
fn answering() -> Line {
    let mut line = Line::greeted();
    line.caller_turn("price", "How much is a brake inspection?");
    line.llm_says(REPLY);
    let heard = line.heard_ms();
    line.run_until(Duration::from_secs(5), |l| l.heard_ms() > heard + 2_000);
    line
}

/// The caller's line plays `clip` over the agent; recognition hears `words` in it (if any)
/// as an interim and then a final. Runs until the clip and a second after it are over.
fn over_the_agent(line: &mut Line, clip: &str, words: &str) {
    line.caller_says(clip);
    line.run_until(Duration::from_secs(10), |l| !l.caller_speaking());
    if !words.is_empty() {
        line.stt(SttEvent::Interim { text: words.into() });
        line.stt(SttEvent::Final {
            text: words.into(),
            speech_final: true,
            from_finalize: false,
            start: 0.0,
            end: 0.5,
            confidence: 0.9,
        });
    }
    line.run_for(1_000);
}

#[test]
fn backchannels_do_not_stop_the_agent() {
    for (clip, words) in [
        ("uh_huh", "Uh-huh."),
        ("yeah_short", "Yeah."),
        ("right_short", "Right."),
        ("okay_short", "Okay."),
    ] {
        let mut line = answering();
        over_the_agent(&mut line, clip, words);
        assert_eq!(line.clears, 0, "{clip} stopped the agent");
        assert!(!line.observations.contains(&Observation::BargeIn), "{clip}");
        line.run_until_quiet();
        assert_eq!(line.llm.requests.len(), 1, "{clip} became a turn");
    }
}

#[test]
fn a_cough_does_not_stop_the_agent() {
    let mut line = answering();
    over_the_agent(&mut line, "cough", "");
    assert_eq!(line.clears, 0);
    line.run_until_quiet();
    assert_eq!(line.llm.requests.len(), 1);
}

#[test]
fn a_voice_in_the_background_does_not_stop_the_agent() {
    let mut line = answering();
    over_the_agent(&mut line, "background", "");
    assert_eq!(line.clears, 0);
    line.run_until_quiet();
    assert_eq!(line.llm.requests.len(), 1);
}

#[test]
fn the_callers_question_over_the_agent_still_stops_it() {
    let mut line = answering();
    over_the_agent(&mut line, "hours", "What time do you open on Saturday?");
    assert_eq!(line.clears, 1);
    assert!(line.observations.contains(&Observation::BargeIn));
}
