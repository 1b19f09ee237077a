//! `callbridge demo` end to end on the built-in engines: the binary phones a running server
//! (whisper.cpp hears the caller clips, the scripted agent books through the CRM tools, Flite
//! speaks), prints the transcript, latencies and booking, saves the agent's audio, and the
//! appointment is in the database. Needs the Whisper model (`callbridge models fetch`).

use std::process::Command;

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use callbridge::audio::{AudioFormat, wav};
use entity::{appointment, service_type};

use crate::helpers::{PUBLIC_URL, spawn_app_with, test_env, unique};

#[tokio::test]
async fn the_demo_call_books_an_oil_change_on_the_built_in_engines() {
    let app = spawn_app_with(&[("CALL_MODE", "agent")]).await;
    let p = &app.state.settings.providers;
    assert!(
        p.whisper_model.is_file(),
        "the Whisper model is missing at {}: run `callbridge models fetch`",
        p.whisper_model.display()
    );
    let tz = app.state.settings.business.timezone;
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    callbridge::crm::seed::seed(&app.state.db, &data, tz, today)
        .await
        .unwrap();

    // The binary with the server's settings, as `scripts/run.sh` runs it beside the server.
    let mut env = test_env(&[]).await;
    env.retain(|(k, _)| k != "DATABASE_URL");
    env.push((
        "DATABASE_URL".into(),
        app.state.settings.storage.database_url.expose().to_string(),
    ));
    let saved = std::env::temp_dir().join(format!("{}.wav", unique("demo-call")));
    let args = [
        "demo".to_string(),
        "--url".into(),
        PUBLIC_URL.into(),
        "--connect-to".into(),
        format!("http://127.0.0.1:{}", app.port),
        "--save".into(),
        saved.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_callbridge"))
            .env_clear()
            .envs(env)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The printout: what was heard and said, each turn's latency, the booking.
    // The recogniser's exact words vary with where the live audio is cut ("book an" was once
    // heard as "boot and"); what the booking needs must be there.
    let first_caller_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("caller:"))
        .expect("the caller's words are printed");
    assert!(first_caller_line.contains("oil change"), "{stdout}");
    assert!(stdout.contains("Shall I book it?"), "{stdout}");
    let answered = stdout.matches("answered after ").count();
    assert_eq!(answered, 4, "every caller turn was answered: {stdout}");
    assert!(stdout.contains("Outcome: booked"), "{stdout}");
    let booking_line = stdout
        .lines()
        .find(|l| l.starts_with("Booking #"))
        .expect("a booking is printed");
    assert!(booking_line.contains("Oil change"), "{booking_line}");
    assert!(booking_line.contains("Tuesday"), "{booking_line}");

    // The appointment is in the database, once, for the call the demo placed.
    let call_sid = stdout
        .split(['(', ')'])
        .find(|s| s.starts_with("CA"))
        .expect("the call sid is printed");
    let booked = appointment::Entity::find()
        .filter(appointment::Column::CallSid.eq(call_sid))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].status, "booked");
    let service = service_type::Entity::find_by_id(booked[0].service_type_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(service.name, "Oil change");
    assert_eq!(
        booked[0]
            .starts_at
            .with_timezone(&tz)
            .format("%A")
            .to_string(),
        "Tuesday"
    );

    // The agent's audio, as the caller heard it.
    let audio = wav::read(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(audio.format, AudioFormat::MULAW_8K);
    assert!(audio.data.len() > 8000 * 10, "{} bytes", audio.data.len());
    let _ = std::fs::remove_file(&saved);
    app.stop().await;
}
