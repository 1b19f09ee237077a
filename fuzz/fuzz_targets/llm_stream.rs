//! An LLM's streamed completion as the client meets it: bytes split at the input's own
//! boundaries into the server-sent-events decoder, each event's data into the completion
//! assembler (text deltas, tool-call fragments, finish).
#![no_main]

use callbridge_core::formats::chat_completions::CompletionAssembler;
use callbridge_core::formats::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let mut decoder = SseDecoder::new(16 * 1024);
    let mut assembler = CompletionAssembler::default();
    let step = usize::from(split).max(1);
    for chunk in body.chunks(step) {
        let Ok(events) = decoder.feed(chunk) else {
            return;
        };
        for event in events {
            if assembler.push(&event.data).is_err() || assembler.is_done() {
                return;
            }
        }
    }
});
