//! Call control through Twilio's REST API, against the fake: transfer, goodbye, hang-up, and
//! the refusals a real account gives; and TwiML decisions answered by whichever node Twilio asks.

use std::time::Duration;

use url::Url;

use callbridge::call_control::{CallControlError, TwilioCallControl};
use callbridge::config::{CallControlMode, Secret};
use callbridge::handoff::Handoff;

use crate::fakes::twilio_rest::FakeTwilioRest;
use crate::helpers::*;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";

fn client(base: &str, token: &str) -> TwilioCallControl {
    TwilioCallControl::new(
        Url::parse(base).unwrap(),
        Some(ACCOUNT),
        Some(&Secret::new(token)),
        Duration::from_secs(5),
    )
    .unwrap()
}

/// Twenty seconds of ringing, then Twilio asks us what next.
fn dial(sid: &str) -> callbridge::carrier::twiml::DialResult {
    callbridge::carrier::twiml::DialResult {
        timeout_secs: 20,
        action_url: format!("https://bridge.test/twilio/dial-result?call={sid}"),
    }
}

#[tokio::test]
async fn a_call_is_transferred_then_hung_up_and_refusals_are_typed() {
    crate::helpers::install_crypto();
    let fake = FakeTwilioRest::start(ACCOUNT, TOKEN, &["CAlive1", "CAlive2"]).await;
    let c = client(&fake.base_url, TOKEN);
    c.transfer(
        "CAlive1",
        "Connecting you to the service desk.",
        "+15125550199",
        "https://bridge.test/twilio/whisper?call=CAlive1",
        &dial("CAlive1"),
    )
    .await
    .unwrap();
    let twiml = &fake.updates("CAlive1")[0]["Twiml"];
    assert!(
        twiml.contains("<Say>Connecting you to the service desk.</Say>"),
        "{twiml}"
    );
    assert!(
        twiml.contains(
            "<Dial timeout=\"20\" action=\"https://bridge.test/twilio/dial-result?call=CAlive1\" method=\"POST\">\
             <Number url=\"https://bridge.test/twilio/whisper?call=CAlive1\" method=\"POST\">+15125550199</Number></Dial>"
        ),
        "{twiml}"
    );

    c.say_goodbye("CAlive2", "Thanks for calling & goodbye.")
        .await
        .unwrap();
    assert!(fake.updates("CAlive2")[0]["Twiml"].contains("Thanks for calling &amp; goodbye.<"));
    c.hang_up("CAlive2").await.unwrap();
    assert_eq!(fake.updates("CAlive2")[1]["Status"], "completed");

    // A finished call cannot be redirected; an unknown one is 20404; bad credentials 20003.
    assert!(matches!(
        c.transfer(
            "CAlive2",
            "x",
            "+15125550199",
            "https://bridge.test/twilio/whisper?call=CAlive2",
            &dial("CAlive2"),
        )
        .await,
        Err(CallControlError::Refused {
            status: 400,
            code: 21220,
            ..
        })
    ));
    assert!(matches!(
        c.hang_up("CAnobody").await,
        Err(CallControlError::Refused {
            status: 404,
            code: 20404,
            ..
        })
    ));
    assert!(matches!(
        client(&fake.base_url, "wrong").hang_up("CAlive1").await,
        Err(CallControlError::Refused {
            status: 401,
            code: 20003,
            ..
        })
    ));
    // Path characters in a sid never reach the URL.
    assert!(matches!(
        c.hang_up("CAlive1/../../x").await,
        Err(CallControlError::Refused { code: 20404, .. })
    ));
    assert!(matches!(
        TwilioCallControl::new(
            Url::parse(&fake.base_url).unwrap(),
            None,
            None,
            Duration::from_secs(1)
        ),
        Err(CallControlError::NotConfigured)
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(matches!(
        client(&format!("http://127.0.0.1:{port}"), TOKEN)
            .hang_up("CAlive1")
            .await,
        Err(CallControlError::Unreachable(_))
    ));
}

#[tokio::test]
async fn an_after_stream_request_on_another_node_gets_the_decision_the_streaming_node_made() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("skipped: decisions cross nodes through Redis (TEST_REDIS_URL)");
        return;
    }
    let prefix = unique("cbtest");
    let shared = [
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("SERVICE_DESK_NUMBER", "+15125550199"),
    ];
    let streaming_node = spawn_app_with(&shared).await;
    let other_node = spawn_app_with(&shared).await;
    let (goodbye, transfer) = (unique("CA"), unique("CA"));
    let handoffs = &streaming_node.state.handoffs;
    handoffs
        .carry_out(CallControlMode::Twiml, &goodbye, Handoff::HangUp)
        .await;
    handoffs
        .carry_out(CallControlMode::Twiml, &transfer, Handoff::Transfer)
        .await;
    let after_stream = |sid: String| {
        let node = &other_node;
        async move {
            let r = node
                .post_form("/twilio/after-stream", &[("CallSid", &sid)], None)
                .await;
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let twiml = after_stream(goodbye.clone()).await;
    assert!(
        twiml.contains("<Hangup/>") && !twiml.contains("went wrong"),
        "{twiml}"
    );
    let twiml = after_stream(transfer).await;
    assert!(
        twiml.contains("+15125550199") && !twiml.contains("went wrong"),
        "{twiml}"
    );
    // A decision is taken once: asked again, the other node has none and hands the caller on.
    let twiml = after_stream(goodbye).await;
    assert!(twiml.contains("went wrong"), "{twiml}");
    streaming_node.stop().await;
    other_node.stop().await;
}
