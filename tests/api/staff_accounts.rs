//! Staff accounts, console sessions and the audit log on the real database (PostgreSQL when
//! `TEST_DATABASE_URL` is set, else SQLite), and `callbridge staff add` as the binary runs it.

use std::io::Write;
use std::process::{Command, Stdio};

use callbridge::staff::audit::{self, Actor, Change};
use callbridge::staff::{Role, StaffError, accounts, sessions};
use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};

use crate::helpers::database_url;

const PASSWORD: &str = "correct horse battery";

async fn db() -> (DatabaseConnection, String) {
    crate::helpers::install_crypto();
    let url = database_url().await;
    let db = callbridge::db::connect(&url).await.unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    (db, url)
}

fn noon() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

#[tokio::test]
async fn an_account_signs_in_with_its_password_only() {
    let (db, _) = db().await;
    let ana = accounts::add(&db, "Ana Ruiz", Role::Admin, PASSWORD, noon())
        .await
        .unwrap();
    assert_eq!(ana.role, Role::Admin);
    // The stored hash is Argon2id, salted: not the password.
    let row = entity::staff_user::Entity::find_by_id(ana.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.password_hash.starts_with("$argon2id$"),
        "{}",
        row.password_hash
    );
    assert!(!row.password_hash.contains(PASSWORD));

    let signed = accounts::sign_in(&db, "Ana Ruiz", PASSWORD).await.unwrap();
    assert_eq!(signed, Some(ana.clone()));
    for (name, password) in [
        ("Ana Ruiz", "correct horse battery!"),
        ("Ana Ruiz", ""),
        ("ana ruiz", PASSWORD),
        ("Nobody", PASSWORD),
    ] {
        let refused = accounts::sign_in(&db, name, password).await.unwrap();
        assert_eq!(refused, None, "{name} / {password}");
    }

    // One name, one account; passwords too short refused; names a form would mangle too.
    let again = accounts::add(&db, "Ana Ruiz", Role::Advisor, PASSWORD, noon()).await;
    assert!(matches!(again, Err(StaffError::NameTaken(_))), "{again:?}");
    // Two racing for one new name: one account, the other told the name is taken.
    let (a, b) = tokio::join!(
        accounts::add(&db, "Raced", Role::Advisor, PASSWORD, noon()),
        accounts::add(&db, "Raced", Role::Advisor, PASSWORD, noon()),
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let lost = if a.is_ok() { b } else { a };
    assert!(matches!(lost, Err(StaffError::NameTaken(_))), "{lost:?}");
    let short = accounts::add(&db, "Ben", Role::Advisor, "hunter2", noon()).await;
    assert!(matches!(short, Err(StaffError::BadPassword)), "{short:?}");
    let odd = accounts::add(&db, "Ben<script>", Role::Advisor, PASSWORD, noon()).await;
    assert!(matches!(odd, Err(StaffError::BadName)), "{odd:?}");

    // A disabled account signs in no more.
    let mut active = row.into_active_model();
    active.disabled = Set(true);
    active.update(&db).await.unwrap();
    assert_eq!(
        accounts::sign_in(&db, "Ana Ruiz", PASSWORD).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_session_opens_by_its_cookie_until_it_ends_or_the_person_signs_out() {
    let (db, _) = db().await;
    let ben = accounts::add(&db, "Ben Ode", Role::Advisor, PASSWORD, noon())
        .await
        .unwrap();
    let new = sessions::open(&db, &ben, noon()).await.unwrap();
    assert_eq!(
        new.expires_at,
        noon() + Duration::hours(sessions::SESSION_HOURS)
    );
    // Only the token's hash is stored.
    let rows = entity::staff_session::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].token_hash, new.token);
    assert_eq!(rows[0].token_hash.len(), 64);

    let found = sessions::find(&db, &new.token, noon() + Duration::hours(1))
        .await
        .unwrap()
        .expect("the session is open");
    assert_eq!(found.member, ben);
    assert!(found.csrf_matches(&new.csrf));
    assert!(!found.csrf_matches(""));
    assert!(!found.csrf_matches(&new.token));
    // Another token, or the stored hash itself, opens nothing.
    for other in [rows[0].token_hash.as_str(), "x", ""] {
        assert!(sessions::find(&db, other, noon()).await.unwrap().is_none());
    }
    // Two sessions have different tokens and CSRF tokens.
    let second = sessions::open(&db, &ben, noon()).await.unwrap();
    assert_ne!(second.token, new.token);
    assert_ne!(second.csrf, new.csrf);

    // Signing out closes that session only.
    sessions::close(&db, &found).await.unwrap();
    assert!(
        sessions::find(&db, &new.token, noon())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sessions::find(&db, &second.token, noon())
            .await
            .unwrap()
            .is_some()
    );

    // Past its end the session is gone (and its row with it).
    let late = noon() + Duration::hours(sessions::SESSION_HOURS);
    assert!(
        sessions::find(&db, &second.token, late)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        entity::staff_session::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .is_empty()
    );
    // Expired rows no browser comes back for are swept.
    sessions::open(&db, &ben, noon()).await.unwrap();
    assert_eq!(sessions::remove_expired(&db, late).await.unwrap(), 1);
}

#[tokio::test]
async fn changes_are_logged_with_who_made_them_newest_first() {
    let (db, _) = db().await;
    let cy = accounts::add(&db, "Cy Park", Role::Advisor, PASSWORD, noon())
        .await
        .unwrap();
    audit::record(
        &db,
        Change {
            actor: Actor::Staff(&cy),
            action: "appointment.cancel",
            target: Some("appointment:42".into()),
            detail: Some(serde_json::json!({"status": ["booked", "cancelled"]})),
        },
        noon(),
    )
    .await
    .unwrap();
    audit::record(
        &db,
        Change {
            actor: Actor::ApiKey,
            action: "appointment.move",
            target: Some("appointment:43".into()),
            detail: None,
        },
        noon() + Duration::minutes(5),
    )
    .await
    .unwrap();
    let log = audit::recent(&db, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].actor.as_str(), log[0].staff_user_id), ("api", None));
    assert_eq!(log[1].actor, "Cy Park");
    assert_eq!(log[1].staff_user_id, Some(cy.id));
    assert_eq!(log[1].action, "appointment.cancel");
    assert_eq!(log[1].target.as_deref(), Some("appointment:42"));
    assert!(log[1].detail.as_deref().unwrap().contains("cancelled"));
}

/// `callbridge staff add` against `url`, the password on standard input.
fn staff_add(url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callbridge"))
        .arg("staff")
        .arg("add")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_first_admin_is_made_on_the_command_line() {
    let (db, url) = db().await;
    let made = staff_add(
        &url,
        &["Dee Admin", "--role", "admin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(out.contains("Dee Admin (admin) created"), "{out}");
    // The password never shows in what the command prints.
    let all = format!("{out}{}", String::from_utf8_lossy(&made.stderr));
    assert!(!all.contains(PASSWORD), "{all}");
    let dee = accounts::sign_in(&db, "Dee Admin", PASSWORD)
        .await
        .unwrap()
        .expect("signs in");
    assert_eq!(dee.role, Role::Admin);
    let log = audit::recent(&db, 1).await.unwrap();
    assert_eq!(log[0].action, "staff.add");

    // A role that does not exist, a name taken and a short password are refused, clearly.
    for (args, stdin, says) in [
        (&["Eve", "--role", "owner"][..], PASSWORD, "unknown role"),
        (
            &["Dee Admin", "--role", "advisor"][..],
            PASSWORD,
            "already exists",
        ),
        (&["Eve"][..], "short", "12 to 256 characters"),
    ] {
        let refused = staff_add(&url, args, &format!("{stdin}\n"));
        assert!(!refused.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
