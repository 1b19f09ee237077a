//! Tool calls as the call sees them: every tool the LLM is offered, by name; a call parsed once,
//! at the LLM edge, into typed arguments; and the answer that comes back. The CRM tools run in
//! `tools` (outside the core); the call-control tools (`end_call`, `transfer_to_service_desk`)
//! are decided by the call itself.
//!
//! A model's tool call can name a tool that does not exist or carry arguments that are not
//! what the schema says: that is an expected state, not a failure of the stream. It becomes a
//! [`ToolCallError`] with a stable code, handed back to the model as the tool's answer.

pub mod args;

use serde::de::DeserializeOwned;
use serde_json::json;

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
    /// Where a customer's vehicles in the shop stand ("is my car ready?").
    VehicleStatus,
    /// Ask for an advisor to call the caller back (the desk did not answer).
    RequestCallback,
    /// Hours, address, phone.
    BusinessInfo,
    /// End the call after the goodbye (call control).
    EndCall,
    /// Hand the caller to a person (call control).
    TransferToServiceDesk,
    /// Ask the caller to type their phone number on the keypad (call control).
    EnterPhoneOnKeypad,
}

impl ToolName {
    /// Every tool, in the order they are offered.
    pub const ALL: [ToolName; 16] = [
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
        ToolName::VehicleStatus,
        ToolName::RequestCallback,
        ToolName::BusinessInfo,
        ToolName::EndCall,
        ToolName::TransferToServiceDesk,
        ToolName::EnterPhoneOnKeypad,
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
            ToolName::VehicleStatus => "vehicle_status",
            ToolName::RequestCallback => "request_callback",
            ToolName::BusinessInfo => "business_info",
            ToolName::EndCall => "end_call",
            ToolName::TransferToServiceDesk => "transfer_to_service_desk",
            ToolName::EnterPhoneOnKeypad => "enter_phone_on_keypad",
        }
    }

    /// The tool called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the call handles it itself (ending or transferring the call) rather than the
    /// CRM.
    pub fn is_call_control(self) -> bool {
        matches!(
            self,
            ToolName::EndCall | ToolName::TransferToServiceDesk | ToolName::EnterPhoneOnKeypad
        )
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

    /// The change to the appointment book a successful call makes, which decides the call's
    /// outcome.
    pub fn booking_change(self) -> Option<BookingChange> {
        match self {
            ToolName::BookAppointment => Some(BookingChange::Booked),
            ToolName::RescheduleAppointment => Some(BookingChange::Rescheduled),
            ToolName::CancelAppointment => Some(BookingChange::Cancelled),
            _ => None,
        }
    }
}

/// A change a call made to the appointment book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingChange {
    /// A new appointment.
    Booked,
    /// An appointment moved.
    Rescheduled,
    /// An appointment cancelled.
    Cancelled,
}

impl BookingChange {
    /// As stored in the call log's outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingChange::Booked => "booked",
            BookingChange::Rescheduled => "rescheduled",
            BookingChange::Cancelled => "cancelled",
        }
    }
}

/// A CRM tool call with its arguments parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum CrmRequest {
    /// `lookup_customer`.
    LookupCustomer(args::LookupCustomer),
    /// `create_customer`.
    CreateCustomer(args::CreateCustomer),
    /// `list_vehicles`.
    ListVehicles(args::ListVehicles),
    /// `add_vehicle`.
    AddVehicle(args::AddVehicle),
    /// `list_services`.
    ListServices,
    /// `find_available_slots`.
    FindAvailableSlots(args::FindAvailableSlots),
    /// `book_appointment`.
    BookAppointment(args::BookAppointment),
    /// `reschedule_appointment`.
    RescheduleAppointment(args::RescheduleAppointment),
    /// `cancel_appointment`.
    CancelAppointment(args::CancelAppointment),
    /// `list_upcoming_appointments`.
    ListUpcomingAppointments(args::ListUpcomingAppointments),
    /// `vehicle_status`.
    VehicleStatus(args::VehicleStatus),
    /// `request_callback`.
    RequestCallback(args::RequestCallback),
    /// `business_info`.
    BusinessInfo,
}

impl CrmRequest {
    /// Which tool.
    pub fn tool(&self) -> ToolName {
        match self {
            CrmRequest::LookupCustomer(_) => ToolName::LookupCustomer,
            CrmRequest::CreateCustomer(_) => ToolName::CreateCustomer,
            CrmRequest::ListVehicles(_) => ToolName::ListVehicles,
            CrmRequest::AddVehicle(_) => ToolName::AddVehicle,
            CrmRequest::ListServices => ToolName::ListServices,
            CrmRequest::FindAvailableSlots(_) => ToolName::FindAvailableSlots,
            CrmRequest::BookAppointment(_) => ToolName::BookAppointment,
            CrmRequest::RescheduleAppointment(_) => ToolName::RescheduleAppointment,
            CrmRequest::CancelAppointment(_) => ToolName::CancelAppointment,
            CrmRequest::ListUpcomingAppointments(_) => ToolName::ListUpcomingAppointments,
            CrmRequest::VehicleStatus(_) => ToolName::VehicleStatus,
            CrmRequest::RequestCallback(_) => ToolName::RequestCallback,
            CrmRequest::BusinessInfo => ToolName::BusinessInfo,
        }
    }
}

/// What a tool call asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolRequest {
    /// A CRM tool, run outside the core.
    Crm(CrmRequest),
    /// End the call once the goodbye has played.
    EndCall,
    /// Hand the caller to the service desk, and why (the model may leave it out).
    TransferToServiceDesk(Option<args::TransferWhy>),
    /// Collect the caller's phone number from the keypad; the digits come back as their turn.
    EnterPhoneOnKeypad,
}

/// Why a tool call cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    /// The model named no tool.
    #[error("the tool call has no function name")]
    NoName,
    /// The model named a tool that does not exist.
    #[error("there is no tool called {name:?}; the tools are {}", ToolName::ALL.map(ToolName::as_str).join(", "))]
    UnknownTool {
        /// What it named.
        name: String,
    },
    /// The arguments are not what the tool's schema says.
    #[error(
        "the arguments of {tool} are not valid: {why}; call it again with the fields its schema lists"
    )]
    InvalidArguments {
        /// The tool.
        tool: &'static str,
        /// The parser's complaint.
        why: String,
    },
    /// A call-control tool handed to the CRM (a bug on our side, reported like any refusal).
    #[error("{0} is not a CRM tool")]
    NotCrm(&'static str),
}

impl ToolCallError {
    /// The stable code the model and the metrics see.
    pub fn code(&self) -> &'static str {
        match self {
            ToolCallError::NoName | ToolCallError::UnknownTool { .. } => "unknown_tool",
            ToolCallError::InvalidArguments { .. } => "invalid_arguments",
            ToolCallError::NotCrm(_) => "not_a_crm_tool",
        }
    }

    /// The answer handed back to the model, in the tools' reply shape.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"ok": false, "error": {"code": self.code(), "message": self.to_string()}})
    }
}

/// One tool call from the model, parsed once where it leaves the LLM client.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The model's id for it (echoed back with the result; part of the booking's idempotency
    /// key).
    pub id: String,
    /// The tool's name as the model wrote it.
    pub name: String,
    /// The arguments as the model wrote them (echoed back in the history).
    pub raw_arguments: String,
    /// What it asks for, or why it cannot be run.
    pub request: Result<ToolRequest, ToolCallError>,
}

fn arguments<T: DeserializeOwned>(tool: ToolName, raw: &str) -> Result<T, ToolCallError> {
    let text = match raw.trim() {
        "" | "null" => "{}",
        t => t,
    };
    serde_json::from_str(text).map_err(|e| ToolCallError::InvalidArguments {
        tool: tool.as_str(),
        why: e.to_string(),
    })
}

impl ToolCall {
    /// Parses what the model wrote.
    pub fn parse(
        id: impl Into<String>,
        name: impl Into<String>,
        raw_arguments: impl Into<String>,
    ) -> Self {
        let (id, name, raw_arguments) = (id.into(), name.into(), raw_arguments.into());
        let request = Self::request(&name, &raw_arguments);
        Self {
            id,
            name,
            raw_arguments,
            request,
        }
    }

    fn request(name: &str, raw: &str) -> Result<ToolRequest, ToolCallError> {
        use CrmRequest as C;
        let Some(tool) = ToolName::parse(name) else {
            return Err(if name.is_empty() {
                ToolCallError::NoName
            } else {
                ToolCallError::UnknownTool {
                    name: name.chars().take(64).collect(),
                }
            });
        };
        let crm = match tool {
            ToolName::LookupCustomer => C::LookupCustomer(arguments(tool, raw)?),
            ToolName::CreateCustomer => C::CreateCustomer(arguments(tool, raw)?),
            ToolName::ListVehicles => C::ListVehicles(arguments(tool, raw)?),
            ToolName::AddVehicle => C::AddVehicle(arguments(tool, raw)?),
            ToolName::ListServices => {
                arguments::<args::ListServices>(tool, raw)?;
                C::ListServices
            }
            ToolName::FindAvailableSlots => C::FindAvailableSlots(arguments(tool, raw)?),
            ToolName::BookAppointment => C::BookAppointment(arguments(tool, raw)?),
            ToolName::RescheduleAppointment => C::RescheduleAppointment(arguments(tool, raw)?),
            ToolName::CancelAppointment => C::CancelAppointment(arguments(tool, raw)?),
            ToolName::ListUpcomingAppointments => {
                C::ListUpcomingAppointments(arguments(tool, raw)?)
            }
            ToolName::VehicleStatus => C::VehicleStatus(arguments(tool, raw)?),
            ToolName::RequestCallback => C::RequestCallback(arguments(tool, raw)?),
            ToolName::BusinessInfo => {
                arguments::<args::BusinessInfo>(tool, raw)?;
                C::BusinessInfo
            }
            ToolName::EndCall => {
                arguments::<args::NoArguments>(tool, raw)?;
                return Ok(ToolRequest::EndCall);
            }
            ToolName::TransferToServiceDesk => {
                let a = arguments::<args::TransferToServiceDesk>(tool, raw)?;
                return Ok(ToolRequest::TransferToServiceDesk(a.reason));
            }
            ToolName::EnterPhoneOnKeypad => {
                arguments::<args::NoArguments>(tool, raw)?;
                return Ok(ToolRequest::EnterPhoneOnKeypad);
            }
        };
        Ok(ToolRequest::Crm(crm))
    }

    /// The tool it names, when it names one.
    pub fn tool(&self) -> Option<ToolName> {
        ToolName::parse(&self.name)
    }
}

/// What the model is told when a tool has not answered in time. The tool goes on (a booking
/// is never cut in half), so the model must look the result up before trying again.
pub const TIMEOUT_MESSAGE: &str = "the booking system is slow to answer; tell the caller you are checking, and look the result up (list_upcoming_appointments) before trying again, since the change may still go through";

/// The answer handed to the model for a tool that has not answered in time.
pub fn timeout_answer() -> String {
    json!({"ok": false, "error": {"code": "timeout", "message": TIMEOUT_MESSAGE}}).to_string()
}

/// A CRM tool's answer, as the call gets it back.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The model's id of the call it answers.
    pub id: String,
    /// Whether the tool did what was asked.
    pub ok: bool,
    /// The JSON answer for the model.
    pub content: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_once_into_typed_requests_or_a_coded_refusal() {
        let book = ToolCall::parse(
            "c1",
            "book_appointment",
            r#"{"customer_id": 3, "service": "Oil change", "start": "2026-11-24T09:00"}"#,
        );
        match &book.request {
            Ok(ToolRequest::Crm(CrmRequest::BookAppointment(a))) => {
                assert_eq!((a.customer_id, a.service.as_str()), (3, "Oil change"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            book.tool().and_then(ToolName::booking_change),
            Some(BookingChange::Booked)
        );
        assert!(matches!(
            ToolCall::parse("c2", "end_call", "").request,
            Ok(ToolRequest::EndCall)
        ));
        assert!(matches!(
            ToolCall::parse("c3", "list_services", "null").request,
            Ok(ToolRequest::Crm(CrmRequest::ListServices))
        ));
        let cases = [
            (
                "book_appointment",
                r#"{"start": 2026-"#,
                "invalid_arguments",
            ),
            (
                "book_appointment",
                r#"{"customer_id": "one"}"#,
                "invalid_arguments",
            ),
            ("list_services", "[1,2]", "invalid_arguments"),
            ("business_info", r#"{"extra": 1}"#, "invalid_arguments"),
            (
                "transfer_to_service_desk",
                r#"{"why": "x"}"#,
                "invalid_arguments",
            ),
            (
                "transfer_to_service_desk",
                r#"{"reason": "bored"}"#,
                "invalid_arguments",
            ),
            ("drop_tables", "{}", "unknown_tool"),
            ("", "{}", "unknown_tool"),
        ];
        for (name, raw, code) in cases {
            let e = ToolCall::parse("x", name, raw).request.unwrap_err();
            assert_eq!(e.code(), code, "{name} {raw}: {e}");
            let answer = e.to_json();
            assert_eq!(answer["ok"], false);
            assert_eq!(answer["error"]["code"], code);
        }
    }
}
