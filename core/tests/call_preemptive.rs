//! Preemptive generation through the whole call on a virtual clock: the model is asked at the
//! local turn end on the interim transcript; what it says waits for the final; the same
//! final keeps it, a different one cancels it and asks again, and speech that goes on drops
//! it. Nothing said for an unconfirmed transcript reaches the caller.

mod common;

use std::time::Duration;

use callbridge_core::call::observe::{Observation, Stage};
use callbridge_core::chat::Role;
use callbridge_core::stt::SttEvent;
use common::{Line, agent_config};

/// A greeted call whose agent asks the model before the final.
fn line() -> Line {
    let mut line = Line::new(agent_config());
    line.preparation
        .as_mut()
        .expect("prepared")
        .agent
        .preemptive_llm = true;
    line.start();
    line.run_until_quiet();
    line
}

/// The caller says `clip`, recognised as `interim` while they speak; runs until the local
/// turn end asked for the final.
fn caller_speaks(line: &mut Line, clip: &str, interim: &str) {
    let finalizes = line.stt.finalizes;
    line.caller_says(clip);
    line.run_for(600);
    line.stt(SttEvent::Interim {
        text: interim.into(),
    });
    let ended = line.run_until(Duration::from_secs(10), |l| l.stt.finalizes > finalizes);
    assert!(ended, "the turn never ended locally");
}

fn preemptive(line: &Line) -> (usize, usize) {
    let count = |used: bool| {
        line.observations
            .iter()
            .filter(|o| **o == Observation::Preemptive { used })
            .count()
    };
    (count(true), count(false))
}

fn last_user_message(line: &Line) -> String {
    let (_, messages) = line.llm.requests.last().expect("a request");
    let last = messages.last().expect("messages");
    assert_eq!(last.role, Role::User);
    last.content.clone().unwrap_or_default()
}

#[test]
fn the_model_starts_at_the_turn_end_and_its_answer_waits_for_the_same_final() {
    let mut line = line();
    caller_speaks(&mut line, "hours", "What time do you open on Saturday");
    // Asked already, on the interim, before the final.
    assert_eq!(line.llm.requests.len(), 1);
    assert_eq!(
        last_user_message(&line),
        "What time do you open on Saturday"
    );
    // Its answer is held: nothing is spoken for a transcript not yet confirmed.
    let spoken = line.spoken().len();
    line.llm_says("We open at eight on Saturday.");
    line.run_for(200);
    assert_eq!(line.spoken().len(), spoken);
    // The final says the same (punctuation aside): the held answer is spoken, no new request.
    line.stt_final("What time do you open on Saturday?");
    assert_eq!(line.llm.requests.len(), 1);
    assert_eq!(line.llm.cancels, 0);
    assert_eq!(
        line.spoken().last().map(String::as_str),
        Some("We open at eight on Saturday.")
    );
    assert_eq!(preemptive(&line), (1, 0));
    // The turn's clocks run from the early request: each stage measured once.
    line.run_until_quiet();
    for stage in [
        Stage::SttFinal,
        Stage::LlmFirstToken,
        Stage::FirstSentence,
        Stage::VoiceToVoice,
    ] {
        let n = line
            .observations
            .iter()
            .filter(|o| matches!(o, Observation::Latency(s, _) if *s == stage))
            .count();
        assert_eq!(n, 1, "{stage:?}");
    }
    // The history holds the final's words.
    line.caller_turn("thanks_bye", "That's all, thank you. Goodbye.");
    let (_, messages) = line.llm.requests.last().unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.content.as_deref() == Some("What time do you open on Saturday?"))
    );
}

#[test]
fn a_final_that_says_otherwise_cancels_the_early_request_and_asks_again() {
    let mut line = line();
    caller_speaks(&mut line, "correction", "No Tuesday");
    assert_eq!(line.llm.requests.len(), 1);
    line.llm_streams("Tuesday it is.");
    line.stt_final("No, Thursday, not Tuesday.");
    assert_eq!(line.llm.cancels, 1);
    assert_eq!(line.llm.requests.len(), 2);
    assert_eq!(last_user_message(&line), "No, Thursday, not Tuesday.");
    assert_eq!(preemptive(&line), (0, 1));
    line.llm_says("Thursday it is.");
    let spoken = line.spoken();
    assert!(
        !spoken.iter().any(|s| s.contains("Tuesday it is")),
        "{spoken:?}"
    );
    assert!(spoken.iter().any(|s| s == "Thursday it is."));
}

#[test]
fn without_words_yet_nothing_is_asked_early() {
    let mut line = line();
    let finalizes = line.stt.finalizes;
    line.caller_says("yes_short");
    line.run_until(Duration::from_secs(5), |l| l.stt.finalizes > finalizes);
    assert!(line.llm.requests.is_empty());
    line.stt_final("Yes.");
    assert_eq!(line.llm.requests.len(), 1);
    assert_eq!(preemptive(&line), (0, 0));
}

#[test]
fn an_early_request_whose_final_is_empty_is_dropped() {
    let mut line = line();
    caller_speaks(&mut line, "cough", "hm");
    assert_eq!(line.llm.requests.len(), 1);
    line.stt_final("");
    assert_eq!(line.llm.cancels, 1);
    assert_eq!(line.llm.requests.len(), 1);
    assert_eq!(preemptive(&line), (0, 1));
}
