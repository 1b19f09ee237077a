//! Staff accounts: created with a role and a password hashed by Argon2id (the `argon2` crate,
//! RustCrypto's, with its recommended parameters: 19 MiB, 2 passes), and checked at sign-in.
//! Hashing is deliberately slow (tens of milliseconds), so it runs on the blocking pool. An
//! unknown name is checked against a dummy hash as long as a real one takes, so the time a
//! refusal takes does not tell which names exist.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use entity::staff_user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use super::{Role, StaffError};
use crate::crm::error::is_unique_violation;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (a bound on what a sign-in form makes us hash).
pub const MAX_PASSWORD: usize = 256;

/// A signed-in person, as the console needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// Account id.
    pub id: i32,
    /// Sign-in name.
    pub name: String,
    /// What they may do.
    pub role: Role,
}

/// A hash of a password nobody has, checked when the name is unknown.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking("a password that is checked when the name is unknown").unwrap_or_default()
});

fn salt() -> Result<SaltString, StaffError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StaffError::Random(e.to_string()))?;
    SaltString::encode_b64(&bytes).map_err(|e| StaffError::Hash(e.to_string()))
}

fn hash_blocking(password: &str) -> Result<String, StaffError> {
    let salt = salt()?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

fn verify_blocking(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
        && name.trim() == name
}

/// Creates an account. The password is checked for length only: the people who set it are
/// the shop's own, and a length floor is what guidance (NIST SP 800-63B) asks for.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
    password: &str,
    now: DateTime<Utc>,
) -> Result<StaffMember, StaffError> {
    if !valid_name(name) {
        return Err(StaffError::BadName);
    }
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count()) {
        return Err(StaffError::BadPassword);
    }
    // Refused before the slow hash; the unique index still decides a race.
    if find(db, name).await?.is_some() {
        return Err(StaffError::NameTaken(name.to_string()));
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| StaffError::Hash(e.to_string()))??;
    let row = staff_user::ActiveModel {
        name: Set(name.to_string()),
        role: Set(role.as_str().to_string()),
        password_hash: Set(hash),
        created_at: Set(now),
        disabled: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        // Two `add`s racing for one name: the unique index refuses the second.
        if is_unique_violation(&e) {
            StaffError::NameTaken(name.to_string())
        } else {
            StaffError::Db(e)
        }
    })?;
    Ok(StaffMember {
        id: row.id,
        name: row.name,
        role,
    })
}

async fn find<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<staff_user::Model>, StaffError> {
    Ok(staff_user::Entity::find()
        .filter(staff_user::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// An account as the console's staff page lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    /// Account id.
    pub id: i32,
    /// Sign-in name.
    pub name: String,
    /// `advisor` or `admin`.
    pub role: String,
    /// Refused at sign-in, its sessions closed.
    pub disabled: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Every account, by name (a shop has a handful).
pub async fn list(db: &DatabaseConnection) -> Result<Vec<Account>, StaffError> {
    let rows = staff_user::Entity::find()
        .order_by_asc(staff_user::Column::Name)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Account {
            id: r.id,
            name: r.name,
            role: r.role,
            disabled: r.disabled,
            created_at: r.created_at,
        })
        .collect())
}

/// Disables or re-enables account `id`; returns its name, `None` when there is no such
/// account. A disabled account's sessions stop working at once ([`by_id`] no longer finds it);
/// the caller closes them too.
pub async fn set_disabled<C: ConnectionTrait>(
    db: &C,
    id: i32,
    disabled: bool,
) -> Result<Option<String>, StaffError> {
    let Some(row) = staff_user::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let name = row.name.clone();
    let mut row: staff_user::ActiveModel = row.into();
    row.disabled = Set(disabled);
    row.update(db).await?;
    Ok(Some(name))
}

/// The account `id`, if it exists and is enabled.
pub async fn by_id(db: &DatabaseConnection, id: i32) -> Result<Option<StaffMember>, StaffError> {
    let row = staff_user::Entity::find_by_id(id).one(db).await?;
    Ok(row.and_then(member))
}

fn member(row: staff_user::Model) -> Option<StaffMember> {
    if row.disabled {
        return None;
    }
    Some(StaffMember {
        id: row.id,
        role: Role::parse(&row.role)?,
        name: row.name,
    })
}

/// The person `name` signs in with `password`: `None` for a wrong password, an unknown name
/// or a disabled account, alike and in about the same time.
pub async fn sign_in(
    db: &DatabaseConnection,
    name: &str,
    password: &str,
) -> Result<Option<StaffMember>, StaffError> {
    if password.chars().count() > MAX_PASSWORD {
        return Ok(None);
    }
    let row = find(db, name).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let password = password.to_string();
    // The dummy hash is made (once) on the blocking pool too, not on the runtime's thread.
    let ok = tokio::task::spawn_blocking(move || {
        verify_blocking(&password, stored.as_deref().unwrap_or(&DUMMY_HASH))
    })
    .await
    .map_err(|e| StaffError::Hash(e.to_string()))?;
    Ok(row.filter(|_| ok).and_then(member))
}
