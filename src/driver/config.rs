//! A call's configuration, from the settings and the providers this instance has.

use std::time::Duration;

use crate::audio::vad::VadConfig;
use crate::call::{CallConfig, ConversationConfig, FAR_END_FORMAT, FarEnd, SessionConfig};
use crate::carrier::CarrierKind;
use crate::config::CallMode;
use crate::state::AppState;

/// The key that clears playback on the echo line.
const ECHO_CLEAR_DIGIT: char = '#';
/// Longest wait for the agent's last words to play before the call is handed on regardless.
const PLAYOUT_LIMIT: Duration = Duration::from_secs(20);
/// Longest wait for a call's preparation (taking what the webhook prepared waits up to 3 s,
/// then prepares again on the spot).
const PREPARE_LIMIT: Duration = Duration::from_secs(10);
/// Longest wait for a hand-off (a REST redirect is bounded at 5 s).
const HANDOFF_LIMIT: Duration = Duration::from_secs(8);
/// Caller audio kept while the call is prepared: 5 s of 20 ms frames.
const AUDIO_BACKLOG_FRAMES: usize = 250;
/// Caller audio goes to speech recognition in 100 ms pieces: Deepgram takes 20 to 250 ms per
/// message, every message is a wakeup and a write, and a turn's end flushes what is held.
const STT_BATCH_FRAMES: usize = 5;

/// Voice activity for the turn-taking the settings ask for: without the turn model, silence
/// of `TURN_SILENCE_MS` ends a turn; with it, a pause of `TURN_PAUSE_MS` asks the model and
/// `TURN_INCOMPLETE_MS` is the longest an unfinished sentence holds the turn.
fn vad_config(t: &crate::config::TurnSettings) -> VadConfig {
    let ms = |d: Duration| d.as_millis() as u64;
    if t.judged() {
        VadConfig {
            pause_ms: ms(t.pause),
            end_ms: ms(t.incomplete),
            ..VadConfig::default()
        }
    } else {
        VadConfig {
            end_ms: ms(t.silence),
            ..VadConfig::default()
        }
    }
}

/// The configuration of a call on a `kind` socket.
pub fn call_config(kind: CarrierKind, state: &AppState) -> CallConfig {
    let s = &state.settings;
    let session = SessionConfig {
        carrier: kind,
        max_frame_bytes: s.limits.max_frame_bytes,
        token_secret: s.carrier.stream_token_secret.expose().to_string(),
        require_stream_token: kind == CarrierKind::Twilio,
        outbound_format: match kind {
            CarrierKind::Twilio => None,
            CarrierKind::Telnyx => Some(s.carrier.telnyx_outbound_format),
        },
        lead: s.limits.playback_lead,
        mark_interval: s.limits.mark_interval,
        echo_delay: s.limits.echo_delay,
        // Speech engines take the carrier's audio as it comes; the echo line may transcode.
        far_end_format: (s.mode == CallMode::Echo && s.echo_transcode).then_some(FAR_END_FORMAT),
        max_call_duration: s.limits.max_call_duration,
        start_limit: s.limits.stream_start_timeout,
        idle_limit: s.limits.media_idle_timeout,
        clear_digit: ECHO_CLEAR_DIGIT,
        far_end: match s.mode {
            CallMode::Echo => FarEnd::Echo,
            CallMode::Agent => FarEnd::External,
        },
        record: s.recording.enabled && s.mode == CallMode::Agent,
    };
    let p = &state.providers;
    let conversation = (s.mode == CallMode::Agent).then(|| ConversationConfig {
        vad: vad_config(&s.turns),
        stt_fallback: p.stt.fallback.is_some(),
        tts_formats: [
            p.tts.primary.as_ref().map(|t| t.format()),
            p.tts.fallback.as_ref().map(|t| t.format()),
        ],
        // A primary whose breaker is open is not tried when there is a fallback to talk to.
        llm_primary: p.llm.primary.as_ref().is_some_and(|l| {
            p.llm.fallback.is_none()
                || p.health
                    .admits(crate::providers::health::ProviderKind::Llm, l.name())
        }),
        playout_limit: PLAYOUT_LIMIT,
        prepare_limit: PREPARE_LIMIT,
        handoff_limit: HANDOFF_LIMIT,
        tool_timeout: s.conversation.tool_timeout,
        tool_drain_limit: s.conversation.tool_timeout + Duration::from_secs(1),
        audio_backlog_frames: AUDIO_BACKLOG_FRAMES,
        stt_batch_frames: STT_BATCH_FRAMES,
    });
    CallConfig {
        session,
        conversation,
    }
}
