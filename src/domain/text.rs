//! Text from outside (carriers, callers, staff): what may be stored and what a log line may
//! carry of it.

/// Longest caller-supplied text a log line carries.
pub const LOG_TEXT_MAX: usize = 120;

/// Whether `s` has no control characters other than tab, newline and carriage return.
pub fn is_clean(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// `s` cut to at most [`LOG_TEXT_MAX`] characters, for a log line.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(LOG_TEXT_MAX) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_other_controls_are_refused_but_ordinary_text_is_not() {
        assert!(is_clean("CA0123 Jane O'Brien\tnotes\r\n"));
        assert!(is_clean("Zoë, café"));
        assert!(!is_clean("CA\u{0}1"));
        assert!(!is_clean("a\u{1b}[31m"));
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        let long = "é".repeat(LOG_TEXT_MAX + 5);
        assert_eq!(clip(&long).chars().count(), LOG_TEXT_MAX);
        assert_eq!(clip("short"), "short");
    }
}
