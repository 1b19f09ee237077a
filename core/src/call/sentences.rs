//! Cuts an LLM's streamed text into sentences as it arrives, so each can go to speech
//! synthesis at once: the caller hears the first sentence while the model writes the rest.
//!
//! A sentence ends at `.`, `!` or `?` (with any closing quotes or brackets) followed by
//! whitespace, or at a line break. Not at a decimal point or a price (`9.30`, `$89.99`: no
//! whitespace follows), not after a common abbreviation (`Dr.`, `St.`, `a.m.`), not after a
//! list number at the start of a line. A run-on longer than `max_chars` is cut at the last
//! comma or space. Markdown an LLM may emit (`**`, `#`, backticks, list bullets) is removed,
//! since a voice cannot read it.

/// Abbreviations after which a period does not end a sentence (lower case, without the dot).
const ABBREVIATIONS: [&str; 24] = [
    "mr", "mrs", "ms", "dr", "st", "ave", "blvd", "rd", "jr", "sr", "vs", "etc", "e.g", "i.e",
    "a.m", "p.m", "approx", "no", "mt", "ft", "u.s", "inc", "co", "est",
];

/// The splitter for one agent turn.
#[derive(Debug)]
pub struct SentenceSplitter {
    buf: String,
    max_chars: usize,
    /// The first piece of a reply may end at a clause boundary (`,` `;` `:`) once it has this
    /// many words, so speech starts before the first sentence is written; 0: sentences only.
    first_clause_words: usize,
    /// Nothing of this reply has been cut yet.
    first: bool,
}

impl Default for SentenceSplitter {
    fn default() -> Self {
        Self::new(220)
    }
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '”' | '’')
}

impl SentenceSplitter {
    /// A splitter that cuts run-ons at about `max_chars`.
    pub fn new(max_chars: usize) -> Self {
        Self {
            buf: String::new(),
            max_chars: max_chars.max(20),
            first_clause_words: 0,
            first: true,
        }
    }

    /// Lets each reply's first piece end at a clause boundary once it has `words` words
    /// (0: never).
    pub fn with_first_clause(mut self, words: usize) -> Self {
        self.first_clause_words = words;
        self
    }

    /// Adds streamed text; returns the sentences it completes.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.boundary() {
            let rest = self.buf.split_off(end);
            let sentence = speakable(&std::mem::replace(&mut self.buf, rest));
            if !sentence.is_empty() {
                self.first = false;
                out.push(sentence);
            }
        }
        out
    }

    /// The text left when the turn is over.
    pub fn finish(&mut self) -> Option<String> {
        self.first = true;
        let s = speakable(&std::mem::take(&mut self.buf));
        (!s.is_empty()).then_some(s)
    }

    /// Drops pending text (barge-in).
    pub fn clear(&mut self) {
        self.first = true;
        self.buf.clear();
    }

    /// Byte offset just after the first complete sentence, if any.
    fn boundary(&self) -> Option<usize> {
        let chars: Vec<(usize, char)> = self.buf.char_indices().collect();
        for (i, &(at, c)) in chars.iter().enumerate() {
            if c == '\n' {
                if self.buf[..at].trim().is_empty() {
                    continue;
                }
                return Some(at + 1);
            }
            if matches!(c, ',' | ';' | ':') && self.first && self.first_clause_words > 0 {
                let followed = chars.get(i + 1).is_some_and(|&(_, n)| n.is_whitespace());
                let words = self.buf[..at].split_whitespace().count();
                if followed && words >= self.first_clause_words {
                    return Some(chars[i + 1].0);
                }
            }
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            // Skip closing quotes/brackets, then whitespace must follow (else: wait or no).
            let mut j = i + 1;
            while j < chars.len() && is_closer(chars[j].1) {
                j += 1;
            }
            let Some(&(next_at, next)) = chars.get(j) else {
                return None; // might be "9." of "9.30": wait for more
            };
            if !next.is_whitespace() {
                continue;
            }
            if c == '.' && self.is_abbreviation_or_list_number(at) {
                continue;
            }
            return Some(next_at);
        }
        if self.buf.chars().count() > self.max_chars {
            let limit = self
                .buf
                .char_indices()
                .nth(self.max_chars)
                .map_or(self.buf.len(), |(i, _)| i);
            let head = &self.buf[..limit];
            let cut = head
                .rfind([',', ';'])
                .map(|i| i + 1)
                .or_else(|| head.rfind(' ').map(|i| i + 1))
                .unwrap_or(limit);
            return Some(cut);
        }
        None
    }

    fn is_abbreviation_or_list_number(&self, dot: usize) -> bool {
        let before = &self.buf[..dot];
        let word_start = before
            .rfind(|c: char| c.is_whitespace() || c == '(')
            .map_or(0, |i| i + 1);
        let word = before[word_start..].to_lowercase();
        let word = word.trim_start_matches(['"', '\'', '$']);
        if ABBREVIATIONS.contains(&word) {
            return true;
        }
        // "1." opening a line is a list marker.
        let line_start = before[..word_start].trim_end_matches([' ', '\t']);
        !word.is_empty()
            && word.len() <= 2
            && word.chars().all(|c| c.is_ascii_digit())
            && (line_start.is_empty() || line_start.ends_with('\n'))
    }
}

/// Text as it should be spoken: markdown removed, whitespace collapsed.
pub fn speakable(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut l = line.trim();
        l = l.trim_start_matches('#').trim_start();
        for bullet in ["- ", "* ", "• "] {
            if let Some(rest) = l.strip_prefix(bullet) {
                l = rest;
            }
        }
        let cleaned: String = l
            .chars()
            .filter(|c| !matches!(c, '*' | '`' | '_'))
            .collect();
        if !cleaned.trim().is_empty() {
            out.push(cleaned.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replys_first_clause_may_go_ahead_of_its_sentence_once_it_has_enough_words() {
        let mut s = SentenceSplitter::default().with_first_clause(4);
        assert!(s.push("Sure, ").is_empty(), "too short to stand alone");
        assert_eq!(
            s.push("I can book your oil change, for Tuesday"),
            ["Sure, I can book your oil change,"]
        );
        // After the first piece, sentences only.
        assert!(s.push(" at 9, or at 11, whichever").is_empty());
        assert_eq!(
            s.push(" suits you. Shall I?"),
            ["for Tuesday at 9, or at 11, whichever suits you."]
        );
        assert_eq!(s.finish().as_deref(), Some("Shall I?"));
        // The next reply starts afresh; a thousands separator is not a clause boundary.
        assert_eq!(
            s.push("That brings the total to 1,200 dollars; "),
            ["That brings the total to 1,200 dollars;"]
        );
        let mut off = SentenceSplitter::default();
        assert!(
            off.push("Sure, I can book your oil change, for Tuesday")
                .is_empty()
        );
    }

    fn split(pieces: &[&str]) -> Vec<String> {
        let mut s = SentenceSplitter::default();
        let mut out: Vec<String> = pieces.iter().flat_map(|p| s.push(p)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_are_complete() {
        let mut s = SentenceSplitter::default();
        assert!(s.push("Sure").is_empty());
        assert!(
            s.push("!").is_empty(),
            "a boundary needs the following space"
        );
        assert_eq!(s.push(" I have"), ["Sure!"]);
        assert_eq!(
            s.push(" Tuesday at 9:30 or 11. Which works? "),
            ["I have Tuesday at 9:30 or 11.", "Which works?"]
        );
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn prices_decimals_times_and_abbreviations_do_not_end_sentences() {
        assert_eq!(
            split(&[
                "An oil change is $89",
                ".99 and takes 45 min",
                "utes. See Dr. Lee at 1200 Congress Ave. in Austin."
            ]),
            [
                "An oil change is $89.99 and takes 45 minutes.",
                "See Dr. Lee at 1200 Congress Ave. in Austin."
            ]
        );
        assert_eq!(
            split(&["We open at 7:30 a.m. on weekdays. Saturday 8 to 2."]),
            ["We open at 7:30 a.m. on weekdays.", "Saturday 8 to 2."]
        );
        assert_eq!(
            split(&["He said \"see you then.\" Then he left."]),
            ["He said \"see you then.\"", "Then he left."]
        );
    }

    #[test]
    fn markdown_lists_and_line_breaks_become_plain_speech() {
        assert_eq!(
            split(&["Here are the options:\n1. **Tuesday** at 9\n2. Wednesday at `noon`\n"]),
            [
                "Here are the options:",
                "1. Tuesday at 9",
                "2. Wednesday at noon"
            ]
        );
        assert_eq!(
            speakable("## Hours\n- Mon: 7:30\n- Sat:  8 "),
            "Hours Mon: 7:30 Sat: 8"
        );
    }

    #[test]
    fn a_run_on_is_cut_at_a_comma_and_split_points_do_not_matter() {
        let long = "We can take your car on Tuesday morning, or on Wednesday afternoon if that suits you better, and we will call you when it is ready so you do not have to wait around the shop all day long while we work";
        let mut s = SentenceSplitter::new(80);
        let out = s.push(long);
        assert!(out.iter().all(|p| p.len() <= 80), "{out:?}");
        assert!(out[0].ends_with(','), "{out:?}");

        let text =
            "Sure! Your oil change is booked for Tuesday, November 24 at 9:00 AM. Anything else? ";
        let whole = split(&[text]);
        for cut in 0..text.len() {
            if text.is_char_boundary(cut) {
                assert_eq!(split(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
            }
        }
    }
}
