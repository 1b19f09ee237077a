//! Twilio Media Streams frames: one frame alone, then the input's lines as the frames of one
//! stream, through the stream's state (start, media order, marks, stop).
#![no_main]

use callbridge_core::carrier::{CarrierKind, InboundStream, twilio};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = twilio::decode(text);
    let mut stream = InboundStream::new(CarrierKind::Twilio, 65_536);
    for frame in text.split('\n') {
        let _ = stream.handle_text(frame);
        while stream.poll_event().is_some() {}
    }
});
