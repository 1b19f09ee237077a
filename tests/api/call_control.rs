//! Call control through Twilio's REST API, against the fake: transfer, goodbye, hang-up, and
//! the refusals a real account gives.

use std::time::Duration;

use url::Url;

use callbridge::call_control::{CallControlError, TwilioCallControl};
use callbridge::config::Secret;

use crate::fakes::twilio_rest::FakeTwilioRest;

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

#[tokio::test]
async fn a_call_is_transferred_then_hung_up_and_refusals_are_typed() {
    crate::helpers::install_crypto();
    let fake = FakeTwilioRest::start(ACCOUNT, TOKEN, &["CAlive1", "CAlive2"]).await;
    let c = client(&fake.base_url, TOKEN);
    c.transfer(
        "CAlive1",
        "Connecting you to the service desk.",
        "+15125550199",
    )
    .await
    .unwrap();
    let twiml = &fake.updates("CAlive1")[0]["Twiml"];
    assert!(
        twiml.contains("<Say>Connecting you to the service desk.</Say>"),
        "{twiml}"
    );
    assert!(twiml.contains("<Dial>+15125550199</Dial>"), "{twiml}");

    c.say_goodbye("CAlive2", "Thanks for calling & goodbye.")
        .await
        .unwrap();
    assert!(fake.updates("CAlive2")[0]["Twiml"].contains("Thanks for calling &amp; goodbye.<"));
    c.hang_up("CAlive2").await.unwrap();
    assert_eq!(fake.updates("CAlive2")[1]["Status"], "completed");

    // A finished call cannot be redirected; an unknown one is 20404; bad credentials 20003.
    assert!(matches!(
        c.transfer("CAlive2", "x", "+15125550199").await,
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
