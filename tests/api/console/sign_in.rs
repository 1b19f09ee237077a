//! Signing in and out, and what a session may do: refusals for a wrong password, a forged
//! sign-in form, a change without its CSRF token, an advisor trying an admin action, a name
//! guessed too often; a disabled account's session ending at once.

use callbridge::staff::{Role, audit};
use reqwest::StatusCode;
use sea_orm::EntityTrait;

use super::desk::{Desk, PASSWORD, account};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_person_signs_in_with_a_strict_cookie_and_out_again() {
    let app = spawn_app().await;
    account(&app, "Ana Ruiz", Role::Admin).await;
    let mut desk = Desk::new(&app);

    // Not signed in: pages send the browser to sign in and back.
    let home = desk.get("/console").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/console/login?next=%2Fconsole");
    let board = desk.get("/console/audit").await;
    assert_eq!(board.location(), "/console/login?next=%2Fconsole%2Faudit");

    // The form's own token comes as a cookie for the sign-in path only.
    let form = desk.get("/console/login").await;
    let login_cookie = form.set_cookie("cb_login").unwrap();
    assert!(
        login_cookie.contains("Path=/console/login"),
        "{login_cookie}"
    );
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    assert_eq!(desk.cookie("cb_login").unwrap(), form.field("login_token"));
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(form.headers["x-frame-options"], "DENY");

    // A wrong password is refused in words, the name kept in the form.
    let wrong = desk.sign_in("Ana Ruiz", "not the password!").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(
        wrong.body.contains("Wrong name or password."),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains(r#"value="Ana Ruiz""#));
    assert!(desk.cookie("cb_session").is_none());

    let signed = desk.sign_in("Ana Ruiz", PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), "/console");
    let session_cookie = signed.set_cookie("cb_session").unwrap();
    for attribute in [
        "Path=/console",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(
            session_cookie.contains(attribute),
            "{attribute} in {session_cookie}"
        );
    }
    // The sign-in form's token is spent.
    assert!(desk.cookie("cb_login").is_none());
    // Only the token's hash is stored.
    let token = desk.cookie("cb_session").unwrap().to_string();
    let rows = entity::staff_session::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].token_hash, token);

    let home = desk.get("/console").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Ana Ruiz (admin)"), "{}", home.body);
    assert_eq!(home.headers["cache-control"], "no-store");
    // Signed in, the sign-in page sends you on.
    assert_eq!(
        desk.get("/console/login?next=/console/staff")
            .await
            .location(),
        "/console/staff"
    );

    // Signing out needs the token too, then the cookie opens nothing.
    let refused = desk.post("/console/logout", &[("csrf", "guess")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = desk.csrf().await;
    let out = desk.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.set_cookie("cb_session").unwrap().contains("Max-Age=0"));
    assert!(desk.cookie("cb_session").is_none());
    desk.set("cb_session", Some(&token));
    assert_eq!(desk.get("/console").await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn a_sign_in_without_the_forms_own_token_is_refused() {
    let app = spawn_app().await;
    account(&app, "Ana Ruiz", Role::Admin).await;
    let mut desk = Desk::new(&app);
    let form = desk.get("/console/login").await;
    let token = form.field("login_token");
    // Another site's page can post the form, but cannot read or set our cookie.
    desk.set("cb_login", None);
    let forged = desk
        .post(
            "/console/login",
            &[
                ("name", "Ana Ruiz"),
                ("password", PASSWORD),
                ("login_token", &token),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.body.contains("expired"), "{}", forged.body);
    assert!(desk.cookie("cb_session").is_none());
    // The refusal hands out a fresh form that works.
    let fresh = forged.field("login_token");
    let ok = desk
        .post(
            "/console/login",
            &[
                ("name", "Ana Ruiz"),
                ("password", PASSWORD),
                ("login_token", &fresh),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    app.stop().await;
}

#[tokio::test]
async fn an_advisor_is_refused_admin_pages_and_changes_need_the_csrf_token() {
    let app = spawn_app().await;
    let ana = account(&app, "Ana Ruiz", Role::Admin).await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut admin = Desk::new(&app);
    admin.sign_in("Ana Ruiz", PASSWORD).await;
    let mut advisor = Desk::new(&app);
    advisor.sign_in("Ben Ode", PASSWORD).await;

    // The advisor sees the desk, not the admin pages, and cannot post to them with their own
    // valid token either.
    assert_eq!(advisor.get("/console").await.status, StatusCode::OK);
    let page = advisor.get("/console/staff").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("Admins only"));
    let their_csrf = advisor.csrf().await;
    let tried = advisor
        .post(
            "/console/staff",
            &[
                ("csrf", &their_csrf),
                ("name", "Mallory"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);
    assert_eq!(
        advisor.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );

    // The admin's change without the token, or with the advisor's, changes nothing.
    for token in ["", their_csrf.as_str()] {
        let refused = admin
            .post(
                "/console/staff",
                &[
                    ("csrf", token),
                    ("name", "Cy Tan"),
                    ("role", "advisor"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
    let names: Vec<String> = callbridge::staff::accounts::list(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["Ana Ruiz", "Ben Ode"]);
    assert!(audit::recent(&app.state.db, 10).await.unwrap().is_empty());

    // With it, the account is made and the audit log says who made it.
    let csrf = admin.csrf().await;
    let added = admin
        .post(
            "/console/staff",
            &[
                ("csrf", &csrf),
                ("name", "Cy Tan"),
                ("role", "advisor"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let again = admin
        .post(
            "/console/staff",
            &[
                ("csrf", &csrf),
                ("name", "Cy Tan"),
                ("role", "advisor"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already exists"), "{}", again.body);
    let short = admin
        .post(
            "/console/staff",
            &[
                ("csrf", &csrf),
                ("name", "Di Lo"),
                ("role", "advisor"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);

    // Disabling the advisor ends their session at once; the admin cannot disable themself.
    let listed = admin.get("/console/staff").await;
    assert!(listed.body.contains("Cy Tan"));
    let ben = callbridge::staff::accounts::list(&app.state.db)
        .await
        .unwrap();
    let ben = ben.iter().find(|a| a.name == "Ben Ode").unwrap();
    let disabled = admin
        .post(
            &format!("/console/staff/{}/disable", ben.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    assert_eq!(advisor.get("/console").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        advisor.sign_in("Ben Ode", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let myself = admin
        .post(
            &format!("/console/staff/{}/disable", ana.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(myself.status, StatusCode::BAD_REQUEST);

    let log = audit::recent(&app.state.db, 10).await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("Ana Ruiz", "staff.disable"), ("Ana Ruiz", "staff.add")]
    );
    let page = admin.get("/console/audit").await;
    assert!(
        page.body.contains("staff.disable") && page.body.contains("Cy Tan"),
        "{}",
        page.body
    );
    app.stop().await;
}

#[tokio::test]
async fn guessing_one_name_is_throttled_whatever_the_password() {
    let app = spawn_app().await;
    account(&app, "Ana Ruiz", Role::Admin).await;
    let mut desk = Desk::new(&app);
    for _ in 0..5 {
        let r = desk.sign_in("ana ruiz", "a wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth try, even with the right password and the name's own case, waits.
    let held = desk.sign_in("Ana Ruiz", PASSWORD).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{}", held.body);
    let wait: u64 = held.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&wait), "{wait}");
    assert!(held.body.contains("Too many sign-in attempts"));
    assert!(desk.cookie("cb_session").is_none());
    // Another name is not affected.
    account(&app, "Ben Ode", Role::Advisor).await;
    assert_eq!(
        desk.sign_in("Ben Ode", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}
