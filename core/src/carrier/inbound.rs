//! The inbound side of one media stream as a state machine: frames in, ordered and checked
//! carrier events out.
//!
//! It enforces what the protocol promises (connected, then one start, then media/dtmf/mark,
//! then stop; one stream id) and, for carriers that do not keep order, sorts frames by
//! sequence number within a bounded window. Every rejected frame comes back as a
//! [`FrameError`] for the caller to count and log; none of them ends the stream.

use std::collections::{BTreeMap, VecDeque};

use super::{CarrierEvent, CarrierKind, FrameError, InboundFrame};

/// Frames held back waiting for a gap to fill, before giving up on the missing one. At 20 ms a
/// frame this is 200 ms of jitter tolerated.
pub const DEFAULT_REORDER_WINDOW: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Socket open; `connected` or `start` expected.
    Opening,
    /// `start` received; the stream is live.
    Live,
    /// `stop` received.
    Stopped,
}

/// Sorts sequenced events, releasing them in order; a gap is skipped once `window` later
/// frames are waiting behind it.
#[derive(Debug)]
struct Reorderer {
    next: u64,
    window: usize,
    held: BTreeMap<u64, CarrierEvent>,
}

impl Reorderer {
    fn push(
        &mut self,
        seq: u64,
        event: CarrierEvent,
        out: &mut VecDeque<CarrierEvent>,
    ) -> Result<(), FrameError> {
        if seq < self.next || self.held.contains_key(&seq) {
            return Err(FrameError::LateOrDuplicate(seq));
        }
        self.held.insert(seq, event);
        self.release(out);
        while self.held.len() > self.window {
            // Give up on the gap: jump to the oldest frame we hold.
            let (&first, _) = self
                .held
                .iter()
                .next()
                .expect("held is over the window, so non-empty");
            self.next = first;
            self.release(out);
        }
        Ok(())
    }

    fn release(&mut self, out: &mut VecDeque<CarrierEvent>) {
        while let Some(event) = self.held.remove(&self.next) {
            out.push_back(event);
            self.next += 1;
        }
    }

    fn flush(&mut self, out: &mut VecDeque<CarrierEvent>) {
        let held = std::mem::take(&mut self.held);
        if let Some((&last, _)) = held.iter().next_back() {
            self.next = last + 1;
        }
        out.extend(held.into_values());
    }
}

/// One stream's inbound state. Feed it with `handle_*`, drain it with [`InboundStream::poll_event`].
#[derive(Debug)]
pub struct InboundStream {
    kind: CarrierKind,
    max_frame_bytes: usize,
    reorder_window: usize,
    phase: Phase,
    stream_id: Option<String>,
    reorderer: Option<Reorderer>,
    ready: VecDeque<CarrierEvent>,
}

impl InboundStream {
    /// A stream speaking `kind`'s dialect, refusing frames over `max_frame_bytes`.
    pub fn new(kind: CarrierKind, max_frame_bytes: usize) -> Self {
        InboundStream {
            kind,
            max_frame_bytes,
            reorder_window: DEFAULT_REORDER_WINDOW,
            phase: Phase::Opening,
            stream_id: None,
            reorderer: None,
            ready: VecDeque::new(),
        }
    }

    /// Overrides how many frames may wait behind a missing one.
    pub fn with_reorder_window(mut self, window: usize) -> Self {
        self.reorder_window = window.max(1);
        self
    }

    /// The carrier's stream id, once `start` has arrived.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// Whether `stop` has been seen.
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// A binary frame: always an error for JSON carriers.
    pub fn handle_binary(&mut self, len: usize) -> FrameError {
        if len > self.max_frame_bytes {
            return FrameError::Oversized {
                size: len,
                limit: self.max_frame_bytes,
            };
        }
        FrameError::Binary(len)
    }

    /// A text frame. Accepted events become available from [`InboundStream::poll_event`].
    pub fn handle_text(&mut self, text: &str) -> Result<(), FrameError> {
        if text.len() > self.max_frame_bytes {
            return Err(FrameError::Oversized {
                size: text.len(),
                limit: self.max_frame_bytes,
            });
        }
        let frame = self.kind.decode(text)?;
        self.handle_frame(frame)
    }

    /// A decoded frame (exposed for tests that build frames directly).
    pub fn handle_frame(&mut self, frame: InboundFrame) -> Result<(), FrameError> {
        let event_kind = frame.event.kind();
        if self.phase == Phase::Stopped {
            return Err(FrameError::OutOfPlace {
                event: event_kind,
                reason: "the stream has stopped",
            });
        }
        if let (Some(ours), Some(theirs)) = (&self.stream_id, &frame.stream_id)
            && ours != theirs
        {
            return Err(FrameError::WrongStream {
                expected: ours.clone(),
                got: theirs.clone(),
            });
        }
        match (&frame.event, self.phase) {
            (CarrierEvent::Connected { .. }, Phase::Opening) => {
                self.ready.push_back(frame.event);
                Ok(())
            }
            (CarrierEvent::Connected { .. }, _) => Err(FrameError::OutOfPlace {
                event: event_kind,
                reason: "connected arrives once, before start",
            }),
            (CarrierEvent::Start(start), Phase::Opening) => {
                self.stream_id = Some(start.stream_id.clone());
                self.phase = Phase::Live;
                if self.kind.reorders() {
                    self.reorderer = Some(Reorderer {
                        next: frame.sequence.map_or(0, |s| s + 1),
                        window: self.reorder_window,
                        held: BTreeMap::new(),
                    });
                }
                self.ready.push_back(frame.event);
                Ok(())
            }
            (CarrierEvent::Start(_), _) => Err(FrameError::OutOfPlace {
                event: event_kind,
                reason: "start arrives once",
            }),
            (_, Phase::Opening) => Err(FrameError::OutOfPlace {
                event: event_kind,
                reason: "nothing but connected may precede start",
            }),
            (CarrierEvent::Stop, _) => {
                self.phase = Phase::Stopped;
                // Whatever was waiting for a gap is delivered before the end.
                if let Some(r) = self.reorderer.as_mut() {
                    r.flush(&mut self.ready);
                }
                self.ready.push_back(frame.event);
                Ok(())
            }
            (_, _) => match (self.reorderer.as_mut(), frame.sequence) {
                (Some(r), Some(seq)) => r.push(seq, frame.event, &mut self.ready),
                _ => {
                    self.ready.push_back(frame.event);
                    Ok(())
                }
            },
        }
    }

    /// The next event in order, if any.
    pub fn poll_event(&mut self) -> Option<CarrierEvent> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioFormat;
    use crate::carrier::{MediaChunk, StreamStart, Track};

    fn start(seq: u64) -> InboundFrame {
        InboundFrame {
            sequence: Some(seq),
            stream_id: Some("S".into()),
            event: CarrierEvent::Start(StreamStart {
                stream_id: "S".into(),
                call_id: "C".into(),
                account_id: None,
                from: None,
                to: None,
                tracks: vec![Track::Inbound],
                custom_parameters: Default::default(),
                format: AudioFormat::MULAW_8K,
            }),
        }
    }

    fn media(seq: u64) -> InboundFrame {
        InboundFrame {
            sequence: Some(seq),
            stream_id: Some("S".into()),
            event: CarrierEvent::Media(MediaChunk {
                track: Track::Inbound,
                chunk: seq,
                timestamp_ms: seq * 20,
                payload: vec![],
            }),
        }
    }

    fn drain_chunks(s: &mut InboundStream) -> Vec<u64> {
        std::iter::from_fn(|| s.poll_event())
            .filter_map(|e| match e {
                CarrierEvent::Media(m) => Some(m.chunk),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn media_before_start_is_out_of_place() {
        let mut s = InboundStream::new(CarrierKind::Twilio, 65536);
        assert_eq!(
            s.handle_frame(media(2)).unwrap_err().reason(),
            "out_of_place"
        );
        s.handle_frame(start(1)).unwrap();
        assert_eq!(
            s.handle_frame(start(1)).unwrap_err().reason(),
            "out_of_place"
        );
        s.handle_frame(media(2)).unwrap();
        assert_eq!(s.stream_id(), Some("S"));
    }

    #[test]
    fn frames_for_another_stream_are_rejected() {
        let mut s = InboundStream::new(CarrierKind::Twilio, 65536);
        s.handle_frame(start(1)).unwrap();
        let mut f = media(2);
        f.stream_id = Some("OTHER".into());
        assert_eq!(s.handle_frame(f).unwrap_err().reason(), "wrong_stream");
    }

    #[test]
    fn oversized_and_binary_frames_are_errors() {
        let mut s = InboundStream::new(CarrierKind::Twilio, 1024);
        let big = format!(r#"{{"event":"media","pad":"{}"}}"#, "x".repeat(2000));
        assert_eq!(s.handle_text(&big).unwrap_err().reason(), "oversized");
        assert_eq!(s.handle_binary(10).reason(), "binary");
        assert_eq!(s.handle_binary(5000).reason(), "oversized");
    }

    #[test]
    fn telnyx_frames_are_put_back_in_order() {
        let mut s = InboundStream::new(CarrierKind::Telnyx, 65536);
        s.handle_frame(start(1)).unwrap();
        for seq in [3, 2, 5, 4, 6] {
            s.handle_frame(media(seq)).unwrap();
        }
        assert_eq!(drain_chunks(&mut s), [2, 3, 4, 5, 6]);
        assert_eq!(
            s.handle_frame(media(4)).unwrap_err(),
            FrameError::LateOrDuplicate(4)
        );
    }

    #[test]
    fn a_lost_frame_is_skipped_once_the_window_fills() {
        let mut s = InboundStream::new(CarrierKind::Telnyx, 65536).with_reorder_window(3);
        s.handle_frame(start(1)).unwrap();
        for seq in [3, 4, 5] {
            s.handle_frame(media(seq)).unwrap();
        }
        assert_eq!(drain_chunks(&mut s), Vec::<u64>::new());
        s.handle_frame(media(6)).unwrap();
        assert_eq!(drain_chunks(&mut s), [3, 4, 5, 6]);
        // The lost frame turning up later is too late.
        assert_eq!(
            s.handle_frame(media(2)).unwrap_err().reason(),
            "late_or_duplicate"
        );
    }

    #[test]
    fn stop_flushes_held_frames_first() {
        let mut s = InboundStream::new(CarrierKind::Telnyx, 65536);
        s.handle_frame(start(1)).unwrap();
        s.handle_frame(media(4)).unwrap();
        s.handle_frame(InboundFrame {
            sequence: Some(5),
            stream_id: Some("S".into()),
            event: CarrierEvent::Stop,
        })
        .unwrap();
        let kinds: Vec<_> = std::iter::from_fn(|| s.poll_event())
            .map(|e| e.kind())
            .collect();
        assert_eq!(kinds, ["start", "media", "stop"]);
        assert!(s.is_stopped());
        assert_eq!(
            s.handle_frame(media(6)).unwrap_err().reason(),
            "out_of_place"
        );
    }

    #[test]
    fn twilio_frames_pass_in_arrival_order() {
        let mut s = InboundStream::new(CarrierKind::Twilio, 65536);
        s.handle_frame(start(1)).unwrap();
        s.handle_frame(media(3)).unwrap();
        s.handle_frame(media(2)).unwrap();
        assert_eq!(drain_chunks(&mut s), [3, 2]);
    }
}
