//! The encoder on the real model (`callbridge models fetch`): the tokenizer against the
//! reference tokenizer's ids, the vectors against the similarities sentence-transformers
//! publishes for this model.

use super::*;

fn encoder() -> std::sync::Arc<SentenceEncoder> {
    for_tests()
}

#[test]
fn tokens_are_the_reference_tokenizers() {
    // Ids from the model's own tokenizer.json (Hugging Face `tokenizers`).
    let e = encoder();
    assert_eq!(
        e.tokens("Hi, I'd like to book an oil change for my Honda."),
        [
            101, 7632, 1010, 1045, 1005, 1040, 2066, 2000, 2338, 2019, 3514, 2689, 2005, 2026,
            11990, 1012, 102
        ]
    );
    assert_eq!(
        e.tokens("It's Sam Rivera \u{2014} café, naïve 2:30pm!"),
        [
            101, 2009, 1005, 1055, 3520, 14043, 1517, 7668, 1010, 15743, 1016, 1024, 2382, 9737,
            999, 102
        ]
    );
}

#[test]
fn vectors_match_the_published_similarities() {
    // sentence-transformers' quick start prints these for all-MiniLM-L6-v2.
    let e = encoder();
    let v: Vec<Vec<f32>> = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]
    .iter()
    .map(|s| e.embed(s))
    .collect();
    let close = |a: f32, b: f32| (a - b).abs() < 5e-4;
    assert!(close(similarity(&v[0], &v[0]), 1.0));
    assert!(
        close(similarity(&v[0], &v[1]), 0.6660),
        "{}",
        similarity(&v[0], &v[1])
    );
    assert!(
        close(similarity(&v[0], &v[2]), 0.1046),
        "{}",
        similarity(&v[0], &v[2])
    );
    assert!(
        close(similarity(&v[1], &v[2]), 0.1411),
        "{}",
        similarity(&v[1], &v[2])
    );
    // And a component or two, as a float32 reference computes them.
    let s = e.embed("Sounds good to me.");
    for (got, want) in s.iter().zip([-0.07584, -0.02274, -0.02826, 0.04004]) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}
