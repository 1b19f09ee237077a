//! The carrier's side of a call, as Twilio plays it, sans-IO: `connected` and `start`, one
//! 20 ms mu-law `media` frame every 20 ms (the caller's clip during their turn, line silence
//! otherwise), the agent's audio played out in real time, marks echoed once the audio before
//! them has played (at once on `clear`, which also drops unplayed audio), DTMF, and `stop`.
//!
//! Turns follow the agent: a turn starts `answer_gap` after the agent's audio has run out (or,
//! for a barge-in turn, that long after the agent starts talking), and the time from the end
//! of the caller's clip to the agent's first audio is the turn's latency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// Bytes of one 20 ms mu-law frame.
const FRAME: usize = 160;
/// One frame's length.
const FRAME_TIME: Duration = Duration::from_millis(20);
/// How long a caller waits for the agent's first words before speaking anyway.
const GREETING_WAIT: Duration = Duration::from_secs(3);
/// Mu-law silence.
const SILENCE: u8 = 0xff;

/// Whether mu-law audio is louder than -40 dBFS (speech, not line silence).
fn is_speech(mulaw: &[u8]) -> bool {
    let energy: f64 = mulaw
        .iter()
        .map(|&b| f64::from(crate::audio::g711::mulaw_decode(b)).powi(2))
        .sum::<f64>()
        / mulaw.len().max(1) as f64;
    energy.sqrt() > 32768.0 * 0.01
}

/// Where speech ends in each turn's clip: after its last frame louder than line noise (0 for
/// a turn without speech).
fn turns_speech_ends(turns: &[CallerTurn]) -> Vec<usize> {
    turns
        .iter()
        .map(|t| {
            t.audio
                .chunks(FRAME)
                .rposition(is_speech)
                .map_or(0, |i| ((i + 1) * FRAME).min(t.audio.len()))
        })
        .collect()
}

/// One thing the caller does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerTurn {
    /// What they say: 8 kHz mu-law.
    pub audio: Vec<u8>,
    /// Speak over the agent this long after it starts talking, instead of waiting.
    pub barge_in_after: Option<Duration>,
    /// A key pressed instead of (or before) speaking.
    pub dtmf: Option<char>,
}

/// The leg's identity and pacing.
#[derive(Debug, Clone)]
pub struct LegConfig {
    /// Call sid.
    pub call_sid: String,
    /// Stream sid.
    pub stream_sid: String,
    /// Account sid.
    pub account_sid: String,
    /// `<Parameter>`s from the TwiML (the stream token).
    pub parameters: Vec<(String, String)>,
    /// Pause between the agent falling silent and the caller answering.
    pub answer_gap: Duration,
    /// Give up waiting for the agent after this long.
    pub patience: Duration,
}

/// A finished caller turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnReport {
    /// Which turn (from 0).
    pub index: usize,
    /// Its audio length.
    pub caller_audio: Duration,
    /// End of the caller's audio to the agent's first audio after it.
    pub latency: Option<Duration>,
}

/// What the leg wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum LegOutput {
    /// Send this text frame.
    Send(String),
    /// A turn's report, once the agent has answered (or not).
    Turn(TurnReport),
    /// Hang up: everything was said.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the agent; `quiet_since`: when its audio last ran out.
    Listening { quiet_since: Option<Instant> },
    /// Sending turn `index` from byte `at`.
    Speaking { index: usize, at: usize },
    /// All turns said.
    Finished,
}

/// The leg.
#[derive(Debug)]
pub struct CallerLeg {
    config: LegConfig,
    turns: Vec<CallerTurn>,
    next_turn: usize,
    state: State,
    out: VecDeque<LegOutput>,
    seq: u64,
    chunk: u64,
    next_frame: Instant,
    started: Instant,
    /// Agent audio not yet played.
    queue: VecDeque<u8>,
    /// Marks waiting for playback to reach them: (bytes played by then, name).
    marks: VecDeque<(u64, String)>,
    /// Agent audio queued so far (bytes), and played.
    queued_total: u64,
    played_total: u64,
    played: Vec<u8>,
    /// When the agent's current turn was first heard: a barge-in's offset counts from here.
    agent_started_at: Option<Instant>,
    /// When the agent was first heard (the greeting).
    first_heard_at: Option<Instant>,
    /// The last turn's end of speech, waiting for the agent's answer.
    awaiting: Option<(usize, Duration, Instant)>,
    /// Per turn, where its speech ends in its clip (bytes): silence after it is not speech.
    speech_ends: Vec<usize>,
    last_heard: Instant,
}

impl CallerLeg {
    /// A leg starting at `now`: `connected` and `start` are queued at once.
    pub fn new(config: LegConfig, turns: Vec<CallerTurn>, now: Instant) -> Self {
        let mut leg = Self {
            config,
            next_turn: 0,
            state: State::Listening { quiet_since: None },
            out: VecDeque::new(),
            seq: 0,
            chunk: 0,
            next_frame: now,
            started: now,
            queue: VecDeque::new(),
            marks: VecDeque::new(),
            queued_total: 0,
            played_total: 0,
            played: Vec::new(),
            agent_started_at: None,
            first_heard_at: None,
            awaiting: None,
            last_heard: now,
            speech_ends: turns_speech_ends(&turns),
            turns,
        };
        leg.send(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}));
        let params: serde_json::Map<String, Value> = leg
            .config
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let start = json!({
            "streamSid": leg.config.stream_sid,
            "accountSid": leg.config.account_sid,
            "callSid": leg.config.call_sid,
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        });
        leg.event("start", start);
        leg
    }

    fn send(&mut self, frame: Value) {
        self.out.push_back(LegOutput::Send(frame.to_string()));
    }

    fn event(&mut self, name: &str, body: Value) {
        self.seq += 1;
        let mut frame = json!({
            "event": name,
            "sequenceNumber": self.seq.to_string(),
            "streamSid": self.config.stream_sid,
        });
        frame[name] = body;
        self.send(frame);
    }

    /// From `start` to the first audible agent audio (the greeting), once heard.
    pub fn greeted_after(&self) -> Option<Duration> {
        self.first_heard_at
            .map(|t| t.saturating_duration_since(self.started))
    }

    /// Everything the caller heard of the agent, as played (cleared audio excluded).
    pub fn played(&self) -> &[u8] {
        &self.played
    }

    /// When `handle_timeout` is next due.
    pub fn next_timeout(&self) -> Instant {
        self.next_frame
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<LegOutput> {
        self.out.pop_front()
    }

    /// A frame from callbridge.
    pub fn handle_text(&mut self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match v["event"].as_str() {
            Some("media") => {
                let Some(audio) = v["media"]["payload"]
                    .as_str()
                    .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
                else {
                    return;
                };
                if audio.is_empty() {
                    return;
                }
                self.queued_total += audio.len() as u64;
                self.queue.extend(audio);
            }
            Some("mark") => {
                let name = v["mark"]["name"].as_str().unwrap_or_default().to_string();
                if self.queue.is_empty() {
                    self.event("mark", json!({"name": name}));
                } else {
                    self.marks.push_back((self.queued_total, name));
                }
            }
            Some("clear") => {
                self.queue.clear();
                self.queued_total = self.played_total;
                while let Some((_, name)) = self.marks.pop_front() {
                    self.event("mark", json!({"name": name}));
                }
            }
            _ => {}
        }
    }

    /// Time passed: play 20 ms of agent audio, send 20 ms of caller audio, move the turns on.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each frame is handled at its own time, so a late wake-up catches up exactly.
        while self.next_frame <= now {
            let t = self.next_frame;
            self.next_frame += FRAME_TIME;
            self.play_frame(t);
            self.turn_logic(t);
            self.send_frame(t);
        }
    }

    fn play_frame(&mut self, now: Instant) {
        let n = FRAME.min(self.queue.len());
        let from = self.played.len();
        self.played.extend(self.queue.drain(..n));
        self.played_total += n as u64;
        while self
            .marks
            .front()
            .is_some_and(|(at, _)| *at <= self.played_total)
        {
            let (_, name) = self.marks.pop_front().expect("checked");
            self.event("mark", json!({"name": name}));
        }
        // The agent is talking when what plays is louder than line noise (TTS audio carries
        // silence at its edges, and an echo line returns the caller's silence too).
        if n > 0 && is_speech(&self.played[from..]) {
            self.last_heard = now;
            self.first_heard_at.get_or_insert(now);
            if self.agent_started_at.is_none() {
                self.agent_started_at = Some(now);
            }
            if let Some((index, caller_audio, ended)) = self.awaiting.take() {
                self.out.push_back(LegOutput::Turn(TurnReport {
                    index,
                    caller_audio,
                    latency: Some(now.saturating_duration_since(ended)),
                }));
            }
            if let State::Listening {
                quiet_since: Some(_),
            } = self.state
            {
                self.state = State::Listening { quiet_since: None };
            }
        } else {
            if let State::Listening { quiet_since: None } = self.state {
                self.state = State::Listening {
                    quiet_since: Some(now),
                };
            }
        }
    }

    fn start_turn(&mut self, now: Instant) {
        let index = self.next_turn;
        self.next_turn += 1;
        if let Some(digit) = self.turns[index].dtmf {
            self.event(
                "dtmf",
                json!({"track": "inbound_track", "digit": digit.to_string()}),
            );
        }
        self.state = State::Speaking { index, at: 0 };
        self.last_heard = now;
        // The agent's next turn is timed from its first sound after this one; its pauses
        // within a turn do not restart a barge-in's offset.
        self.agent_started_at = None;
    }

    fn turn_logic(&mut self, now: Instant) {
        let State::Listening { quiet_since } = self.state else {
            return;
        };
        if let Some((index, caller_audio, ended)) = self.awaiting
            && now.saturating_duration_since(ended) > self.config.patience
        {
            self.awaiting = None;
            self.out.push_back(LegOutput::Turn(TurnReport {
                index,
                caller_audio,
                latency: None,
            }));
        }
        let next = self.turns.get(self.next_turn);
        let barge = next
            .and_then(|t| t.barge_in_after)
            .zip(self.agent_started_at);
        // An agent that talks on and on does not hold the caller forever.
        let waited_long = self.awaiting.is_none()
            && now.saturating_duration_since(self.last_heard) > self.config.patience;
        let ready = match (quiet_since, barge) {
            (_, Some((after, started))) => now >= started + after,
            (Some(q), None) => now >= q + self.config.answer_gap && self.awaiting.is_none(),
            (None, None) => false,
        } || waited_long;
        if !ready {
            return;
        }
        if next.is_some() {
            // The agent speaks first: silence before it is heard is not a pause to answer,
            // but a line that says nothing (the echo line) is not waited on for long.
            if self.first_heard_at.is_none()
                && now.saturating_duration_since(self.started) < GREETING_WAIT
            {
                return;
            }
            self.start_turn(now);
        } else if self.awaiting.is_none() {
            self.state = State::Finished;
            self.event(
                "stop",
                json!({"accountSid": self.config.account_sid, "callSid": self.config.call_sid}),
            );
            self.out.push_back(LegOutput::Done);
        }
    }

    fn send_frame(&mut self, now: Instant) {
        let mut frame = [SILENCE; FRAME];
        if let State::Speaking { index, at } = self.state {
            let audio = &self.turns[index].audio;
            let n = FRAME.min(audio.len().saturating_sub(at));
            frame[..n].copy_from_slice(&audio[at..at + n]);
            let speech_end = self.speech_ends[index];
            let spoke_last = if speech_end == 0 {
                at + n >= audio.len() // a keypress or silence: from its end
            } else {
                at < speech_end && at + n >= speech_end
            };
            if spoke_last {
                // Latency runs from the end of what the caller said, not of the clip's
                // trailing silence.
                let length = Duration::from_millis(audio.len() as u64 / 8);
                self.awaiting = Some((index, length, now + FRAME_TIME));
            }
            if at + n >= audio.len() {
                self.state = State::Listening {
                    quiet_since: Some(now),
                };
            } else {
                self.state = State::Speaking { index, at: at + n };
            }
        }
        if self.state == State::Finished {
            return;
        }
        self.chunk += 1;
        let payload = base64::engine::general_purpose::STANDARD.encode(frame);
        let timestamp = now.saturating_duration_since(self.started).as_millis();
        self.event(
            "media",
            json!({
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": timestamp.to_string(),
                "payload": payload,
            }),
        );
    }
}

#[cfg(test)]
#[path = "leg_tests.rs"]
mod tests;
