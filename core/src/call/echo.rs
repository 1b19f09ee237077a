//! The echo far end: plays the caller's own audio back after a fixed delay, in one-second
//! utterances, so an operator can test the whole media path with a phone.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Length of one echoed utterance: long enough to hear, short enough that marks and `clear`
/// are exercised often.
pub const ECHO_BLOCK: Duration = Duration::from_secs(1);

/// What the echo line produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoOutput {
    /// Start a new utterance.
    Begin,
    /// Audio of the current utterance (in the format it was given).
    Audio(Vec<u8>),
    /// The current utterance is complete.
    End,
}

/// Delays audio by a fixed amount. Sans-IO: audio and time in, audio out.
#[derive(Debug)]
pub struct EchoLine {
    delay: Duration,
    block_bytes: usize,
    held: VecDeque<(Instant, Vec<u8>)>,
    in_block: usize,
    out: VecDeque<EchoOutput>,
}

impl EchoLine {
    /// An echo with `delay`, for audio of `bytes_per_ms`.
    pub fn new(delay: Duration, bytes_per_ms: usize) -> Self {
        EchoLine {
            delay,
            block_bytes: bytes_per_ms * ECHO_BLOCK.as_millis() as usize,
            held: VecDeque::new(),
            in_block: 0,
            out: VecDeque::new(),
        }
    }

    /// Audio heard from the caller at `now`.
    pub fn handle_audio(&mut self, now: Instant, audio: Vec<u8>) {
        if !audio.is_empty() {
            self.held.push_back((now + self.delay, audio));
        }
    }

    /// Drops everything not yet played back (the operator pressed the clear key).
    pub fn clear(&mut self) {
        self.held.clear();
        self.out.clear();
        if self.in_block > 0 {
            self.in_block = 0;
            self.out.push_back(EchoOutput::End);
        }
    }

    /// When audio next becomes due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.held.front().map(|(due, _)| *due)
    }

    /// Releases what is due at `now`; call until `None`.
    pub fn poll_output(&mut self, now: Instant) -> Option<EchoOutput> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let (due, _) = self.held.front()?;
        if *due > now {
            return None;
        }
        let (_, mut audio) = self.held.pop_front().expect("front exists");
        if self.in_block == 0 {
            self.out.push_back(EchoOutput::Begin);
        }
        let room = self.block_bytes - self.in_block;
        if audio.len() >= room {
            let rest = audio.split_off(room);
            self.out.push_back(EchoOutput::Audio(audio));
            self.out.push_back(EchoOutput::End);
            self.in_block = 0;
            if !rest.is_empty() {
                self.held.push_front((now, rest));
            }
        } else {
            self.in_block += audio.len();
            self.out.push_back(EchoOutput::Audio(audio));
        }
        self.out.pop_front()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.
mod tests {
    use super::*;

    fn drain(e: &mut EchoLine, now: Instant) -> Vec<EchoOutput> {
        std::iter::from_fn(|| e.poll_output(now)).collect()
    }

    #[test]
    fn audio_comes_back_after_the_delay_in_one_second_blocks() {
        let t0 = Instant::now();
        let mut e = EchoLine::new(Duration::from_millis(500), 8);
        for i in 0..60u64 {
            e.handle_audio(t0 + Duration::from_millis(20 * i), vec![i as u8; 160]);
        }
        assert!(drain(&mut e, t0 + Duration::from_millis(499)).is_empty());
        assert_eq!(e.next_timeout(), Some(t0 + Duration::from_millis(500)));
        let out = drain(&mut e, t0 + Duration::from_secs(5));
        let begins = out.iter().filter(|o| **o == EchoOutput::Begin).count();
        let ends = out.iter().filter(|o| **o == EchoOutput::End).count();
        assert_eq!((begins, ends), (2, 1));
        let bytes: Vec<u8> = out
            .iter()
            .flat_map(|o| match o {
                EchoOutput::Audio(a) => a.clone(),
                _ => vec![],
            })
            .collect();
        assert_eq!(bytes.len(), 60 * 160);
        assert_eq!(bytes[0], 0);
        assert_eq!(bytes[59 * 160], 59);
    }

    #[test]
    fn clear_drops_pending_audio_and_closes_the_block() {
        let t0 = Instant::now();
        let mut e = EchoLine::new(Duration::ZERO, 8);
        e.handle_audio(t0, vec![1; 160]);
        assert_eq!(drain(&mut e, t0).len(), 2);
        e.handle_audio(t0, vec![2; 160]);
        e.clear();
        assert_eq!(drain(&mut e, t0), [EchoOutput::End]);
        assert_eq!(e.next_timeout(), None);
    }
}
