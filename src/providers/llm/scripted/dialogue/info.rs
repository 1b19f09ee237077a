//! Hours and prices: the hours of the day asked about (today and tomorrow by the date in the
//! prompt, a weekend as its two days, the whole week only when no day was named), with any
//! closure falling on it; the price and duration of the service named; where the caller's
//! vehicles in the shop stand.

use serde_json::{Value, json};

use super::super::understand::words;
use super::state::State;
use super::{Step, call, say};
use callbridge_core::calendar_words::WEEKDAYS;

/// The weekday after `day` (lower case).
pub(super) fn next_day(day: &str) -> Option<&'static str> {
    let i = WEEKDAYS.iter().position(|d| *d == day)?;
    Some(WEEKDAYS[(i + 1) % 7])
}

/// The weekdays (lower case) `text` asks about.
pub(super) fn days_asked(text: &str, today: Option<&str>) -> Vec<String> {
    let mut days = Vec::new();
    for w in words(text) {
        let day = w.trim_end_matches('s');
        let found: Vec<String> = match day {
            "today" | "tonight" => today.map(str::to_string).into_iter().collect(),
            "tomorrow" => today
                .and_then(next_day)
                .map(str::to_string)
                .into_iter()
                .collect(),
            "weekend" => vec!["saturday".into(), "sunday".into()],
            d if WEEKDAYS.contains(&d) => vec![d.to_string()],
            _ => Vec::new(),
        };
        for d in found {
            if !days.contains(&d) {
                days.push(d);
            }
        }
    }
    days
}

/// One day's line: "on Saturday we are open from 8:00 AM to 2:00 PM", "we are closed on
/// Sunday".
pub(super) fn day_line(d: &Value) -> String {
    let day = d["day"].as_str().unwrap_or_default();
    match d["closed"].as_bool() {
        Some(true) => format!("we are closed on {day}"),
        _ => format!(
            "on {day} we are open from {} to {}",
            d["opens"].as_str().unwrap_or_default(),
            d["closes"].as_str().unwrap_or_default()
        ),
    }
}

/// The hours entry of `day` (lower case) in `business_info`'s answer.
pub(super) fn hours_of<'a>(info: &'a Value, day: &str) -> Option<&'a Value> {
    info["hours"].as_array()?.iter().find(|d| {
        d["day"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(day))
    })
}

/// Closures (holidays) falling on one of `days`, as "we are closed on Thursday, November 26
/// (Thanksgiving)".
fn closure_lines(info: &Value, days: &[String]) -> Vec<String> {
    info["closures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let spoken = c["spoken"].as_str()?;
            let weekday = words(spoken).into_iter().next()?;
            days.contains(&weekday).then(|| {
                let reason = c["reason"]
                    .as_str()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                format!("we are closed on {spoken}{reason}")
            })
        })
        .collect()
}

pub(super) fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn hours(s: &State) -> Step {
    let Some(info) = &s.hours else {
        return call("business_info", json!({}));
    };
    let asked = days_asked(&s.last_user, s.today.as_deref());
    let all: Vec<Value> = info["hours"].as_array().cloned().unwrap_or_default();
    let mut lines: Vec<String> = if asked.is_empty() {
        all.iter().map(day_line).collect()
    } else {
        asked
            .iter()
            .filter_map(|d| hours_of(info, d))
            .map(day_line)
            .collect()
    };
    lines.extend(closure_lines(info, &asked));
    say(format!(
        "{}. Is there {}?",
        capitalised(&lines.join("; ")),
        super::markers::ANYTHING_ELSE
    ))
}

pub(super) fn price(s: &State) -> Step {
    if s.menu.is_none() {
        return call("list_services", json!({}));
    }
    match s.service() {
        Ok(Some(name)) => {
            let item = s
                .menu
                .iter()
                .flatten()
                .find(|m| m["name"] == name.as_str())
                .cloned()
                .unwrap_or(Value::Null);
            say(format!(
                "{} is {} and takes about {} minutes. {}?",
                capitalised(&super::booking::with_article(&name.to_lowercase())),
                item["price"].as_str().unwrap_or("priced at the desk"),
                item["duration_minutes"],
                super::markers::BOOK_ONE
            ))
        }
        Ok(None) => say("Which service would you like a price for?"),
        Err(options) => say(format!(
            "{} {}?",
            super::markers::WHICH_SERVICE,
            options.join(" or ")
        )),
    }
}

/// "Is my car ready?": each of the caller's vehicles in the shop and where it stands, with the
/// desk's note; a caller the CRM does not know is handed to the desk, who can look them up.
pub(super) fn status(s: &State) -> Step {
    let Some(customer) = s.known_customer() else {
        return super::transfer(
            Some(
                "I can't find your record from this phone number. Let me connect you with our service desk; they can check on your vehicle.",
            ),
            "cannot_help",
        );
    };
    let Some(in_shop) = &s.in_shop else {
        return call(
            "vehicle_status",
            json!({"customer_id": customer["customer"]["id"]}),
        );
    };
    let anything_else = super::markers::ANYTHING_ELSE;
    if in_shop.is_empty() {
        return say(format!(
            "I don't see any of your vehicles in the shop right now. Is there {anything_else}?"
        ));
    }
    let lines: Vec<String> = in_shop
        .iter()
        .map(|o| {
            let note = o["note"]
                .as_str()
                .map(|n| format!(" The desk notes: {}.", n.trim_end_matches('.')))
                .unwrap_or_default();
            format!(
                "Your {} is {}.{note}",
                o["vehicle"].as_str().unwrap_or("vehicle"),
                o["spoken"].as_str().unwrap_or("in the shop")
            )
        })
        .collect();
    say(format!("{} Is there {anything_else}?", lines.join(" ")))
}
