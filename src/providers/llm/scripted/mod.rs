//! The built-in agent: a deterministic dialogue manager behind the same interface as an LLM.
//! It reads the conversation the engine sends ([`dialogue`]), understands the caller's
//! sentences with plain word rules ([`understand`]), and answers with words and at most one
//! tool call per step, so the engine runs its tools, confirmations, barge-in and records
//! exactly as for a cloud model. Used when no LLM is configured and as the LLM's fallback.

pub mod dialogue;
pub mod understand;

use futures_util::future::BoxFuture;

use tokio::sync::mpsc;

use super::{CompletionRequest, FinishReason, LanguageModel, LlmEvent, LlmStream, ToolCall};
use crate::providers::{ProviderError, ProviderHealth, ProviderKind};

const NAME: &str = "builtin";

/// The scripted agent for the shop called `business`.
#[derive(Debug, Clone)]
pub struct ScriptedAgent {
    business: String,
    health: ProviderHealth,
}

impl ScriptedAgent {
    /// An agent speaking for `business`, reporting to `health`.
    pub fn new(business: impl Into<String>, health: ProviderHealth) -> Self {
        health.register(ProviderKind::Llm, NAME);
        Self {
            business: business.into(),
            health,
        }
    }
}

impl LanguageModel for ScriptedAgent {
    fn name(&self) -> &'static str {
        NAME
    }

    fn stream(&self, request: CompletionRequest) -> LlmStream {
        self.health.request(ProviderKind::Llm, NAME);
        let step = dialogue::next_step(&request.messages, &self.business);
        let (tx, rx) = mpsc::channel(4);
        // Ids unique within the call: the history only grows.
        let id = format!("builtin_{}", request.messages.len());
        let task = tokio::spawn(async move {
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
