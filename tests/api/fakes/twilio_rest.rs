//! A fake of Twilio's REST API for live calls: `POST /2010-04-01/Accounts/{AccountSid}/Calls/
//! {CallSid}.json` with HTTP Basic auth (account SID, auth token) and a form body of `Status`
//! or `Twiml`; answers a call resource, or Twilio's error JSON (20003 bad credentials, 20404
//! unknown call, 21220 a call that is not in progress).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::json;

/// One update's form fields.
type Update = HashMap<String, String>;

#[derive(Clone)]
struct Shared {
    account: &'static str,
    token: &'static str,
    /// Live calls: sid -> every update received.
    calls: Arc<Mutex<HashMap<String, Vec<Update>>>>,
}

/// The running fake.
pub struct FakeTwilioRest {
    /// Base URL.
    pub base_url: String,
    shared: Shared,
}

impl FakeTwilioRest {
    /// Starts a fake for `account` / `token` with `live` calls in progress.
    pub async fn start(account: &'static str, token: &'static str, live: &[&str]) -> Self {
        let shared = Shared {
            account,
            token,
            calls: Arc::new(Mutex::new(
                live.iter().map(|s| (s.to_string(), Vec::new())).collect(),
            )),
        };
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Calls/{call}", post(update))
            .with_state(shared.clone());
        let port = super::serve(app).await;
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    /// Updates a call received.
    pub fn updates(&self, sid: &str) -> Vec<Update> {
        self.shared
            .calls
            .lock()
            .unwrap()
            .get(sid)
            .cloned()
            .unwrap_or_default()
    }
}

fn error(status: u16, code: u64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })),
    )
        .into_response()
}

async fn update(
    State(shared): State<Shared>,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", shared.account, shared.token))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if account != shared.account || auth != Some(expected.as_str()) {
        return error(401, 20003, "Authenticate");
    }
    let Some(sid) = call.strip_suffix(".json") else {
        return error(404, 20404, "The requested resource was not found");
    };
    let mut calls = shared.calls.lock().unwrap();
    let Some(updates) = calls.get_mut(sid) else {
        return error(
            404,
            20404,
            &format!(
                "The requested resource /2010-04-01/Accounts/{account}/Calls/{sid}.json was not found"
            ),
        );
    };
    if updates
        .iter()
        .any(|u| u.get("Status").map(String::as_str) == Some("completed"))
    {
        return error(400, 21220, "Call is not in-progress. Cannot redirect.");
    }
    if !form.contains_key("Status") && !form.contains_key("Twiml") && !form.contains_key("Url") {
        return error(
            400,
            21218,
            "Invalid application: one of Url, Twiml or Status is required",
        );
    }
    updates.push(form.clone());
    axum::Json(json!({
        "sid": sid,
        "account_sid": account,
        "status": form.get("Status").map_or("in-progress", String::as_str),
    }))
    .into_response()
}
