//! Sentence vectors for the built-in agent: the encoder lives in its own crate
//! (`callbridge-encoder`, built optimised even in the dev profile); its tests on the fetched
//! model are here, beside the model cache.

pub use callbridge_encoder::*;

/// The fetched encoder, loaded once for all of a test binary's tests.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests find the model cache as the server does
pub(crate) fn for_tests() -> std::sync::Arc<SentenceEncoder> {
    static ENCODER: std::sync::OnceLock<std::sync::Arc<SentenceEncoder>> =
        std::sync::OnceLock::new();
    ENCODER
        .get_or_init(|| {
            let cache = crate::models::cache_dir(|v| std::env::var(v).ok());
            let dir = cache.join(crate::models::MINILM_L6_V2.name);
            let encoder = SentenceEncoder::load(&dir).unwrap_or_else(|e| {
                panic!("{e}: `callbridge models fetch` fetches it (scripts/test.sh runs it)")
            });
            std::sync::Arc::new(encoder)
        })
        .clone()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
