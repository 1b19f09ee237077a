//! The built-in agent: a deterministic dialogue manager behind the same interface as an LLM.
//! It reads the conversation the engine sends ([`dialogue`]), understands the caller's
//! sentences by their meaning ([`classify`], with word evidence from [`cues`]) and their
//! details by rules ([`understand`]), and answers with words and at most one tool call per
//! step, so the engine runs its tools, confirmations, barge-in and records exactly as for a
//! cloud model. Used when no LLM is configured and as the LLM's fallback.

pub mod classify;
pub mod cues;
pub mod dialogue;
pub mod understand;

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use classify::SharedClassifier;

use super::{CompletionRequest, FinishReason, LanguageModel, LlmEvent, LlmStream, ToolCall};
use crate::providers::{ProviderError, ProviderHealth, ProviderKind};

const NAME: &str = "builtin";

/// How long a step waits for the sentence encoder still loading at start-up before going by
/// keywords (well inside the engine's first-token deadline).
const LOAD_WAIT: Duration = Duration::from_secs(2);

/// The scripted agent for the shop called `business`.
#[derive(Debug, Clone)]
pub struct ScriptedAgent {
    business: String,
    health: ProviderHealth,
    classifier: Option<SharedClassifier>,
}

impl ScriptedAgent {
    /// An agent speaking for `business`, reporting to `health`, understanding by keywords.
    pub fn new(business: impl Into<String>, health: ProviderHealth) -> Self {
        health.register(ProviderKind::Llm, NAME);
        Self {
            business: business.into(),
            health,
            classifier: None,
        }
    }

    /// The same agent understanding by meaning with `classifier`.
    pub fn with_classifier(mut self, classifier: SharedClassifier) -> Self {
        self.classifier = Some(classifier);
        self
    }
}

impl LanguageModel for ScriptedAgent {
    fn name(&self) -> &'static str {
        NAME
    }

    fn stream(&self, request: CompletionRequest) -> LlmStream {
        self.health.request(ProviderKind::Llm, NAME);
        let (tx, rx) = mpsc::channel(4);
        // Ids unique within the call: the history only grows.
        let id = format!("builtin_{}", request.messages.len());
        let (business, classifier) = (self.business.clone(), self.classifier.clone());
        let task = tokio::spawn(async move {
            // Encoding the caller's new sentences is CPU work (a few ms each).
            let step = tokio::task::spawn_blocking(move || {
                let classifier = classifier.and_then(|c| c.get(LOAD_WAIT));
                dialogue::next_step(&request.messages, &business, classifier.as_deref())
            })
            .await;
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    let error = ProviderError::Upstream(format!("the built-in agent failed: {e}"));
                    let _ = tx.send(LlmEvent::Error(error)).await;
                    return;
                }
            };
            if let Some(text) = step.say {
                let _ = tx.send(LlmEvent::TextDelta(text)).await;
            }
            let reason = match step.call {
                Some((name, arguments)) => {
                    let call = ToolCall::parse(id, name, arguments.to_string());
                    let _ = tx.send(LlmEvent::ToolCalls(vec![call])).await;
                    FinishReason::ToolCalls
                }
                None => FinishReason::Stop,
            };
            let _ = tx.send(LlmEvent::Finished(reason)).await;
        });
        LlmStream::new(rx, task)
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}
