//! The configuration of the harness's calls: an agent call on a Twilio socket, with the
//! limits a real deployment would have.

use std::time::Duration;

use callbridge_core::audio::AudioFormat;
use callbridge_core::audio::vad::VadConfig;
use callbridge_core::call::agent::AgentConfig;
use callbridge_core::call::{CallConfig, ConversationConfig, FarEnd, SessionConfig};
use callbridge_core::carrier::CarrierKind;

use super::{GREETING, SECRET};

/// The configuration of an agent call on a Twilio socket.
pub fn agent_config() -> CallConfig {
    CallConfig {
        session: SessionConfig {
            carrier: CarrierKind::Twilio,
            max_frame_bytes: 65_536,
            token_secret: SECRET.into(),
            require_stream_token: true,
            outbound_format: None,
            lead: Duration::from_millis(200),
            mark_interval: Duration::from_millis(100),
            echo_delay: Duration::from_millis(300),
            far_end_format: None,
            max_call_duration: Duration::from_secs(600),
            start_limit: Duration::from_secs(5),
            idle_limit: Duration::from_secs(10),
            clear_digit: '#',
            far_end: FarEnd::External,
            record: false,
        },
        conversation: Some(ConversationConfig {
            vad: VadConfig::default(),
            stt_fallback: true,
            tts_formats: [Some(AudioFormat::MULAW_8K), Some(AudioFormat::MULAW_8K)],
            llm_primary: true,
            playout_limit: Duration::from_secs(20),
            prepare_limit: Duration::from_secs(10),
            handoff_limit: Duration::from_secs(8),
            tool_timeout: Duration::from_secs(5),
            tool_drain_limit: Duration::from_secs(6),
            audio_backlog_frames: 250,
            stt_batch_frames: 3,
        }),
    }
}

/// The agent's tuning.
pub fn agent() -> AgentConfig {
    AgentConfig::new(
        "You are the service desk of Lone Star Auto Service.",
        GREETING,
    )
}
