//! The shop's fixed facts as the booking code needs them: the service menu (and finding a
//! service from what a caller called it), weekly hours, closures and bays.

use chrono::{Datelike, NaiveDate};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::error::CrmError;
use entity::{bay, business_hours, closure, service_type};

/// Opening minutes per weekday, Monday first; `None` when closed all day.
pub type WeekHours = [Option<(i16, i16)>; 7];

/// Weekday names in [`WeekHours`] order.
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The service menu, by name.
pub async fn services(db: &impl ConnectionTrait) -> Result<Vec<service_type::Model>, CrmError> {
    Ok(service_type::Entity::find()
        .order_by_asc(service_type::Column::Name)
        .all(db)
        .await?)
}

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_end_matches('s').to_string())
        .collect()
}

/// Finds the service a caller means: an exact (case-insensitive) name first, then the one
/// service whose name contains every word said ("brake pads" → "Brake pad replacement").
/// Several matches are an [`CrmError::AmbiguousService`] so the agent asks, never guesses.
pub fn match_service<'a>(
    asked: &str,
    menu: &'a [service_type::Model],
) -> Result<&'a service_type::Model, CrmError> {
    let wanted = asked.trim();
    if let Some(s) = menu.iter().find(|s| s.name.eq_ignore_ascii_case(wanted)) {
        return Ok(s);
    }
    let said = words(wanted);
    let candidates: Vec<&service_type::Model> = if said.is_empty() {
        Vec::new()
    } else {
        menu.iter()
            .filter(|s| {
                let name = words(&s.name);
                said.iter().all(|w| name.contains(w))
            })
            .collect()
    };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(CrmError::UnknownService {
            asked: wanted.to_string(),
            menu: menu.iter().map(|s| s.name.clone()).collect(),
        }),
        many => Err(CrmError::AmbiguousService {
            asked: wanted.to_string(),
            candidates: many.iter().map(|s| s.name.clone()).collect(),
        }),
    }
}

/// The service called `asked`.
pub async fn service_named(
    db: &impl ConnectionTrait,
    asked: &str,
) -> Result<service_type::Model, CrmError> {
    let menu = services(db).await?;
    match_service(asked, &menu).cloned()
}

/// Weekly opening hours.
pub async fn week_hours(db: &impl ConnectionTrait) -> Result<WeekHours, CrmError> {
    let mut week: WeekHours = [None; 7];
    for row in business_hours::Entity::find().all(db).await? {
        if let Some(slot) = week.get_mut(row.weekday as usize) {
            *slot = Some((row.opens_minute, row.closes_minute));
        }
    }
    Ok(week)
}

/// Closures from `from` to `to` inclusive.
pub async fn closures(
    db: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<closure::Model>, CrmError> {
    Ok(closure::Entity::find()
        .filter(closure::Column::Day.between(from, to))
        .order_by_asc(closure::Column::Day)
        .all(db)
        .await?)
}

/// Ids of the bays that take bookings.
pub async fn active_bays(db: &impl ConnectionTrait) -> Result<Vec<i32>, CrmError> {
    Ok(bay::Entity::find()
        .filter(bay::Column::Active.eq(true))
        .order_by_asc(bay::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect())
}

/// The hours of `day`, or `None` when closed.
pub fn hours_on(week: &WeekHours, closed: &[closure::Model], day: NaiveDate) -> Option<(i16, i16)> {
    if closed.iter().any(|c| c.day == day) {
        return None;
    }
    week[day.weekday().num_days_from_monday() as usize]
}

/// "8:00 AM" for minute 480.
pub fn clock(minute: i16) -> String {
    let (h, m) = (minute / 60, minute % 60);
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{h12}:{m:02} {half}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Vec<service_type::Model> {
        [
            "Oil change",
            "Brake inspection",
            "Brake pad replacement",
            "Tire rotation",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| service_type::Model {
            id: i as i32 + 1,
            name: n.to_string(),
            description: String::new(),
            duration_minutes: 60,
            price_cents: 1000,
            bays_needed: 1,
        })
        .collect()
    }

    #[test]
    fn services_are_found_by_exact_name_or_by_every_word_said() {
        let m = menu();
        assert_eq!(match_service("oil change", &m).unwrap().id, 1);
        assert_eq!(match_service("OIL", &m).unwrap().id, 1);
        assert_eq!(match_service("brake pads", &m).unwrap().id, 3);
        assert_eq!(match_service("tires rotation", &m).unwrap().id, 4);
        match match_service("brake", &m) {
            Err(CrmError::AmbiguousService { candidates, .. }) => assert_eq!(candidates.len(), 2),
            other => panic!("{other:?}"),
        }
        match match_service("car wash", &m) {
            Err(CrmError::UnknownService { menu, .. }) => assert_eq!(menu.len(), 4),
            other => panic!("{other:?}"),
        }
        assert!(match_service("  ", &m).is_err());
        assert!(match_service("'; DROP TABLE service_types; --", &m).is_err());
    }

    #[test]
    fn clock_reads_like_a_person_says_it() {
        assert_eq!(clock(0), "12:00 AM");
        assert_eq!(clock(8 * 60), "8:00 AM");
        assert_eq!(clock(12 * 60 + 30), "12:30 PM");
        assert_eq!(clock(18 * 60), "6:00 PM");
    }
}
