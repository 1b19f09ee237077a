//! Turn ends decided by a turn model, through the whole call on a virtual clock: the caller's
//! recorded clips go through the real voice activity detector; a fake turn model answers.
//! A finished caller is answered at the pause, a pausing one keeps the turn, and a model that
//! is slow or fails costs no more than voice activity alone.

mod common;

use std::time::Duration;

use callbridge_core::audio::vad::VadConfig;
use callbridge_core::call::observe::{Observation, TurnVerdict};
use callbridge_core::call::record::Speaker;
use callbridge_core::stt::SttEvent;
use common::{Line, agent_config, clip};

/// Silence before the turn model is asked.
const PAUSE_MS: u64 = 200;
/// The longest pause an unfinished sentence holds.
const INCOMPLETE_MS: u64 = 1000;
/// How long a verdict may take.
const VERDICT_WAIT_MS: u64 = 200;

/// A greeted call whose turns are judged by a fake model answering `verdict` (`None`:
/// never).
fn line(verdict: Option<Option<bool>>) -> Line {
    line_pausing(verdict, PAUSE_MS)
}

/// [`line`], the turn model asked after `pause_ms` of silence.
fn line_pausing(verdict: Option<Option<bool>>, pause_ms: u64) -> Line {
    let mut config = agent_config();
    config.conversation.as_mut().expect("agent call").vad = VadConfig {
        pause_ms,
        end_ms: INCOMPLETE_MS,
        ..VadConfig::default()
    };
    let mut line = Line::new(config);
    line.preparation
        .as_mut()
        .expect("prepared")
        .agent
        .turn_verdict_wait = Some(Duration::from_millis(VERDICT_WAIT_MS));
    line.turn_verdict = verdict;
    line.start();
    line.run_until_quiet();
    line
}

/// "I'd like to book an oil change for my Honda." … "Tuesday morning would be great.", the
/// pause between them about 850 ms (the clips' own silence either side). Returns when the first clip's audio ends (ms since the call began).
fn caller_speaks_with_a_pause(line: &mut Line) -> u64 {
    let first_ms = clip("book_oil_change").len() as u64 * 20;
    let start = line.ms();
    line.caller_says("book_oil_change");
    line.caller_says("tuesday_morning");
    start + first_ms
}

fn verdicts(line: &Line) -> Vec<TurnVerdict> {
    line.observations
        .iter()
        .filter_map(|o| match o {
            Observation::TurnVerdict(v) => Some(*v),
            _ => None,
        })
        .collect()
}

/// Runs until the turn's `Finalize`; when it went out (ms since the call began).
fn finalized_at(line: &mut Line) -> u64 {
    let ended = line.run_until(Duration::from_secs(20), |l| l.stt.finalizes > 0);
    assert!(ended, "the turn never ended");
    line.ms()
}

#[test]
fn a_caller_pausing_mid_sentence_keeps_the_turn() {
    let mut line = line(Some(Some(false)));
    let first_end = caller_speaks_with_a_pause(&mut line);
    let at = finalized_at(&mut line);
    // One turn, ended after the second part, not at the pause.
    assert!(
        at > first_end + 1500,
        "finalized at {at} ms, first part ended {first_end}"
    );
    assert_eq!(line.stt.finalizes, 1);
    // Every pause was judged, the audio judged growing with the turn, each incomplete.
    assert!(line.judgements.len() >= 2, "{:?}", line.judgements);
    let (_, _, first_secs) = line.judgements[0];
    let (_, _, last_secs) = *line.judgements.last().unwrap();
    assert!(
        first_secs > 1.5 && last_secs > first_secs + 1.0,
        "{:?}",
        line.judgements
    );
    assert!(
        verdicts(&line)
            .iter()
            .all(|v| *v == TurnVerdict::Incomplete)
    );
}

#[test]
fn a_finished_caller_is_answered_at_the_pause() {
    let mut line = line(Some(Some(true)));
    let start = line.ms();
    line.caller_says("yes_correct");
    let at = finalized_at(&mut line);
    let (_, asked, _) = line.judgements[0];
    let asked_ms = (asked - line.t0).as_millis() as u64;
    assert_eq!(at, asked_ms, "the turn ends as the verdict comes");
    // Well before the silence limit would end it: the clip holds its speech and 200 ms of
    // padding; the turn ends within the pause, not INCOMPLETE_MS after the speech.
    let clip_ms = clip("yes_correct").len() as u64 * 20;
    assert!(
        at < start + clip_ms + INCOMPLETE_MS - 300,
        "finalized at {at}"
    );
    assert_eq!(verdicts(&line), [TurnVerdict::Complete]);
    assert_eq!(line.stt.finalizes, 1);
}

#[test]
fn a_verdict_that_does_not_come_ends_the_turn_after_its_wait() {
    let mut line = line(None);
    line.caller_says("yes_correct");
    let at = finalized_at(&mut line);
    // The last pause's verdict was awaited (speech resumed after the comma's).
    let (_, asked, _) = *line.judgements.last().unwrap();
    let waited = at - (asked - line.t0).as_millis() as u64;
    assert!(
        (VERDICT_WAIT_MS..VERDICT_WAIT_MS + 20).contains(&waited),
        "waited {waited} ms"
    );
    assert_eq!(verdicts(&line), [TurnVerdict::Late]);
    // The late answer changes nothing.
    let id = line.judgements.last().unwrap().0;
    line.input(callbridge_core::call::Input::TurnJudged {
        id,
        complete: Some(false),
    });
    assert_eq!(verdicts(&line), [TurnVerdict::Late]);
    assert_eq!(line.stt.finalizes, 1);
}

#[test]
fn a_failed_model_ends_the_turn_at_the_pause() {
    let mut line = line(Some(None));
    line.caller_says("yes_correct");
    let at = finalized_at(&mut line);
    let (_, asked, _) = line.judgements[0];
    assert_eq!(at, (asked - line.t0).as_millis() as u64);
    assert_eq!(verdicts(&line), [TurnVerdict::Failed]);
}

#[test]
fn speech_after_a_finished_verdict_starts_a_new_turn_and_the_agent_answers_each() {
    let mut line = line(Some(Some(true)));
    line.caller_says("hours");
    finalized_at(&mut line);
    line.stt_final("What time do you open on Saturday?");
    assert_eq!(line.llm.requests.len(), 1);
    line.llm_says("We open at eight on Saturday.");
    line.run_until_quiet();
    line.caller_says("thanks_bye");
    let done = line.run_until(Duration::from_secs(10), |l| l.stt.finalizes > 1);
    assert!(done, "the second turn never ended");
    line.stt_final("That's all,");
    assert_eq!(line.llm.requests.len(), 2);
}

#[test]
fn with_the_model_a_backchannel_over_the_agent_still_does_not_stop_it() {
    // The speech ends only after INCOMPLETE_MS of silence: the pause must end the overlap,
    // or an "uh-huh" would count as a second of speech without words.
    let mut line = line(Some(Some(false)));
    line.caller_turn("price", "How much is a brake inspection?");
    line.llm_says(
        "A brake inspection is sixty nine dollars and ninety nine cents, and it takes about an \
         hour. We check the pads, the rotors, the calipers and the brake fluid.",
    );
    let heard = line.heard_ms();
    line.run_until(Duration::from_secs(5), |l| l.heard_ms() > heard + 2_000);
    line.caller_says("uh_huh");
    line.run_for(2_500);
    assert_eq!(line.clears, 0, "the agent was stopped by an uh-huh");
}

/// The caller, answered at a comma, goes on: "My car is making a weird noise, can I speak with
/// one of your mechanics?" The rest began before the first half's transcript (so before the
/// answer), and ends while the agent speaks; a recogniser that cuts its own segments (Whisper)
/// then hands it over as a final of its own, with no `Finalize` asked. Those words are the
/// caller's next turn: the agent stops and answers them, rather than holding them forever in
/// a turn nobody ends.
#[test]
fn the_rest_of_a_turn_cut_at_a_pause_becomes_the_next_turn_when_its_final_comes_late() {
    let mut line = line(Some(Some(true)));
    line.caller_says("book_oil_change");
    line.caller_says("that_works");
    finalized_at(&mut line);
    // The second part starts while the first's transcript is on its way.
    line.run_for(450);
    assert!(line.caller_speaking());
    line.stt_final("I'd like to book an oil change for my Honda.");
    assert_eq!(line.llm.requests.len(), 1);
    line.llm_says("I can book an oil change. What day would suit you?");
    // The caller finishes over the agent; voice activity ends the speech.
    line.run_until(Duration::from_secs(10), |l| !l.caller_speaking());
    line.run_for(INCOMPLETE_MS + 300);
    let finalizes = line.stt.finalizes;
    line.stt(SttEvent::Final {
        text: "That works for me.".into(),
        speech_final: true,
        from_finalize: false,
        start: 3.6,
        end: 5.0,
        confidence: 0.9,
    });
    assert!(line.observations.contains(&Observation::BargeIn));
    assert_eq!(line.llm.requests.len(), 2, "the rest never became a turn");
    // The recogniser, asked for anything it still held, has nothing: that changes nothing.
    assert_eq!(line.stt.finalizes, finalizes + 1);
    line.stt(SttEvent::Final {
        text: String::new(),
        speech_final: true,
        from_finalize: true,
        start: 5.0,
        end: 5.0,
        confidence: 1.0,
    });
    line.run_for(100);
    assert_eq!(line.llm.requests.len(), 2, "the rest never became a turn");
    let (_, asked) = line.llm.requests.last().unwrap();
    let said = asked.last().and_then(|m| m.content.clone());
    assert_eq!(said.as_deref(), Some("That works for me."));
    assert!(!line.observations.contains(&Observation::FalseInterruption));
    let caller: Vec<String> = line
        .transcript()
        .into_iter()
        .filter(|(s, _, _)| *s == Speaker::Caller)
        .map(|(_, t, _)| t)
        .collect();
    assert_eq!(
        caller,
        [
            "I'd like to book an oil change for my Honda.",
            "That works for me."
        ]
    );
}

/// The caller, answered at a pause, goes on speaking over the answer for longer than a
/// barge-in takes: the agent stops for them, though their speech began before it spoke, and
/// the turn ends when voice activity hears them stop.
#[test]
fn a_caller_who_goes_on_after_a_turn_ended_at_a_pause_interrupts_the_answer() {
    // Only the pause between the two is long enough to be judged: the second part is one
    // stretch of speech, with nothing that would start a barge-in of its own.
    let mut line = line_pausing(Some(Some(true)), 500);
    line.caller_says("yes_short");
    line.caller_says("book_oil_change");
    finalized_at(&mut line);
    line.run_for(500);
    assert!(line.caller_speaking());
    line.stt_final("Yes.");
    assert_eq!(line.llm.requests.len(), 1);
    line.llm_says(
        "Great. I have Tuesday at nine for an oil change, and it takes about forty five \
         minutes. Shall I book it?",
    );
    let stopped = line.run_until(Duration::from_secs(10), |l| l.clears > 0);
    assert!(stopped, "the agent talked over the caller to the end");
    assert!(line.caller_speaking(), "stopped only after the caller had");
    // Their speech ends the turn: the recogniser is asked for it.
    let asked = line.run_until(Duration::from_secs(10), |l| l.stt.finalizes > 1);
    assert!(asked);
    line.stt_final("I'd like to book an oil change for my Honda.");
    assert_eq!(line.llm.requests.len(), 2);
}
