//! Getting a call ready before its media arrives. The voice webhook starts the preparation
//! (keyed by call sid): the caller is looked up, the prompt and greeting are built, the call
//! log is opened, speech recognition and synthesis are connected, and the greeting is sent to
//! TTS, so its audio is waiting when the media stream starts and plays within a frame of
//! `start`. A stream that arrives without a prepared call (another node took the webhook, or
//! a carrier with no webhook) is prepared on the spot.

pub mod prompt;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use crate::audio::AudioFormat;
use crate::call::Preparation;
use crate::call::agent::AgentConfig;
use crate::call::context::Tokens;
use crate::config::{LlmChoice, Settings};
use crate::crm::{caller, calls, catalog};
use crate::domain::PhoneNumber;
use crate::providers::Providers;
use crate::providers::health::ProviderKind;
use crate::providers::stt::SttStream;
use crate::providers::tts::TtsStream;
use crate::session_store::SessionStore;
use crate::tools::{Tools, reply};
use prompt::{MenuItem, PromptFacts};

/// The stream parameter that marks a caller brought back to the agent after the desk did
/// not answer a transfer (its value says why).
pub const RETURNED_PARAMETER: &str = "returned";

/// How long a preparation may take before the call starts without it.
const PREPARE_WAIT: Duration = Duration::from_secs(3);

/// The CRM reads a greeting waits for (the caller, the hours, the menu, at once): past it the
/// caller is greeted without a name rather than kept in silence by a slow database.
const LOOKUP_DEADLINE: Duration = Duration::from_millis(800);

/// Opening the call log: past it the call goes on, counted as unrecorded.
const CALL_LOG_DEADLINE: Duration = Duration::from_millis(1500);
/// Reading the caller's number another node kept (one Redis round trip).
const CALLER_LOOKUP: Duration = Duration::from_millis(300);

/// Everything a call needs from the moment its media starts.
pub struct PreparedCall {
    /// The caller's number, when the carrier gave a valid one.
    pub caller: Option<PhoneNumber>,
    /// Prompt, greeting and tuning.
    pub agent: AgentConfig,
    /// Speech recognition, opened for `stt_format`.
    pub stt: Option<SttStream>,
    /// The format `stt` was opened for.
    pub stt_format: AudioFormat,
    /// Speech synthesis.
    pub tts: Option<TtsStream>,
    /// The greeting was already sent to `tts` (spoken and flushed as flush 0).
    pub greeting_sent: bool,
    /// The call's log, when it could be opened.
    pub call_log_id: Option<i32>,
    /// The customer's name, when the CRM knows the number (for the console's live view).
    pub caller_name: Option<String>,
    /// Their vehicles, "2020 Honda Accord".
    pub vehicles: Vec<String>,
}

impl PreparedCall {
    /// What the call machine needs of it (the streams stay with the executor).
    pub fn preparation(&self) -> Preparation {
        Preparation {
            agent: self.agent.clone(),
            stt_open: self.stt.is_some(),
            tts_open: self.tts.is_some(),
            greeting_sent: self.greeting_sent,
        }
    }
}

impl std::fmt::Debug for PreparedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCall")
            .field("caller", &self.caller)
            .field("greeting_sent", &self.greeting_sent)
            .field("call_log_id", &self.call_log_id)
            .finish_non_exhaustive()
    }
}

/// What preparing a call reads and opens: the shop's settings, the CRM, the providers.
#[derive(Clone)]
pub struct Preparer {
    settings: Arc<Settings>,
    tools: Tools,
    providers: Arc<Providers>,
    /// How the primary model's tokens are counted (its vocabulary loaded once, here).
    tokens: Tokens,
}

impl Preparer {
    /// A preparer over these.
    pub fn new(settings: Arc<Settings>, tools: Tools, providers: Arc<Providers>) -> Self {
        let tokens = match settings.providers.llm {
            LlmChoice::OpenAi => {
                crate::providers::llm::tokens::for_model(&settings.providers.openai_model)
            }
            LlmChoice::Builtin | LlmChoice::None => Tokens::default(),
        };
        Self {
            settings,
            tools,
            providers,
            tokens,
        }
    }
}

/// Calls being prepared or waiting for their media, by call sid.
#[derive(Clone)]
pub struct PreparedCalls {
    preparer: Preparer,
    waiting: Arc<Mutex<HashMap<String, JoinHandle<PreparedCall>>>>,
    /// Where another node's webhook left the caller's number.
    store: SessionStore,
}

impl PreparedCalls {
    /// None waiting yet.
    pub fn new(preparer: Preparer, store: SessionStore) -> Self {
        Self {
            preparer,
            waiting: Arc::default(),
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, JoinHandle<PreparedCall>>> {
        // Inserts and removes cannot be left half-done; a poisoned lock is usable.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts preparing `call_sid` (Twilio's stream is mu-law 8 kHz). A call whose media
    /// never comes is dropped after `ttl`, closing its provider streams.
    pub fn begin(
        &self,
        call_sid: &str,
        from: Option<&str>,
        to: Option<&str>,
        ttl: Duration,
        returned: bool,
    ) {
        let task = tokio::spawn(prepare(
            self.preparer.clone(),
            call_sid.to_string(),
            from.map(str::to_string),
            to.map(str::to_string),
            AudioFormat::MULAW_8K,
            returned,
        ));
        if let Some(old) = self.lock().insert(call_sid.to_string(), task) {
            old.abort(); // a retried webhook: the newest preparation wins
        }
        let calls = self.clone();
        let sid = call_sid.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            if let Some(unused) = calls.lock().remove(&sid) {
                tracing::info!(call_sid = %sid, "no media stream came; dropping the prepared call");
                unused.abort();
            }
        });
    }

    /// The prepared call for `call_sid`, or one prepared now. Speech recognition is reopened
    /// when the stream's format is not the one it was prepared for.
    pub async fn take(
        &self,
        call_sid: &str,
        from: Option<&str>,
        format: AudioFormat,
        returned: bool,
    ) -> PreparedCall {
        let waiting = self.lock().remove(call_sid);
        let prepared = match waiting {
            Some(task) => match tokio::time::timeout(PREPARE_WAIT, task).await {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "call preparation failed; preparing again");
                    None
                }
                Err(_) => {
                    tracing::warn!("call preparation is slow; preparing again");
                    None
                }
            },
            None => None,
        };
        let mut p = match prepared {
            Some(p) => p,
            None => {
                // Prepared elsewhere (another node answered the webhook) or not at all: the
                // caller's number, which Twilio's `start` does not carry, from the store.
                let from = match from {
                    Some(f) => Some(f.to_string()),
                    None => self.caller_elsewhere(call_sid).await,
                };
                prepare(
                    self.preparer.clone(),
                    call_sid.to_string(),
                    from,
                    None,
                    format,
                    returned,
                )
                .await
            }
        };
        if p.stt_format != format {
            p.stt = self
                .preparer
                .providers
                .stt
                .primary
                .as_ref()
                .map(|s| s.open(format));
            p.stt_format = format;
        }
        p
    }

    /// The caller's number another node's webhook kept, within the look-up deadline (a store
    /// that does not answer leaves the caller unknown, greeted without a name).
    async fn caller_elsewhere(&self, call_sid: &str) -> Option<String> {
        match tokio::time::timeout(CALLER_LOOKUP, self.store.caller(call_sid)).await {
            Ok(Ok(number)) => number,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read the caller's number from the store");
                None
            }
            Err(_) => {
                tracing::warn!("the store did not give the caller's number in time");
                None
            }
        }
    }
}

/// What a known caller will likely say that the shop's words do not cover, as a sentence for
/// the recogniser's prompt: their name and their vehicles ("This is Maria Gonzalez, about my
/// Honda Accord.").
fn caller_words(r: &crate::crm::caller::CallerRecord) -> String {
    let vehicles: Vec<String> = r
        .vehicles
        .iter()
        .map(|v| format!("my {} {}", v.make, v.model))
        .collect();
    if vehicles.is_empty() {
        format!("This is {}.", r.customer.name)
    } else {
        format!(
            "This is {}, about {}.",
            r.customer.name,
            vehicles.join(" or ")
        )
    }
}

/// The agent's tuning from settings, around this call's prompt and greeting.
fn agent_config(
    settings: &Settings,
    system: String,
    greeting: String,
    has_llm_fallback: bool,
) -> AgentConfig {
    let c = &settings.conversation;
    let mut agent = AgentConfig::new(system, greeting);
    agent.finalize_grace = c.finalize_grace;
    agent.barge_in_min_speech = c.barge_in_min_speech;
    agent.barge_in_without_words = c.barge_in_without_words;
    agent.first_clause_words = c.first_clause_words;
    agent.preemptive_llm = c.preemptive_llm;
    agent.turn_verdict_wait = settings
        .turns
        .judged()
        .then_some(settings.turns.verdict_wait);
    agent.max_tool_rounds = c.max_tool_rounds;
    agent.filler_after = c.filler_after;
    agent.silence_reprompt = c.silence_reprompt;
    agent.max_reprompts = c.max_reprompts;
    agent.transfer_digit = c.transfer_digit;
    agent.token_budget = c.token_budget;
    agent.has_llm_fallback = has_llm_fallback;
    agent
}

/// Builds the agent's prompt and greeting for this caller, opens the providers and the log.
#[allow(clippy::disallowed_methods)] // Preparation is IO: the prompt says today's date, the log when the call began.
async fn prepare(
    p: Preparer,
    call_sid: String,
    from: Option<String>,
    to: Option<String>,
    stt_format: AudioFormat,
    returned: bool,
) -> PreparedCall {
    let providers = &p.providers;
    // Connections first: they take the longest and need nothing else. A primary whose breaker
    // is open is not tried when there is a fallback: the call starts on it (the machine fails
    // a stream the preparation did not open over at once).
    let health = &providers.health;
    let tts = providers
        .tts
        .primary
        .as_ref()
        .filter(|t| providers.tts.fallback.is_none() || health.admits(ProviderKind::Tts, t.name()))
        .map(|t| t.open());
    let stt = providers
        .stt
        .primary
        .as_ref()
        .filter(|s| providers.stt.fallback.is_none() || health.admits(ProviderKind::Stt, s.name()))
        .map(|s| s.open(stt_format));
    let settings = &p.settings;
    let db = p.tools.db();
    let now = Utc::now();
    let caller = from.as_deref().and_then(|f| PhoneNumber::parse(f).ok());

    // What the CRM knows of the number: a record, that it knows none, or nothing (no
    // number, or the look-up failed or was too slow). The three reads run at once, under one
    // deadline: a slow or frozen database delays no greeting by more than LOOKUP_DEADLINE.
    let schedule = p.tools.schedule();
    let (found, hours, services) = tokio::join!(
        async {
            match &caller {
                Some(number) => Some(
                    tokio::time::timeout(
                        LOOKUP_DEADLINE,
                        caller::by_phone(db, schedule, number, now),
                    )
                    .await,
                ),
                None => None,
            }
        },
        tokio::time::timeout(LOOKUP_DEADLINE, catalog::week_hours(db)),
        tokio::time::timeout(LOOKUP_DEADLINE, catalog::services(db)),
    );
    let (record, known) = match (&caller, found) {
        (Some(_), Some(Ok(Ok(Some(r))))) => (Some(reply::caller_json(&r)), Some(r)),
        (Some(number), Some(Ok(Ok(None)))) => (Some(reply::unknown_caller_json(number)), None),
        (_, Some(Ok(Err(e)))) => {
            tracing::warn!(error = %e, "cannot look the caller up; greeting them without a name");
            (None, None)
        }
        (_, Some(Err(_))) => {
            tracing::warn!("the caller look-up was too slow; greeting them without a name");
            (None, None)
        }
        _ => (None, None),
    };
    let hours = match hours {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read opening hours for the prompt");
            [None; 7]
        }
        Err(_) => {
            tracing::warn!("opening hours were too slow to read for the prompt");
            [None; 7]
        }
    };
    let menu: Vec<MenuItem> = match services {
        Ok(Ok(services)) => services
            .into_iter()
            .map(|s| MenuItem {
                name: s.name,
                duration_minutes: s.duration_minutes,
                price_cents: s.price_cents,
            })
            .collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the service menu for the prompt");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("the service menu was too slow to read for the prompt");
            Vec::new()
        }
    };
    let mut system = prompt::system_prompt(&PromptFacts {
        business: &settings.business,
        hours: &hours,
        menu: &menu,
        caller: record,
        caller_number: caller.as_ref().map(PhoneNumber::as_str),
        now,
    });
    if returned {
        system.push_str(prompt::RETURNED_FROM_DESK);
    }
    if let (Some(stt), Some(r)) = (&stt, &known) {
        stt.set_vocabulary(&caller_words(r));
    }
    let name = known.as_ref().map(|r| r.customer.name.as_str());
    // A caller back from an unanswered transfer heard the recording notice already.
    let greeting = if returned {
        prompt::RETURNED_GREETING.to_string()
    } else {
        settings.recording.announce(prompt::greeting(
            &settings.conversation.greeting,
            &settings.business.name,
            name,
        ))
    };
    let mut agent = agent_config(settings, system, greeting, providers.llm.fallback.is_some());
    agent.tokens = p.tokens.clone();

    if let Some(t) = &tts {
        t.speak(agent.greeting.clone());
        t.flush();
    }
    let opened = tokio::time::timeout(
        CALL_LOG_DEADLINE,
        calls::start(db, &call_sid, from.as_deref(), to.as_deref(), now),
    )
    .await;
    let call_log_id = match opened {
        Ok(Ok(log)) => Some(log.id),
        Ok(Err(e)) => {
            metrics::counter!(crate::telemetry::RECORD_ERRORS).increment(1);
            tracing::warn!(error = %e, "cannot open the call log; the call goes on unrecorded");
            None
        }
        Err(_) => {
            metrics::counter!(crate::telemetry::RECORD_ERRORS).increment(1);
            tracing::warn!("the call log was not opened in time; the call goes on unrecorded");
            None
        }
    };
    PreparedCall {
        caller,
        agent,
        stt,
        stt_format,
        greeting_sent: tts.is_some(),
        tts,
        call_log_id,
        caller_name: known.as_ref().map(|r| r.customer.name.clone()),
        vehicles: known
            .as_ref()
            .map(|r| {
                r.vehicles
                    .iter()
                    .map(crate::crm::appointments::describe_vehicle)
                    .collect()
            })
            .unwrap_or_default(),
    }
}
