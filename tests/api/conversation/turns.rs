//! Turn-taking with the end-of-turn model on a real server: a caller who pauses mid-sentence
//! ("Could I come in on, … Thursday afternoon?", an 800 ms pause) keeps the turn and the
//! agent answers the whole sentence once; with silence alone, the same caller is cut at the
//! pause and the agent answers half a sentence.

use super::{Line, MARIA, goodbye, said};
use crate::fakes::openai::text_reply;
use crate::helpers::scrape_metrics;

/// The caller's one sentence, as speech recognition hears its two stretches of speech.
const PHRASES: [&str; 2] = ["Could I come in on", "Thursday afternoon?"];

/// The caller's turns in the call's record.
async fn caller_turns(line: &Line, sid: &str) -> Vec<String> {
    let (_, turns) = line.record(sid).await;
    turns
        .into_iter()
        .filter(|(speaker, _)| speaker == "caller")
        .map(|(_, text)| text)
        .collect()
}

#[tokio::test]
async fn with_the_turn_model_a_pause_mid_sentence_keeps_the_callers_turn() {
    let line = Line::open_with(&[
        ("TURN_MODEL", "on"),
        // An unoptimised test build takes a few hundred ms a verdict: wait for them.
        ("TURN_VERDICT_WAIT_MS", "3000"),
    ])
    .await;
    line.llm.push(goodbye("Thursday afternoon works. Goodbye!"));
    let sid = "CAconversation0000000000turnmodel";
    line.call_with(MARIA, sid, PHRASES.to_vec(), vec![said("pause_day")])
        .await;
    assert_eq!(
        caller_turns(&line, sid).await,
        ["Could I come in on Thursday afternoon?"]
    );
    let metrics = scrape_metrics(&line.app).await;
    assert!(
        metrics.contains(
            "callbridge_turn_verdicts_total{node_id=\"test-node\",verdict=\"incomplete\"}"
        ),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("turn_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(metrics.contains("callbridge_turn_model_seconds_count"));
    line.app.stop().await;
}

#[tokio::test]
async fn on_silence_alone_the_same_pause_ends_the_turn() {
    let line = Line::open_with(&[("TURN_MODEL", "off")]).await;
    line.llm.push(super::stream(text_reply(&["On which day?"])));
    line.llm.push(goodbye("Thursday afternoon works. Goodbye!"));
    let sid = "CAconversation00000000000nomodel1";
    line.call_with(MARIA, sid, PHRASES.to_vec(), vec![said("pause_day")])
        .await;
    assert_eq!(caller_turns(&line, sid).await, PHRASES);
    line.app.stop().await;
}

#[tokio::test]
async fn the_model_is_asked_at_the_local_turn_end_and_its_answer_kept_when_the_final_agrees() {
    let line = Line::open_with(&[("PREEMPTIVE_LLM", "true")]).await;
    line.llm.push(super::stream(text_reply(&[
        "We open at eight on Saturday.",
    ])));
    line.llm.push(goodbye("You're welcome. Goodbye!"));
    let sid = "CAconversation000000000preemptive";
    line.call_with(
        MARIA,
        sid,
        vec!["What time do you open on Saturday?", "Thanks, goodbye."],
        vec![said("hours"), said("thanks_bye")],
    )
    .await;
    let (_, turns) = line.record(sid).await;
    let said_by = |who: &str| -> Vec<String> {
        turns
            .iter()
            .filter(|(s, _)| s == who)
            .map(|(_, t)| t.clone())
            .collect()
    };
    assert_eq!(
        said_by("caller"),
        ["What time do you open on Saturday?", "Thanks, goodbye."]
    );
    assert!(
        said_by("agent")
            .iter()
            .any(|t| t == "We open at eight on Saturday."),
        "{turns:?}"
    );
    // Two requests in all, each asked early and kept.
    assert_eq!(line.llm.requests().len(), 2);
    let metrics = scrape_metrics(&line.app).await;
    assert!(
        metrics
            .contains("callbridge_preemptive_llm_total{node_id=\"test-node\",outcome=\"used\"} 2"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("preemptive"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    line.app.stop().await;
}
