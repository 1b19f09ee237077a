//! Signing in and out. The sign-in form is protected against cross-site posting by its own
//! token (a cookie mirrored in the form); guesses are limited per source (the console's rate
//! limit) and per name ([`NameThrottle`]), so spreading guesses over many addresses does not
//! buy more tries at one account. A session is a fresh token each time (no fixation).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use minijinja::context;
use serde::Deserialize;

use super::auth::{self, LOGIN_COOKIE, SESSION_COOKIE};
use super::change::{CsrfOnly, Submitted};
use super::pages;
use crate::staff::{accounts, sessions};
use crate::state::AppState;
use crate::telemetry;

/// Sign-in attempts one name gets at once...
const NAME_BURST: u32 = 5;
/// ...and then one per this many seconds.
const NAME_REFILL_SECS: u64 = 12;
/// Names remembered before those whose allowance is whole again are swept out.
const SWEEP_ABOVE: usize = 10_000;
/// How long the sign-in form's token lasts.
const LOGIN_TOKEN_SECS: i64 = 3600;

/// Sign-in attempts per lower-cased name (GCRA, `governor`). Every attempt counts, right or
/// wrong: a person who knows their password needs one.
#[derive(Clone)]
pub struct NameThrottle(Arc<DefaultKeyedRateLimiter<String>>);

impl NameThrottle {
    /// The console's one throttle.
    pub fn new() -> Self {
        let quota = Quota::with_period(Duration::from_secs(NAME_REFILL_SECS))
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(NAME_BURST).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }

    /// `Err(seconds to wait)` when `name` has had its attempts.
    fn check(&self, name: &str) -> Result<(), u64> {
        if self.0.len() > SWEEP_ABOVE {
            self.0.retain_recent();
        }
        let key: String = name.trim().to_lowercase().chars().take(64).collect();
        self.0.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

impl Default for NameThrottle {
    fn default() -> Self {
        Self::new()
    }
}

/// `?next=` on the sign-in page: where to go afterwards.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    login_token: String,
    #[serde(default)]
    next: String,
}

/// The form's token: the one the browser already holds (another tab's form stays good), or
/// a new one.
fn login_token(headers: &HeaderMap) -> Option<String> {
    match auth::cookie(headers, LOGIN_COOKIE) {
        Some(t)
            if t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(t.to_string())
        }
        _ => sessions::random_token().ok(),
    }
}

/// The sign-in page with `error` shown, answered with `status`.
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    name: &str,
    next: &str,
    error: Option<&str>,
) -> Response {
    let Some(token) = login_token(headers) else {
        return pages::unavailable(None);
    };
    let next = auth::safe_next(next).unwrap_or("");
    let mut response = pages::render(
        status,
        "login.html",
        context! { login_token => &token, name, next, error },
    );
    let cookie = auth::set_cookie(
        LOGIN_COOKIE,
        &token,
        "/console/login",
        LOGIN_TOKEN_SECS,
        auth::secure_cookies(state),
    );
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `GET /console/login`: the form, or straight on when already signed in.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    match auth::current(&state, &headers).await {
        Ok(Some(_)) => Redirect::to(auth::safe_next(&q.next).unwrap_or("/console")).into_response(),
        Ok(None) => form_page(&state, &headers, StatusCode::OK, "", &q.next, None),
        Err(page) => page,
    }
}

fn counted(result: &'static str) {
    metrics::counter!(telemetry::CONSOLE_SIGN_INS, "result" => result).increment(1);
}

/// `POST /console/login`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the session is stamped with the clock.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(throttle): Extension<NameThrottle>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return form_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            "",
            "",
            Some("The sign-in form was not filled in as expected; please try again."),
        );
    };
    let name = form.name.trim();
    let held = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !auth::tokens_match(held, &form.login_token) {
        counted("stale_form");
        tracing::warn!("console: a sign-in without the form's own token was refused");
        return form_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            name,
            &form.next,
            Some("This sign-in form had expired, so it was reloaded. Please sign in again."),
        );
    }
    if let Err(wait) = throttle.check(name) {
        counted("throttled");
        tracing::warn!(staff = %name, "console: sign-in attempts for this name are being throttled");
        let message = format!(
            "Too many sign-in attempts for this name. Try again in {} seconds.",
            wait.max(1)
        );
        let mut r = form_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            name,
            &form.next,
            Some(&message),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return r;
    }
    let member = match accounts::sign_in(&state.db, name, &form.password).await {
        Ok(Some(member)) => member,
        Ok(None) => {
            counted("refused");
            tracing::info!(staff = %name, "console: sign-in refused (wrong name or password)");
            return form_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                name,
                &form.next,
                Some("Wrong name or password."),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "console: the sign-in could not be checked");
            return pages::unavailable(None);
        }
    };
    let now = chrono::Utc::now();
    let session = match sessions::open(&state.db, &member, now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "console: the session could not be opened");
            return pages::unavailable(None);
        }
    };
    if let Err(e) = sessions::remove_expired(&state.db, now).await {
        tracing::warn!(error = %e, "console: expired sessions could not be removed");
    }
    counted("ok");
    tracing::info!(staff = %member.name, role = %member.role, "console: signed in");
    let mut r = Redirect::to(auth::safe_next(&form.next).unwrap_or("/console")).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        auth::session_cookie(&state, &session.token),
    );
    h.append(
        header::SET_COOKIE,
        auth::set_cookie(
            LOGIN_COOKIE,
            "",
            "/console/login",
            0,
            auth::secure_cookies(&state),
        ),
    );
    r
}

/// `POST /console/logout`: the session's row is deleted and the cookie cleared.
pub async fn sign_out(
    State(state): State<AppState>,
    Submitted { session, .. }: Submitted<CsrfOnly>,
) -> Response {
    if let Err(e) = sessions::close(&state.db, &session).await {
        tracing::error!(error = %e, "console: the session could not be closed");
        return pages::unavailable(Some(&session));
    }
    tracing::info!(staff = %session.member.name, "console: signed out");
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(
            SESSION_COOKIE,
            "",
            auth::CONSOLE_PATH,
            0,
            auth::secure_cookies(&state),
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_gets_its_burst_then_waits_and_case_does_not_buy_more() {
        let t = NameThrottle::new();
        for _ in 0..NAME_BURST {
            assert_eq!(t.check("Dana"), Ok(()));
        }
        assert!(matches!(t.check("DANA "), Err(w) if (1..=NAME_REFILL_SECS).contains(&w)));
        assert_eq!(t.check("Lee"), Ok(()));
    }
}
