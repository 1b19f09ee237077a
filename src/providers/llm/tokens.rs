//! Counting tokens as the configured model does, so the history's budget
//! (`HISTORY_TOKEN_BUDGET`) is measured in the model's own tokens: OpenAI's models through
//! `tiktoken-rs` (the BPE vocabularies OpenAI publishes, `o200k_base` for the GPT-4o family,
//! `cl100k_base` for GPT-4 and 3.5, picked from the model's name). A model it does not know
//! (another server's, or the built-in agent) keeps the core's estimate, which runs high.

use std::sync::Arc;

use tiktoken_rs::CoreBPE;

use crate::call::context::{TokenCounter, Tokens};

/// One of OpenAI's vocabularies (loaded once per process, shared by every call).
struct Bpe(&'static CoreBPE);

impl TokenCounter for Bpe {
    fn count(&self, text: &str) -> usize {
        self.0.encode_ordinary(text).len()
    }
}

/// How to count the tokens of `model`: its tokenizer when known, else the estimate.
pub fn for_model(model: &str) -> Tokens {
    match tiktoken_rs::bpe_for_model(model) {
        Ok(bpe) => Tokens::counted(Arc::new(Bpe(bpe))),
        Err(_) => {
            tracing::info!(
                model,
                "no tokenizer known for this model: the history's tokens are estimated"
            );
            Tokens::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::llm::ChatMessage;

    #[test]
    fn openai_models_are_counted_with_their_own_vocabulary() {
        let tokens = for_model("gpt-4o-mini");
        assert!(tokens.is_counted());
        let m = ChatMessage::user("I'd like to book an oil change for my Honda on Tuesday.");
        // 13 tokens in o200k_base ("I'd" is one), 4 for the message.
        assert_eq!(tokens.message(&m), 13 + 4);
        // The estimate is well above the count.
        assert!(Tokens::default().message(&m) > tokens.message(&m));
        assert!(for_model("gpt-4").is_counted());
        assert!(!for_model("llama-3-70b-local").is_counted());
    }
}
