//! The service desk's people: accounts with a role and a password (`accounts`), console
//! sessions with their CSRF tokens (`sessions`), the audit log of the changes people make
//! (`audit`), and their changes to the appointment book (`bookings`) and to repair orders
//! (`vehicle_status`), each with its audit entry.
//! The bearer key of the staff API stays for machines; this is for people.
//!
//! Nothing here reads the clock: callers pass `now`, so expiry is tested without waiting.

pub mod accounts;
pub mod audit;
pub mod bookings;
pub mod callbacks;
pub mod phone;
pub mod sessions;
pub mod vehicle_status;

use std::fmt;

/// What a person may do. Advisors work the desk (calls, the board, callbacks); admins also
/// manage accounts and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Works the desk.
    Advisor,
    /// Works the desk and manages accounts.
    Admin,
}

impl Role {
    /// As stored and typed: `advisor`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Advisor => "advisor",
            Role::Admin => "admin",
        }
    }

    /// The stored or typed name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "advisor" => Some(Role::Advisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an account, session or audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The name is taken.
    #[error("a staff account named {0:?} already exists")]
    NameTaken(String),
    /// The name is empty, too long or has characters a sign-in form would mangle.
    #[error("a staff name is 1 to 64 letters, digits, spaces, dots, dashes or underscores")]
    BadName,
    /// The password is too short or too long.
    #[error("a password has {min} to {max} characters", min = accounts::MIN_PASSWORD, max = accounts::MAX_PASSWORD)]
    BadPassword,
    /// The role is neither `advisor` nor `admin`.
    #[error("unknown role {0:?}: advisor or admin")]
    BadRole(String),
    /// Hashing failed (out of memory, a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The system's random source failed (salts, session tokens).
    #[error("no randomness from the system: {0}")]
    Random(String),
    /// The database failed.
    #[error("staff database error: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// An audit entry that could not be written, as the error of the change it belongs to (a
/// booking, a repair order): writing one only fails when the database does.
impl From<StaffError> for crate::crm::CrmError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::Db(db) => crate::crm::CrmError::Db(db),
            other => crate::crm::CrmError::Db(sea_orm::DbErr::Custom(other.to_string())),
        }
    }
}
