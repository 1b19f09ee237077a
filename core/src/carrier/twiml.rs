//! The TwiML documents the voice webhook answers with.
//!
//! Built by hand rather than with an XML crate: a few fixed shapes, every interpolated value
//! escaped by [`escape`].

use std::fmt::Write;

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Escapes text for an XML attribute or element.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<Connect><Stream>` to our media socket, passing `parameters` back to us in `start`. With
/// `action`, Twilio asks that URL what to do once we close the stream (transfer or hang up).
pub fn connect_stream(
    stream_url: &str,
    status_callback: Option<&str>,
    parameters: &[(&str, &str)],
    action: Option<&str>,
) -> String {
    let mut xml = format!("{HEADER}<Response><Connect");
    if let Some(url) = action {
        let _ = write!(xml, " action=\"{}\" method=\"POST\"", escape(url));
    }
    let _ = write!(xml, "><Stream url=\"{}\"", escape(stream_url));
    if let Some(cb) = status_callback {
        let _ = write!(
            xml,
            " statusCallback=\"{}\" statusCallbackMethod=\"POST\"",
            escape(cb)
        );
    }
    xml.push('>');
    for (name, value) in parameters {
        let _ = write!(
            xml,
            "<Parameter name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        );
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

/// What a caller gets when we cannot take the call: a short message and, when a service desk
/// is configured, a transfer to it; otherwise a polite hang-up.
pub fn busy(message: &str, service_desk: Option<&str>) -> String {
    let mut xml = format!("{HEADER}<Response>");
    if !message.is_empty() {
        let _ = write!(xml, "<Say>{}</Say>", escape(message));
    }
    match service_desk {
        Some(number) => {
            let _ = write!(xml, "<Dial>{}</Dial>", escape(number));
        }
        None => xml.push_str("<Hangup/>"),
    }
    xml.push_str("</Response>");
    xml
}

/// Hands the caller to `number` after `message`, warm: when the advisor picks up, Twilio
/// fetches `whisper_url` (POST) on the advisor's leg and plays what it answers (who is calling
/// and what they want) to the advisor alone before the two are connected.
pub fn warm_transfer(message: &str, number: &str, whisper_url: &str, dial: &DialResult) -> String {
    let mut xml = format!("{HEADER}<Response>");
    if !message.is_empty() {
        let _ = write!(xml, "<Say>{}</Say>", escape(message));
    }
    let _ = write!(
        xml,
        "<Dial timeout=\"{}\" action=\"{}\" method=\"POST\"><Number url=\"{}\" method=\"POST\">{}</Number></Dial></Response>",
        dial.timeout_secs,
        escape(&dial.action_url),
        escape(whisper_url),
        escape(number)
    );
    xml
}

/// Where Twilio reports how a transfer's `<Dial>` ended, and how long it rings first: an
/// unanswered desk brings the caller back to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialResult {
    /// Seconds the desk rings.
    pub timeout_secs: u64,
    /// The `<Dial action>`: asked with `DialCallStatus` when the dial is over.
    pub action_url: String,
}

/// After a dial the desk answered: the call is over when they hang up.
pub fn hang_up() -> String {
    format!("{HEADER}<Response><Hangup/></Response>")
}

/// What the advisor hears before a warm transfer connects them: `message`, then the call.
pub fn whisper(message: &str) -> String {
    format!(
        "{HEADER}<Response><Say>{}</Say></Response>",
        escape(message)
    )
}

/// Says `message` and hangs up.
pub fn goodbye(message: &str) -> String {
    busy(message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warm_transfer_dials_the_desk_with_a_whisper_for_the_advisor() {
        let xml = warm_transfer(
            "",
            "+15125550199",
            "https://b.example/twilio/whisper?call=CA1&x=<",
            &DialResult {
                timeout_secs: 20,
                action_url: "https://b.example/twilio/dial-result?call=CA1".into(),
            },
        );
        assert!(
            xml.ends_with(
                "<Response><Dial timeout=\"20\" action=\"https://b.example/twilio/dial-result?call=CA1\" \
                 method=\"POST\"><Number url=\"https://b.example/twilio/whisper?call=CA1&amp;x=&lt;\" \
                 method=\"POST\">+15125550199</Number></Dial></Response>"
            ),
            "{xml}"
        );
        assert!(whisper("Maria & co").ends_with("<Response><Say>Maria &amp; co</Say></Response>"));
    }

    #[test]
    fn connect_stream_carries_the_token_as_a_parameter() {
        let xml = connect_stream(
            "wss://b.example/twilio/media",
            Some("https://b.example/twilio/stream-status"),
            &[("token", "v1.1.a&b")],
            None,
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect>\
             <Stream url=\"wss://b.example/twilio/media\" \
             statusCallback=\"https://b.example/twilio/stream-status\" statusCallbackMethod=\"POST\">\
             <Parameter name=\"token\" value=\"v1.1.a&amp;b\"/></Stream></Connect></Response>"
        );
    }

    #[test]
    fn busy_dials_the_desk_when_configured() {
        assert_eq!(
            busy("All <lines> busy", Some("+15551234567")),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>All &lt;lines&gt; busy</Say>\
             <Dial>+15551234567</Dial></Response>"
        );
        assert!(busy("Sorry", None).ends_with("<Hangup/></Response>"));
    }

    #[test]
    fn an_action_url_says_where_twilio_goes_after_the_stream() {
        let xml = connect_stream(
            "wss://b.example/twilio/media",
            None,
            &[],
            Some("https://b.example/twilio/after-stream"),
        );
        assert!(xml.contains(
            "<Connect action=\"https://b.example/twilio/after-stream\" method=\"POST\"><Stream url="
        ));
    }
}
