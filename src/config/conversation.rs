//! How the agent converses: its greeting, its turn-taking and barge-in delays, its limits on
//! tools and silence, and how a call is handed on. Defaults are what a phone line needs; each
//! is a variable so a site can tune it without a build.

use std::time::Duration;

use super::settings::Reader;

/// How the bridge ends or transfers a call it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallControlMode {
    /// Close the media stream; Twilio then fetches `<Connect action>` and we answer `<Dial>`
    /// or `<Hangup>`. Needs no REST credentials.
    Twiml,
    /// Redirect the live call through Twilio's REST API (works whichever node gets the
    /// follow-up webhook).
    Rest,
}

/// Conversation tuning.
#[derive(Debug, Clone)]
pub struct ConversationSettings {
    /// `GREETING`: the first words; `{business}` and `{name}` (known callers) are filled in.
    pub greeting: String,
    /// `FINALIZE_GRACE_MS`: after local VAD ends a turn and `Finalize` is sent, how long to
    /// wait for the final transcript.
    pub finalize_grace: Duration,
    /// `BARGE_IN_MIN_SPEECH_MS`: caller speech over the agent with words of their own
    /// (not "uh-huh", not the agent's echo) interrupts it once it has lasted this long.
    pub barge_in_min_speech: Duration,
    /// `BARGE_IN_WITHOUT_WORDS_MS`: speech over the agent with no transcript words yet
    /// interrupts after this long (the recogniser may lag or be down).
    pub barge_in_without_words: Duration,
    /// `FIRST_CLAUSE_MIN_WORDS`: a reply's first piece goes to speech at a clause boundary
    /// (`,` `;` `:`) once it has this many words, ahead of its sentence's end; 0: whole
    /// sentences only.
    pub first_clause_words: usize,
    /// `PREEMPTIVE_LLM` (true): ask the model at the local turn end on the words heard so
    /// far, keep its answer (held until then) when the final transcript says the same,
    /// cancel and ask again when it does not (`callbridge_preemptive_llm_total`).
    pub preemptive_llm: bool,
    /// `MAX_TOOL_ROUNDS`: tool rounds in one turn before the agent apologises.
    pub max_tool_rounds: u32,
    /// `FILLER_AFTER_MS`: tools slower than this get a filler line.
    pub filler_after: Duration,
    /// `TOOL_TIMEOUT_MS`: a tool call's deadline.
    pub tool_timeout: Duration,
    /// `SILENCE_REPROMPT_SECS`: silence this long gets a re-prompt.
    pub silence_reprompt: Duration,
    /// `MAX_REPROMPTS`: re-prompts before a polite hang-up.
    pub max_reprompts: u32,
    /// `TRANSFER_DIGIT`: the key that transfers to the service desk.
    pub transfer_digit: char,
    /// `HISTORY_TOKEN_BUDGET`: the most history sent to the LLM, in the model's tokens
    /// (counted for OpenAI's models, estimated for others).
    pub token_budget: usize,
    /// `CALL_CONTROL`: `twiml` or `rest`.
    pub call_control: CallControlMode,
    /// `DESK_ANSWER_SECS`: how long the desk's phone rings on a transfer before the caller is
    /// brought back to the agent, which offers a callback.
    pub desk_answer: Duration,
}

pub(super) fn read(r: &mut Reader<'_>) -> ConversationSettings {
    let ms = |r: &mut Reader<'_>, name, default, min, max| {
        Duration::from_millis(r.ranged(name, default, min, max))
    };
    let digit = r.string("TRANSFER_DIGIT", "0");
    let transfer_digit = match digit.chars().collect::<Vec<_>>()[..] {
        [c] if c.is_ascii_digit() || c == '*' || c == '#' => c,
        _ => {
            r.problem(
                "TRANSFER_DIGIT",
                format!("{digit:?}: use one keypad key, 0-9, * or #"),
            );
            '0'
        }
    };
    let call_control = match r.string("CALL_CONTROL", "twiml").as_str() {
        "twiml" => CallControlMode::Twiml,
        "rest" => CallControlMode::Rest,
        other => {
            r.problem("CALL_CONTROL", format!("{other:?}: use `twiml` or `rest`"));
            CallControlMode::Twiml
        }
    };
    ConversationSettings {
        greeting: r.string(
            "GREETING",
            "Thanks for calling {business}, {name}. How can I help you today?",
        ),
        finalize_grace: ms(r, "FINALIZE_GRACE_MS", 500, 50, 5_000),
        barge_in_min_speech: ms(r, "BARGE_IN_MIN_SPEECH_MS", 250, 0, 3_000),
        barge_in_without_words: ms(r, "BARGE_IN_WITHOUT_WORDS_MS", 1_000, 100, 10_000),
        first_clause_words: r.ranged("FIRST_CLAUSE_MIN_WORDS", 4, 0, 50) as usize,
        preemptive_llm: r.parsed("PREEMPTIVE_LLM", true, "true or false"),
        max_tool_rounds: r.ranged("MAX_TOOL_ROUNDS", 5, 1, 20) as u32,
        filler_after: ms(r, "FILLER_AFTER_MS", 700, 100, 10_000),
        tool_timeout: ms(r, "TOOL_TIMEOUT_MS", 5_000, 100, 60_000),
        silence_reprompt: Duration::from_secs(r.ranged("SILENCE_REPROMPT_SECS", 8, 2, 120)),
        max_reprompts: r.ranged("MAX_REPROMPTS", 2, 0, 10) as u32,
        transfer_digit,
        token_budget: r.ranged("HISTORY_TOKEN_BUDGET", 3000, 500, 100_000) as usize,
        call_control,
        desk_answer: Duration::from_secs(r.ranged("DESK_ANSWER_SECS", 20, 5, 600)),
    }
}
