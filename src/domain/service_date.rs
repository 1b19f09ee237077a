//! The day a caller wants their car seen, from what they (or the LLM) said.
//!
//! Relative words are resolved against `today`, which the caller passes in (this module never
//! reads the clock). A bare weekday, "this Thursday" and "next Thursday" all mean the first
//! such day after today: the agent reads the full date back for the caller to confirm, which
//! settles the ambiguity of "next" better than any rule.

use std::fmt;

use callbridge_core::calendar_words::MONTHS;
use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// How far ahead a booking may be made.
pub const MAX_DAYS_AHEAD: i64 = 365;

/// A calendar day from today to a year ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceDate(NaiveDate);

/// Why a date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not a form this parser knows.
    #[error(
        "could not understand the date {0:?}; use a form like 2026-11-24, 11/24, November 24, Thursday or tomorrow"
    )]
    Unrecognised(String),
    /// A day that does not exist.
    #[error("{0:?} is not a real date; ask the caller which day they meant")]
    NoSuchDay(String),
    /// Before today.
    #[error("{date} has already passed (today is {today}); ask the caller for a future day")]
    InPast {
        /// The date asked for.
        date: NaiveDate,
        /// Today.
        today: NaiveDate,
    },
    /// Too far ahead.
    #[error(
        "{date} is more than a year ahead; bookings open up to {MAX_DAYS_AHEAD} days in advance"
    )]
    TooFar {
        /// The date asked for.
        date: NaiveDate,
    },
}

fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(w) && (w.len() >= 3))
        .map(|i| i as u32 + 1)
}

fn weekday(word: &str) -> Option<Weekday> {
    let w = word.trim_end_matches('.');
    let days = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    days.iter()
        .find(|(name, _)| w.len() >= 3 && name.starts_with(w))
        .map(|(_, d)| *d)
}

fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ',');
    let suffix = &word[digits.len()..].trim_end_matches(',');
    if !suffix.is_empty() && !["st", "nd", "rd", "th"].contains(suffix) {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn year_number(word: &str, today: NaiveDate) -> Option<i32> {
    let y: i32 = word.trim_end_matches(',').parse().ok()?;
    match y {
        0..=99 => Some(2000 + y),
        y if (today.year() - 1..=today.year() + 2).contains(&y) => Some(y),
        _ => None,
    }
}

impl ServiceDate {
    /// Parses `input` relative to `today`.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, DateError> {
        let text = input.trim().to_ascii_lowercase();
        let date = Self::resolve(&text, today)?;
        if date < today {
            return Err(DateError::InPast { date, today });
        }
        if date > today + Duration::days(MAX_DAYS_AHEAD) {
            return Err(DateError::TooFar { date });
        }
        Ok(ServiceDate(date))
    }

    fn resolve(text: &str, today: NaiveDate) -> Result<NaiveDate, DateError> {
        let unrecognised = || DateError::Unrecognised(text.to_string());
        let no_such_day = || DateError::NoSuchDay(text.to_string());
        match text {
            "today" => return Ok(today),
            "tomorrow" => return Ok(today + Duration::days(1)),
            "day after tomorrow" | "the day after tomorrow" => return Ok(today + Duration::days(2)),
            _ => {}
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(d);
        }
        // US numeric: m/d, m/d/yy, m/d/yyyy.
        if text.contains('/') {
            let parts: Vec<&str> = text.split('/').collect();
            let (m, d) = match parts.as_slice() {
                [m, d] | [m, d, _] => (
                    m.parse::<u32>().map_err(|_| unrecognised())?,
                    d.parse::<u32>().map_err(|_| unrecognised())?,
                ),
                _ => return Err(unrecognised()),
            };
            let year = match parts.get(2) {
                Some(y) => Some(year_number(y, today).ok_or_else(unrecognised)?),
                None => None,
            };
            return Self::month_day(m, d, year, today).ok_or_else(no_such_day);
        }
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !matches!(*w, "on" | "the" | "of" | "this" | "next" | "coming"))
            .collect();
        match words.as_slice() {
            [w] if weekday(w).is_some() => {
                let target = weekday(w).expect("checked");
                let ahead = (target.num_days_from_monday() as i64
                    - today.weekday().num_days_from_monday() as i64)
                    .rem_euclid(7);
                Ok(today + Duration::days(if ahead == 0 { 7 } else { ahead }))
            }
            // "thursday november 24" / "thursday the 24th": the weekday is a spoken check.
            [w, rest @ ..] if weekday(w).is_some() && !rest.is_empty() => {
                let date = Self::resolve(&rest.join(" "), today)?;
                if date.weekday() != weekday(w).expect("checked") {
                    return Err(DateError::NoSuchDay(format!(
                        "{text} ({date} is a {})",
                        date.weekday()
                    )));
                }
                Ok(date)
            }
            [a, b, rest @ ..] if rest.len() <= 1 => {
                let (m, d) = match (month(a), day_number(b), month(b), day_number(a)) {
                    (Some(m), Some(d), _, _) => (m, d),
                    (_, _, Some(m), Some(d)) => (m, d),
                    _ => return Err(unrecognised()),
                };
                let year = match rest.first() {
                    Some(y) => Some(year_number(y, today).ok_or_else(unrecognised)?),
                    None => None,
                };
                Self::month_day(m, d, year, today).ok_or_else(no_such_day)
            }
            [d] if day_number(d).is_some() => {
                // "the 24th": this month if still ahead, else next month.
                let d = day_number(d).expect("checked");
                let this = NaiveDate::from_ymd_opt(today.year(), today.month(), d);
                match this {
                    Some(date) if date >= today => Ok(date),
                    _ => {
                        let (y, m) = if today.month() == 12 {
                            (today.year() + 1, 1)
                        } else {
                            (today.year(), today.month() + 1)
                        };
                        NaiveDate::from_ymd_opt(y, m, d).ok_or_else(no_such_day)
                    }
                }
            }
            _ => Err(unrecognised()),
        }
    }

    /// Month and day, in `year` or else the next occurrence from today.
    fn month_day(m: u32, d: u32, year: Option<i32>, today: NaiveDate) -> Option<NaiveDate> {
        match year {
            Some(y) => NaiveDate::from_ymd_opt(y, m, d),
            None => {
                let this_year = NaiveDate::from_ymd_opt(today.year(), m, d);
                match this_year {
                    Some(date) if date >= today => Some(date),
                    // Passed (or Feb 29 in a non-leap year): the next year's.
                    _ => NaiveDate::from_ymd_opt(today.year() + 1, m, d),
                }
            }
        }
    }

    /// The day.
    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for ServiceDate {
    /// "Thursday, November 26, 2026": how the agent reads a date back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%A, %B %-d, %Y"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sunday, November 22, 2026.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn parse(s: &str) -> Result<NaiveDate, DateError> {
        ServiceDate::parse(s, today()).map(ServiceDate::date)
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn relative_words_and_weekdays() {
        assert_eq!(parse("today"), Ok(ymd(2026, 11, 22)));
        assert_eq!(parse("Tomorrow"), Ok(ymd(2026, 11, 23)));
        assert_eq!(parse("day after tomorrow"), Ok(ymd(2026, 11, 24)));
        assert_eq!(parse("Thursday"), Ok(ymd(2026, 11, 26)));
        assert_eq!(parse("next thursday"), Ok(ymd(2026, 11, 26)));
        assert_eq!(parse("this Thu"), Ok(ymd(2026, 11, 26)));
        // Today is Sunday: "Sunday" means next week's.
        assert_eq!(parse("sunday"), Ok(ymd(2026, 11, 29)));
    }

    #[test]
    fn calendar_forms() {
        assert_eq!(parse("2026-12-01"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("12/1"), Ok(ymd(2026, 12, 1)));
        assert_eq!(
            parse("1/5"),
            Ok(ymd(2027, 1, 5)),
            "January has passed: next year's"
        );
        assert_eq!(parse("12/01/2026"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("12/1/26"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("December 1st"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("dec. 1"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("1 December 2026"), Ok(ymd(2026, 12, 1)));
        assert_eq!(parse("on the 30th"), Ok(ymd(2026, 11, 30)));
        assert_eq!(parse("the 3rd"), Ok(ymd(2026, 12, 3)));
        assert_eq!(parse("Tuesday December 1"), Ok(ymd(2026, 12, 1)));
    }

    #[test]
    fn impossible_past_far_and_garbled_dates_are_refused() {
        assert!(matches!(parse("February 30"), Err(DateError::NoSuchDay(_))));
        assert!(matches!(parse("2026-11-21"), Err(DateError::InPast { .. })));
        assert!(matches!(parse("11/21/2026"), Err(DateError::InPast { .. })));
        assert!(matches!(parse("2028-01-01"), Err(DateError::TooFar { .. })));
        assert!(matches!(parse("whenever"), Err(DateError::Unrecognised(_))));
        assert!(matches!(parse("13/45"), Err(DateError::NoSuchDay(_))));
        // The weekday the caller said disagrees with the date.
        assert!(matches!(
            parse("Wednesday December 1"),
            Err(DateError::NoSuchDay(_))
        ));
        let msg = parse("2026-11-21").unwrap_err().to_string();
        assert!(msg.contains("today is 2026-11-22"), "{msg}");
    }

    #[test]
    fn dates_read_back_in_full() {
        let d = ServiceDate::parse("thursday", today()).unwrap();
        assert_eq!(d.to_string(), "Thursday, November 26, 2026");
    }
}
