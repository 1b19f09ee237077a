//! What Whisper's raw text needs before it is a transcript: its annotations of non-speech
//! removed, and the loop a cut encoder window makes it fall into recognised and undone.
//!
//! Whisper was trained on 30-second windows; given a shorter one (which is what makes it fast
//! enough for a phone call) it sometimes reads the utterance and then reads it again until it
//! runs out of tokens ("Yes, that's right. Yes, that's right. Yes, that's…"). Such text is
//! the utterance repeated with the last copy cut short, so it is cut back to one copy; a
//! repetition that is not of that shape is left for the engine to decode again.

/// Whisper's words without its annotations of non-speech (`[BLANK_AUDIO]`, `(upbeat music)`,
/// `*coughs*`), spaces collapsed.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match (closing, c) {
            (Some(end), c) if c == end => closing = None,
            (Some(_), _) => {}
            (None, '[') => closing = Some(']'),
            (None, '(') => closing = Some(')'),
            (None, '*') => closing = Some('*'),
            (None, c) => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A word as compared: lower case, letters, digits and apostrophes only.
fn key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `text` says the same thing twice: a sentence again, or any four words in a row
/// again. A caller seldom does within one utterance; a cut-window decode often does.
pub fn repeats(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(key)
        .filter(|w| !w.is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    if words.windows(4).any(|w| !seen.insert(w)) {
        return true;
    }
    let mut sentences = std::collections::HashSet::new();
    text.split(['.', '?', '!'])
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .any(|s| !sentences.insert(s))
}

/// `text` cut back to its first copy when it is one stretch of words said over and over, the
/// last time cut short (`x x x'`, `x'` a beginning of `x`), as a looping decode writes it;
/// `None` when it is not (including text said once).
pub fn unlooped(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let keys: Vec<String> = words.iter().map(|w| key(w)).collect();
    (1..=words.len() / 2)
        .find(|&period| (period..keys.len()).all(|i| keys[i] == keys[i % period]))
        .map(|period| words[..period].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_of_non_speech_are_not_words() {
        assert_eq!(clean(" [BLANK_AUDIO]"), "");
        assert_eq!(
            clean(" (upbeat music) Hello  there. *coughs*"),
            "Hello there."
        );
        assert_eq!(
            clean(" Yes, nine o'clock works for me."),
            "Yes, nine o'clock works for me."
        );
    }

    #[test]
    fn a_transcript_that_says_something_twice_is_suspect() {
        assert!(repeats(
            "My name is Sam Rivera. Actually, wait a second. My name is Sam Rivera."
        ));
        assert!(repeats(
            "I'd like to cancel my appointment, to cancel my appointment, to cancel my"
        ));
        assert!(repeats("Yes, that's right. Yes, that's right."));
        assert!(!repeats("Yes. Yes, nine o'clock works for me."));
        assert!(!repeats(
            "I need to move my appointment to Thursday afternoon. I'd like to cancel my appointment, please."
        ));
        assert!(!repeats(""));
    }

    #[test]
    fn a_loop_is_cut_back_to_its_first_copy() {
        // As tiny.en wrote them over windows of the audio plus two seconds.
        assert_eq!(
            unlooped("Yes, that's right. Yes, that's right. Yes, that's right. Yes, that's"),
            Some("Yes, that's right.".into())
        );
        assert_eq!(
            unlooped("How much is a break inspection? How much is a break inspection? How much"),
            Some("How much is a break inspection?".into())
        );
        assert_eq!(
            unlooped("that works, that works, that works, that works, that"),
            Some("that works,".into())
        );
        assert_eq!(unlooped("Yes. Yes. Yes. Yes."), Some("Yes.".into()));
        // Case and punctuation aside.
        assert_eq!(unlooped("Okay. okay, OKAY okay"), Some("Okay.".into()));
    }

    #[test]
    fn text_said_once_or_repeated_in_part_is_not_a_loop() {
        assert_eq!(
            unlooped("Hi, I'd like to book an oil change for my Honda."),
            None
        );
        assert_eq!(unlooped("Yes."), None);
        assert_eq!(unlooped(""), None);
        // A caller starting again is not a loop: the copies differ.
        assert_eq!(
            unlooped("I'd like to book, I'd like to book an oil change."),
            None
        );
        // A sentence said again after something else is a repeat, but not of this shape.
        assert_eq!(
            unlooped("My name is Sam Rivera. Actually, wait a second. My name is Sam Rivera."),
            None
        );
    }
}
