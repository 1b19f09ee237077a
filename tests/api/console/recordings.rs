//! A call's recording in the console: the call page plays it with the transcript's turns
//! placed in it, the file is served in byte ranges (how a browser seeks) to signed-in staff
//! only, and a stored path that leads out of the recordings folder is never followed.

use callbridge::audio::SampleRate;
use callbridge::audio::ogg_opus::OggOpusStream;
use callbridge::crm::calls::{self, Speaker, TurnRecord};
use callbridge::staff::Role;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE};

use super::desk::{Desk, PASSWORD, account};
use crate::helpers::{TestApp, spawn_app};

/// A real two-channel file of `seconds`, as the recorder writes them.
pub(crate) fn ogg_file(seconds: usize) -> Vec<u8> {
    let mut s = OggOpusStream::new(SampleRate::Hz8000, 1, "callbridge", &[]).unwrap();
    for i in 0..seconds * 50 {
        let frame: Vec<i16> = (0..160)
            .flat_map(|n| {
                let t = (i * 160 + n) as f32 / 8000.0;
                let v = ((t * 440.0 * std::f32::consts::TAU).sin() * 6000.0) as i16;
                [v, v / 2]
            })
            .collect();
        s.push_frame(&frame).unwrap();
    }
    s.finish(&[]).unwrap();
    s.take_bytes()
}

/// A finished call `sid` with two turns, recorded in `relative` (which holds `bytes`, unless
/// the path leads elsewhere).
pub(crate) async fn recorded_call(app: &TestApp, sid: &str, relative: &str, bytes: &[u8]) {
    let db = &app.state.db;
    let started = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap();
    let log = calls::start(db, sid, Some("+15125550101"), None, started)
        .await
        .unwrap();
    for (speaker, text, after) in [
        (Speaker::Agent, "Thanks for calling, how can I help?", 0),
        (Speaker::Caller, "Is my car ready?", 3),
    ] {
        let turn = TurnRecord {
            text: text.into(),
            started_at: started + Duration::seconds(after),
            ..TurnRecord::default()
        };
        calls::append_turn(db, log.id, speaker, &turn)
            .await
            .unwrap();
    }
    calls::finish(
        db,
        log.id,
        "completed",
        None,
        started + Duration::seconds(6),
    )
    .await
    .unwrap();
    calls::add_recording(db, sid, relative, started)
        .await
        .unwrap();
    let path = app.state.settings.recording.dir.join(relative);
    if let Some(parent) = path.parent()
        && relative.starts_with("2026")
    {
        std::fs::create_dir_all(parent).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[tokio::test]
async fn a_recording_is_served_in_ranges_beside_its_transcript() {
    let app = spawn_app().await;
    let file = ogg_file(6);
    recorded_call(&app, "CArec1", "2026-11-30/CArec1-160000.ogg", &file).await;

    // Signed out: the file is not there to be had.
    let mut stranger = Desk::new(&app);
    let (status, _, body) = stranger
        .get_bytes("/console/calls/CArec1/recording/0", None)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(body.is_empty());

    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let page = desk.get("/console/calls/CArec1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<audio id=\"recording-0\" class=\"recording\" controls preload=\"metadata\" src=\"/console/calls/CArec1/recording/0\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("data-leg=\"0\" data-offset=\"0.0\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("data-leg=\"0\" data-offset=\"3.0\""),
        "{}",
        page.body
    );

    let (status, headers, body) = desk
        .get_bytes("/console/calls/CArec1/recording/0", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "audio/ogg");
    assert_eq!(body, file);
    let (status, headers, body) = desk
        .get_bytes("/console/calls/CArec1/recording/0", Some("bytes=100-199"))
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        headers[CONTENT_RANGE],
        format!("bytes 100-199/{}", file.len()).as_str()
    );
    assert_eq!(body, file[100..200]);

    // A call without a recording, and a path that leads out of the folder.
    calls::start(&app.state.db, "CAnorec", None, None, Utc::now())
        .await
        .unwrap();
    let page = desk.get("/console/calls/CAnorec").await;
    assert!(!page.body.contains("<audio"));
    for path in [
        "/console/calls/CAnorec/recording/0",
        "/console/calls/CArec1/recording/1",
    ] {
        let (status, _, _) = desk.get_bytes(path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    std::fs::write(app.state.settings.recording.dir.join("../secret.ogg"), b"x").unwrap();
    recorded_call(&app, "CAescape", "../secret.ogg", b"").await;
    let (status, _, body) = desk
        .get_bytes("/console/calls/CAescape/recording/0", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ne!(body, b"x");
    app.stop().await;
}
