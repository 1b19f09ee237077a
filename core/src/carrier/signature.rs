//! `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + sorted form params)).
//!
//! Twilio's own validators accept the URL as given, with its port removed, and with the
//! scheme's default port added, since proxies and load balancers disagree on whether the port
//! appears; this module does the same, comparing in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Computes the signature Twilio sends for a request to `url` with form `params`.
/// Parameters are sorted by name, then value (repeated names sign each value), and
/// exact duplicates are signed once, as Twilio's SDKs do.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this request, trying the URL as given, without its
/// port, and with the default port.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let mut ok = false;
    for candidate in [with_default_port(url), without_port(url)] {
        let expected = compute(auth_token, &candidate, params);
        // Evaluate both without short-circuit so timing does not say which variant matched.
        ok |= bool::from(expected.as_bytes().ct_eq(signature.as_bytes()));
    }
    ok
}

/// For JSON bodies Twilio signs the URL alone (which carries `bodySHA256=<hex>`) and the body
/// is checked against that hash.
pub fn validate_with_body(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let Some(expected_hash) = parsed
        .query_pairs()
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
    else {
        return false;
    };
    let actual_hash = hex(&Sha256::digest(body));
    let body_ok: bool = actual_hash
        .as_bytes()
        .ct_eq(expected_hash.to_ascii_lowercase().as_bytes())
        .into();
    validate(auth_token, url, &[], signature) & body_ok
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `scheme://authority/rest` into its three parts (authority without userinfo kept
/// whole, since Twilio signs what it called).
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")?;
    let after = &url[scheme_end + 3..];
    let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    Some((
        &url[..scheme_end],
        &after[..authority_len],
        &after[authority_len..],
    ))
}

/// The `:port` suffix of an authority, if any (IPv6 literals are bracketed).
fn port_start(authority: &str) -> Option<usize> {
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let colon = authority.rfind(':')?;
    let after_bracket = authority.rfind(']').is_none_or(|b| colon > b);
    (colon >= host_start && after_bracket).then_some(colon)
}

fn without_port(url: &str) -> String {
    match split(url) {
        Some((scheme, authority, rest)) => match port_start(authority) {
            Some(i) => format!("{scheme}://{}{rest}", &authority[..i]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn with_default_port(url: &str) -> String {
    match split(url) {
        Some((scheme, authority, rest)) if port_start(authority).is_none() => {
            let port = match scheme {
                "https" | "wss" => 443,
                _ => 80,
            };
            format!("{scheme}://{authority}:{port}{rest}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Test vectors from Twilio's public SDK (twilio-python `tests/unit/test_request_validator.py`).
    #[derive(Deserialize)]
    struct Vectors {
        auth_token: String,
        url: String,
        params: Vec<(String, String)>,
        expected: String,
        duplicate_params: Vec<(String, String)>,
        duplicate_expected: String,
        https_with_port_443_expected: String,
        http_with_port_80_expected: String,
        http_with_port_1234_expected: String,
        body: String,
        body_sha256: String,
        body_signature: String,
    }

    fn vectors() -> Vectors {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/twilio/signature_vectors.json"
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn computes_the_sdk_signature() {
        let v = vectors();
        assert_eq!(compute(&v.auth_token, &v.url, &v.params), v.expected);
        assert!(validate(&v.auth_token, &v.url, &v.params, &v.expected));
    }

    #[test]
    fn repeated_parameters_sign_each_value_sorted() {
        let v = vectors();
        assert_eq!(
            compute(&v.auth_token, &v.url, &v.duplicate_params),
            v.duplicate_expected
        );
    }

    #[test]
    fn port_variants_validate() {
        let v = vectors();
        let with_port = v.url.replace(".com", ".com:1234");
        assert!(validate(&v.auth_token, &with_port, &v.params, &v.expected));
        let http_port = with_port.replace("https", "http");
        assert!(validate(
            &v.auth_token,
            &http_port,
            &v.params,
            &v.http_with_port_1234_expected
        ));
        assert!(validate(
            &v.auth_token,
            &v.url,
            &v.params,
            &v.https_with_port_443_expected
        ));
        let http = v.url.replace("https", "http");
        assert!(validate(
            &v.auth_token,
            &http,
            &v.params,
            &v.http_with_port_80_expected
        ));
    }

    #[test]
    fn tampering_fails() {
        let v = vectors();
        let mut params = v.params.clone();
        params[0].1.push('9');
        assert!(!validate(&v.auth_token, &v.url, &params, &v.expected));
        assert!(!validate("wrong", &v.url, &v.params, &v.expected));
        assert!(!validate(&v.auth_token, &v.url, &v.params, ""));
    }

    #[test]
    fn json_body_is_checked_against_its_hash() {
        let v = vectors();
        let url = format!("{}&bodySHA256={}", v.url, v.body_sha256);
        assert!(validate_with_body(
            &v.auth_token,
            &url,
            v.body.as_bytes(),
            &v.body_signature
        ));
        assert!(!validate_with_body(
            &v.auth_token,
            &url,
            b"{}",
            &v.body_signature
        ));
    }

    #[test]
    fn ports_are_found_only_in_the_host() {
        assert_eq!(
            without_port("wss://u:p@h.example:8443/x"),
            "wss://u:p@h.example/x"
        );
        assert_eq!(
            with_default_port("wss://h.example/x"),
            "wss://h.example:443/x"
        );
        assert_eq!(with_default_port("http://[::1]/x"), "http://[::1]:80/x");
        assert_eq!(without_port("http://[::1]:8080/x"), "http://[::1]/x");
    }
}
