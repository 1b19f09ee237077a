//! CTranslate2 model files, which the built-in recogniser's weights are converted from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = callbridge_core::formats::ct2::read(data) {
        let _ = model.get("encoder.conv1.weight");
    }
});
