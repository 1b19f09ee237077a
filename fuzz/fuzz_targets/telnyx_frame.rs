//! Telnyx media streaming frames: one alone, then the input's lines as one stream.
#![no_main]

use callbridge_core::carrier::{CarrierKind, InboundStream, telnyx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = telnyx::decode(text);
    let mut stream = InboundStream::new(CarrierKind::Telnyx, 65_536);
    for frame in text.split('\n') {
        let _ = stream.handle_text(frame);
        while stream.poll_event().is_some() {}
    }
});
