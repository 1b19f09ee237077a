//! Text from outside that the databases cannot store (PostgreSQL refuses NUL in text) or that
//! has no business in a phone call's fields: control characters in a path or query are refused
//! here with a 400 before any handler or query runs, the same on SQLite and PostgreSQL; form
//! and body fields are checked where they are parsed, with [`is_clean`].

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::domain::text::{clip, is_clean};

/// Whether a raw (percent-encoded) path and query encode a control character. A raw URI
/// cannot hold one literally (the HTTP parser refuses it), so only `%XX` escapes matter.
fn encodes_control(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'%'
            && std::str::from_utf8(&w[1..])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .is_some_and(|v| (v < 0x20 && !matches!(v, b'\t' | b'\n' | b'\r')) || v == 0x7f)
    })
}

/// Middleware: a request whose path or query encodes a control character gets 400.
pub async fn reject_control_in_uri(req: Request, next: Next) -> Response {
    let raw = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path(), |pq| pq.as_str());
    if encodes_control(raw) {
        return (
            StatusCode::BAD_REQUEST,
            "control characters are not allowed in the path or query",
        )
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_controls_are_found_in_paths_and_queries() {
        assert!(encodes_control("/api/v1/calls/CA%001"));
        assert!(encodes_control("/x?y=%1B"));
        assert!(encodes_control("/x?y=%7f"));
        assert!(!encodes_control("/x?y=%20%0A%e2%82%ac"));
        assert!(!encodes_control("/x?y=100%"));
    }
}
