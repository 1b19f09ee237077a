//! What a caller's sentence says, for the scripted agent: the request (book, move, cancel,
//! hours, price, a person, goodbye) and yes or no, judged by meaning ([`Classifier`]) when
//! the sentence encoder is loaded, else by keywords; and the details parsed from the words: a
//! day and part of day (a correction such as "Thursday, not Tuesday" keeps the day that is
//! not denied), an hour, a name, and which menu service is meant.

use callbridge_core::calendar_words::WEEKDAYS;

use super::classify::Classifier;

/// What the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    /// A new appointment.
    Book,
    /// Move an appointment.
    Reschedule,
    /// Cancel one.
    Cancel,
    /// Opening hours.
    Hours,
    /// What something costs.
    Price,
    /// Whether their vehicle in the shop is ready.
    Status,
    /// A person.
    Human,
    /// Done.
    Goodbye,
}

/// The meaning of one sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Understood {
    /// The request, if the sentence makes one.
    pub intent: Option<Intent>,
    /// Yes (`Some(true)`) or no (`Some(false)`).
    pub answer: Option<bool>,
    /// A day as the booking tools take it: a weekday, today, tomorrow.
    pub day: Option<String>,
    /// morning, afternoon or evening.
    pub part_of_day: Option<&'static str>,
    /// "My name is ...".
    pub name: Option<String>,
    /// An hour of the day the caller named ("nine o'clock", "at 2" = 14), 0-23.
    pub hour: Option<u32>,
}

/// Lower-case words without punctuation (apostrophes kept: "i'd", "that's").
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn has(w: &[String], any: &[&str]) -> bool {
    w.iter().any(|x| any.contains(&x.as_str()))
}

/// Reads one caller sentence, with `classifier` when there is one.
pub fn understand(text: &str, classifier: Option<&Classifier>) -> Understood {
    let w = words(text);
    let (intent, answer) = match classifier {
        Some(c) => {
            let m = c.meaning(text);
            (m.intent, m.answer)
        }
        None => keyword_meaning(&w),
    };
    Understood {
        intent,
        answer,
        day: day(&w),
        part_of_day: ["morning", "afternoon", "evening"]
            .into_iter()
            .find(|p| w.iter().any(|x| x.strip_suffix('s').unwrap_or(x) == *p)),
        name: name(text),
        hour: hour(&w),
    }
}

/// The request and the answer by single words, for when the sentence encoder is not
/// fetched: a word decides whatever the sentence around it says ("thanks so much" asks a
/// price), which is why the classifier is preferred.
pub fn keyword_meaning(w: &[String]) -> (Option<Intent>, Option<bool>) {
    let phrase = w.join(" ");
    let intent = if has(w, &["cancel", "cancellation"]) {
        Some(Intent::Cancel)
    } else if has(w, &["move", "reschedule", "change", "push"])
        && has(w, &["appointment", "booking", "it", "my"])
        && !phrase.contains("oil change")
    {
        Some(Intent::Reschedule)
    } else if has(
        w,
        &[
            "person",
            "human",
            "someone",
            "representative",
            "agent",
            "operator",
        ],
    ) {
        Some(Intent::Human)
    } else if has(w, &["price", "cost", "costs", "much", "charge"]) {
        Some(Intent::Price)
    } else if has(w, &["open", "opening", "hours", "close", "closing"]) {
        Some(Intent::Hours)
    } else if has(
        w,
        &[
            "book",
            "schedule",
            "appointment",
            "bring",
            "need",
            "like",
            "want",
        ],
    ) && !has(w, &["no", "not"])
    {
        Some(Intent::Book)
    } else if has(w, &["ready", "pickup", "status", "done", "finished"])
        && has(w, &["car", "truck", "vehicle", "van", "it", "my"])
    {
        Some(Intent::Status)
    } else if has(w, &["bye", "goodbye"]) || phrase.contains("that's all") {
        Some(Intent::Goodbye)
    } else {
        None
    };
    let answer = if has(
        w,
        &[
            "yes", "yeah", "yep", "sure", "correct", "right", "ok", "okay", "perfect", "great",
            "works",
        ],
    ) && !has(w, &["no", "not", "don't", "doesn't"])
    {
        Some(true)
    } else if has(w, &["no", "nope", "not", "don't", "doesn't", "wrong"]) {
        Some(false)
    } else {
        callbridge_core::misheard_answers::yes_or_no(&phrase)
    };
    (intent, answer)
}

/// An hour of the day, 0-23: "nine o'clock", "9:30", "2 p.m.", "at 7" (a clock hour is a
/// number followed by o'clock, minutes, am or pm, or after "at", "around" or "by"). AM or PM
/// as said ("pm", "in the evening"), else as a shop's day runs: 7 to 11 in the morning, 12
/// to 6 in the afternoon.
fn hour(w: &[String]) -> Option<u32> {
    const NUMBERS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    let value = |x: &str| -> Option<u32> {
        let digits = x.trim_end_matches("am").trim_end_matches("pm");
        digits
            .parse::<u32>()
            .ok()
            .or_else(|| {
                NUMBERS
                    .iter()
                    .position(|n| *n == digits)
                    .map(|i| i as u32 + 1)
            })
            .filter(|h| (1..=12).contains(h))
    };
    let (i, h) = w.iter().enumerate().find_map(|(i, x)| {
        let h = value(x)?;
        let next = w.get(i + 1).map(String::as_str);
        let before = i.checked_sub(1).map(|j| w[j].as_str());
        let minutes = next.is_some_and(|n| n.len() == 2 && n.parse::<u32>().is_ok_and(|m| m < 60));
        let clock = matches!(
            next,
            Some("o'clock" | "am" | "pm" | "a" | "p" | "thirty" | "fifteen" | "forty")
        ) || minutes
            || matches!(before, Some("at" | "around" | "by"))
            || x.ends_with("am")
            || x.ends_with("pm");
        clock.then_some((i, h))
    })?;
    let after: Vec<&str> = w[i..].iter().take(4).map(String::as_str).collect();
    let said = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    let pm = w[i].ends_with("pm")
        || after.iter().skip(1).any(|x| matches!(*x, "pm" | "p"))
        || said(&["afternoon", "evening", "tonight"]);
    let am = w[i].ends_with("am")
        || after.iter().skip(1).any(|x| matches!(*x, "am" | "a"))
        || said(&["morning"]);
    Some(match (pm, am) {
        (true, _) if h < 12 => h + 12,
        (_, true) if h == 12 => 0,
        (false, false) if h <= 6 => h + 12,
        _ => h,
    })
}

/// The last day mentioned that is not denied ("not Tuesday").
fn day(w: &[String]) -> Option<String> {
    let mut found = None;
    for (i, x) in w.iter().enumerate() {
        let denied = i > 0 && w[i - 1] == "not";
        let is_day = WEEKDAYS.contains(&x.as_str()) || x == "today" || x == "tomorrow";
        if is_day && !denied {
            found = Some(x.clone());
        }
    }
    found.or_else(|| soonest(w).then(|| SOONEST.to_string()))
}

/// The day a caller asks for with "as soon as possible", "the earliest you have",
/// "whenever": the first free slot from today on.
pub const SOONEST: &str = "soonest";

/// Whether the words ask for the first day free rather than name one ("as soon as possible";
/// "if possible" alone, as in "this week if possible"; "so as is possible", as the recogniser
/// writes the first).
fn soonest(w: &[String]) -> bool {
    let phrase = format!(" {} ", w.join(" "));
    ["soonest", "earliest", "asap", "whenever", "anytime"]
        .iter()
        .any(|x| w.iter().any(|y| y == x))
        || [
            " as soon ",
            " first available ",
            " any day ",
            " any time ",
            " as possible ",
            " is possible ",
            " if possible ",
        ]
        .iter()
        .any(|p| phrase.contains(p))
}

/// "my name is Sam Rivera", "this is Sam", "it's Sam Rivera".
fn name(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = ["my name is ", "this is ", "name's "]
        .iter()
        .find_map(|p| lower.find(p).map(|i| i + p.len()))?;
    let rest: Vec<&str> = text[at..]
        .split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '-' || c == ' '))
        .next()?
        .split_whitespace()
        .take(3)
        .collect();
    let name = rest
        .iter()
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// A word as a service name spells it: singular, and the car word where a recogniser wrote
/// its homophone or the other spelling (it cannot hear "brake" from "break").
fn service_word(word: String) -> String {
    let singular = word.trim_end_matches('s');
    match singular {
        "break" => "brake",
        "tyre" => "tire",
        other => other,
    }
    .to_string()
}

/// The menu service the sentence names: the one most of whose words it says (plurals and
/// homophones count); `Err` with the candidates when two fit equally and neither fully.
pub fn service<'a>(text: &str, menu: &'a [String]) -> Result<Option<&'a String>, Vec<&'a String>> {
    let said: Vec<String> = words(text).into_iter().map(service_word).collect();
    let mut best: Vec<(&String, usize, usize)> = Vec::new();
    for item in menu {
        let name: Vec<String> = words(item).into_iter().map(service_word).collect();
        let hits = name.iter().filter(|n| said.contains(n)).count();
        if hits > 0 {
            best.push((item, hits, name.len()));
        }
    }
    let Some(top) = best.iter().map(|(_, h, _)| *h).max() else {
        return Ok(None);
    };
    let leaders: Vec<&(&String, usize, usize)> =
        best.iter().filter(|(_, h, _)| *h == top).collect();
    if let [one] = leaders.as_slice() {
        return Ok(Some(one.0));
    }
    // Several equally good: one named in full wins, else ask which.
    let full: Vec<&&(&String, usize, usize)> = leaders.iter().filter(|(_, h, n)| h == n).collect();
    match full.as_slice() {
        [one] => Ok(Some(one.0)),
        _ => Err(leaders.iter().map(|(s, _, _)| *s).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Vec<String> {
        [
            "Oil change",
            "Tire rotation",
            "Brake inspection",
            "Brake pad replacement",
            "State inspection",
            "Wheel alignment",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn requests_are_told_apart() {
        let cases = [
            (
                "Hi, I'd like to book an oil change for my Honda.",
                Some(Intent::Book),
            ),
            (
                "I need to move my appointment to Thursday afternoon.",
                Some(Intent::Reschedule),
            ),
            (
                "I'd like to cancel my appointment, please.",
                Some(Intent::Cancel),
            ),
            ("What time do you open on Saturday?", Some(Intent::Hours)),
            ("How much is a brake inspection?", Some(Intent::Price)),
            ("Can I talk to a person?", Some(Intent::Human)),
            ("That's all, thank you. Goodbye.", Some(Intent::Goodbye)),
            ("Tuesday morning would be great.", None),
        ];
        for (text, want) in cases {
            assert_eq!(understand(text, None).intent, want, "{text}");
        }
    }

    #[test]
    fn days_parts_answers_and_names() {
        let u = understand("Tuesday morning would be great.", None);
        assert_eq!(
            (u.day.as_deref(), u.part_of_day, u.answer),
            (Some("tuesday"), Some("morning"), Some(true))
        );
        let u = understand("No, Thursday, not Tuesday.", None);
        assert_eq!(
            (u.day.as_deref(), u.answer),
            (Some("thursday"), Some(false))
        );
        assert_eq!(understand("Yes, that's right.", None).answer, Some(true));
        assert_eq!(
            understand("My name is sam rivera.", None).name.as_deref(),
            Some("Sam Rivera")
        );
        assert_eq!(
            understand("tomorrow afternoon", None).day.as_deref(),
            Some("tomorrow")
        );
        assert_eq!(
            understand("Yes, nine o'clock works for me.", None).hour,
            Some(9)
        );
        assert_eq!(understand("Could I come in at 2?", None).hour, Some(14));
        assert_eq!(understand("Around 7 p.m.", None).hour, Some(19));
        assert_eq!(understand("9:30 would be good", None).hour, Some(9));
        assert_eq!(understand("at eleven in the morning", None).hour, Some(11));
        assert_eq!(understand("I have two cars.", None).hour, None);
    }

    #[test]
    fn the_menu_item_meant_is_found_or_the_choice_asked() {
        let m = menu();
        let pick = |t: &str| service(t, &m).map(|s| s.cloned()).map_err(|c| c.len());
        assert_eq!(
            pick("an oil change for my Honda"),
            Ok(Some("Oil change".into()))
        );
        assert_eq!(
            pick("new brake pads"),
            Ok(Some("Brake pad replacement".into()))
        );
        assert_eq!(pick("my tires rotated"), Ok(Some("Tire rotation".into())));
        assert_eq!(pick("my brakes"), Err(2));
        // As a recogniser writes what it heard.
        assert_eq!(
            pick("How much is a break inspection?"),
            Ok(Some("Brake inspection".into()))
        );
        assert_eq!(pick("my tyres rotated"), Ok(Some("Tire rotation".into())));
        assert_eq!(pick("tuesday morning"), Ok(None));
    }
}
