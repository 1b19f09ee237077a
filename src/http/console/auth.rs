//! Who is asking: the session cookie, the sign-in and CSRF tokens, and the extractors that
//! let a handler say "signed in" ([`Signed`]) or "an admin" ([`Admin`]) in its signature.
//! Cookies are read and written here by hand: two cookies with fixed attributes do not earn
//! the `cookie` crate (and the `time` crate it brings).

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::pages;
use crate::staff::Role;
use crate::staff::sessions::{self, SESSION_HOURS, Session};
use crate::state::AppState;

/// The session cookie: the token whose SHA-256 is the session's key.
pub const SESSION_COOKIE: &str = "cb_session";
/// The sign-in form's own token (there is no session yet to hold a CSRF token): the form
/// carries it too, and a sign-in whose two copies differ came from another site's page.
pub const LOGIN_COOKIE: &str = "cb_login";
/// The header scripts send the CSRF token in (forms send the `csrf` field).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the console lives; its cookies go nowhere else.
pub const CONSOLE_PATH: &str = "/console";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: HttpOnly (scripts never see it), SameSite=Strict (another site's
/// page cannot make the browser send it), Secure when the console is served over HTTPS.
/// `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // Tokens are URL-safe base64 and the rest is ours: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether cookies must carry `Secure`: the console is reached over HTTPS.
pub fn secure_cookies(state: &AppState) -> bool {
    state.settings.public_url.scheme() == "https"
}

/// The session cookie for a fresh session.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    set_cookie(
        SESSION_COOKIE,
        token,
        CONSOLE_PATH,
        SESSION_HOURS * 3600,
        secure_cookies(state),
    )
}

/// Where to go after signing in: only a console path, so a crafted link cannot send a
/// person who just signed in to another site.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = (next == CONSOLE_PATH || next.starts_with("/console/"))
        && next.len() <= 512
        && !next.contains("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.starts_with("/console/login")
        && !next.starts_with("/console/logout");
    ok.then_some(next)
}

/// Whether two tokens are equal, in constant time; empty never matches.
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A signed-in person's session.
pub struct Signed(pub Session);

/// A signed-in admin's session.
pub struct Admin(pub Session);

/// The live session the request's cookie names, if any (a database error is an error page).
#[allow(clippy::disallowed_methods)] // A handler is IO: expiry is checked against the clock.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    sessions::find(&state.db, token, chrono::Utc::now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "console: the session could not be looked up");
            pages::unavailable(None)
        })
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match current(state, &parts.headers).await? {
            Some(session) => Ok(Signed(session)),
            None => Err(to_sign_in(parts)),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Signed(session) = Signed::from_request_parts(parts, state).await?;
        if session.member.role != Role::Admin {
            tracing::info!(staff = %session.member.name, path = %parts.uri.path(), "console: an admin page refused to an advisor");
            return Err(pages::problem(
                StatusCode::FORBIDDEN,
                "Admins only",
                "This page and its actions are for admins. Ask an admin if you need a change made.",
                Some(&session),
            ));
        }
        Ok(Admin(session))
    }
}

/// No session: pages send the browser to sign in (and back afterwards); scripts get 401.
fn to_sign_in(parts: &Parts) -> Response {
    if parts.headers.contains_key(CSRF_HEADER) || parts.uri.path().ends_with("/events") {
        return (StatusCode::UNAUTHORIZED, "sign in first\n").into_response();
    }
    // Nested under `/console`, the request's own URI has lost the prefix; the original has it.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    let back = if parts.method == Method::GET {
        uri.path_and_query().map(|p| p.as_str()).and_then(safe_next)
    } else {
        None
    };
    match back {
        Some(next) => {
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/console/login?next={next}")).into_response()
        }
        None => Redirect::to("/console/login").into_response(),
    }
}

/// The refusal of a change without the session's CSRF token (from the form's `csrf` field or
/// the `X-CSRF-Token` header): a 403 page that says to reload; `None` lets it through.
pub fn csrf_refusal(
    session: &Session,
    form_token: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    let sent = form_token
        .or_else(|| headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
        .unwrap_or("");
    if session.csrf_matches(sent) {
        return None;
    }
    tracing::warn!(staff = %session.member.name, "console: a change without its CSRF token was refused");
    Some(pages::problem(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The page's security token is missing or out of date, so nothing was changed. Reload the page and try again.",
        Some(session),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_across_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; cb_login=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("cb_session=tok"));
        assert_eq!(cookie(&h, "cb_login"), Some("xyz"));
        assert_eq!(cookie(&h, "cb_session"), Some("tok"));
        assert_eq!(cookie(&h, "cb"), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
        let c = set_cookie("cb_session", "t", "/console", 43200, true);
        assert_eq!(
            c.to_str().unwrap(),
            "cb_session=t; Path=/console; Max-Age=43200; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = set_cookie("cb_session", "t", "/console", 0, false);
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next("/console/board?day=2026-12-07"),
            Some("/console/board?day=2026-12-07")
        );
        assert_eq!(safe_next("/console"), Some("/console"));
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil",
            "/consolex",
            "/console/login",
            "/console/\\evil",
            "/api/v1/calls",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole_and_never_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("", ""));
    }
}
