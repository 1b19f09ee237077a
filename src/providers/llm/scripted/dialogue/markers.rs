//! The agent's questions, recognised in its own last words (the dialogue keeps no state
//! between requests, so what it asked is read back from the history), and the small word
//! rules that read answers to them: an option by its place, a wish for another time, a bare
//! name.

/// A yes/no question about a change: the next "yes" carries it out.
pub const CONFIRM: &str = "Shall I";
/// The caller already has this service booked: move that one rather than book another?
pub const MOVE_INSTEAD: &str = "move that one instead";
/// Which of two or more services on the menu.
pub const WHICH_SERVICE: &str = "Did you mean";
/// Which of the caller's vehicles.
pub const WHICH_VEHICLE: &str = "Which vehicle";
/// Which of the caller's appointments.
pub const WHICH_APPOINTMENT: &str = "Which appointment";
/// The agent asked for the caller's name.
pub const ASK_NAME: &str = "May I have your name";
/// The agent offered to book what the caller asked the price of.
pub const BOOK_ONE: &str = "Would you like to book one";
/// The agent offered a callback (the desk did not answer the caller).
pub const CALLBACK: &str = "call you back";
/// The agent asked whether there is anything else.
pub const ANYTHING_ELSE: &str = "anything else I can help with";

/// The place an answer picks among options read out: 0 for "the first", `usize::MAX` for
/// "the last" (or "the latter", "the later one").
pub fn ordinal(w: &[String]) -> Option<usize> {
    w.iter().find_map(|x| match x.as_str() {
        "first" | "former" | "earlier" => Some(0),
        "second" => Some(1),
        "third" => Some(2),
        "last" | "latter" | "later" => Some(usize::MAX),
        _ => None,
    })
}

/// Whether the caller asks for another time than the one offered ("anything later?",
/// "what else do you have", "a different time").
pub fn wants_another(w: &[String]) -> bool {
    let phrase = format!(" {} ", w.join(" "));
    [
        " later ",
        " anything else ",
        " something else ",
        " another time ",
        " different time ",
        " other times ",
        " what else ",
    ]
    .iter()
    .any(|p| phrase.contains(p))
        && !phrase.contains(" talk to you later ")
}

/// A name given on its own after the agent asked for it: "It's Sam Rivera", "I'm Pat",
/// "Sam Rivera", "Sure, Jordan Lee." Up to three capitalised words, fillers dropped.
pub fn bare_name(text: &str) -> Option<String> {
    const LEAD: &[&str] = &[
        "it's", "its", "i'm", "im", "i", "am", "it", "is", "sure", "yes", "yeah", "okay", "ok",
        "um", "uh", "the", "name", "name's", "my", "this", "this's",
    ];
    let parts: Vec<&str> = text
        .split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '-'))
        .filter(|p| !p.is_empty())
        .collect();
    let start = parts
        .iter()
        .position(|p| !LEAD.contains(&p.to_lowercase().as_str()))?;
    let rest = &parts[start..];
    if rest.is_empty() || rest.len() > 3 {
        return None;
    }
    let name: Vec<String> = rest
        .iter()
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    Some(name.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::llm::scripted::understand::words;

    #[test]
    fn answers_to_the_agents_questions() {
        assert_eq!(ordinal(&words("The second one, please")), Some(1));
        assert_eq!(ordinal(&words("the last one")), Some(usize::MAX));
        assert_eq!(ordinal(&words("Tuesday")), None);
        assert!(wants_another(&words("Do you have anything later?")));
        assert!(!wants_another(&words("Talk to you later")));
        assert_eq!(bare_name("It's Sam Rivera.").as_deref(), Some("Sam Rivera"));
        assert_eq!(bare_name("um, jordan lee").as_deref(), Some("Jordan Lee"));
        assert_eq!(bare_name("I'd rather not say that right now"), None);
    }
}
