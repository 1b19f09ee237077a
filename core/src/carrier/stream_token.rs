//! The per-call token that ties a media socket to the webhook that announced the call.
//!
//! The voice webhook issues `v1.<expiry>.<mac>` where `mac` is HMAC-SHA256 over the call id
//! and expiry; the carrier hands it back in the stream's `start` parameters (a stream URL may
//! not carry a query string). A socket whose token is missing, expired, or minted for another
//! call is refused, so only calls we accepted can open media sockets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The `<Parameter>` / custom parameter name carrying the token.
pub const PARAMETER_NAME: &str = "token";

const VERSION: &str = "v1";

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token in the start frame.
    #[error("no stream token in the start parameters")]
    Missing,
    /// Not `v1.<expiry>.<mac>`.
    #[error("stream token is malformed")]
    Malformed,
    /// Past its expiry.
    #[error("stream token expired {0} s ago")]
    Expired(u64),
    /// Signed for another call, or not by us.
    #[error("stream token does not match this call")]
    BadSignature,
}

impl TokenError {
    /// Stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "token_missing",
            TokenError::Malformed => "token_malformed",
            TokenError::Expired(_) => "token_expired",
            TokenError::BadSignature => "token_bad_signature",
        }
    }
}

fn mac(secret: &str, call_id: &str, expires_at: u64) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(VERSION.as_bytes());
    mac.update(b"|");
    mac.update(call_id.as_bytes());
    mac.update(b"|");
    mac.update(expires_at.to_string().as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Issues a token for `call_id` valid until `expires_at` (Unix seconds).
pub fn issue(secret: &str, call_id: &str, expires_at: u64) -> String {
    format!(
        "{VERSION}.{expires_at}.{}",
        URL_SAFE_NO_PAD.encode(mac(secret, call_id, expires_at))
    )
}

/// The expiry a token carries (Unix seconds), unchecked: with the call id it names one
/// issuance, so a call's later stream (the caller brought back to the agent) gets its own
/// one-time claim while a replay of either is still refused.
pub fn expiry(token: &str) -> Option<u64> {
    let mut parts = token.splitn(3, '.');
    match (parts.next(), parts.next()) {
        (Some(VERSION), Some(expiry)) => expiry.parse().ok(),
        _ => None,
    }
}

/// Checks `token` for `call_id` at `now` (Unix seconds).
pub fn verify(
    secret: &str,
    token: Option<&str>,
    call_id: &str,
    now: u64,
) -> Result<(), TokenError> {
    let token = token.ok_or(TokenError::Missing)?;
    let mut parts = token.splitn(3, '.');
    let (Some(VERSION), Some(expiry), Some(given)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires_at: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let given = URL_SAFE_NO_PAD
        .decode(given)
        .map_err(|_| TokenError::Malformed)?;
    let expected = mac(secret, call_id, expires_at);
    if !bool::from(expected.ct_eq(&given)) {
        return Err(TokenError::BadSignature);
    }
    if now > expires_at {
        return Err(TokenError::Expired(now - expires_at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_for_its_call_until_it_expires() {
        let t = issue("s3cret", "CA1", 1000);
        assert_eq!(verify("s3cret", Some(&t), "CA1", 999), Ok(()));
        assert_eq!(verify("s3cret", Some(&t), "CA1", 1000), Ok(()));
        assert_eq!(
            verify("s3cret", Some(&t), "CA1", 1005),
            Err(TokenError::Expired(5))
        );
    }

    #[test]
    fn wrong_call_wrong_secret_or_edited_expiry_fail() {
        let t = issue("s3cret", "CA1", 1000);
        assert_eq!(
            verify("s3cret", Some(&t), "CA2", 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify("other", Some(&t), "CA1", 0),
            Err(TokenError::BadSignature)
        );
        let extended = t.replacen("1000", "9999", 1);
        assert_eq!(
            verify("s3cret", Some(&extended), "CA1", 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_and_missing_tokens_are_refused() {
        assert_eq!(verify("s", None, "CA1", 0), Err(TokenError::Missing));
        for bad in ["", "v1", "v1.x.abc", "v2.1.abc", "v1.1.***"] {
            assert_eq!(
                verify("s", Some(bad), "CA1", 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }
}
