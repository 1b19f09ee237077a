//! Console sessions. Signing in makes a random 256-bit token that goes to the browser in a
//! cookie (HttpOnly, SameSite=Strict, Secure behind HTTPS); the database keeps only its
//! SHA-256, so a copy of the table signs nobody in. Each session has its own CSRF token,
//! which every change through the console must send back besides the cookie (the
//! synchronizer-token pattern): a page on another site can make the browser send the cookie,
//! but cannot read the token. Sessions last `SESSION_HOURS`; signing out deletes the row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use entity::staff_session;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::StaffError;
use super::accounts::{self, StaffMember};

/// How long a session lasts from sign-in: a working day and some.
pub const SESSION_HOURS: i64 = 12;

/// A session just opened: what goes into the cookie and the pages.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's value; never stored.
    pub token: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A session found by its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is signed in.
    pub member: StaffMember,
    /// The token changes must carry.
    pub csrf: String,
    /// The stored key (for signing out).
    token_hash: String,
}

impl Session {
    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// A fresh 256-bit random token, URL-safe base64 (43 characters): session cookies, CSRF
/// tokens, the sign-in form's own token.
pub fn random_token() -> Result<String, StaffError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StaffError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Opens a session for `member`.
pub async fn open(
    db: &DatabaseConnection,
    member: &StaffMember,
    now: DateTime<Utc>,
) -> Result<NewSession, StaffError> {
    let token = random_token()?;
    let csrf = random_token()?;
    let expires_at = now + Duration::hours(SESSION_HOURS);
    staff_session::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(member.id),
        csrf_token: Set(csrf.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(NewSession {
        token,
        csrf,
        expires_at,
    })
}

/// The live session whose cookie is `token`: `None` when there is none, it has expired, or
/// its account is gone or disabled.
pub async fn find(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StaffError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(row) = staff_session::Entity::find_by_id(hash.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.expires_at <= now {
        staff_session::Entity::delete_by_id(hash).exec(db).await?;
        return Ok(None);
    }
    let Some(member) = accounts::by_id(db, row.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        member,
        csrf: row.csrf_token,
        token_hash: row.token_hash,
    }))
}

/// Signs out: the session's row is deleted, so its cookie opens nothing any more.
pub async fn close(db: &DatabaseConnection, session: &Session) -> Result<(), StaffError> {
    staff_session::Entity::delete_by_id(session.token_hash.clone())
        .exec(db)
        .await?;
    Ok(())
}

/// Closes every session of account `user_id` (it was disabled); returns how many.
pub async fn close_all_for<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: i32,
) -> Result<u64, StaffError> {
    let done = staff_session::Entity::delete_many()
        .filter(staff_session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Deletes sessions past their end (signed-out browsers that never came back); returns how
/// many.
pub async fn remove_expired(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, StaffError> {
    let done = staff_session::Entity::delete_many()
        .filter(staff_session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}
