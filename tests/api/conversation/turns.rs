//! Turn-taking with the end-of-turn model on a real server: a caller who pauses mid-sentence
//! ("Could I come in on, … Thursday afternoon?", an 800 ms pause) keeps the turn and the
//! agent answers the whole sentence once; with silence alone, the same caller is cut at the
//! pause and the agent answers half a sentence.

use super::{Line, MARIA, goodbye, said};
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
    line.llm.push(super::stream(vec!["On which day?".into()]));
    line.llm.push(goodbye("Thursday afternoon works. Goodbye!"));
    let sid = "CAconversation00000000000nomodel1";
    line.call_with(MARIA, sid, PHRASES.to_vec(), vec![said("pause_day")])
        .await;
    assert_eq!(caller_turns(&line, sid).await, PHRASES);
    line.app.stop().await;
}
