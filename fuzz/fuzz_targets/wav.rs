//! WAV files (caller clips, the demo's recordings): the RIFF chunks and the format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = callbridge_core::audio::wav::read(data);
});
