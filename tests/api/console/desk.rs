//! `Desk`: one browser's worth of console client: a cookie jar that keeps what the server
//! sets (Secure cookies too, since the test app believes it is behind HTTPS), no redirects
//! followed, and the tokens pulled out of the pages' forms.

use std::collections::HashMap;

use callbridge::staff::{Role, accounts};
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::helpers::TestApp;

/// A password good enough for the accounts the tests make.
pub const PASSWORD: &str = "a long desk password";

/// One browser.
pub struct Desk {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// A response read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `value` of the first form field named `name`.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let len = self.body[start..].find('"').unwrap();
        self.body[start..start + len].to_string()
    }

    /// The `Set-Cookie` header for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

impl Desk {
    /// A browser with no cookies, pointed at `app`.
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: format!("http://127.0.0.1:{}", app.port),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    /// The cookie `name` the browser holds.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Forgets or replaces a cookie (a stale or forged one).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.cookies.insert(name.into(), v.into()),
            None => self.cookies.remove(name),
        };
    }

    async fn keep(&mut self, r: Response) -> Page {
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    fn jar(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.jar())
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    /// `GET path` read as bytes, optionally a `Range` of it (a media element seeking).
    pub async fn get_bytes(
        &mut self,
        path: &str,
        range: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.jar());
        if let Some(range) = range {
            request = request.header(reqwest::header::RANGE, range);
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.bytes().await.unwrap().to_vec())
    }

    /// `POST path` with a urlencoded form.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.jar())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    /// Signs in as `name` through the form; returns the sign-in's answer.
    pub async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let token = form.field("login_token");
        self.post(
            "/console/login",
            &[
                ("name", name),
                ("password", password),
                ("login_token", &token),
                ("next", ""),
            ],
        )
        .await
    }

    /// The CSRF token the console's pages carry for this session.
    pub async fn csrf(&mut self) -> String {
        let home = self.get("/console").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        home.field("csrf")
    }
}

/// Makes an account straight in the database (as `callbridge staff add` does).
pub async fn account(app: &TestApp, name: &str, role: Role) -> accounts::StaffMember {
    accounts::add(&app.state.db, name, role, PASSWORD, chrono::Utc::now())
        .await
        .unwrap()
}

/// One Server-Sent Event: its name and its data as JSON.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: serde_json::Value,
}

impl Desk {
    /// Opens the live view's event stream; its events arrive on the returned channel (read
    /// by a task until the stream ends).
    pub async fn watch_live(&self) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
        use futures_util::StreamExt;
        let r = self
            .http
            .get(format!("{}/console/live/events", self.base))
            .header(COOKIE, self.jar())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut body = r.bytes_stream();
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let mut event = String::new();
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if event.is_empty() {
                        continue; // a keep-alive comment
                    }
                    let data = serde_json::from_str(&data).unwrap();
                    if tx.send(Sse { event, data }).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}
