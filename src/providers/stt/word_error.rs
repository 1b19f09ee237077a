//! Word error: how far a transcript is from what was said, counted in words (substitutions,
//! insertions, deletions), the measure a recogniser is judged by. One definition for the
//! recogniser's test, its benchmark and any evaluation of calls, so their figures compare.

/// Lower-case words without punctuation (apostrophes kept, hyphens split); numbers Whisper
/// writes as digits up to twelve are spelled out, since "9 o'clock" and "nine o'clock" are the
/// same words to a caller.
pub fn words(text: &str) -> Vec<String> {
    const NUMBERS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if n < NUMBERS.len() => NUMBERS[n].to_string(),
            _ => w,
        })
        .collect()
}

/// The words a shop's calls turn on: weekdays and the words of the demo menu's services.
const SHOP_WORDS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "oil",
    "change",
    "tire",
    "rotation",
    "brake",
    "brakes",
    "inspection",
    "pad",
    "pads",
    "replacement",
    "state",
    "battery",
    "wheel",
    "alignment",
    "service",
];

/// Of the shop's words in `reference` (weekdays, service words), how many `heard` lacks,
/// and how many there were: the error a shop prompt is meant to lower.
pub fn shop_words_missed(reference: &[String], heard: &[String]) -> (usize, usize) {
    let mut unheard: Vec<&String> = heard.iter().collect();
    let (mut missed, mut total) = (0, 0);
    for w in reference
        .iter()
        .filter(|w| SHOP_WORDS.contains(&w.as_str()))
    {
        total += 1;
        match unheard.iter().position(|h| *h == w) {
            Some(i) => {
                unheard.remove(i);
            }
            None => missed += 1,
        }
    }
    (missed, total)
}

/// Word-level edit distance from `reference` to `heard`.
pub fn word_errors(reference: &[String], heard: &[String]) -> usize {
    let mut row: Vec<usize> = (0..=heard.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in heard.iter().enumerate() {
            let substitution = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[heard.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_errors_count_edits() {
        let w = |s: &str| words(s);
        assert_eq!(word_errors(&w("a b c"), &w("a b c")), 0);
        assert_eq!(word_errors(&w("a b c"), &w("a x c")), 1);
        assert_eq!(word_errors(&w("a b c"), &w("a c")), 1);
        assert_eq!(word_errors(&w("a b c"), &w("a b c d e")), 2);
        assert_eq!(
            word_errors(&w("Yes, 9 o'clock."), &w("yes nine o'clock")),
            0
        );
    }
}
