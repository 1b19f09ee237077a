//! The console in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, with the `fantoccini` client). `Browser` starts chromedriver on a free
//! loopback port and ends it (by its PID) when dropped; without chromium and chromedriver
//! installed (`scripts/install-test-deps.sh` installs them) the tests say so and are skipped.

mod console;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::HANG;

/// A headless Chromium under test control.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: std::path::PathBuf,
    /// No other heavy test runs meanwhile.
    _heavy: tokio::sync::MutexGuard<'static, ()>,
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    /// Starts chromedriver and a browser session; `None` (the caller skips) when chromium or
    /// chromedriver is not installed.
    pub async fn start() -> Option<Self> {
        if !installed("chromedriver") || !installed("chromium") {
            eprintln!(
                "skipped: the browser tests need chromium and chromium-driver (scripts/install-test-deps.sh)"
            );
            return None;
        }
        let heavy = crate::helpers::HEAVY.lock().await;
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let profile = std::env::temp_dir().join(crate::helpers::unique("chromium-profile"));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required",
                    "--mute-audio",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        // chromedriver takes a moment to listen: retry the session until it does.
        let mut browser = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    browser = Some(client);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = browser.expect("a chromedriver session");
        Some(Browser {
            client,
            driver,
            profile,
            _heavy: heavy,
        })
    }

    /// Goes to `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(HANG)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// Types into the field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The page's text.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    /// Waits until the page's text contains `wanted`.
    pub async fn until_text(&self, wanted: &str) {
        let found = tokio::time::timeout(HANG, async {
            loop {
                if self.text().await.contains(wanted) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if found.is_err() {
            panic!("never showed {wanted:?}: {}", self.text().await);
        }
    }

    /// The current address.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Closes the session and chromedriver (by its PID).
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test never reached `close`: chromedriver (and its browser) end anyway.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Runs `script` in the page until it returns something other than `null`, and returns that.
pub async fn until_js(
    browser: &Browser,
    script: &str,
    args: Vec<serde_json::Value>,
) -> serde_json::Value {
    let value = tokio::time::timeout(HANG, async {
        loop {
            let v = browser.client.execute(script, args.clone()).await.unwrap();
            if !v.is_null() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    value.unwrap_or_else(|_| panic!("the page never answered: {script}"))
}
