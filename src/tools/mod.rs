//! The CRM tools the LLM calls during a call: one typed argument struct and JSON schema per
//! tool ([`args`]), one handler per tool ([`handlers`]) and one reply shape ([`reply`]).
//!
//! [`Tools::run`] never fails: every refusal, bad argument or database failure becomes a
//! structured answer (`{"ok": false, "error": {"code": ...}}`) the LLM can relay, so a tool
//! problem is spoken about honestly instead of stalling the call.

pub mod args;
mod handlers;
pub mod reply;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::config::BusinessSettings;
use crate::crm::Schedule;
use crate::domain::PhoneNumber;
pub use reply::ToolError;

/// Every tool, by the name the LLM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    /// Find the customer by phone number.
    LookupCustomer,
    /// Add a customer.
    CreateCustomer,
    /// A customer's vehicles.
    ListVehicles,
    /// Add a vehicle.
    AddVehicle,
    /// The service menu.
    ListServices,
    /// Bookable times.
    FindAvailableSlots,
    /// Book.
    BookAppointment,
    /// Move a booking.
    RescheduleAppointment,
    /// Cancel a booking.
    CancelAppointment,
    /// A customer's coming appointments.
    ListUpcomingAppointments,
    /// Hours, address, phone.
    BusinessInfo,
}

impl ToolName {
    /// Every tool, in the order they are offered.
    pub const ALL: [ToolName; 11] = [
        ToolName::LookupCustomer,
        ToolName::CreateCustomer,
        ToolName::ListVehicles,
        ToolName::AddVehicle,
        ToolName::ListServices,
        ToolName::FindAvailableSlots,
        ToolName::BookAppointment,
        ToolName::RescheduleAppointment,
        ToolName::CancelAppointment,
        ToolName::ListUpcomingAppointments,
        ToolName::BusinessInfo,
    ];

    /// The name the LLM calls it by.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::LookupCustomer => "lookup_customer",
            ToolName::CreateCustomer => "create_customer",
            ToolName::ListVehicles => "list_vehicles",
            ToolName::AddVehicle => "add_vehicle",
            ToolName::ListServices => "list_services",
            ToolName::FindAvailableSlots => "find_available_slots",
            ToolName::BookAppointment => "book_appointment",
            ToolName::RescheduleAppointment => "reschedule_appointment",
            ToolName::CancelAppointment => "cancel_appointment",
            ToolName::ListUpcomingAppointments => "list_upcoming_appointments",
            ToolName::BusinessInfo => "business_info",
        }
    }

    /// The tool called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether running it changes the CRM. A call that is interrupted still finishes these
    /// (and keeps their result), and the agent confirms with the caller before calling them.
    pub fn changes_data(self) -> bool {
        matches!(
            self,
            ToolName::CreateCustomer
                | ToolName::AddVehicle
                | ToolName::BookAppointment
                | ToolName::RescheduleAppointment
                | ToolName::CancelAppointment
        )
    }

    fn description(self) -> &'static str {
        match self {
            ToolName::LookupCustomer => {
                "Find the customer record, vehicles and coming appointments by phone number (by default the number the caller is calling from)."
            }
            ToolName::CreateCustomer => {
                "Create a customer record for a new caller. Only after lookup_customer found none."
            }
            ToolName::ListVehicles => "List a customer's vehicles with their ids.",
            ToolName::AddVehicle => "Add a vehicle to a customer's record.",
            ToolName::ListServices => {
                "The service menu with prices and how long each service takes."
            }
            ToolName::FindAvailableSlots => {
                "Find a few bookable start times for a service from a given day, optionally in a part of the day."
            }
            ToolName::BookAppointment => {
                "Book an appointment at a start time from find_available_slots. Read the details back and get a yes first."
            }
            ToolName::RescheduleAppointment => {
                "Move an existing appointment to a new start time from find_available_slots. Confirm with the caller first."
            }
            ToolName::CancelAppointment => {
                "Cancel an existing appointment. Confirm with the caller first."
            }
            ToolName::ListUpcomingAppointments => {
                "List a customer's coming appointments with their ids."
            }
            ToolName::BusinessInfo => "Opening hours, address and phone number of the shop.",
        }
    }

    fn schema(self) -> Value {
        match self {
            ToolName::LookupCustomer => schema::<args::LookupCustomer>(),
            ToolName::CreateCustomer => schema::<args::CreateCustomer>(),
            ToolName::ListVehicles => schema::<args::ListVehicles>(),
            ToolName::AddVehicle => schema::<args::AddVehicle>(),
            ToolName::ListServices => schema::<args::ListServices>(),
            ToolName::FindAvailableSlots => schema::<args::FindAvailableSlots>(),
            ToolName::BookAppointment => schema::<args::BookAppointment>(),
            ToolName::RescheduleAppointment => schema::<args::RescheduleAppointment>(),
            ToolName::CancelAppointment => schema::<args::CancelAppointment>(),
            ToolName::ListUpcomingAppointments => schema::<args::ListUpcomingAppointments>(),
            ToolName::BusinessInfo => schema::<args::BusinessInfo>(),
        }
    }
}

/// The JSON schema of `T`, inlined and without the meta fields function-calling APIs reject.
fn schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
        map.remove("description");
        map.entry("properties").or_insert_with(|| json!({}));
    }
    value
}

/// A tool as offered to an LLM.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    /// Its name.
    pub name: &'static str,
    /// When to use it.
    pub description: &'static str,
    /// JSON schema of its arguments.
    pub parameters: Value,
}

impl ToolDefinition {
    /// In the chat-completions `tools` array shape.
    pub fn to_openai(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
    }
}

/// Every tool's definition.
pub fn definitions() -> Vec<ToolDefinition> {
    ToolName::ALL
        .into_iter()
        .map(|t| ToolDefinition {
            name: t.as_str(),
            description: t.description(),
            parameters: t.schema(),
        })
        .collect()
}

/// What a tool call knows beyond its arguments.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The number the caller is calling from, when the carrier gave a valid one.
    pub caller: Option<PhoneNumber>,
    /// The call, when there is one (part of the idempotency key).
    pub call_sid: Option<String>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// One tool call from the LLM.
#[derive(Debug, Clone)]
pub struct ToolCall<'a> {
    /// The LLM's id for the call (part of the idempotency key).
    pub id: &'a str,
    /// The tool's name.
    pub name: &'a str,
    /// The arguments as the LLM wrote them (a JSON object, as text).
    pub arguments: &'a str,
}

/// A tool's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReply {
    /// The tool, when the name was known.
    pub tool: Option<ToolName>,
    /// `ok` or the error code.
    pub outcome: &'static str,
    /// The JSON handed back to the LLM.
    pub content: Value,
}

impl ToolReply {
    /// Whether the tool did what was asked.
    pub fn is_ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// The tools bound to a database and a shop.
#[derive(Debug, Clone)]
pub struct Tools {
    db: DatabaseConnection,
    schedule: Schedule,
    business: BusinessSettings,
}

impl Tools {
    /// Tools over `db` for the shop described by `business`.
    pub fn new(db: DatabaseConnection, business: BusinessSettings) -> Self {
        Self {
            db,
            schedule: Schedule::for_business(&business),
            business,
        }
    }

    /// Runs a tool call with a deadline, as the call driver does. The call runs in its own
    /// task, so a deadline that passes does not abort it halfway: a booking that was being
    /// written is committed (or not) as a whole, and the LLM is told it may have gone through
    /// (a replay with the same tool call id returns it rather than booking twice).
    pub async fn run_bounded(
        &self,
        ctx: &ToolContext,
        id: &str,
        name: &str,
        arguments: &str,
        deadline: std::time::Duration,
    ) -> ToolReply {
        let tools = self.clone();
        let (ctx, id, name, arguments) = (
            ctx.clone(),
            id.to_string(),
            name.to_string(),
            arguments.to_string(),
        );
        let label = ToolName::parse(&name).map_or("unknown", ToolName::as_str);
        let started = tokio::time::Instant::now();
        let task = tokio::spawn(async move {
            tools
                .run(
                    &ctx,
                    &ToolCall {
                        id: &id,
                        name: &name,
                        arguments: &arguments,
                    },
                )
                .await
        });
        let reply = match tokio::time::timeout(deadline, task).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(join)) => {
                ToolError::internal("tool task", &join).into_reply(ToolName::parse(label))
            }
            Err(_) => {
                metrics::counter!(crate::telemetry::TOOL_CALLS, "tool" => label, "outcome" => "timeout")
                    .increment(1);
                ToolError::new(
                    "timeout",
                    "the booking system is slow to answer; tell the caller you are checking, and \
                     look the result up (list_upcoming_appointments) before trying again, since \
                     the change may still go through",
                )
                .into_reply(ToolName::parse(label))
            }
        };
        metrics::histogram!(crate::telemetry::TOOL_LATENCY, "tool" => label)
            .record(started.elapsed().as_secs_f64());
        reply
    }

    /// Runs one tool call. Never fails: see the module doc.
    pub async fn run(&self, ctx: &ToolContext, call: &ToolCall<'_>) -> ToolReply {
        let tool = ToolName::parse(call.name);
        let result = match tool {
            None => Err(ToolError::new(
                "unknown_tool",
                format!(
                    "there is no tool called {:?}; the tools are {}",
                    call.name,
                    ToolName::ALL.map(ToolName::as_str).join(", ")
                ),
            )),
            Some(t) => handlers::run(self, t, ctx, call).await,
        };
        let (outcome, content) = match result {
            Ok(mut value) => {
                if let Some(map) = value.as_object_mut() {
                    map.insert("ok".into(), json!(true));
                }
                ("ok", value)
            }
            Err(e) => (e.code, e.to_json()),
        };
        metrics::counter!(
            crate::telemetry::TOOL_CALLS,
            "tool" => tool.map_or("unknown", ToolName::as_str),
            "outcome" => outcome,
        )
        .increment(1);
        ToolReply {
            tool,
            outcome,
            content,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_with_described_properties() {
        let defs = definitions();
        assert_eq!(defs.len(), ToolName::ALL.len());
        for d in &defs {
            let p = &d.parameters;
            assert_eq!(p["type"], "object", "{}", d.name);
            assert!(p.get("$schema").is_none() && p.get("$defs").is_none());
            for (field, spec) in p["properties"].as_object().unwrap() {
                assert!(
                    spec["description"].as_str().is_some_and(|s| !s.is_empty()),
                    "{}.{field} has no description",
                    d.name
                );
            }
            assert_eq!(ToolName::parse(d.name).map(ToolName::as_str), Some(d.name));
        }
        let book = &defs[6];
        assert_eq!(book.name, "book_appointment");
        let mut required: Vec<&str> = book.parameters["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["customer_id", "service", "start"]);
        let slots = &defs[5].parameters["properties"]["part_of_day"];
        assert!(slots.to_string().contains("afternoon"), "{slots}");
        assert_eq!(book.to_openai()["function"]["name"], "book_appointment");
    }
}
