//! The cluster test: three callbridge processes behind HAProxy (round robin, no stickiness)
//! with the real PostgreSQL and Redis, callers placed through the balancer by the caller
//! simulator so that a call's webhook, media socket and after-stream request land on different
//! nodes. Needs `TEST_DATABASE_URL`, `TEST_REDIS_URL` and HAProxy (`scripts/test.sh` installs
//! it); without the two servers it is skipped, and with them but without HAProxy it fails
//! with the command that installs it. The full version, with figures, is
//! `cargo bench --bench cluster`.

pub mod harness;
mod load;

use std::time::Duration;

use callbridge::session_store::{RedisStore, SessionStore};
use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, CallSummary, load_clip, place_call};
use sea_orm::{ConnectionTrait, Statement};

use crate::fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use crate::fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use crate::fakes::otlp::FakeCollector;
use crate::helpers::*;
use harness::Cluster;

const KEY: &str = "cluster-key";
/// The service desk the nodes transfer to.
pub const DESK: &str = "+15125550199";
/// Maria Gonzalez in the demo CRM.
pub const MARIA: &str = "+15125550101";
const UNKNOWN: &str = "+15125550177";

/// A running cluster with its fakes and a view of its registry and database.
pub struct Setup {
    pub cluster: Cluster,
    pub stt: FakeDeepgramStt,
    _tts: FakeDeepgramTts,
    /// Where every node sends its traces.
    pub collector: FakeCollector,
    pub store: SessionStore,
    pub db: sea_orm::DatabaseConnection,
    /// No other heavy test runs meanwhile.
    _heavy: tokio::sync::MutexGuard<'static, ()>,
}

/// The cluster with `extra` settings on every node, or None when PostgreSQL and Redis are not
/// configured (the cluster needs both).
pub async fn setup(extra: &[(&str, &str)]) -> Option<Setup> {
    let (Ok(_), Ok(redis)) = (
        std::env::var("TEST_DATABASE_URL"),
        std::env::var("TEST_REDIS_URL"),
    ) else {
        eprintln!("cluster test skipped: it needs TEST_DATABASE_URL and TEST_REDIS_URL");
        return None;
    };
    let heavy = crate::helpers::HEAVY.lock().await;
    let haproxy = harness::haproxy_binary().expect(
        "HAProxy is not installed: run scripts/install-test-deps.sh (scripts/test.sh does)",
    );
    install_crypto();
    let stt = FakeDeepgramStt::start(KEY, Duration::from_secs(30)).await;
    let tts = FakeDeepgramTts::start(KEY, TtsBehaviour::default()).await;
    let collector = FakeCollector::start().await;
    let database = database_url().await;
    let prefix = unique("cbcluster");
    let mut env: Vec<(String, String)> = [
        ("CALL_MODE", "agent"),
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("STREAM_TOKEN_SECRET", TOKEN_SECRET),
        ("SERVICE_DESK_NUMBER", DESK),
        ("DEEPGRAM_API_KEY", KEY),
        ("DEEPGRAM_STT_URL", stt.url.as_str()),
        ("DEEPGRAM_TTS_URL", tts.ws_url.as_str()),
        ("DEEPGRAM_TTS_REST_URL", tts.rest_url.as_str()),
        ("STT_FALLBACK", "none"),
        ("TTS_FALLBACK", "none"),
        ("RATE_LIMIT_WEBHOOK_PER_SEC", "100000"),
        ("RATE_LIMIT_WEBHOOK_BURST", "100000"),
        // Longer than the balancer takes to notice a failed readiness check (2 x 300 ms).
        ("DRAIN_DELAY_SECS", "2"),
        ("SHUTDOWN_GRACE_SECS", "6"),
        ("DRAIN_WIND_DOWN_SECS", "4"),
        ("HEARTBEAT_SECS", "1"),
        // A dead node's streaming calls lapse within CALL_TTL_SECS, its reservations (media
        // not started yet) within MEDIA_ARRIVAL_SECS.
        ("CALL_TTL_SECS", "4"),
        ("MEDIA_ARRIVAL_SECS", "4"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
        ("LOG_LEVEL", "error"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_callbridge"));
    let cluster = Cluster::start(binary, &haproxy, env, 3).await;
    let store = SessionStore::Redis(RedisStore::connect(&redis, &prefix).await.unwrap());
    let db = callbridge::db::connect(&database).await.unwrap();
    Some(Setup {
        cluster,
        stt,
        _tts: tts,
        collector,
        store,
        db,
        _heavy: heavy,
    })
}

/// Caller clips for `phrases`' turns (the fake recogniser hears each loud stretch as the next
/// phrase, whatever the clip says).
pub fn turns(count: usize) -> Vec<CallerTurn> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    let clip = load_clip(&dir.join("hours.wav")).unwrap();
    (0..count)
        .map(|_| CallerTurn {
            audio: clip.clone(),
            barge_in_after: None,
            dtmf: None,
        })
        .collect()
}

/// A call from `from` through the balancer at `public_url`, signed as Twilio signs it, one
/// caller turn per phrase.
pub async fn call_through(
    public_url: &str,
    sid: &str,
    from: &str,
    phrases: &[&'static str],
) -> Result<CallSummary, String> {
    let plan = CallPlan {
        base_url: url::Url::parse(public_url).unwrap(),
        connect_to: None,
        auth_token: Some(AUTH_TOKEN.into()),
        from: from.into(),
        to: "+15125550100".into(),
        call_sid: sid.into(),
        turns: turns(phrases.len()),
        answer_gap: Duration::from_millis(300),
        patience: Duration::from_secs(15),
        max_duration: Duration::from_secs(60),
        connect_delay: Duration::from_millis(200),
    };
    place_call(plan, |_| {}).await.map_err(|e| e.to_string())
}

impl Setup {
    /// A call through the balancer, signed as Twilio signs it, saying `phrases`; the fake
    /// recogniser gets a script for each connection the call may open (one where the webhook
    /// was prepared, one where the media landed).
    pub async fn call(
        &self,
        sid: &str,
        from: &str,
        phrases: &[&'static str],
    ) -> Result<CallSummary, String> {
        for _ in 0..2 {
            self.stt.push(ConnScript {
                phrases: phrases.to_vec(),
                ..ConnScript::default()
            });
        }
        call_through(&self.cluster.public_url(), sid, from, phrases).await
    }

    /// How many call logs `sid` has, and the outcome and turns of the first.
    pub async fn record(&self, sid: &str) -> (usize, Option<String>, Vec<(String, String)>) {
        let backend = self.db.get_database_backend();
        let count = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT COUNT(*) AS n FROM call_logs WHERE call_sid = $1",
                [sid.into()],
            ))
            .await
            .unwrap()
            .map_or(0, |r| r.try_get::<i64>("", "n").unwrap());
        let Some((log, turns)) = callbridge::crm::calls::with_turns(&self.db, sid)
            .await
            .unwrap()
        else {
            return (count as usize, None, Vec::new());
        };
        let turns = turns.into_iter().map(|t| (t.speaker, t.text)).collect();
        (count as usize, log.outcome, turns)
    }

    /// Waits until `sid`'s call log has an outcome (records are written as the call ends).
    pub async fn outcome(&self, sid: &str) -> (usize, Option<String>, Vec<(String, String)>) {
        let deadline = std::time::Instant::now() + HANG;
        loop {
            let record = self.record(sid).await;
            if record.1.is_some() || std::time::Instant::now() > deadline {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Per node: (voice webhooks answered, calls ended there), from each node's `/metrics`.
    pub async fn per_node(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for node in &self.cluster.nodes {
            let text = node.metrics(&self.cluster.http).await;
            out.push((
                sum(&text, "callbridge_voice_webhooks_total"),
                sum(&text, "callbridge_calls_total"),
            ));
        }
        out
    }
}

/// The sum of every series of `name` in a scrape.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The call's spans, from whichever node served each request, share one trace: the webhook
/// on one node, the media stream's call, turns and stages on another, the after-stream
/// request on a third; each turn hangs from the call, each stage from its turn.
async fn one_trace_follows_the_call_across_nodes(setup: &Setup, sid: &str) {
    let trace_id = callbridge::telemetry::traces::call_ids(sid).0.to_bytes();
    let wanted = [
        "webhook",
        "call",
        "turn",
        "stt_final",
        "tts_first_audio",
        "after_stream",
    ];
    let deadline = std::time::Instant::now() + HANG;
    let spans = loop {
        let spans = setup.collector.trace(&trace_id);
        if wanted.iter().all(|w| spans.iter().any(|s| s.name == *w)) {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spans of the call's trace: {:?}",
            spans.iter().map(|s| (&s.name, &s.node)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let one = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let (webhook, call, after) = (one("webhook"), one("call"), one("after_stream"));
    assert_ne!(
        webhook.node, call.node,
        "the webhook and the stream on different nodes"
    );
    assert_ne!(
        after.node, call.node,
        "the after-stream request on another node"
    );
    let turns: Vec<_> = spans.iter().filter(|s| s.name == "turn").collect();
    assert!(turns.len() >= 2, "a span per answered turn: {turns:?}");
    assert!(
        turns
            .iter()
            .all(|t| t.parent_span_id == call.span_id && t.node == call.node)
    );
    for stage in spans
        .iter()
        .filter(|s| s.name == "stt_final" || s.name == "tts_first_audio")
    {
        assert!(
            turns.iter().any(|t| t.span_id == stage.parent_span_id),
            "{} hangs from a turn",
            stage.name
        );
        assert!(stage.start_ns <= stage.end_ns);
    }
}

/// Two calls, one after the other, so round robin sends each request of a call to the next
/// node: the webhook on one, the media socket on another, the after-stream request on the
/// third. A known caller is greeted by name and says goodbye (hang up); an unknown caller asks
/// for a person (the desk). Each call is logged once with the outcome the conversation chose.
#[tokio::test]
async fn every_request_of_a_call_is_answered_right_on_whichever_node_it_lands() {
    let Some(setup) = setup(&[]).await else {
        return;
    };
    let before = setup.per_node().await;
    let sid = format!("CA{}", unique("known").replace('-', ""));
    let summary = setup
        .call(
            &sid,
            MARIA,
            &[
                "What time do you open on Saturday?",
                "That's all, thank you. Goodbye.",
            ],
        )
        .await
        .unwrap();
    let after = setup.per_node().await;
    let webhook_node = (0..3).find(|&i| after[i].0 > before[i].0);
    let media_node = (0..3).find(|&i| after[i].1 > before[i].1);
    assert!(
        webhook_node.is_some() && media_node.is_some() && webhook_node != media_node,
        "the webhook and the media landed on different nodes: {before:?} -> {after:?}"
    );
    assert!(summary.greeted_after.is_some(), "greeted");
    let after_stream = summary.after_stream.unwrap_or_default();
    assert!(
        after_stream.contains("<Hangup/>") && !after_stream.contains("went wrong"),
        "the goodbye decided on one node is answered on another: {after_stream}"
    );
    let (logs, outcome, turns) = setup.outcome(&sid).await;
    assert_eq!(logs, 1, "logged once");
    assert_eq!(outcome.as_deref(), Some("completed"));
    let greeting = turns.iter().find(|(who, _)| who == "agent").unwrap();
    assert!(greeting.1.contains("Maria"), "greeted by name: {turns:?}");
    one_trace_follows_the_call_across_nodes(&setup, &sid).await;

    let sid = format!("CA{}", unique("unknown").replace('-', ""));
    let summary = setup
        .call(&sid, UNKNOWN, &["Can I talk to a person?"])
        .await
        .unwrap();
    let after_stream = summary.after_stream.unwrap_or_default();
    assert!(
        after_stream.contains(&format!("method=\"POST\">{DESK}</Number></Dial>"))
            && !after_stream.contains("went wrong"),
        "{after_stream}"
    );
    let (logs, outcome, turns) = setup.outcome(&sid).await;
    assert_eq!((logs, outcome.as_deref()), (1, Some("transferred")));
    let greeting = turns.iter().find(|(who, _)| who == "agent").unwrap();
    assert!(!greeting.1.contains("Maria"), "{turns:?}");

    // A webhook whose media never comes: reserved on the node that answered it, and in the
    // cluster's count on every node; every series says which node it came from.
    let sid = format!("CA{}", unique("ringing").replace('-', ""));
    let url = format!("{}/twilio/voice", setup.cluster.public_url());
    let form = vec![
        ("CallSid".to_string(), sid.clone()),
        ("From".to_string(), MARIA.to_string()),
        ("To".to_string(), "+15125550100".to_string()),
    ];
    let twiml = setup
        .cluster
        .http
        .post(&url)
        .header(
            "X-Twilio-Signature",
            callbridge::carrier::signature::compute(AUTH_TOKEN, &url, &form),
        )
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(twiml.contains("<Connect"), "{twiml}");
    let deadline = std::time::Instant::now() + HANG;
    loop {
        let mut node_reserved = 0.0;
        let mut cluster_reserved = Vec::new();
        for node in &setup.cluster.nodes {
            let text = node.metrics(&setup.cluster.http).await;
            let labelled = format!("{{node_id=\"{}\"", node.name);
            assert!(
                text.lines()
                    .filter(|l| l.starts_with("callbridge_"))
                    .all(|l| l.contains(&labelled)),
                "every series of {} carries its node id",
                node.name
            );
            node_reserved += sum(&text, "callbridge_reserved_calls");
            cluster_reserved.push(sum(&text, "callbridge_cluster_reserved_calls"));
        }
        if node_reserved == 1.0 && cluster_reserved.iter().all(|r| *r == 1.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reserved on one node {node_reserved}, cluster-wide {cluster_reserved:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
