//! Word evidence that sharpens the meaning-based judgement ([`super::classify`]): the words
//! and phrases that name a request outright ("reschedule", "how much", "call off") add to
//! that request's score rather than decide it, so the sentence around them still counts;
//! and the closed class of yes and no words ("yeah", "nope", "that works", "not") answers a
//! question before any similarity is consulted, since sentence vectors hear "that works"
//! and "that doesn't work" as near neighbours.

use super::understand::{Intent, words};

/// Phrases that name a request; a trailing `*` matches any ending ("reschedul*").
const CUES: &[(Intent, &[&str])] = &[
    (Intent::Cancel, &["cancel*", "call off", "scrap"]),
    (
        Intent::Status,
        &[
            "ready for pickup",
            "ready to pick up",
            "ready yet",
            "is it ready",
            "done yet",
            "finished yet",
            "status",
            "how's my car",
            "how is my car",
        ],
    ),
    (
        Intent::Reschedule,
        &[
            "reschedul*",
            "move",
            "push",
            "bump",
            "switch",
            "instead",
            "rebook*",
            "different day",
            "different time",
            "change the time",
            "change the day",
            "change my appointment",
            "shift",
        ],
    ),
    (
        Intent::Price,
        &[
            "how much",
            "cost*",
            "price*",
            "charge",
            "quote",
            "expensive",
            "pricey",
            "rate",
            "run me",
        ],
    ),
    (
        Intent::Hours,
        &[
            "hours",
            "opening",
            "open",
            "opens",
            "close",
            "closes",
            "closed",
            "shut",
            "how late",
            "how early",
            "what time do you",
        ],
    ),
    (
        Intent::Human,
        &[
            "person",
            "human",
            "someone",
            "somebody",
            "advisor",
            "representative",
            "operator",
            "manager",
            "mechanic",
        ],
    ),
    (
        Intent::Goodbye,
        &[
            "bye",
            "goodbye",
            "good night",
            "take care",
            "take it easy",
            "have a good",
            "have a nice",
            "have a great",
            "talk soon",
            "talk later",
        ],
    ),
    (
        Intent::Book,
        &[
            "book*",
            "schedule",
            "appointment",
            "availab*",
            "openings",
            "anything open",
            "anything free",
            "anything available",
            "times left",
            "time left",
            "fit me in",
            "get in",
            "get me in",
            "reserve*",
            "spot",
            "bring",
            "come in",
            "drop off",
            "slot",
            "slots",
        ],
    ),
];

fn matches_at(w: &[String], at: usize, phrase: &str) -> bool {
    let parts: Vec<&str> = phrase.split(' ').collect();
    parts.len() <= w.len() - at
        && parts
            .iter()
            .zip(&w[at..])
            .all(|(p, x)| match p.strip_suffix('*') {
                Some(stem) => x.starts_with(stem),
                None => x == p,
            })
}

fn contains(w: &[String], phrase: &str) -> bool {
    (0..w.len()).any(|i| matches_at(w, i, phrase))
}

/// The requests `text` names outright. "Open" asks for hours unless it is "anything open"
/// or an open slot, which ask for a booking. A sentence ending in "by" ends in "bye" (as
/// recognisers write it: "thanks, by").
pub fn requests_named(text: &str) -> Vec<Intent> {
    let mut w = words(text);
    if let Some(last) = w.last_mut()
        && last == "by"
    {
        *last = "bye".into();
    }
    CUES.iter()
        .filter(|(intent, phrases)| {
            phrases.iter().any(|p| {
                if *intent == Intent::Hours && *p == "open" {
                    return (0..w.len()).any(|i| {
                        matches_at(&w, i, "open")
                            && !(i > 0 && matches!(w[i - 1].as_str(), "anything" | "something"))
                            && !w
                                .get(i + 1)
                                .is_some_and(|n| n.starts_with("slot") || n.starts_with("spot"))
                    });
                }
                contains(&w, p)
            })
        })
        .map(|(intent, _)| *intent)
        .collect()
}

/// Words that agree when a clause starts with them (after fillers).
const YES_FIRST: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "alright",
    "all right",
    "correct",
    "right",
    "perfect",
    "absolutely",
    "definitely",
    "mm-hmm",
    "mm hmm",
    "uh-huh",
    "uh huh",
    "of course",
    "exactly",
    "great",
    "fine",
    "lovely",
    "works",
    "that one",
    "let's do",
    "let's go with",
];
/// Phrases that agree wherever they are.
const YES_ANYWHERE: &[&str] = &[
    "works",
    "that works",
    "it works",
    "this works",
    "that's fine",
    "is fine",
    "is good",
    "is perfect",
    "that's good",
    "that's perfect",
    "that's great",
    "sounds good",
    "sounds great",
    "sounds perfect",
    "sounds fine",
    "go ahead",
    "please do",
    "book it",
    "i'll take it",
    "let's do it",
    "let's do that",
];
/// Words that refuse or negate.
const NO: &[&str] = &["no", "nope", "nah", "negative", "not", "wrong"];
/// Sounds that begin a clause without meaning anything.
const FILLERS: &[&str] = &["uh", "um", "hmm", "well", "oh", "so"];

/// Yes or no as the clause's words say it, if they do: a negation anywhere refuses ("I'm
/// not sure that works, no"), except in "no problem" and its like.
pub fn answer_said(clause: &str) -> Option<bool> {
    let w = words(clause);
    let start = w
        .iter()
        .position(|x| !FILLERS.contains(&x.as_str()))
        .unwrap_or(w.len());
    let w = &w[start..];
    if ["no problem", "no worries"].iter().any(|p| contains(w, p)) {
        return Some(true);
    }
    if w.iter()
        .any(|x| NO.contains(&x.as_str()) || x.ends_with("n't"))
    {
        return Some(false);
    }
    (YES_ANYWHERE.iter().any(|p| contains(w, p)) || YES_FIRST.iter().any(|p| matches_at(w, 0, p)))
        .then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_requests() {
        assert_eq!(requests_named("Can I reschedule?"), [Intent::Reschedule]);
        assert_eq!(requests_named("Thanks so much"), []);
        assert_eq!(requests_named("How much is it"), [Intent::Price]);
        assert_eq!(requests_named("Anything open Friday?"), [Intent::Book]);
        assert_eq!(requests_named("Are you open Friday?"), [Intent::Hours]);
        assert_eq!(requests_named("That's all, by"), [Intent::Goodbye]);
    }

    #[test]
    fn yes_and_no_words() {
        assert_eq!(answer_said("Um, yeah"), Some(true));
        assert_eq!(answer_said("That works for me"), Some(true));
        assert_eq!(answer_said("That one works"), Some(true));
        assert_eq!(answer_said("That doesn't work"), Some(false));
        assert_eq!(answer_said("I'm not sure that works, no"), Some(false));
        assert_eq!(answer_said("No problem"), Some(true));
        assert_eq!(answer_said("No, don't book it"), Some(false));
        assert_eq!(answer_said("Tuesday"), None);
        assert_eq!(answer_said("Sheriff Mani is fine."), Some(true));
        assert_eq!(answer_said("Right"), Some(true));
        assert_eq!(answer_said("On the right side"), None);
    }
}
