//! A webhook's body as the server reads it: the form decoded, its signature computed and
//! checked (over the fields and over the raw body), the stream token in it verified.
#![no_main]

use callbridge_core::carrier::{signature, stream_token};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-auth-token";
const URL: &str = "https://bridge.example.com/twilio/voice";

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let given = params
        .iter()
        .find(|(k, _)| k == "Signature")
        .map_or("", |(_, v)| v.as_str());
    let _ = signature::validate(TOKEN, URL, &params, given);
    let _ = signature::validate_with_body(TOKEN, URL, data, given);
    let computed = signature::compute(TOKEN, URL, &params);
    assert!(signature::validate(TOKEN, URL, &params, &computed));
    let call_sid = params
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map_or("", |(_, v)| v.as_str());
    let token = params
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str());
    let _ = stream_token::verify("secret", token, call_sid, 1_700_000_000);
});
