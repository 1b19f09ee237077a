//! A call's recording, served to the call page's `<audio>`: byte ranges (a browser seeks by
//! asking for them), `audio/ogg`, only to a signed-in person, and only files the call log
//! names inside `RECORDINGS_DIR`.

use std::path::Path;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::auth::Signed;
use super::pages;
use crate::crm::calls;
use crate::recordings::is_contained;
use crate::state::AppState;

/// `GET /console/calls/{sid}/recording/{n}`: the call's `n`th recording (a call streams
/// twice when the desk did not answer a transfer).
pub async fn audio(
    State(state): State<AppState>,
    Signed(session): Signed,
    UrlPath((sid, n)): UrlPath<(String, usize)>,
    request: Request,
) -> Response {
    let not_found = || {
        pages::problem(
            StatusCode::NOT_FOUND,
            "No recording",
            "This call has no recording.",
            Some(&session),
        )
    };
    let relative = match calls::recordings(&state.db, &sid).await {
        Ok(mut all) if n < all.len() => all.swap_remove(n).path,
        Ok(_) => return not_found(),
        Err(e) => {
            return pages::failed(&session, "the call's recording could not be looked up", &e);
        }
    };
    if !is_contained(Path::new(&relative)) {
        tracing::warn!(call_sid = %sid, "a recording path points outside the recordings folder");
        return not_found();
    }
    let path = state.settings.recording.dir.join(&relative);
    if !path.is_file() {
        return not_found();
    }
    // The type comes from the extension we gave the file: `.ogg` is `audio/ogg`.
    match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(e) => pages::failed(&session, "the recording could not be read", &e),
    }
}
