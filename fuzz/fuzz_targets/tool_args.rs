//! A tool call as the model writes it: the first line is the tool's name, the rest its
//! arguments, parsed into a typed request or a coded refusal.
#![no_main]

use callbridge_core::tool::ToolCall;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (name, arguments) = text.split_once('\n').unwrap_or((text, ""));
    let call = ToolCall::parse("call_1", name, arguments);
    if let Err(refusal) = &call.request {
        let _ = refusal.to_json();
    }
});
