//! Deepgram's messages: live transcription (results, utterance ends, speech started,
//! metadata, errors) through the replay buffer a reconnect relies on, and Aura TTS messages.
#![no_main]

use callbridge_core::audio::{AudioFormat, Encoding, SampleRate};
use callbridge_core::formats::deepgram_listen::{self, ReplayBuffer, ServerMessage};
use callbridge_core::formats::deepgram_speak;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut replay = ReplayBuffer::new(AudioFormat::new(Encoding::Mulaw, SampleRate::Hz8000), 3);
    for line in text.split('\n') {
        replay.sent(line.as_bytes());
        if let Ok(ServerMessage::Event(event)) = deepgram_listen::parse(line) {
            let _ = replay.received(event);
        }
        let _ = deepgram_speak::parse(line);
    }
    let _ = replay.reconnected();
});
