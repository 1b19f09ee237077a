//! BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2 was trained with it
//! (`BertTokenizer`, `do_lower_case`, accents stripped, Chinese characters split): text is
//! cleaned, lower-cased, split at spaces and punctuation, and each word cut greedily into the
//! longest pieces the vocabulary holds ("##" marks a piece inside a word).
//!
//! Written here rather than taken from the `tokenizers` crate: that crate brings a regex
//! engine, rayon and a dozen more crates to the build for the one tokenizer this model uses,
//! which is these few rules; the test checks ids against the reference tokenizer's.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// A word longer than this (in characters) is unknown, as in the reference.
const MAX_WORD_CHARS: usize = 100;

/// The vocabulary and the special tokens' ids.
#[derive(Debug, Clone)]
pub struct WordPiece {
    ids: HashMap<String, u32>,
    unknown: u32,
    /// `[CLS]`, put first.
    pub cls: u32,
    /// `[SEP]`, put last.
    pub sep: u32,
}

/// Why a vocabulary cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the vocabulary lacks {0}")]
pub struct MissingToken(&'static str);

impl WordPiece {
    /// From `vocab.txt`: one token per line, its id the line number.
    pub fn from_vocab(text: &str) -> Result<Self, MissingToken> {
        let ids: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let id = |t: &'static str| ids.get(t).copied().ok_or(MissingToken(t));
        Ok(Self {
            unknown: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            ids,
        })
    }

    /// The ids of `text`, `[CLS]` first and `[SEP]` last, at most `max` in all.
    pub fn encode(&self, text: &str, max: usize) -> Vec<u32> {
        let mut out = vec![self.cls];
        for word in basic_words(text) {
            self.pieces(&word, &mut out);
        }
        out.truncate(max.saturating_sub(1).max(1));
        out.push(self.sep);
        out
    }

    fn pieces(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unknown);
            return;
        }
        let mut found = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut piece = None;
            while start < end {
                let mut candidate: String = chars[start..end].iter().collect();
                if start > 0 {
                    candidate.insert_str(0, "##");
                }
                if let Some(&id) = self.ids.get(&candidate) {
                    piece = Some(id);
                    break;
                }
                end -= 1;
            }
            match piece {
                Some(id) => found.push(id),
                None => {
                    // One part unknown makes the whole word unknown.
                    out.push(self.unknown);
                    return;
                }
            }
            start = end;
        }
        out.extend(found);
    }
}

/// BERT's basic tokenizer: words and punctuation marks, lower-cased, accents removed.
fn basic_words(text: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if is_cjk(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else if c.is_whitespace() {
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    let mut words = Vec::new();
    for raw in spaced.split(' ').filter(|w| !w.is_empty()) {
        let lowered: String = raw
            .to_lowercase()
            .nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .collect();
        let mut current = String::new();
        for c in lowered.chars() {
            if is_punctuation(c) {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
                words.push(c.to_string());
            } else {
                current.push(c);
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

/// ASCII non-alphanumerics count as punctuation (as in BERT: "$", "^", "`"), and so does any
/// other character that is neither a letter, a digit nor a space.
fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    !(c.is_alphanumeric() || c.is_whitespace())
}

/// The CJK ideograph blocks BERT splits character by character.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> WordPiece {
        let text =
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nbrake\n##s\nit\n'\ns\n,\n.\nthurs\n##day\ncafe\n";
        WordPiece::from_vocab(text).unwrap()
    }

    #[test]
    fn words_are_cut_into_the_longest_known_pieces() {
        let v = vocab();
        // [CLS] the brake ##s , it ' s thurs ##day . [SEP]
        assert_eq!(
            v.encode("The BRAKES, it's Thursday.", 64),
            vec![2, 4, 5, 6, 10, 7, 8, 9, 12, 13, 11, 3]
        );
        assert_eq!(
            v.encode("Café  xyz", 64),
            vec![2, 14, 1, 3],
            "accent, unknown"
        );
        assert_eq!(v.encode("the the the", 3), vec![2, 4, 3], "cut to fit");
    }
}
