//! One function per tool: parse the arguments into domain values, call the CRM, shape the
//! answer. Refusals come back as [`ToolError`]s with stable codes.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::reply::{
    ToolError, appointment_json, caller_json, crm_error, slots_json, unknown_caller_json,
    vehicle_json,
};
use super::{ToolContext, Tools};
use crate::crm::appointments;
use crate::crm::availability::PartOfDay;
use crate::crm::booking::{self, Booked, BookingRequest, SlotQuery};
use crate::crm::{CrmError, caller, catalog, customers};
use crate::domain::{PhoneNumber, ServiceDate, Vin};
use callbridge_core::tool::CrmRequest;
use callbridge_core::tool::args::{self, PartOfDayArg};

/// Dispatches to the tool's handler; `id` is the model's id of the call (part of a booking's
/// idempotency key).
pub(super) async fn run(
    tools: &Tools,
    ctx: &ToolContext,
    id: &str,
    request: &CrmRequest,
) -> Result<Value, ToolError> {
    let h = Handler { tools, ctx };
    match request.clone() {
        CrmRequest::LookupCustomer(a) => h.lookup_customer(a).await,
        CrmRequest::CreateCustomer(a) => h.create_customer(a).await,
        CrmRequest::ListVehicles(a) => h.list_vehicles(a).await,
        CrmRequest::AddVehicle(a) => h.add_vehicle(a).await,
        CrmRequest::ListServices => h.list_services().await,
        CrmRequest::FindAvailableSlots(a) => h.find_available_slots(a).await,
        CrmRequest::BookAppointment(a) => h.book_appointment(id, a).await,
        CrmRequest::RescheduleAppointment(a) => h.reschedule_appointment(a).await,
        CrmRequest::CancelAppointment(a) => h.cancel_appointment(a).await,
        CrmRequest::ListUpcomingAppointments(a) => h.list_upcoming_appointments(a).await,
        CrmRequest::VehicleStatus(a) => h.vehicle_status(a).await,
        CrmRequest::RequestCallback(a) => h.request_callback(a).await,
        CrmRequest::BusinessInfo => h.business_info().await,
    }
}

fn part_of_day(p: PartOfDayArg) -> PartOfDay {
    match p {
        PartOfDayArg::Morning => PartOfDay::Morning,
        PartOfDayArg::Afternoon => PartOfDay::Afternoon,
        PartOfDayArg::Evening => PartOfDay::Evening,
        PartOfDayArg::Any => PartOfDay::Any,
    }
}

/// A start time as the tools hand them out: "2026-11-24T09:00" in the shop's time zone (an
/// explicit offset is honoured too).
fn parse_start(tools: &Tools, text: &str) -> Result<DateTime<Utc>, ToolError> {
    let text = text.trim();
    let bad = || {
        ToolError::new(
            "invalid_time",
            format!(
                "{text:?} is not a start time; use the start exactly as find_available_slots gave it, like 2026-11-24T09:00"
            ),
        )
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(bad)?;
    tools.schedule.instant(local).ok_or_else(|| {
        ToolError::new(
            "invalid_time",
            format!(
                "{text} does not exist on the clock (the clocks change then); pick another time"
            ),
        )
    })
}

struct Handler<'a> {
    tools: &'a Tools,
    ctx: &'a ToolContext,
}

impl Handler<'_> {
    fn crm(&self, e: CrmError) -> ToolError {
        crm_error(&self.tools.schedule, e)
    }

    fn phone(&self, given: Option<&str>) -> Result<PhoneNumber, ToolError> {
        match given.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Ok(PhoneNumber::parse(p)?),
            None => self.ctx.caller.clone().ok_or_else(|| {
                ToolError::new(
                    "no_caller_number",
                    "the caller's number is withheld; ask them for their phone number and pass it as phone",
                )
            }),
        }
    }

    fn not_in_past(&self, start: DateTime<Utc>) -> Result<(), ToolError> {
        if start < self.ctx.now {
            return Err(ToolError::new(
                "time_in_past",
                format!(
                    "{} has already passed; ask the caller for a future day",
                    self.tools.schedule.spoken(start)
                ),
            ));
        }
        Ok(())
    }

    async fn appointment_views(
        &self,
        rows: Vec<entity::appointment::Model>,
    ) -> Result<Vec<Value>, ToolError> {
        let views = appointments::views(&self.tools.db, &self.tools.schedule, rows)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(views.iter().map(appointment_json).collect())
    }

    /// `{"appointment": ..., <replayed_flag>: bool}` for a booking change.
    /// The agent as the audit log names it: on this call.
    fn agent(&self) -> crate::staff::audit::Actor<'_> {
        crate::staff::audit::Actor::Agent(self.ctx.call_sid.as_deref().unwrap_or(""))
    }

    async fn booked_json(&self, b: Booked, replayed_flag: &str) -> Result<Value, ToolError> {
        let view = self.appointment_views(vec![b.appointment]).await?;
        let mut answer = json!({ "appointment": view[0] });
        answer[replayed_flag] = json!(b.replayed);
        Ok(answer)
    }

    async fn lookup_customer(&self, a: args::LookupCustomer) -> Result<Value, ToolError> {
        let phone = self.phone(a.phone.as_deref())?;
        let record = caller::by_phone(&self.tools.db, &self.tools.schedule, &phone, self.ctx.now)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(match record {
            Some(r) => caller_json(&r),
            None => unknown_caller_json(&phone),
        })
    }

    async fn create_customer(&self, a: args::CreateCustomer) -> Result<Value, ToolError> {
        let phone = self.phone(a.phone.as_deref())?;
        let c = customers::create(
            &self.tools.db,
            &phone,
            &a.name,
            a.email.as_deref(),
            self.ctx.now,
        )
        .await
        .map_err(|e| self.crm(e))?;
        Ok(
            json!({ "customer": { "id": c.id, "name": c.name, "phone": c.phone, "email": c.email } }),
        )
    }

    async fn list_vehicles(&self, a: args::ListVehicles) -> Result<Value, ToolError> {
        let vehicles = customers::vehicles(&self.tools.db, a.customer_id)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(json!({ "vehicles": vehicles.iter().map(vehicle_json).collect::<Vec<_>>() }))
    }

    async fn add_vehicle(&self, a: args::AddVehicle) -> Result<Value, ToolError> {
        let vin = a
            .vin
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(Vin::parse)
            .transpose()?;
        let v = customers::add_vehicle(
            &self.tools.db,
            a.customer_id,
            &customers::NewVehicle {
                year: a.year,
                make: &a.make,
                model: &a.model,
                vin,
                mileage: a.mileage,
            },
            self.ctx.now,
        )
        .await
        .map_err(|e| self.crm(e))?;
        Ok(json!({ "vehicle": vehicle_json(&v) }))
    }

    async fn list_services(&self) -> Result<Value, ToolError> {
        let menu = catalog::services(&self.tools.db)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(json!({
            "services": menu.iter().map(|s| json!({
                "name": s.name,
                "description": s.description,
                "duration_minutes": s.duration_minutes,
                "price": dollars(s.price_cents),
            })).collect::<Vec<_>>()
        }))
    }

    async fn find_available_slots(&self, a: args::FindAvailableSlots) -> Result<Value, ToolError> {
        let today = self.tools.schedule.today(self.ctx.now);
        let from = ServiceDate::parse(&a.date, today)?.date();
        let to = match a.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => ServiceDate::parse(u, today)?.date(),
            None => from + Duration::days(6),
        };
        if to < from {
            return Err(ToolError::new(
                "invalid_date",
                format!("until ({to}) is before date ({from}); swap them or search one day"),
            ));
        }
        let limit = a.max_results.unwrap_or(3).clamp(1, 10) as usize;
        let db = &self.tools.db;
        let service = catalog::service_named(db, &a.service)
            .await
            .map_err(|e| self.crm(e))?;
        let q = SlotQuery {
            service: &service,
            from,
            to,
            part_of_day: a.part_of_day.map_or(PartOfDay::Any, part_of_day),
        };
        let slots = booking::find_slots(db, &self.tools.schedule, &q, limit, self.ctx.now)
            .await
            .map_err(|e| self.crm(e))?;
        let mut answer = json!({
            "service": service.name,
            "duration_minutes": service.duration_minutes,
            "price": dollars(service.price_cents),
            "slots": slots_json(&self.tools.schedule, &slots),
        });
        let closed = catalog::closures(db, from, to)
            .await
            .map_err(|e| self.crm(e))?;
        if !closed.is_empty() {
            answer["closed_days"] = json!(
                closed
                    .iter()
                    .map(|c| json!({
                        "date": c.day.to_string(),
                        "spoken": c.day.format("%A, %B %-d").to_string(),
                        "reason": c.reason,
                    }))
                    .collect::<Vec<_>>()
            );
        }
        if slots.is_empty() {
            answer["hint"] = json!(format!(
                "nothing free from {} to {}; offer later days or another part of the day",
                from.format("%A, %B %-d"),
                to.format("%A, %B %-d")
            ));
        }
        Ok(answer)
    }

    async fn book_appointment(
        &self,
        tool_call_id: &str,
        a: args::BookAppointment,
    ) -> Result<Value, ToolError> {
        let starts = parse_start(self.tools, &a.start)?;
        self.not_in_past(starts)?;
        let db = &self.tools.db;
        let service = catalog::service_named(db, &a.service)
            .await
            .map_err(|e| self.crm(e))?;
        let key = self
            .ctx
            .call_sid
            .as_deref()
            .map(|sid| idempotency_key(sid, tool_call_id, a.customer_id, service.id, starts));
        let booked = crate::staff::bookings::book(
            db,
            &self.tools.schedule,
            self.agent(),
            &BookingRequest {
                customer_id: a.customer_id,
                vehicle_id: a.vehicle_id,
                service: &service,
                starts,
                notes: a.notes.as_deref(),
                call_sid: self.ctx.call_sid.as_deref(),
                idempotency_key: key.as_deref(),
            },
            self.ctx.now,
        )
        .await
        .map_err(|e| self.crm(e))?;
        self.booked_json(booked, "already_booked").await
    }

    async fn reschedule_appointment(
        &self,
        a: args::RescheduleAppointment,
    ) -> Result<Value, ToolError> {
        let starts = parse_start(self.tools, &a.new_start)?;
        self.not_in_past(starts)?;
        let moved = crate::staff::bookings::reschedule(
            &self.tools.db,
            &self.tools.schedule,
            self.agent(),
            (a.appointment_id, Some(a.customer_id)),
            starts,
            self.ctx.now,
        )
        .await
        .map_err(|e| self.crm(e))?;
        self.booked_json(moved, "unchanged").await
    }

    async fn cancel_appointment(&self, a: args::CancelAppointment) -> Result<Value, ToolError> {
        let cancelled = crate::staff::bookings::cancel(
            &self.tools.db,
            &self.tools.schedule,
            self.agent(),
            (a.appointment_id, Some(a.customer_id)),
            a.reason.as_deref(),
            self.ctx.now,
        )
        .await
        .map_err(|e| self.crm(e))?;
        self.booked_json(cancelled, "already_cancelled").await
    }

    async fn list_upcoming_appointments(
        &self,
        a: args::ListUpcomingAppointments,
    ) -> Result<Value, ToolError> {
        let rows = booking::upcoming(&self.tools.db, a.customer_id, self.ctx.now)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(json!({ "appointments": self.appointment_views(rows).await? }))
    }

    async fn vehicle_status(&self, a: args::VehicleStatus) -> Result<Value, ToolError> {
        crate::crm::customers::by_id(&self.tools.db, a.customer_id)
            .await
            .map_err(|e| self.crm(e))?;
        let orders = crate::crm::repair_orders::open_for_customer(&self.tools.db, a.customer_id)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(json!({
            "in_shop": orders.iter().map(|o| json!({
                "vehicle": o.vehicle,
                "status": o.status,
                "spoken": o.spoken,
                "note": o.note,
                "checked_in": self.tools.schedule.spoken(o.opened_at),
            })).collect::<Vec<_>>(),
        }))
    }

    async fn request_callback(&self, a: args::RequestCallback) -> Result<Value, ToolError> {
        let Some(call_sid) = self.ctx.call_sid.as_deref() else {
            return Err(ToolError::new(
                "no_call",
                "a callback is requested on a call".to_string(),
            ));
        };
        if a.window.trim().is_empty() || a.reason.trim().is_empty() {
            return Err(ToolError::new(
                "missing_details",
                "ask when suits them and what it is about".to_string(),
            ));
        }
        let request = crate::crm::callbacks::CallbackRequest {
            call_sid,
            phone: self.ctx.caller.as_ref(),
            window: &a.window,
            reason: &a.reason,
        };
        let row = crate::crm::callbacks::request(&self.tools.db, &request, self.ctx.now)
            .await
            .map_err(|e| self.crm(e))?;
        Ok(json!({
            "requested": true,
            "window": row.window,
            "reason": row.reason,
            "phone": row.phone,
        }))
    }

    async fn business_info(&self) -> Result<Value, ToolError> {
        let db = &self.tools.db;
        let week = catalog::week_hours(db).await.map_err(|e| self.crm(e))?;
        let today = self.tools.schedule.today(self.ctx.now);
        let closures = catalog::closures(db, today, today + Duration::days(60))
            .await
            .map_err(|e| self.crm(e))?;
        let b = &self.tools.business;
        Ok(json!({
            "name": b.name,
            "address": b.address,
            "phone": b.phone,
            "time_zone": b.timezone.name(),
            "hours": catalog::WEEKDAYS.iter().zip(week.iter()).map(|(day, h)| match h {
                Some((o, c)) => json!({ "day": day, "opens": catalog::clock(*o), "closes": catalog::clock(*c) }),
                None => json!({ "day": day, "closed": true }),
            }).collect::<Vec<_>>(),
            "closures": closures.iter().map(|c| json!({
                "date": c.day.to_string(),
                "spoken": c.day.format("%A, %B %-d").to_string(),
                "reason": c.reason,
            })).collect::<Vec<_>>(),
        }))
    }
}

/// `call sid:tool call id:digest of what is booked`. The call sid and tool call id make a
/// replayed tool call find its booking; the digest keeps two different bookings apart when an
/// OpenAI-compatible server reuses tool call ids within a call (some local servers number
/// them from `call_0` on every turn).
fn idempotency_key(
    call_sid: &str,
    tool_call_id: &str,
    customer_id: i32,
    service_id: i32,
    starts: DateTime<Utc>,
) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{customer_id}|{service_id}|{}", starts.timestamp()));
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{call_sid}:{tool_call_id}:{short}")
}

/// "$89.99" for 8999 cents.
fn dollars(cents: i32) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_dollars() {
        assert_eq!(dollars(8999), "$89.99");
        assert_eq!(dollars(3500), "$35.00");
        assert_eq!(dollars(5), "$0.05");
    }
}
