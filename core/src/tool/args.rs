//! The arguments of each tool, as the LLM sends them. Each struct is both the parser
//! (serde, unknown fields refused so a misspelt field is reported, not ignored) and the
//! source of the JSON schema the LLM is given (schemars, from the same fields and doc
//! comments), so the two cannot drift apart.

use schemars::JsonSchema;
use serde::Deserialize;

/// `lookup_customer`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupCustomer {
    /// A phone number the caller gave, in any common format. Leave out to look up the number
    /// they are calling from.
    #[serde(default)]
    pub phone: Option<String>,
}

/// `create_customer`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    /// The caller's full name as they said it.
    pub name: String,
    /// Their phone number if it differs from the number they are calling from.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address, only if the caller offered one.
    #[serde(default)]
    pub email: Option<String>,
}

/// `list_vehicles`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListVehicles {
    /// The customer's id from lookup_customer or create_customer.
    pub customer_id: i32,
}

/// `add_vehicle`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddVehicle {
    /// The customer's id.
    pub customer_id: i32,
    /// Model year, e.g. 2019.
    pub year: i32,
    /// Make, e.g. Honda.
    pub make: String,
    /// Model, e.g. Civic.
    pub model: String,
    /// The 17-character VIN, only if the caller reads it out.
    #[serde(default)]
    pub vin: Option<String>,
    /// Odometer reading in miles, if known.
    #[serde(default)]
    pub mileage: Option<i32>,
}

/// `list_services`: no arguments.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListServices {}

/// A caller's preferred part of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartOfDayArg {
    /// Before noon.
    Morning,
    /// Noon to 5 pm.
    Afternoon,
    /// From 5 pm.
    Evening,
    /// No preference.
    Any,
}

/// `find_available_slots`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindAvailableSlots {
    /// The service's name from the menu, e.g. "Oil change".
    pub service: String,
    /// First day to search: 2026-11-24, 11/24, November 24, Thursday, today or tomorrow.
    pub date: String,
    /// Last day to search, same forms; defaults to six days after `date`.
    #[serde(default)]
    pub until: Option<String>,
    /// Preferred part of the day.
    #[serde(default)]
    pub part_of_day: Option<PartOfDayArg>,
    /// How many options to return, 1 to 10 (default 3).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    pub max_results: Option<u8>,
}

/// `book_appointment`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookAppointment {
    /// The customer's id.
    pub customer_id: i32,
    /// Which of the customer's vehicles, from list_vehicles, if known.
    #[serde(default)]
    pub vehicle_id: Option<i32>,
    /// The service's name from the menu.
    pub service: String,
    /// Start time exactly as find_available_slots gave it, e.g. 2026-11-24T09:00 (shop's local time).
    pub start: String,
    /// Anything the caller said about the problem, briefly.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `reschedule_appointment`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleAppointment {
    /// The customer's id.
    pub customer_id: i32,
    /// The appointment's id from list_upcoming_appointments.
    pub appointment_id: i32,
    /// New start time as find_available_slots gave it, e.g. 2026-11-25T13:30.
    pub new_start: String,
}

/// `cancel_appointment`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAppointment {
    /// The customer's id.
    pub customer_id: i32,
    /// The appointment's id from list_upcoming_appointments.
    pub appointment_id: i32,
    /// Why, if the caller said.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `list_upcoming_appointments`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUpcomingAppointments {
    /// The customer's id.
    pub customer_id: i32,
}

/// `vehicle_status`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleStatus {
    /// The customer's id.
    pub customer_id: i32,
}

/// `request_callback`: an advisor is to call the caller back.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCallback {
    /// When the caller would like the call, as they said it ("tomorrow morning", "after
    /// 3 PM today", "as soon as possible").
    pub window: String,
    /// What it is about, in a few words.
    pub reason: String,
}

/// `business_info`: no arguments.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessInfo {}

/// Why the caller is handed to a person, as the model says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferWhy {
    /// The caller asked for a person.
    CallerAsked,
    /// You could not understand what the caller wants.
    NotUnderstood,
    /// You understood but cannot do it (no record of the caller, a request outside your
    /// tools).
    CannotHelp,
}

/// `transfer_to_service_desk`: why, for the call log (a person asked for, when left out).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferToServiceDesk {
    /// Why the caller is handed over.
    #[serde(default)]
    pub reason: Option<TransferWhy>,
}

/// `end_call` and `enter_phone_on_keypad`: no arguments.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}
