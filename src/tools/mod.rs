//! The CRM tools the LLM calls during a call: one typed argument struct and JSON schema per
//! tool ([`args`]), one handler per tool ([`handlers`]) and one reply shape ([`reply`]).
//!
//! [`Tools::run`] never fails: every refusal, bad argument or database failure becomes a
//! structured answer (`{"ok": false, "error": {"code": ...}}`) the LLM can relay, so a tool
//! problem is spoken about honestly instead of stalling the call.

mod handlers;
pub mod reply;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::config::BusinessSettings;
use crate::crm::Schedule;
use crate::domain::PhoneNumber;
pub use callbridge_core::tool::{
    BookingChange, CrmRequest, ToolCall, ToolCallError, ToolName, ToolRequest, ToolResult, args,
};
pub use reply::ToolError;

/// When to use each tool, as the model is told.
fn description(tool: ToolName) -> &'static str {
    match tool {
        ToolName::LookupCustomer => {
            "Find the customer record, vehicles and coming appointments by phone number (by default the number the caller is calling from)."
        }
        ToolName::CreateCustomer => {
            "Create a customer record for a new caller. Only after lookup_customer found none."
        }
        ToolName::ListVehicles => "List a customer's vehicles with their ids.",
        ToolName::AddVehicle => "Add a vehicle to a customer's record.",
        ToolName::ListServices => "The service menu with prices and how long each service takes.",
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
        ToolName::VehicleStatus => {
            "Where the customer's vehicles in the shop stand (checked in, waiting on parts, being worked on, ready for pickup), with the desk's note. For \"is my car ready?\"."
        }
        ToolName::RequestCallback => {
            "Record the caller's request for an advisor to call them back: when suits them (as they said it) and what it is about. Only when the desk could not answer them."
        }
        ToolName::BusinessInfo => "Opening hours, address and phone number of the shop.",
        ToolName::EndCall => {
            "End the call after you have said goodbye, when the caller has nothing more."
        }
        ToolName::TransferToServiceDesk => {
            "Transfer the caller to a person at the service desk, when they ask for one or you cannot help."
        }
        ToolName::EnterPhoneOnKeypad => {
            "Ask the caller to type their phone number on the keypad, when their number is hidden or not on file and you could not get it by voice. Say nothing else with it; what they type comes back as their next message."
        }
    }
}

/// The JSON schema of each tool's arguments, from the argument types themselves.
fn tool_schema(tool: ToolName) -> Value {
    match tool {
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
        ToolName::VehicleStatus => schema::<args::VehicleStatus>(),
        ToolName::RequestCallback => schema::<args::RequestCallback>(),
        ToolName::BusinessInfo => schema::<args::BusinessInfo>(),
        ToolName::TransferToServiceDesk => schema::<args::TransferToServiceDesk>(),
        ToolName::EndCall | ToolName::EnterPhoneOnKeypad => schema::<args::NoArguments>(),
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

/// The CRM tools' definitions, in the order they are offered.
pub fn definitions() -> Vec<ToolDefinition> {
    offered()
        .iter()
        .filter(|d| ToolName::parse(d.name).is_some_and(|t| !t.is_call_control()))
        .cloned()
        .collect()
}

/// Every tool offered to the model (the CRM's, then the call-control tools the call itself
/// handles), built once: schemas are generated from the argument types, which is not
/// something to redo on every turn of every call.
pub fn offered() -> &'static [ToolDefinition] {
    static OFFERED: std::sync::OnceLock<Vec<ToolDefinition>> = std::sync::OnceLock::new();
    OFFERED.get_or_init(|| {
        ToolName::ALL
            .into_iter()
            .map(|t| ToolDefinition {
                name: t.as_str(),
                description: description(t),
                parameters: tool_schema(t),
            })
            .collect()
    })
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

    /// The shop's calendar the tools book in.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The database the tools work on.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Runs a CRM request with a deadline, as the call's executor does. The request runs in
    /// its own task, so a deadline that passes does not abort it halfway: a booking that was
    /// being written is committed (or not) as a whole, and the LLM is told it may have gone
    /// through (a replay with the same tool call id returns it rather than booking twice).
    pub async fn run_bounded(
        &self,
        ctx: &ToolContext,
        id: &str,
        request: &CrmRequest,
        deadline: std::time::Duration,
    ) -> ToolReply {
        let tool = request.tool();
        let (tools, ctx, id, request) =
            (self.clone(), ctx.clone(), id.to_string(), request.clone());
        let started = tokio::time::Instant::now();
        let task = tokio::spawn(async move { tools.run_request(&ctx, &id, &request).await });
        let reply = match tokio::time::timeout(deadline, task).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(join)) => ToolError::internal("tool task", &join).into_reply(Some(tool)),
            Err(_) => {
                metrics::counter!(crate::telemetry::TOOL_CALLS, "tool" => tool.as_str(), "outcome" => "timeout")
                    .increment(1);
                ToolError::new("timeout", callbridge_core::tool::TIMEOUT_MESSAGE)
                    .into_reply(Some(tool))
            }
        };
        metrics::histogram!(crate::telemetry::TOOL_LATENCY, "tool" => tool.as_str())
            .record(started.elapsed().as_secs_f64());
        reply
    }

    /// Runs a tool call as the model wrote it (parsed by [`ToolCall::parse`]). Never fails:
    /// see the module doc.
    pub async fn run(&self, ctx: &ToolContext, call: &ToolCall) -> ToolReply {
        let refused = |e: &ToolCallError| ToolReply {
            tool: call.tool(),
            outcome: e.code(),
            content: e.to_json(),
        };
        let reply = match &call.request {
            Ok(ToolRequest::Crm(request)) => return self.run_request(ctx, &call.id, request).await,
            Ok(
                ToolRequest::EndCall
                | ToolRequest::TransferToServiceDesk(_)
                | ToolRequest::EnterPhoneOnKeypad,
            ) => refused(&ToolCallError::NotCrm(
                call.tool().map_or("?", ToolName::as_str),
            )),
            Err(e) => refused(e),
        };
        metrics::counter!(
            crate::telemetry::TOOL_CALLS,
            "tool" => reply.tool.map_or("unknown", ToolName::as_str),
            "outcome" => reply.outcome,
        )
        .increment(1);
        reply
    }

    /// Runs one CRM request; `id` is the model's id of the call (part of a booking's
    /// idempotency key). Never fails: see the module doc.
    pub async fn run_request(
        &self,
        ctx: &ToolContext,
        id: &str,
        request: &CrmRequest,
    ) -> ToolReply {
        let tool = request.tool();
        let result = handlers::run(self, ctx, id, request).await;
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
            "tool" => tool.as_str(),
            "outcome" => outcome,
        )
        .increment(1);
        ToolReply {
            tool: Some(tool),
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
        let defs = offered();
        assert_eq!(defs.len(), ToolName::ALL.len());
        assert_eq!(
            definitions().len(),
            ToolName::ALL.len() - 3,
            "the call-control tools are not CRM tools"
        );
        for d in defs {
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
