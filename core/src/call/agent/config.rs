//! How the agent is tuned: its lines, its patience and its limits.

use std::time::Duration;

/// What the engine is tuned with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// First words, already personalised.
    pub greeting: String,
    /// After local VAD ends a turn and `Finalize` is sent, how long to wait for the final.
    pub finalize_grace: Duration,
    /// Caller speech over the agent with words of their own interrupts once it has lasted
    /// this long (a cough or an "uh-huh" does not).
    pub barge_in_min_speech: Duration,
    /// Caller speech over the agent with no transcript words (the recogniser lags or is down)
    /// interrupts after this long; with words, after `barge_in_min_speech`.
    pub barge_in_without_words: Duration,
    /// With a turn model: how long after a pause its verdict may take before the turn ends
    /// without it. `None`: no turn model (pauses are not judged).
    pub turn_verdict_wait: Option<Duration>,
    /// Ask the model at the local turn end, on the words heard so far, and keep its answer
    /// when the final transcript says the same.
    pub preemptive_llm: bool,
    /// Rounds of tool calls in one turn before the agent apologises instead.
    pub max_tool_rounds: u32,
    /// Tools still running after this long: say `filler_line`.
    pub filler_after: Duration,
    /// "One moment while I check."
    pub filler_line: String,
    /// The model's first token not there after this long: say `llm_filler_line`.
    pub llm_filler_after: Duration,
    /// "One moment."
    pub llm_filler_line: String,
    /// Silence from the caller this long: re-prompt.
    pub silence_reprompt: Duration,
    /// Re-prompts before a polite hang-up.
    pub max_reprompts: u32,
    /// "Are you still there?"
    pub reprompt_line: String,
    /// Said before hanging up on silence.
    pub goodbye_line: String,
    /// A reply's first piece may go to speech at a clause boundary once it has this many
    /// words, before its sentence is complete (0: whole sentences only).
    pub first_clause_words: usize,
    /// What the agent says when the model asks for the phone number on the keypad.
    pub keypad_phone_line: String,
    /// DTMF digit that transfers to the service desk.
    pub transfer_digit: char,
    /// Said before a transfer.
    pub transfer_line: String,
    /// Said when the tool-round limit is hit.
    pub apology_line: String,
    /// Said before a transfer when the instance drains.
    pub drain_transfer_line: String,
    /// Said before hanging up when the instance drains.
    pub drain_goodbye_line: String,
    /// While winding down, how long the turn in progress may go on before it is cut short
    /// (what is already queued still plays).
    pub wind_down_patience: Duration,
    /// Said when the LLM fails and a fallback takes over.
    pub llm_retry_line: String,
    /// Whether a fallback LLM exists.
    pub has_llm_fallback: bool,
    /// History budget, tokens.
    pub token_budget: usize,
    /// How the budget is measured (the model's tokenizer when the service has it).
    pub tokens: crate::call::context::Tokens,
    /// System prompt.
    pub system_prompt: String,
}

impl AgentConfig {
    /// Reasonable defaults around `system_prompt` and `greeting`.
    pub fn new(system_prompt: impl Into<String>, greeting: impl Into<String>) -> Self {
        Self {
            greeting: greeting.into(),
            finalize_grace: Duration::from_millis(500),
            barge_in_min_speech: Duration::from_millis(250),
            barge_in_without_words: Duration::from_millis(1000),
            turn_verdict_wait: None,
            preemptive_llm: false,
            max_tool_rounds: 5,
            filler_after: Duration::from_millis(700),
            filler_line: "One moment while I check that.".into(),
            llm_filler_after: Duration::from_millis(1000),
            llm_filler_line: "One moment.".into(),
            silence_reprompt: Duration::from_secs(8),
            max_reprompts: 2,
            reprompt_line: "Are you still there?".into(),
            goodbye_line:
                "I haven't heard anything, so I'll hang up now. Please call back any time. Goodbye."
                    .into(),
            first_clause_words: 4,
            keypad_phone_line:
                "Please type your phone number on the keypad, then press the pound key.".into(),
            transfer_digit: '0',
            transfer_line: "Let me connect you with our service desk.".into(),
            apology_line:
                "I'm sorry, I'm having trouble with that. Let me connect you with our service desk."
                    .into(),
            drain_transfer_line:
                "I'm sorry, I have to pass you to our service desk now; they'll take it from here."
                    .into(),
            drain_goodbye_line:
                "I'm sorry, our phone line is restarting. Please call back in a minute. Goodbye."
                    .into(),
            wind_down_patience: Duration::from_secs(8),
            llm_retry_line: "Sorry, one moment.".into(),
            has_llm_fallback: false,
            token_budget: 3000,
            tokens: crate::call::context::Tokens::default(),
            system_prompt: system_prompt.into(),
        }
    }
}
