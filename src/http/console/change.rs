//! [`Submitted`]: the extractor of every console form that changes something. It asks for a
//! signed-in session (else the sign-in page), reads the form (a form that does not parse is
//! read as empty: its fields then fail their own checks) and refuses it with the "form has
//! expired" page unless it carries the session's CSRF token (its `csrf` field, or the
//! `X-CSRF-Token` header a script sends), so a handler that takes a `Submitted` form has nothing left
//! to check but what it changes.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::auth::{Signed, csrf_refusal};
use crate::staff::sessions::Session;
use crate::state::AppState;

/// A form with the session's CSRF token in it.
pub trait CsrfForm: DeserializeOwned + Default + Send {
    /// The token the form carried (empty when it carried none).
    fn csrf(&self) -> &str;
}

/// A change a signed-in person asked for, its token checked.
pub struct Submitted<T> {
    /// Who asked.
    pub session: Session,
    /// What they sent.
    pub form: T,
}

impl<T: CsrfForm> FromRequest<AppState> for Submitted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let request = Request::from_parts(parts, body);
        let form = Form::<T>::from_request(request, state)
            .await
            .map(|Form(f)| f)
            .unwrap_or_default();
        let sent = Some(form.csrf()).filter(|t| !t.is_empty());
        if let Some(refusal) = csrf_refusal(&session, sent, &headers) {
            return Err(refusal);
        }
        Ok(Submitted { session, form })
    }
}

/// Implements [`CsrfForm`] for form structs whose token is their `csrf` field.
macro_rules! csrf_form {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::http::console::change::CsrfForm for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(super) use csrf_form;

/// A form with nothing but its token (a button: done, take, sign out).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

csrf_form!(CsrfOnly);
