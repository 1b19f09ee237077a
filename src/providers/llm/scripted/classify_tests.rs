//! The understanding over `phrasings.txt`: varied ways callers ask, agree and refuse, none
//! of them among the examples it compares with.

use super::*;
use crate::providers::llm::scripted::understand::keyword_meaning;

fn classifier() -> &'static Classifier {
    for_tests()
}

fn intent(name: &str) -> Option<Option<Intent>> {
    match name {
        "*" => None,
        "-" => Some(None),
        other => match label(other) {
            Some(Label::Request(i)) => Some(i),
            _ => panic!("phrasings.txt: unknown intent {other}"),
        },
    }
}

fn answer(name: &str) -> Option<Option<bool>> {
    match name {
        "*" => None,
        "-" => Some(None),
        "yes" => Some(Some(true)),
        "no" => Some(Some(false)),
        other => panic!("phrasings.txt: unknown answer {other}"),
    }
}

#[test]
fn varied_phrasings_are_understood() {
    let c = classifier();
    let mut rows = 0;
    let mut keywords_passed = 0;
    let mut spent = std::time::Duration::ZERO;
    let mut failures = Vec::new();
    for line in include_str!("phrasings.txt").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (labels, text) = line.split_once('|').expect("`labels | text`");
        let mut l = labels.split_whitespace();
        let (want_intent, want_answer) = (intent(l.next().unwrap()), answer(l.next().unwrap()));
        let text = text.trim();
        #[allow(clippy::disallowed_methods)] // a figure printed, not asserted
        let started = std::time::Instant::now();
        let m = c.meaning(text);
        spent += started.elapsed();
        rows += 1;
        let (k_intent, k_answer) = keyword_meaning(&words(text));
        if want_intent.is_none_or(|w| w == k_intent) && want_answer.is_none_or(|w| w == k_answer) {
            keywords_passed += 1;
        }
        let intent_ok = want_intent.is_none_or(|w| w == m.intent);
        let answer_ok = want_answer.is_none_or(|w| w == m.answer);
        if !(intent_ok && answer_ok) {
            failures.push(format!(
                "{text:?}: wanted {labels}, got {:?} {:?} {:.3?} {:.3?}",
                m.intent, m.answer, m.intent_score, m.answer_score
            ));
        }
    }
    let passed = rows - failures.len();
    println!(
        "understood {passed}/{rows} (by keywords alone: {keywords_passed}/{rows}); {:.1} ms a sentence",
        spent.as_secs_f64() * 1000.0 / rows as f64
    );
    for f in &failures {
        println!("  {f}");
    }
    assert!(rows >= 200, "the table has {rows} rows");
    // Measured 200/208 when written (keywords alone: 136/208); the misses are printed.
    assert!(passed > keywords_passed, "no better than keywords");
    assert!(
        passed * 100 >= rows * 95,
        "{} not understood:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // the tests find the model cache as the server does
fn the_shared_classifier_loads_once_and_a_missing_encoder_means_keywords() {
    let missing = SharedClassifier::load(Path::new("/nonexistent/encoder"));
    assert!(missing.get(Duration::from_secs(30)).is_none());
    let cache = crate::models::cache_dir(|v| std::env::var(v).ok());
    let dir = cache.join(crate::models::MINILM_L6_V2.name);
    let a = SharedClassifier::load(&dir).get(Duration::from_secs(60));
    let b = SharedClassifier::load(&dir).get(Duration::from_secs(60));
    let (a, b) = (a.expect("loaded"), b.expect("loaded"));
    assert!(Arc::ptr_eq(&a, &b), "one load per process");
    assert_eq!(a.meaning("Sounds good.").answer, Some(true));
}
