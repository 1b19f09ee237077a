//! The console's pages: Jinja templates (minijinja) embedded in the binary, HTML-escaped by
//! default (every template ends in `.html`), rendered with the signed-in person and their
//! CSRF token. Error pages share the layout so a refusal still shows where you are.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

use crate::staff::sessions::Session;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("board.html", include_str!("templates/board.html")),
    ("calls.html", include_str!("templates/calls.html")),
    ("live.html", include_str!("templates/live.html")),
    ("vehicles.html", include_str!("templates/vehicles.html")),
    ("callbacks.html", include_str!("templates/callbacks.html")),
    ("call.html", include_str!("templates/call.html")),
    ("staff.html", include_str!("templates/staff.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("problem.html", include_str!("templates/problem.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // The templates are part of the binary and a unit test renders each: a broken one
        // fails the build's tests, and here it is logged and renders as an error page.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not parse");
        }
    }
    env
});

/// What every page's layout needs about the person: their name and role, and the CSRF token
/// its forms carry.
pub fn me(session: &Session) -> Value {
    context! {
        me => context! {
            name => session.member.name.clone(),
            role => session.member.role.as_str(),
            is_admin => session.member.role == crate::staff::Role::Admin,
        },
        csrf => session.csrf.clone(),
    }
}

/// Renders template `name` with `ctx`, answered with `status`.
pub fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match ENV.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the page could not be shown; the server's log says why\n",
            )
                .into_response()
        }
    }
}

/// An error page: what happened and what to do, in the layout when someone is signed in.
pub fn problem(
    status: StatusCode,
    title: &str,
    message: &str,
    session: Option<&Session>,
) -> Response {
    let who = session.map(me).unwrap_or_default();
    render(
        status,
        "problem.html",
        context! { title, message, status => status.as_u16(), ..who },
    )
}

/// `what` failed with `error`: logged, and the page says the console cannot do it now.
pub fn failed(session: &Session, what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "console: {what}");
    unavailable(Some(session))
}

/// The database (or another part the page needs) did not answer.
pub fn unavailable(session: Option<&Session>) -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not available right now",
        "The console could not reach its database. Nothing was changed; try again in a moment.",
        session,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        let r = ENV
            .get_template("problem.html")
            .unwrap()
            .render(context! { title => "<script>x</script>", message => "a & b", status => 400 })
            .unwrap();
        assert!(r.contains("&lt;script&gt;x&lt;"), "{r}");
        assert!(!r.contains("<script>x"));
        assert!(r.contains("a &amp; b"));
    }
}
