//! Completion chunks straight into the assembler, one per line, for the JSON shapes
//! themselves (the SSE framing is `llm_stream`'s).
#![no_main]

use callbridge_core::formats::chat_completions::CompletionAssembler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut assembler = CompletionAssembler::default();
    for line in text.split('\n') {
        if assembler.push(line).is_err() || assembler.is_done() {
            return;
        }
    }
});
