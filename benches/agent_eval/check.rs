//! What a call of the evaluation left behind: the caller's bookings before and after, the
//! call's outcome and recorded transcript, checked against the call's expectations.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::{Call, Expect};

/// One appointment as the check sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    id: i64,
    service: String,
    starts: DateTime<Utc>,
    status: String,
    model: Option<String>,
}

async fn rows(db: &DatabaseConnection, sql: String) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
}

pub async fn appointments(db: &DatabaseConnection, phone: &str) -> Vec<Appointment> {
    rows(
        db,
        format!(
            "SELECT a.id AS id, s.name AS service, a.starts_at AS starts, a.status AS status, \
             v.model AS model FROM appointments a JOIN customers c ON c.id = a.customer_id \
             JOIN service_types s ON s.id = a.service_type_id \
             LEFT JOIN vehicles v ON v.id = a.vehicle_id WHERE c.phone = '{phone}' ORDER BY a.id"
        ),
    )
    .await
    .iter()
    .map(|r| Appointment {
        id: r.try_get::<i32>("", "id").unwrap().into(),
        service: r.try_get("", "service").unwrap(),
        starts: r.try_get("", "starts").unwrap(),
        status: r.try_get("", "status").unwrap(),
        model: r.try_get("", "model").unwrap(),
    })
    .collect()
}

/// "mon", "tue", ...: the weekday in the shop's time zone.
fn weekday(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::America::Chicago)
        .weekday()
        .to_string()
        .to_lowercase()
}

/// The conversation the server recorded: (speaker, text).
pub async fn transcript(db: &DatabaseConnection, sid: &str) -> Vec<(String, String)> {
    rows(
        db,
        format!(
            "SELECT t.speaker AS speaker, t.text AS text FROM call_turns t \
             JOIN call_logs l ON l.id = t.call_log_id WHERE l.call_sid = '{sid}' ORDER BY t.seq"
        ),
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "speaker").unwrap(),
            r.try_get("", "text").unwrap(),
        )
    })
    .collect()
}

/// What failed of `call`'s expectations.
pub async fn check(
    db: &DatabaseConnection,
    call: &Call,
    phone: &str,
    sid: &str,
    before: &[Appointment],
) -> Vec<String> {
    // The call log is finished when the server has written the call's end.
    let deadline = Instant::now() + Duration::from_secs(20);
    let outcome = loop {
        let r = rows(
            db,
            format!("SELECT outcome, ended_at FROM call_logs WHERE call_sid = '{sid}'"),
        )
        .await;
        let ended = r
            .first()
            .and_then(|r| r.try_get::<Option<DateTime<Utc>>>("", "ended_at").ok())
            .flatten();
        if ended.is_some() || Instant::now() > deadline {
            break r
                .first()
                .and_then(|r| r.try_get::<Option<String>>("", "outcome").ok())
                .flatten()
                .unwrap_or_else(|| "(not logged)".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = appointments(db, phone).await;
    let lines = transcript(db, sid).await;
    let new: Vec<&Appointment> = after
        .iter()
        .filter(|a| !before.iter().any(|b| b.id == a.id))
        .collect();
    let changed = |a: &Appointment| before.iter().find(|b| b.id == a.id).is_some_and(|b| b != a);
    let mut failures = Vec::new();
    let mut expected_new = 0;
    let mut expected_changes = 0;
    for e in &call.expects {
        match e {
            Expect::Booked {
                service,
                day,
                model,
            } => {
                expected_new += 1;
                let found = new.iter().find(|a| &a.service == service);
                match found {
                    None => failures.push(format!("no {service} booked")),
                    Some(a) => {
                        if let Some(d) = day
                            && weekday(a.starts) != d[..3]
                        {
                            failures.push(format!(
                                "{service} booked on {}, not {d}",
                                weekday(a.starts)
                            ));
                        }
                        if let Some(m) = model
                            && a.model.as_deref() != Some(m.as_str())
                        {
                            failures.push(format!("{service} booked for {:?}, not {m}", a.model));
                        }
                    }
                }
            }
            Expect::Moved { service, day } => {
                expected_changes += 1;
                match after.iter().find(|a| &a.service == service) {
                    Some(a) if changed(a) && a.status != "cancelled" => {
                        if weekday(a.starts) != day[..3] {
                            failures.push(format!(
                                "{service} moved to {}, not {day}",
                                weekday(a.starts)
                            ));
                        }
                    }
                    _ => failures.push(format!("{service} not moved")),
                }
            }
            Expect::Cancelled(service) => {
                expected_changes += 1;
                if !after
                    .iter()
                    .any(|a| &a.service == service && a.status == "cancelled")
                {
                    failures.push(format!("{service} not cancelled"));
                }
            }
            Expect::Kept(service) => {
                if after.iter().any(|a| &a.service == service && changed(a)) {
                    failures.push(format!("{service} changed"));
                }
            }
            Expect::Unchanged => {}
            Expect::Customer(name) => {
                let r = rows(
                    db,
                    format!("SELECT name FROM customers WHERE phone = '{phone}'"),
                )
                .await;
                let got: Option<String> = r.first().and_then(|r| r.try_get("", "name").ok());
                if got.as_deref().map(str::to_lowercase) != Some(name.to_lowercase()) {
                    failures.push(format!("customer {got:?}, not {name}"));
                }
            }
            Expect::Transferred(words) => {
                let reason = lines
                    .iter()
                    .find(|(s, t)| s == "system" && t.contains("transfer"))
                    .map(|(_, t)| t.clone());
                match reason {
                    Some(r) if r.contains(words.as_str()) => {}
                    other => failures.push(format!("not transferred for {words:?}: {other:?}")),
                }
            }
            Expect::Said(words) => {
                if !lines
                    .iter()
                    .any(|(s, t)| s == "agent" && t.contains(words.as_str()))
                {
                    failures.push(format!("the agent never said {words:?}"));
                }
            }
        }
    }
    let transfer_expected = call
        .expects
        .iter()
        .any(|e| matches!(e, Expect::Transferred(_)));
    if outcome == "transferred" && !transfer_expected {
        let why = lines
            .iter()
            .find(|(s, t)| s == "system" && t.contains("transfer"))
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        failures.push(format!("transferred needlessly ({why})"));
    }
    if new.len() > expected_new {
        failures.push(format!(
            "{} booking(s) made, {expected_new} expected",
            new.len()
        ));
    }
    let changes = after.iter().filter(|a| changed(a)).count();
    if changes > expected_changes {
        failures.push(format!(
            "{changes} booking(s) changed, {expected_changes} expected"
        ));
    }
    failures
}
