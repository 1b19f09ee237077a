//! A bare yes or no as a phone line's recogniser mishears it. A one- or two-word answer is the
//! hardest thing to recognise: there is no sentence around it to decide between sound-alikes,
//! and the small built-in model writes "Sure." as "Share.", "Yep." as "Yet.", "Nope." as
//! "Note." (measured on synthetic callers). Right after a yes-or-no question, such a reply
//! has no other reading, so it is taken for the answer it sounds like; one word of anything
//! else in a longer reply stays what was written. Both readers of answers use it: the
//! booking gate (for any model) and the built-in agent.
//!
//! Sounds are compared by a word's consonants as spoken: "sh" one sound, silent letters and
//! vowels dropped after the first letter, and a final stop (p, t, k, b, d, g) matching any
//! other (a phone line's band cuts exactly the bursts that tell them apart).

/// Answers of at most this many words (after fillers) may be sound-alikes.
const MAX_WORDS: usize = 2;

/// Sounds that open a reply without meaning anything.
const FILLERS: &[&str] = &["uh", "um", "er", "hmm", "oh", "well"];

/// The sounds of yes: "yes", "yep"/"yup", "sure".
const YES: &[&str] = &["ys", "y.", "xr"];
/// The sounds of no: "no", "nope".
const NO: &[&str] = &["n", "n."];

/// A word's sound: its consonants as spoken, a final stop written `.`.
fn sound(word: &str) -> String {
    let w = word.to_lowercase();
    let w = w
        .strip_prefix("kn")
        .map_or(w.clone(), |rest| format!("n{rest}"));
    // "Sure" and "sugar" begin with the sound "share" does.
    let w = match w.strip_prefix("su") {
        Some(rest) if rest.starts_with('r') => format!("x{rest}"),
        _ => w,
    };
    let w = w.replace("sh", "x").replace("ch", "x").replace("ck", "k");
    let mut letters = w.chars().filter(char::is_ascii_alphabetic);
    let Some(first) = letters.next() else {
        return String::new();
    };
    let mut out = String::from(first);
    out.extend(letters.filter(|c| !"aeiouyhw".contains(*c)));
    if out.len() > 1 && out.ends_with(['p', 't', 'k', 'b', 'd', 'g']) {
        out.pop();
        out.push('.');
    }
    out
}

/// Yes or no, when `reply` is a short answer that sounds like one ("Share." → yes, "Note,
/// bye." → no); `None` for anything else. Meant for what comes right after a yes-or-no
/// question, and only once the reply's words have said nothing clearer.
pub fn yes_or_no(reply: &str) -> Option<bool> {
    let words: Vec<String> = reply
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty() && !FILLERS.contains(w))
        .map(str::to_string)
        .collect();
    let first = words.first()?;
    if words.len() > MAX_WORDS || first.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let s = sound(first);
    if YES.contains(&s.as_str()) {
        Some(true)
    } else if NO.contains(&s.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_misheard_are_read_as_they_sound() {
        // As the built-in recogniser wrote them for the agent evaluation's callers.
        for (heard, meant) in [
            ("Share.", Some(true)),
            ("Yet,", Some(true)),
            ("yet?", Some(true)),
            ("Note.", Some(false)),
            ("Note, bye.", Some(false)),
            ("Knot.", Some(false)),
            ("Shore.", Some(true)),
            ("Yes.", Some(true)),
            ("Nope", Some(false)),
            ("Um, yup.", Some(true)),
        ] {
            assert_eq!(yes_or_no(heard), meant, "{heard:?}");
        }
    }

    #[test]
    fn other_replies_are_not_guessed_at() {
        for heard in [
            "Share my screen with you please",
            "Nine.",
            "9",
            "Thursday.",
            "Shirt.",
            "Sir,",
            "Direct.",
            "",
            "Tuesday morning.",
            "You are this.",
        ] {
            assert_eq!(yes_or_no(heard), None, "{heard:?}");
        }
    }
}
