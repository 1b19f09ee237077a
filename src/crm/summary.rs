//! A call's summary: who called (name or number, their vehicles), what they asked first,
//! what the agent changed for them, and how it ended. Written to the call log when the call
//! ends and shown in the console's call history; the same words are what an advisor taking a
//! handed-over call needs first. [`compose`] is pure; [`facts`] reads them from the records.

use chrono::NaiveDateTime;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::appointments::describe_vehicle;
use super::error::CrmError;
use entity::{audit_entry, call_log, call_turn, customer, vehicle};

/// Longest quote of the caller's first words.
const ASKED_CHARS: usize = 160;

/// What a summary says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The customer's name, when the number is on file.
    pub name: Option<String>,
    /// The number they called from.
    pub number: Option<String>,
    /// Their vehicles.
    pub vehicles: Vec<String>,
    /// Their first words that said something.
    pub asked: Option<String>,
    /// The agent's changes to the book, in order ("booked Oil change for Tuesday 8 December,
    /// 7:30 AM").
    pub changes: Vec<String>,
    /// How the call ended.
    pub outcome: String,
}

/// The summary in one paragraph.
pub fn compose(f: &Facts) -> String {
    let who = match (&f.name, &f.number) {
        (Some(n), Some(p)) => format!("{n} ({p})"),
        (Some(n), None) => n.clone(),
        (None, Some(p)) => format!("{p} (not on file)"),
        (None, None) => "A caller with a hidden number".to_string(),
    };
    let mut s = who;
    if !f.vehicles.is_empty() {
        s += &format!(", {}", f.vehicles.join(", "));
    }
    s.push('.');
    if let Some(a) = &f.asked {
        s += &format!(" Asked: \u{201c}{a}\u{201d}");
    }
    if f.changes.is_empty() {
        s += " Nothing was changed.";
    } else {
        let mut changes = f.changes.join("; ");
        if let Some(first) = changes.get(..1) {
            changes = first.to_uppercase() + &changes[1..];
        }
        s += &format!(" {changes}.");
    }
    s += &format!(" Ended: {}.", f.outcome.replace('_', " "));
    s
}

fn when(local_iso: Option<&str>) -> String {
    local_iso
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").ok())
        .map(|t| t.format("%A %-d %B, %-I:%M %p").to_string())
        .unwrap_or_else(|| "an unrecorded time".to_string())
}

/// One audit entry of the agent's as words.
fn change(action: &str, detail: &Value) -> Option<String> {
    let s = |k: &str| detail[k].as_str();
    Some(match action {
        "appointment.book" => format!(
            "booked {} for {}",
            s("service").unwrap_or("a service"),
            when(s("starts"))
        ),
        "appointment.move" => format!(
            "moved an appointment from {} to {}",
            when(s("from")),
            when(s("to"))
        ),
        "appointment.cancel" => format!("cancelled the appointment of {}", when(s("starts"))),
        _ => return None,
    })
}

fn quote(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= ASKED_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(ASKED_CHARS).collect();
    format!("{}\u{2026}", cut.trim_end())
}

/// The facts of call log `call_log_id`, ended with `outcome`; the agent's changes are the
/// audit entries written as `agent_actor`.
pub async fn facts(
    db: &impl ConnectionTrait,
    call_log_id: i32,
    agent_actor: &str,
    outcome: &str,
) -> Result<Facts, CrmError> {
    let log = call_log::Entity::find_by_id(call_log_id).one(db).await?;
    let number = log.and_then(|l| l.from_number);
    let known = match &number {
        Some(n) => {
            customer::Entity::find()
                .filter(customer::Column::Phone.eq(n.as_str()))
                .one(db)
                .await?
        }
        None => None,
    };
    let vehicles = match &known {
        Some(c) => vehicle::Entity::find()
            .filter(vehicle::Column::CustomerId.eq(c.id))
            .order_by_asc(vehicle::Column::Id)
            .all(db)
            .await?
            .iter()
            .map(describe_vehicle)
            .collect(),
        None => Vec::new(),
    };
    let asked = call_turn::Entity::find()
        .filter(call_turn::Column::CallLogId.eq(call_log_id))
        .filter(call_turn::Column::Speaker.eq("caller"))
        .order_by_asc(call_turn::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.text)
        .find(|t| t.split_whitespace().count() >= 2)
        .map(|t| quote(&t));
    let changes = audit_entry::Entity::find()
        .filter(audit_entry::Column::Actor.eq(agent_actor))
        .order_by_asc(audit_entry::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|e| {
            let detail: Value = e
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default();
            change(&e.action, &detail)
        })
        .collect();
    Ok(Facts {
        name: known.map(|c| c.name),
        number,
        vehicles,
        asked,
        changes,
        outcome: outcome.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_summary_says_who_what_was_asked_what_was_done_and_how_it_ended() {
        let f = Facts {
            name: Some("Maria Gonzalez".into()),
            number: Some("+15125550101".into()),
            vehicles: vec!["2020 Honda Accord".into()],
            asked: Some("Hi, I'd like to book an oil change for my Honda.".into()),
            changes: vec![
                change(
                    "appointment.book",
                    &json!({"service": "Oil change", "starts": "2026-12-08T07:30"}),
                )
                .unwrap(),
            ],
            outcome: "booked".into(),
        };
        assert_eq!(
            compose(&f),
            "Maria Gonzalez (+15125550101), 2020 Honda Accord. Asked: \u{201c}Hi, I'd like to book an oil change for my Honda.\u{201d} Booked Oil change for Tuesday 8 December, 7:30 AM. Ended: booked."
        );
        let stranger = Facts {
            number: Some("+15125550177".into()),
            outcome: "hung_up".into(),
            ..Facts::default()
        };
        assert_eq!(
            compose(&stranger),
            "+15125550177 (not on file). Nothing was changed. Ended: hung up."
        );
        let moved = change(
            "appointment.move",
            &json!({"from": "2026-12-08T07:30", "to": "2026-12-10T14:00"}),
        )
        .unwrap();
        assert_eq!(
            moved,
            "moved an appointment from Tuesday 8 December, 7:30 AM to Thursday 10 December, 2:00 PM"
        );
        assert_eq!(change("staff.add", &json!({})), None);
        let long = quote(&"word ".repeat(100));
        assert!(
            long.chars().count() <= ASKED_CHARS + 1 && long.ends_with("word\u{2026}"),
            "{long}"
        );
    }
}
