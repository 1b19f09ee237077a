//! What a CRM operation refuses, in terms the agent can relay to a caller and the staff API
//! can map to a stable code. Database failures are kept apart from refusals: only
//! [`CrmError::Db`] means "something broke".

use chrono::NaiveDate;
use sea_orm::DbErr;

use super::availability::Slot;

/// Why a slot cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The shop is closed that day (weekly hours or a closure).
    Closed {
        /// The day.
        day: NaiveDate,
        /// The closure's reason, when it is one.
        reason: Option<String>,
    },
    /// Open that day, but the job does not fit between opening and closing.
    OutsideHours {
        /// Opening, "8:00 AM".
        opens: String,
        /// Closing, "6:00 PM".
        closes: String,
    },
    /// Starts too soon (or in the past).
    TooSoon,
    /// Beyond the booking horizon.
    TooFar,
    /// Not on the grid of offered start times.
    OffGrid,
    /// Every bay is taken for some of the time.
    Taken,
}

/// A CRM operation's refusal or failure.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// A field failed validation; the message names the field and the fix.
    #[error("{0}")]
    Invalid(String),
    /// The named service is not on the menu.
    #[error("no service called {asked:?}; the menu is: {}", menu.join(", "))]
    UnknownService {
        /// What was asked for.
        asked: String,
        /// Every service name.
        menu: Vec<String>,
    },
    /// Several services match the name.
    #[error("{asked:?} could mean {}; ask the caller which", candidates.join(" or "))]
    AmbiguousService {
        /// What was asked for.
        asked: String,
        /// The matching names.
        candidates: Vec<String>,
    },
    /// No such record (or not this customer's).
    #[error("no {what} with id {id}")]
    NotFound {
        /// Which kind of record.
        what: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// No customer with this phone number.
    #[error("no customer with phone number {0}")]
    UnknownCustomer(String),
    /// A customer with this phone number exists already.
    #[error("a customer with phone number {phone} already exists (id {customer_id})")]
    CustomerExists {
        /// The number.
        phone: String,
        /// The existing customer.
        customer_id: i32,
    },
    /// The VIN is on another vehicle already.
    #[error("VIN {0} is already registered to another vehicle")]
    VinInUse(String),
    /// The appointment's state does not allow the change.
    #[error("appointment {id} is {status} and cannot be changed")]
    NotChangeable {
        /// The appointment.
        id: i32,
        /// Its status.
        status: String,
    },
    /// The requested time cannot be booked; `alternatives` are the nearest that can.
    #[error("that time is not available ({reason:?})")]
    Unavailable {
        /// Why.
        reason: Unavailable,
        /// Bookable slots near the one asked for, earliest first.
        alternatives: Vec<Slot>,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Whether `e` is a UNIQUE constraint violation (the idempotency key, a phone, a VIN).
pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Whether `e` says the database could not be reached or did not answer (worth retrying), as
/// opposed to the database refusing the statement (it would refuse it again).
pub(crate) fn is_connection_error(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            !matches!(**s, sea_orm::sqlx::Error::Database(_))
        }
        _ => false,
    }
}
