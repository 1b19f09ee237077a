//! What a tool answers: `{"ok": true, ...}` or `{"ok": false, "error": {"code", "message",
//! ...}}`. Codes are stable (tests, metrics and the conversation engine match on them);
//! messages are written for the LLM to act on or relay ("that time was just taken; offer one
//! of the alternatives"). Database failures never show their text to the LLM.

use serde_json::{Value, json};

use crate::crm::appointments::{AppointmentView, describe_vehicle};
use crate::crm::availability::Slot;
use crate::crm::caller::CallerRecord;
use crate::crm::{CrmError, Schedule, Unavailable};
use crate::domain::{DateError, PhoneError, VinError};

/// A tool's refusal, ready to hand back to the LLM.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    /// Stable code, e.g. `slot_taken`.
    pub code: &'static str,
    /// What happened and what to do about it.
    pub message: String,
    /// Extra fields (alternatives, the menu...).
    pub details: serde_json::Map<String, Value>,
}

impl ToolError {
    /// An error without details.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    /// Adds a detail field.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.details.insert(key.to_string(), value);
        self
    }

    /// The JSON the LLM sees.
    pub fn to_json(&self) -> Value {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.details.clone());
        json!({ "ok": false, "error": error })
    }

    /// The reply carrying this error.
    pub fn into_reply(self, tool: Option<super::ToolName>) -> super::ToolReply {
        super::ToolReply {
            tool,
            outcome: self.code,
            content: self.to_json(),
        }
    }

    /// A database or other internal failure: logged in full, reported to the LLM without text.
    pub fn internal(what: &str, e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what} failed");
        Self::new(
            "internal_error",
            "the booking system did not answer; apologise, say nothing was changed unless a \
             later lookup shows it was, and offer to transfer the caller to the service desk",
        )
    }
}

/// An appointment as the LLM gets it.
pub fn appointment_json(v: &AppointmentView) -> Value {
    json!({
        "id": v.id,
        "status": v.status,
        "service": v.service,
        "start": v.local_start,
        "spoken": v.spoken,
        "vehicle": v.vehicle,
        "notes": v.notes,
    })
}

/// A vehicle as the LLM gets it.
pub fn vehicle_json(v: &entity::vehicle::Model) -> Value {
    json!({
        "id": v.id,
        "description": describe_vehicle(v),
        "vin": v.vin,
        "mileage": v.mileage,
    })
}

/// A known caller as the LLM gets it: `lookup_customer`'s answer, and the record attached
/// to the system prompt when the call is prepared.
pub fn caller_json(r: &CallerRecord) -> Value {
    let c = &r.customer;
    json!({
        "found": true,
        "customer": { "id": c.id, "name": c.name, "phone": c.phone, "email": c.email },
        "vehicles": r.vehicles.iter().map(vehicle_json).collect::<Vec<_>>(),
        "upcoming_appointments": r.upcoming.iter().map(appointment_json).collect::<Vec<_>>(),
    })
}

/// A number the CRM does not know, as the LLM gets it.
pub fn unknown_caller_json(phone: &crate::domain::PhoneNumber) -> Value {
    json!({
        "found": false,
        "phone": phone.as_str(),
        "hint": "no customer has this number; if they are new, ask for their name and call create_customer",
    })
}

/// Slots as the LLM gets them: the exact `start` to pass back and the words to say.
pub fn slots_json(schedule: &Schedule, slots: &[Slot]) -> Value {
    Value::Array(
        slots
            .iter()
            .map(|s| {
                json!({
                    "start": schedule.local_iso(s.starts),
                    "spoken": schedule.spoken(s.starts),
                })
            })
            .collect(),
    )
}

impl From<PhoneError> for ToolError {
    fn from(e: PhoneError) -> Self {
        ToolError::new("invalid_phone", e.to_string())
    }
}

impl From<VinError> for ToolError {
    fn from(e: VinError) -> Self {
        ToolError::new("invalid_vin", e.to_string())
    }
}

impl From<DateError> for ToolError {
    fn from(e: DateError) -> Self {
        let code = match e {
            DateError::InPast { .. } => "date_in_past",
            DateError::TooFar { .. } => "too_far_ahead",
            DateError::Unrecognised(_) | DateError::NoSuchDay(_) => "invalid_date",
        };
        ToolError::new(code, e.to_string())
    }
}

/// Maps a CRM refusal to its code, with the alternatives a caller can be offered.
pub fn crm_error(schedule: &Schedule, e: CrmError) -> ToolError {
    match e {
        CrmError::Invalid(m) => ToolError::new("invalid_value", m),
        CrmError::UnknownService { ref menu, .. } => {
            let menu = json!(menu);
            ToolError::new(
                "unknown_service",
                format!("{e}; offer the closest one or list the menu"),
            )
            .with("menu", menu)
        }
        CrmError::AmbiguousService { ref candidates, .. } => {
            let c = json!(candidates);
            ToolError::new("ambiguous_service", e.to_string()).with("candidates", c)
        }
        CrmError::NotFound { .. } => ToolError::new(
            "not_found",
            format!("{e}; check the id with a lookup before trying again"),
        ),
        CrmError::UnknownCustomer(_) => ToolError::new("unknown_customer", e.to_string()),
        CrmError::CustomerExists { customer_id, .. } => ToolError::new(
            "customer_exists",
            format!("{e}; use that customer instead of creating one"),
        )
        .with("customer_id", json!(customer_id)),
        CrmError::VinInUse(_) => ToolError::new(
            "vin_in_use",
            format!("{e}; ask the caller to check the VIN, or leave it out"),
        ),
        CrmError::NotChangeable { .. } => ToolError::new("not_changeable", e.to_string()),
        CrmError::Unavailable {
            reason,
            alternatives,
        } => {
            let (code, message) = match reason {
                Unavailable::Closed { day, reason } => (
                    "closed",
                    format!(
                        "the shop is closed on {}{}",
                        day.format("%A, %B %-d"),
                        reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    ),
                ),
                Unavailable::OutsideHours { opens, closes } => (
                    "outside_hours",
                    format!(
                        "that time is outside opening hours ({opens} to {closes}, and the job must finish by closing)"
                    ),
                ),
                Unavailable::TooSoon => (
                    "too_soon",
                    format!(
                        "that time is too soon; bookings start at least {} minutes from now",
                        schedule.policy.min_lead_minutes
                    ),
                ),
                Unavailable::TooFar => (
                    "too_far_ahead",
                    format!(
                        "bookings are taken up to {} days ahead",
                        schedule.policy.horizon_days
                    ),
                ),
                Unavailable::OffGrid => (
                    "not_a_slot",
                    "that is not one of the offered start times; use a start from find_available_slots".to_string(),
                ),
                Unavailable::Taken => (
                    "slot_taken",
                    "that time was just taken".to_string(),
                ),
            };
            let hint = if alternatives.is_empty() {
                "; no other time is free that week, so ask for another week".to_string()
            } else {
                format!(
                    "; offer the caller these instead: {}",
                    alternatives
                        .iter()
                        .map(|s| schedule.spoken(s.starts))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            };
            ToolError::new(code, format!("{message}{hint}"))
                .with("alternatives", slots_json(schedule, &alternatives))
        }
        CrmError::Db(ref db) => ToolError::internal("CRM query", db),
    }
}
