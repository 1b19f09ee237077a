//! What the console's live view is told about calls in progress, as JSON (to browsers over
//! Server-Sent Events, and between nodes over Redis pub/sub).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened on a call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// The call is answered and its caller looked up.
    Started {
        /// Carrier call id.
        sid: String,
        /// Caller's number, when the carrier gave one.
        from: Option<String>,
        /// The customer's name, when the number is on file.
        caller: Option<String>,
        /// Their vehicles ("2020 Honda Accord").
        vehicles: Vec<String>,
        /// The node running it.
        node: String,
        /// When it started.
        at: DateTime<Utc>,
    },
    /// What the recogniser hears the caller saying so far (changes until the turn ends).
    Hearing {
        /// Call.
        sid: String,
        /// The words so far.
        text: String,
    },
    /// A finished turn, with its stage latencies.
    Turn {
        /// Call.
        sid: String,
        /// `caller` or `agent`.
        speaker: String,
        /// What was said (the agent: what it set out to say).
        text: String,
        /// When it was said.
        at: DateTime<Utc>,
        /// Caller turns: recognition time after the end of speech.
        stt_ms: Option<i32>,
        /// Agent turns: time to the model's first token.
        llm_ms: Option<i32>,
        /// Agent turns: time to the first audio.
        tts_ms: Option<i32>,
    },
    /// The caller cut the agent's last reply: this much of it was heard.
    Heard {
        /// Call.
        sid: String,
        /// What was heard.
        text: String,
    },
    /// The call is over.
    Ended {
        /// Call.
        sid: String,
        /// Its outcome (booked, transferred, hung_up...).
        outcome: String,
    },
}

impl LiveEvent {
    /// The call it is about.
    pub fn sid(&self) -> &str {
        match self {
            LiveEvent::Started { sid, .. }
            | LiveEvent::Hearing { sid, .. }
            | LiveEvent::Turn { sid, .. }
            | LiveEvent::Heard { sid, .. }
            | LiveEvent::Ended { sid, .. } => sid,
        }
    }
}

/// An event as it travels between nodes: who sent it, so a node skips its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's `NODE_ID`.
    pub node: String,
    /// The event.
    pub event: LiveEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json_both_ways() {
        let e = LiveEvent::Hearing {
            sid: "CA1".into(),
            text: "I need an oil".into(),
        };
        let json = serde_json::to_string(&Envelope {
            node: "a".into(),
            event: e.clone(),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"node":"a","event":{"type":"hearing","sid":"CA1","text":"I need an oil"}}"#
        );
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.event, e);
        assert_eq!(back.event.sid(), "CA1");
    }
}
