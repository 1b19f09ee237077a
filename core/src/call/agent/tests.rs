//! The conversation engine on a virtual clock: each test scripts the caller, the transcript,
//! the LLM and the tools, and checks what the agent does.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

use std::time::{Duration, Instant};

use super::{Action, Agent, AgentConfig, Input};
use crate::audio::vad::VadEvent;
use crate::call::end::TransferReason;
use crate::call::observe::Observation;
use crate::call::record::Speaker;
use crate::chat::Role;
use crate::llm::{FinishReason, LlmEvent};
use crate::provider::{ProviderError, ProviderKind};
use crate::stt::SttEvent;
use crate::tool::{ToolCall, ToolName};

const END_CALL: &str = "end_call";
const TRANSFER: &str = "transfer_to_service_desk";

struct Sim {
    agent: Agent,
    now: Instant,
    turn: u64,
}

impl Sim {
    fn new(config: AgentConfig) -> Self {
        let now = Instant::now();
        Self {
            agent: Agent::new(config, now),
            now,
            turn: 0,
        }
    }

    fn default() -> Self {
        Self::new(AgentConfig::new(
            "You are the service desk.",
            "Thanks for calling. How can I help?",
        ))
    }

    fn feed(&mut self, i: Input) -> Vec<Action> {
        let out = self.agent.handle(i, self.now);
        for a in &out {
            if let Action::StartLlm { turn, .. } = a {
                self.turn = *turn;
            }
        }
        out
    }

    fn wait(&mut self, ms: u64) -> Vec<Action> {
        self.now += Duration::from_millis(ms);
        self.feed(Input::Tick)
    }

    /// The caller says `text` (VAD start, final, VAD end, final from Finalize).
    fn caller_says(&mut self, text: &str) -> Vec<Action> {
        let mut out = self.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
        self.now += Duration::from_millis(900);
        out.extend(self.feed(Input::Voice(VadEvent::SpeechEnded {
            at_ms: 0,
            speech_ms: 900,
        })));
        self.now += Duration::from_millis(80);
        out.extend(self.feed(Input::Transcript(final_(text, true))));
        out
    }

    fn llm(&mut self, e: LlmEvent) -> Vec<Action> {
        let turn = self.turn;
        self.feed(Input::Llm { turn, event: e })
    }

    fn reply(&mut self, text: &str) -> Vec<Action> {
        let mut out = self.llm(LlmEvent::TextDelta(text.into()));
        out.extend(self.llm(LlmEvent::Finished(FinishReason::Stop)));
        out
    }
}

fn final_(text: &str, from_finalize: bool) -> SttEvent {
    SttEvent::Final {
        text: text.into(),
        speech_final: false,
        from_finalize,
        start: 0.0,
        end: 1.0,
        confidence: 0.9,
    }
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall::parse(id, name, args)
}

fn spoken(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Speak(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn tools_run(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RunTool { request, .. } => Some(request.tool().as_str().to_string()),
            _ => None,
        })
        .collect()
}

fn llm_started(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::StartLlm { .. }))
}

#[test]
fn the_greeting_plays_at_start_and_is_recorded() {
    let mut s = Sim::default();
    let out = s.feed(Input::Started);
    assert_eq!(spoken(&out), ["Thanks for calling. How can I help?"]);
    assert!(out.contains(&Action::Record {
        speaker: Speaker::Agent,
        text: "Thanks for calling. How can I help?".into(),
        heard: None
    }));
    assert_eq!(s.agent.history().messages()[1].role, Role::Assistant);
}

#[test]
fn a_booking_dialogue_runs_tools_speaks_sentence_by_sentence_and_ends_the_call() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);

    // Local VAD ends the turn; Finalize; the from_finalize final starts the LLM.
    let out = s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    assert!(out.is_empty());
    s.feed(Input::Transcript(final_("I need an oil change", false)));
    s.now += Duration::from_millis(700);
    let out = s.feed(Input::Voice(VadEvent::SpeechEnded {
        at_ms: 0,
        speech_ms: 700,
    }));
    assert_eq!(out, [Action::FinalizeStt]);
    s.now += Duration::from_millis(60);
    let out = s.feed(Input::Transcript(final_("on Tuesday morning", true)));
    assert!(out.contains(&Action::Record {
        speaker: Speaker::Caller,
        text: "I need an oil change on Tuesday morning".into(),
        heard: None
    }));
    assert!(llm_started(&out));

    // The LLM looks for slots; the tool is slow, so a filler line plays.
    let out = s.llm(LlmEvent::ToolCalls(vec![call(
        "c1",
        "find_available_slots",
        r#"{"service":"Oil change","date":"Tuesday"}"#,
    )]));
    assert_eq!(tools_run(&out), ["find_available_slots"]);
    assert!(s.wait(300).is_empty());
    assert_eq!(spoken(&s.wait(500)), ["One moment while I check that."]);
    let out = s.feed(Input::ToolDone {
        id: "c1".into(),
        content: r#"{"ok":true,"slots":[]}"#.into(),
    });
    let Some(Action::StartLlm { messages, .. }) =
        out.iter().find(|a| matches!(a, Action::StartLlm { .. }))
    else {
        panic!("{out:?}")
    };
    assert_eq!(messages.last().unwrap().role, Role::Tool);

    // Sentences go to speech as they complete, before the LLM is done.
    let out = s.llm(LlmEvent::TextDelta(
        "I have 9:00 or 11:00 on Tuesday. Which".into(),
    ));
    assert_eq!(spoken(&out), ["I have 9:00 or 11:00 on Tuesday."]);
    let out = s.llm(LlmEvent::TextDelta(" works for you?".into()));
    assert!(spoken(&out).is_empty());
    let out = s.llm(LlmEvent::Finished(FinishReason::Stop));
    assert_eq!(spoken(&out), ["Which works for you?"]);
    s.feed(Input::PlaybackIdle);

    s.caller_says("Nine, please.");
    // Picking one of two offered times is not a yes to a read-back: the engine does not book
    // yet and tells the model to read the booking back.
    const BOOK: &str = r#"{"customer_id":1,"service":"Oil change","start":"2026-11-24T09:00"}"#;
    let out = s.llm(LlmEvent::ToolCalls(vec![call(
        "c2",
        "book_appointment",
        BOOK,
    )]));
    assert!(tools_run(&out).is_empty());
    assert!(
        out.contains(&Action::Observe(Observation::NeedsConfirmation(
            ToolName::BookAppointment
        )))
    );
    let Some(Action::StartLlm { messages, .. }) =
        out.iter().find(|a| matches!(a, Action::StartLlm { .. }))
    else {
        panic!("{out:?}")
    };
    let refusal = messages.last().unwrap().content.clone().unwrap();
    assert!(refusal.contains("needs_confirmation"), "{refusal}");
    s.reply("An oil change on Tuesday at 9:00. Shall I book it?");
    s.feed(Input::PlaybackIdle);
    s.caller_says("Yes please.");
    let out = s.llm(LlmEvent::ToolCalls(vec![call(
        "c2",
        "book_appointment",
        BOOK,
    )]));
    assert_eq!(tools_run(&out), ["book_appointment"]);
    s.feed(Input::ToolDone {
        id: "c2".into(),
        content: r#"{"ok":true}"#.into(),
    });
    s.reply("You're booked for Tuesday at 9. Anything else?");
    s.feed(Input::PlaybackIdle);

    s.caller_says("No, that's all.");
    let mut out = s.llm(LlmEvent::TextDelta("Thanks for calling, goodbye!".into()));
    out.extend(s.llm(LlmEvent::ToolCalls(vec![call("c3", END_CALL, "{}")])));
    assert_eq!(spoken(&out), ["Thanks for calling, goodbye!"]);
    assert!(out.iter().any(|a| matches!(a, Action::HangUp { .. })));
    // After the end nothing more is asked of anyone.
    assert!(s.caller_says("Wait!").is_empty());
}

#[test]
fn a_barge_in_stops_the_agent_and_the_history_keeps_only_what_was_heard() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("When are you open?");
    let out =
        s.reply("We are open Monday to Friday from 7:30 to 6. On Saturday we open from 8 to 2.");
    assert_eq!(spoken(&out).len(), 2);

    // A cough: speech shorter than the minimum does not stop the agent.
    s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    assert!(s.wait(100).is_empty());
    s.feed(Input::Voice(VadEvent::SpeechEnded {
        at_ms: 0,
        speech_ms: 100,
    }));
    assert!(s.wait(400).is_empty());

    // A backchannel and the agent's own voice leaking back: heard, transcribed, ignored, and
    // neither becomes the caller's turn.
    for (noise, ms) in [("Uh-huh.", 500), ("from 7:30 to 6", 900)] {
        s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
        assert!(s.wait(300).is_empty());
        let interim = SttEvent::Interim { text: noise.into() };
        assert!(s.feed(Input::Transcript(interim)).is_empty(), "{noise}");
        assert!(s.wait(ms).is_empty(), "{noise}");
        s.feed(Input::Voice(VadEvent::SpeechEnded {
            at_ms: 0,
            speech_ms: ms + 300,
        }));
        assert!(s.feed(Input::Transcript(final_(noise, true))).is_empty());
    }

    // Real speech: its words stop the agent once it has lasted the minimum.
    s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    assert!(s.wait(150).is_empty());
    let interim = SttEvent::Interim {
        text: "Wait, what about Sunday".into(),
    };
    assert!(s.feed(Input::Transcript(interim)).is_empty());
    assert_eq!(
        s.wait(110),
        [Action::Observe(Observation::BargeIn), Action::StopSpeaking]
    );
    // The driver reports what played: half of the first sentence; the record says so.
    let out = s.feed(Input::Interrupted {
        heard: vec![(1500, 3000), (0, 2500)],
    });
    assert_eq!(out, [Action::RecordHeard("We are open Monday to".into())]);
    let history = s.agent.history().messages();
    let last = history.last().unwrap();
    assert_eq!(
        last.content.as_deref(),
        Some("We are open Monday to (interrupted)")
    );
}

#[test]
fn words_over_the_agent_while_it_thinks_cancel_the_turn_and_its_late_events_are_ignored() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("How much is a brake inspection?");
    let old_turn = s.turn;
    let out = s.llm(LlmEvent::TextDelta(
        "A brake inspection is $69.99. It".into(),
    ));
    assert_eq!(spoken(&out).len(), 1);
    let out = s.feed(Input::Transcript(SttEvent::Interim {
        text: "actually wait".into(),
    }));
    assert_eq!(
        out,
        [
            Action::Observe(Observation::BargeIn),
            Action::StopSpeaking,
            Action::CancelLlm,
            Action::Record {
                speaker: Speaker::Agent,
                text: "A brake inspection is $69.99. It".into(),
                heard: None
            }
        ]
    );
    // Leftovers of the cancelled stream change nothing.
    let late = s.feed(Input::Llm {
        turn: old_turn,
        event: LlmEvent::TextDelta(" takes an hour. ".into()),
    });
    assert!(late.is_empty());
    let out = s.feed(Input::Interrupted {
        heard: vec![(2000, 2000)],
    });
    assert_eq!(
        out,
        [Action::RecordHeard("A brake inspection is $69.99.".into())]
    );
    let out = s.feed(Input::Transcript(final_(
        "actually wait, what about tires?",
        true,
    )));
    assert!(llm_started(&out));
    let m = s.agent.history().messages();
    assert_eq!(
        m[m.len() - 2].content.as_deref(),
        Some("A brake inspection is $69.99. (interrupted)")
    );
}

#[test]
fn an_interruption_during_a_booking_keeps_its_result_and_never_books_twice() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("Book me for nine.");
    s.reply("Shall I book your oil change for Tuesday at 9:00?");
    s.feed(Input::PlaybackIdle);
    s.caller_says("Yes.");
    let out = s.llm(LlmEvent::ToolCalls(vec![call(
        "b1",
        "book_appointment",
        r#"{"customer_id":1,"service":"Oil change","start":"2026-11-24T09:00"}"#,
    )]));
    assert_eq!(tools_run(&out), ["book_appointment"]);
    // The caller talks over the wait; their turn ends while the booking is still running.
    let out = s.caller_says("Oh, and it's the blue Honda.");
    assert!(!llm_started(&out), "the LLM waits for the running tool");
    assert!(tools_run(&out).is_empty());
    let out = s.feed(Input::ToolDone {
        id: "b1".into(),
        content: r#"{"ok":true,"appointment":{"id":7}}"#.into(),
    });
    let Some(Action::StartLlm { messages, .. }) =
        out.iter().find(|a| matches!(a, Action::StartLlm { .. }))
    else {
        panic!("{out:?}")
    };
    // Call, result, then what the caller said meanwhile.
    let n = messages.len();
    assert_eq!(messages[n - 3].tool_calls[0].name, "book_appointment");
    assert_eq!(messages[n - 2].role, Role::Tool);
    assert_eq!(
        messages[n - 1].content.as_deref(),
        Some("Oh, and it's the blue Honda.")
    );
    // The result is in once; a duplicate report changes nothing.
    assert!(
        s.feed(Input::ToolDone {
            id: "b1".into(),
            content: "{}".into()
        })
        .is_empty()
    );
}

#[test]
fn tool_rounds_are_limited_per_turn_then_the_agent_apologises_and_transfers() {
    let mut config = AgentConfig::new("s", "Hi.");
    config.max_tool_rounds = 2;
    let mut s = Sim::new(config);
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("Find me something.");
    for round in 1..=2 {
        let id = format!("r{round}");
        let out = s.llm(LlmEvent::ToolCalls(vec![call(&id, "business_info", "{}")]));
        assert_eq!(tools_run(&out).len(), 1);
        s.feed(Input::ToolDone {
            id,
            content: "{}".into(),
        });
    }
    let out = s.llm(LlmEvent::ToolCalls(vec![call("r3", "business_info", "{}")]));
    assert!(tools_run(&out).is_empty());
    assert!(spoken(&out)[0].starts_with("I'm sorry"));
    assert!(out.iter().any(|a| matches!(a, Action::Transfer { .. })));
    // The unrun call still has an answer in the history (the API would refuse otherwise).
    assert!(s.agent.history().unanswered_calls().is_empty());
}

#[test]
fn silence_gets_two_reprompts_then_a_polite_hang_up() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    assert!(s.wait(7_000).is_empty());
    assert_eq!(spoken(&s.wait(1_000)), ["Are you still there?"]);
    s.feed(Input::PlaybackIdle);
    assert_eq!(spoken(&s.wait(8_000)), ["Are you still there?"]);
    s.feed(Input::PlaybackIdle);
    let out = s.wait(8_000);
    assert!(spoken(&out)[0].contains("hang up"));
    assert!(out.iter().any(|a| matches!(a, Action::HangUp { .. })));

    // Speech resets the count.
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.wait(8_000);
    s.feed(Input::PlaybackIdle);
    s.caller_says("Sorry, I'm here.");
    s.reply("No problem. What can I do for you?");
    s.feed(Input::PlaybackIdle);
    assert_eq!(spoken(&s.wait(8_000)), ["Are you still there?"]);
    assert_eq!(
        s.agent.next_deadline(),
        None,
        "no re-prompt while the agent speaks"
    );
}

#[test]
fn zero_transfers_to_the_service_desk_and_other_digits_do_nothing() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    assert!(s.feed(Input::Dtmf('5')).is_empty());
    let out = s.feed(Input::Dtmf('0'));
    assert_eq!(out[0], Action::StopSpeaking);
    assert_eq!(spoken(&out), ["Let me connect you with our service desk."]);
    assert!(out.iter().any(|a| matches!(a, Action::Transfer { .. })));
}

#[test]
fn an_llm_failure_uses_the_fallback_once_then_transfers() {
    let mut config = AgentConfig::new("s", "Hi.");
    config.has_llm_fallback = true;
    let mut s = Sim::new(config);
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("Hello?");
    let out = s.llm(LlmEvent::Error(ProviderError::RateLimited));
    assert_eq!(spoken(&out), ["Sorry, one moment."]);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::StartLlm { fallback: true, .. }))
    );
    let out = s.llm(LlmEvent::Error(ProviderError::Cut("gone".into())));
    assert!(out.iter().any(|a| matches!(a, Action::Transfer { .. })));

    // Without a fallback: straight to a person.
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.caller_says("Hello?");
    let out = s.llm(LlmEvent::Error(ProviderError::RateLimited));
    assert!(out.iter().any(|a| matches!(a, Action::Transfer { .. })));
    // And a dead STT ends in a transfer too.
    let mut s = Sim::default();
    s.feed(Input::Started);
    let out = s.feed(Input::ProviderDown(ProviderKind::Stt));
    assert!(out.iter().any(|a| matches!(a, Action::Transfer { .. })));
}

#[test]
fn a_turn_without_a_final_in_time_goes_with_what_was_heard_or_nothing() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    s.feed(Input::Transcript(final_("Saturday hours", false)));
    s.feed(Input::Voice(VadEvent::SpeechEnded {
        at_ms: 0,
        speech_ms: 500,
    }));
    assert!(s.wait(400).is_empty());
    assert!(llm_started(&s.wait(150)));

    // Noise that VAD took for speech, with no words: nothing is sent to the LLM.
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    s.feed(Input::Voice(VadEvent::SpeechEnded {
        at_ms: 0,
        speech_ms: 300,
    }));
    assert!(!llm_started(&s.wait(600)));
    let _ = call("x", "y", "{bad");
}

#[test]
fn asking_for_a_person_ends_in_a_transfer_with_the_tool_answered() {
    assert_eq!(ToolName::parse(END_CALL), Some(ToolName::EndCall));
    assert_eq!(
        ToolName::parse(TRANSFER),
        Some(ToolName::TransferToServiceDesk)
    );
    // A transfer with the tool answered; the model may say why (the call log says it).
    for (args, reason) in [
        ("{}", TransferReason::CallerAsked),
        (
            r#"{"reason": "not_understood"}"#,
            TransferReason::NotUnderstood,
        ),
        (r#"{"reason": "cannot_help"}"#, TransferReason::CannotHelp),
    ] {
        let mut s = Sim::default();
        s.feed(Input::Started);
        s.feed(Input::PlaybackIdle);
        s.caller_says("Can I talk to a person?");
        let out = s.llm(LlmEvent::ToolCalls(vec![call("t", TRANSFER, args)]));
        assert!(out.contains(&Action::Transfer { reason }), "{args}");
        assert!(s.agent.history().unanswered_calls().is_empty());
    }
}

#[test]
fn speech_over_the_agent_with_no_transcript_interrupts_only_after_the_longer_wait() {
    let mut s = Sim::default();
    s.feed(Input::Started);
    s.feed(Input::PlaybackIdle);
    s.caller_says("When are you open?");
    s.reply("We are open Monday to Friday from 7:30 to 6. On Saturday we open from 8 to 2.");
    s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
    assert!(s.wait(990).is_empty(), "no words yet: maybe an uh-huh");
    assert_eq!(
        s.wait(20),
        [Action::Observe(Observation::BargeIn), Action::StopSpeaking]
    );
}

#[test]
fn an_interruption_that_was_noise_resumes_the_reply_from_the_sentence_it_cut() {
    let reply = "We are open Monday to Friday from 7:30 to 6. On Saturday we open from 8 to 2.";
    for (caller, resumes) in [("", true), ("Uh-huh.", true), ("What about Sunday?", false)] {
        let mut s = Sim::default();
        s.feed(Input::Started);
        s.feed(Input::PlaybackIdle);
        s.caller_says("When are you open?");
        s.reply(reply);
        // A second of a television in the room, no words: the agent stops.
        s.feed(Input::Voice(VadEvent::SpeechStarted { at_ms: 0 }));
        assert_eq!(
            s.wait(1000),
            [Action::Observe(Observation::BargeIn), Action::StopSpeaking]
        );
        s.feed(Input::Interrupted {
            heard: vec![(1500, 3000), (0, 2500)],
        });
        s.feed(Input::Voice(VadEvent::SpeechEnded {
            at_ms: 0,
            speech_ms: 1200,
        }));
        let out = s.feed(Input::Transcript(final_(caller, true)));
        if resumes {
            assert_eq!(
                spoken(&out),
                [
                    "We are open Monday to Friday from 7:30 to 6.",
                    "On Saturday we open from 8 to 2."
                ],
                "{caller:?}"
            );
            assert!(out.contains(&Action::Observe(Observation::FalseInterruption)));
            assert!(!llm_started(&out));
        } else {
            assert!(spoken(&out).is_empty());
            assert!(llm_started(&out), "a real turn goes to the model");
        }
    }
}
