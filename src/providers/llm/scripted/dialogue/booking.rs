//! Booking, moving and cancelling: each asks what is missing (service, vehicle, day, which
//! appointment), searches, offers a slot read back in full (explaining a closed day, an hour
//! not free, or that nothing else is), and calls the tool only after the caller's yes to that
//! read-back. A booking of a service the caller already has booked is offered as a move.

use serde_json::{Value, json};

use super::info::{day_line, hours_of, next_day};
use super::markers::{CONFIRM, MOVE_INSTEAD, WHICH_APPOINTMENT, WHICH_VEHICLE};
use super::state::{State, spoken_hour};
use super::{Step, call, say, transfer};
use crate::providers::llm::scripted::understand::{SOONEST, words};

const ANYTHING_ELSE: &str = super::markers::ANYTHING_ELSE;

fn lower(v: &Value, field: &str, default: &str) -> String {
    v[field].as_str().unwrap_or(default).to_lowercase()
}

/// "an oil change", "a tire rotation".
pub(super) fn with_article(thing: &str) -> String {
    let vowel = thing.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {thing}", if vowel { "an" } else { "a" })
}

/// "the Honda Accord" for a vehicle described "2019 Honda Accord".
fn vehicle_name(v: &Value) -> String {
    let d = v["description"].as_str().unwrap_or_default();
    let without_year = d.split_once(' ').map_or(d, |(_, rest)| rest);
    format!("the {without_year}")
}

/// "your oil change on Monday, November 23 at 8:00 AM".
fn appointment_name(a: &Value) -> String {
    format!(
        "your {} on {}",
        lower(a, "service", "appointment"),
        a["spoken"].as_str().unwrap_or_default()
    )
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The weekday (lower case) the caller asked for, resolving today and tomorrow.
fn weekday_asked(s: &State, day: &str) -> Option<String> {
    match day {
        SOONEST => None,
        "today" => s.today.clone(),
        "tomorrow" => s.today.as_deref().and_then(next_day).map(str::to_string),
        d => Some(d.to_string()),
    }
}

/// Why the first slot found is not on the day asked, said before it is offered; `Err` with
/// the step that gets the shop's hours when they are needed to say it.
fn why_not_that_day(s: &State, day: &str, first: &Value) -> Result<String, Step> {
    let Some(weekday) = weekday_asked(s, day) else {
        return Ok(String::new());
    };
    let first_day = words(first["spoken"].as_str().unwrap_or_default())
        .into_iter()
        .next()
        .unwrap_or_default();
    if first_day == weekday {
        return Ok(String::new());
    }
    let (_, _, closed) = s.slots.as_ref().expect("searched");
    if let Some(c) = closed.iter().find(|c| {
        c["spoken"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().starts_with(&weekday))
    }) {
        let reason = c["reason"]
            .as_str()
            .map(|r| format!(" for {r}"))
            .unwrap_or_default();
        return Ok(format!(
            "We're closed on {}{reason}. ",
            c["spoken"].as_str().unwrap_or_default()
        ));
    }
    let Some(info) = &s.hours else {
        return Err(call("business_info", json!({})));
    };
    let day_name = hours_of(info, &weekday)
        .and_then(|d| d["day"].as_str())
        .map_or_else(|| super::info::capitalised(&weekday), str::to_string);
    Ok(match hours_of(info, &weekday) {
        Some(d) if d["closed"] == true => format!("We're closed on {day_name}s. "),
        _ => format!(
            "Nothing is free on {day_name}{}. ",
            s.part.map(|p| format!(" {p}")).unwrap_or_default()
        ),
    })
}

/// Why the hour the caller named is not offered: not free, or outside the day's hours.
fn why_not_that_hour(s: &State, slot: &Value) -> String {
    let Some(h) = s.hour else {
        return String::new();
    };
    let spoken = slot["spoken"].as_str().unwrap_or_default();
    if spoken_hour(spoken) == Some(h) {
        return String::new();
    }
    let weekday = words(spoken).into_iter().next().unwrap_or_default();
    let hours = s
        .hours
        .as_ref()
        .and_then(|info| hours_of(info, &weekday))
        .filter(|d| d["closed"] != true)
        .map(|d| format!(" ({})", day_line(d)))
        .unwrap_or_default();
    let clock = match h {
        0 => "12 AM".to_string(),
        12 => "12 PM".to_string(),
        h if h > 12 => format!("{} PM", h - 12),
        h => format!("{h} AM"),
    };
    format!("I don't have {clock} free{hours}. ")
}

/// The slot to offer for `service` on `day` with what to say before it, or the step that
/// gets there (a search, the shop's hours, telling the caller nothing is free).
fn offer(s: &State, service: &Value, day: &str) -> Result<(Value, String), Step> {
    let Some((slots, _, _)) = &s.slots else {
        // "This Sunday", said on a Sunday, is today.
        // "As soon as possible" searches from today on.
        let date = if s.today.as_deref() == Some(day) || day == SOONEST {
            "today"
        } else {
            day
        };
        let mut args = json!({"service": service, "date": date});
        if let Some(p) = s.part {
            args["part_of_day"] = json!(p);
        }
        return Err(call("find_available_slots", args));
    };
    let Some((index, slot)) = s.slot() else {
        return Err(if slots.is_empty() {
            say("I'm sorry, nothing is free that week. Would another day work?")
        } else {
            say("I'm sorry, that's all I have free then. Would another day work?")
        });
    };
    let mut preface = String::new();
    if s.offered.is_none() || index == 0 {
        preface += &why_not_that_day(s, day, &slots[0])?;
    }
    if s.offered.is_none() {
        let hour_not_free = s
            .hour
            .is_some_and(|h| slot["spoken"].as_str().and_then(spoken_hour) != Some(h));
        if hour_not_free && s.hours.is_none() {
            // The day's hours say why (closed by then, or just taken).
            return Err(call("business_info", json!({})));
        }
        preface += &why_not_that_hour(s, &slot);
    }
    Ok((slot, preface))
}

pub(super) fn book(s: &State) -> Step {
    let Some(customer) = s.known_customer() else {
        return match &s.name {
            Some(name) => call("create_customer", json!({"name": name})),
            None => say(format!(
                "I don't have this number on file yet. {}, please?",
                super::markers::ASK_NAME
            )),
        };
    };
    if let Some((_, v)) = &s.done {
        let a = &v["appointment"];
        return say(format!(
            "You're all set: your {} is booked for {}. Is there {ANYTHING_ELSE}?",
            lower(a, "service", "appointment"),
            a["spoken"].as_str().unwrap_or_default()
        ));
    }
    if s.menu.is_none() {
        return call("list_services", json!({}));
    }
    let service = match s.service() {
        Ok(Some(name)) => name,
        Ok(None) => return ask_service(s),
        Err(options) => {
            return say(format!(
                "{} {}?",
                super::markers::WHICH_SERVICE,
                options.join(" or ")
            ));
        }
    };
    if s.move_instead.is_none()
        && let Some(a) = s
            .appointments()
            .into_iter()
            .find(|a| a["service"].as_str() == Some(service.as_str()))
    {
        return say(format!(
            "You already have {} booked for {}. Would you like to {MOVE_INSTEAD}?",
            with_article(&lower(&a, "service", "appointment")),
            a["spoken"].as_str().unwrap_or_default()
        ));
    }
    let vehicle = match s.vehicle() {
        Ok(v) => v,
        Err(all) => {
            let names: Vec<String> = all.iter().map(vehicle_name).collect();
            return say(format!("{WHICH_VEHICLE} is this for: {}?", or_list(&names)));
        }
    };
    let Some(day) = &s.day else {
        let part = match s.part {
            Some(_) => "",
            None => ", and do you prefer morning or afternoon",
        };
        return say(format!(
            "What day would suit you for the {}{part}?",
            service.to_lowercase()
        ));
    };
    let (slot, preface) = match offer(s, &json!(service), day) {
        Ok(offer) => offer,
        Err(step) => return step,
    };
    let for_vehicle = match (&vehicle, s.vehicles().len()) {
        (Some(v), n) if n > 1 => format!(" for {}", vehicle_name(v)),
        _ => String::new(),
    };
    match s.answer {
        Some(true) => {
            let mut args = json!({
                "customer_id": customer["customer"]["id"],
                "service": service,
                "start": slot["start"],
            });
            if let Some(v) = vehicle {
                args["vehicle_id"] = v["id"].clone();
            }
            call("book_appointment", args)
        }
        _ => say(format!(
            "{preface}I can book your {}{for_vehicle} for {}. {CONFIRM} book it?",
            service.to_lowercase(),
            slot["spoken"].as_str().unwrap_or_default()
        )),
    }
}

fn ask_service(s: &State) -> Step {
    let names = s.menu_names();
    let some: Vec<String> = names.iter().take(4).map(|n| n.to_lowercase()).collect();
    say(format!(
        "Which service would you like? For example {}.",
        some.join(", ")
    ))
}

/// The appointment meant, or the step that asks which or says there is none.
fn appointment(s: &State) -> Result<Value, Step> {
    if s.known_customer().is_none() {
        return Err(transfer(
            Some(
                "I can't find an appointment for this phone number. Let me connect you with our service desk.",
            ),
            "cannot_help",
        ));
    }
    match s.appointment() {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(say(format!(
            "I don't see any upcoming appointments for you. Would you like to book one? Or is \
             there {ANYTHING_ELSE}?"
        ))),
        Err(all) => {
            let names: Vec<String> = all.iter().map(appointment_name).collect();
            Err(say(format!(
                "{WHICH_APPOINTMENT} do you mean: {}?",
                or_list(&names)
            )))
        }
    }
}

pub(super) fn reschedule(s: &State) -> Step {
    if let Some((_, v)) = &s.done {
        return say(format!(
            "Done: your appointment is now on {}. Is there {ANYTHING_ELSE}?",
            v["appointment"]["spoken"].as_str().unwrap_or_default()
        ));
    }
    let appt = match appointment(s) {
        Ok(a) => a,
        Err(step) => return step,
    };
    let customer = s.known_customer().cloned().unwrap_or_default();
    let Some(day) = &s.day else {
        return say(format!(
            "Your {} is on {}. What day would you like to move it to?",
            lower(&appt, "service", "appointment"),
            appt["spoken"].as_str().unwrap_or_default()
        ));
    };
    let (slot, preface) = match offer(s, &appt["service"], day) {
        Ok(offer) => offer,
        Err(step) => return step,
    };
    match s.answer {
        Some(true) => call(
            "reschedule_appointment",
            json!({"customer_id": customer["customer"]["id"], "appointment_id": appt["id"], "new_start": slot["start"]}),
        ),
        _ => say(format!(
            "{preface}I can move your {} from {} to {}. {CONFIRM} do that?",
            lower(&appt, "service", "appointment"),
            appt["spoken"].as_str().unwrap_or_default(),
            slot["spoken"].as_str().unwrap_or_default()
        )),
    }
}

pub(super) fn cancel(s: &State) -> Step {
    if s.done.is_some() {
        return say(format!("It's cancelled. Is there {ANYTHING_ELSE}?"));
    }
    let appt = match appointment(s) {
        Ok(a) => a,
        Err(step) => return step,
    };
    let customer = s.known_customer().cloned().unwrap_or_default();
    match s.answer {
        Some(true) => call(
            "cancel_appointment",
            json!({"customer_id": customer["customer"]["id"], "appointment_id": appt["id"]}),
        ),
        Some(false) => say(format!(
            "All right, I've left it as it is. Is there {ANYTHING_ELSE}?"
        )),
        None => say(format!(
            "You have {} on {}. {CONFIRM} cancel it?",
            with_article(&lower(&appt, "service", "appointment")),
            appt["spoken"].as_str().unwrap_or_default()
        )),
    }
}
