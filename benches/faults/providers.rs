//! A new caller with each provider dead: how long the caller waits in silence for the
//! greeting and for the answer to their first words. The first call of each case may be the
//! one that finds the provider dead; the breaker should spare the ones after it.

use std::time::Duration;

use callbridge::simulator::run::place_call;
use tokio::net::TcpListener;

use crate::fakes::deepgram_stt::ConnScript;
use crate::fakes::openai::{Reply, text_reply};
use crate::{Fakes, Server, call_sid, plan, turns};

const CALLS_PER_CASE: u64 = 3;
const PHRASE: &str = "Hi, I'd like to book an oil change for my Honda.";

/// A port that accepts connections and never answers (a black-holed or hung server).
async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (port, task)
}

fn with_port(url: &str, port: u16) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}

pub async fn run(fakes: &Fakes) {
    let (hole, _held) = black_hole().await;
    let refused = crate::common::free_port();
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "STT refused",
            "DEEPGRAM_STT_URL",
            with_port(&fakes.stt.url, refused),
        ),
        (
            "STT black-holed",
            "DEEPGRAM_STT_URL",
            with_port(&fakes.stt.url, hole),
        ),
        (
            "LLM hung",
            "OPENAI_BASE_URL",
            with_port(&fakes.llm.base_url, hole),
        ),
        ("LLM 500", "", String::new()),
        (
            "TTS refused",
            "DEEPGRAM_TTS_URL",
            with_port(&fakes.tts.ws_url, refused),
        ),
        (
            "TTS black-holed",
            "DEEPGRAM_TTS_URL",
            with_port(&fakes.tts.ws_url, hole),
        ),
    ];
    println!(
        "{:<16} {:>28} {:>28}  (goal: each <= 1.5 s)",
        "dead provider", "greeting wait, call 1..3 (s)", "answer wait, call 1..3 (s)"
    );
    // `CASES=black` (say) runs the cases whose name contains it.
    let only = std::env::var("CASES").unwrap_or_default();
    for (name, variable, url) in cases {
        if !name.contains(only.as_str()) {
            continue;
        }
        let extra: Vec<(&str, &str)> = if variable.is_empty() {
            Vec::new()
        } else {
            vec![(variable, url.as_str())]
        };
        let server = Server::start(fakes, None, &extra).await;
        let mut greetings = Vec::new();
        let mut answers = Vec::new();
        for i in 0..CALLS_PER_CASE {
            fakes.stt.push(ConnScript {
                phrases: vec![PHRASE],
                ..ConnScript::default()
            });
            if name != "LLM 500" {
                for _ in 0..2 {
                    fakes.llm.push(Reply::Stream {
                        chunks: text_reply(&["Sure. ", "Which day suits you?"]),
                        first_delay: Duration::from_millis(200),
                        gap: Duration::from_millis(10),
                        cut_after: None,
                    });
                }
            }
            let call = plan(
                &server,
                call_sid(i),
                turns(&["book_oil_change"]),
                Duration::from_secs(15),
            );
            match place_call(call, |_| {}).await {
                Ok(s) => {
                    greetings.push(s.greeted_after.map_or("none".into(), secs));
                    answers.push(
                        s.turns
                            .first()
                            .and_then(|t| t.latency)
                            .map_or("none".into(), secs),
                    );
                }
                Err(e) => {
                    greetings.push(format!("failed: {e}"));
                    answers.push("-".into());
                }
            }
        }
        println!(
            "{name:<16} {:>28} {:>28}",
            greetings.join(" "),
            answers.join(" ")
        );
        server.stop().await;
        // What a case left unconsumed must not answer the next one.
        fakes.stt.clear();
        fakes.llm.clear();
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}
