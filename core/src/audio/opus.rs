//! Opus decode and encode through libopus (audiopus): mono for carriers that stream Opus,
//! stereo (interleaved) for call recordings.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Channels, MutSignals};

use super::SampleRate;

/// The longest Opus frame is 120 ms; at 48 kHz that is 5760 samples.
const MAX_FRAME_SAMPLES_48K: usize = 5760;
/// libopus' recommended ceiling for one encoded packet.
const MAX_PACKET_BYTES: usize = 1275;

/// A libopus failure, with its message.
#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct OpusError(String);

impl From<audiopus::Error> for OpusError {
    fn from(e: audiopus::Error) -> Self {
        OpusError(e.to_string())
    }
}

fn opus_rate(rate: SampleRate) -> audiopus::SampleRate {
    match rate {
        SampleRate::Hz8000 => audiopus::SampleRate::Hz8000,
        SampleRate::Hz16000 => audiopus::SampleRate::Hz16000,
        SampleRate::Hz24000 => audiopus::SampleRate::Hz24000,
        SampleRate::Hz48000 => audiopus::SampleRate::Hz48000,
    }
}

/// Decodes a stream of Opus packets to 16-bit PCM at a chosen rate.
pub struct OpusDecoder {
    inner: Decoder,
    channels: usize,
    scratch: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusDecoder")
    }
}

impl OpusDecoder {
    /// A decoder producing samples at `rate` (libopus resamples internally).
    pub fn new(rate: SampleRate) -> Result<Self, OpusError> {
        Self::with_channels(rate, 1)
    }

    /// A two-channel decoder (a recording): samples come out interleaved.
    pub fn stereo(rate: SampleRate) -> Result<Self, OpusError> {
        Self::with_channels(rate, 2)
    }

    fn with_channels(rate: SampleRate, channels: usize) -> Result<Self, OpusError> {
        let inner = Decoder::new(opus_rate(rate), opus_channels(channels))?;
        let max = MAX_FRAME_SAMPLES_48K * rate.hz() as usize / 48_000 * channels;
        Ok(OpusDecoder {
            inner,
            channels,
            scratch: vec![0; max],
        })
    }

    /// Decodes one packet and appends its samples (interleaved when stereo) to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<(), OpusError> {
        let packet = Packet::try_from(packet)?;
        let signals = MutSignals::try_from(&mut self.scratch[..])?;
        let n = self.inner.decode(Some(packet), signals, false)?;
        out.extend_from_slice(&self.scratch[..n * self.channels]);
        Ok(())
    }
}

fn opus_channels(channels: usize) -> Channels {
    if channels == 2 {
        Channels::Stereo
    } else {
        Channels::Mono
    }
}

/// Encodes 16-bit PCM (interleaved when stereo) in 20 ms frames to Opus packets tuned for
/// speech.
pub struct OpusEncoder {
    inner: Encoder,
    frame: usize,
    pending: Vec<i16>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusEncoder")
    }
}

impl OpusEncoder {
    /// An encoder taking samples at `rate`.
    pub fn new(rate: SampleRate) -> Result<Self, OpusError> {
        Self::with_channels(rate, 1)
    }

    /// A two-channel encoder at `bits_per_second` and `complexity` (0..=10: libopus' effort
    /// per frame; a recording runs beside every call, so it buys CPU with a little quality).
    pub fn stereo(
        rate: SampleRate,
        bits_per_second: i32,
        complexity: u8,
    ) -> Result<Self, OpusError> {
        let mut encoder = Self::with_channels(rate, 2)?;
        encoder
            .inner
            .set_bitrate(audiopus::Bitrate::BitsPerSecond(bits_per_second))?;
        encoder.inner.set_complexity(complexity)?;
        Ok(encoder)
    }

    fn with_channels(rate: SampleRate, channels: usize) -> Result<Self, OpusError> {
        let inner = Encoder::new(opus_rate(rate), opus_channels(channels), Application::Voip)?;
        Ok(OpusEncoder {
            inner,
            frame: rate.samples_per_20ms() * channels,
            pending: Vec::new(),
            scratch: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Samples (per channel, at the input rate) the encoder delays its output by: a player
    /// skips them (Ogg Opus' pre-skip).
    pub fn lookahead(&self) -> Result<u32, OpusError> {
        Ok(self.inner.lookahead()?)
    }

    /// Feeds samples; calls `emit` with each whole 20 ms packet produced.
    pub fn encode(
        &mut self,
        samples: &[i16],
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), OpusError> {
        self.pending.extend_from_slice(samples);
        let mut consumed = 0;
        while self.pending.len() - consumed >= self.frame {
            let frame = &self.pending[consumed..consumed + self.frame];
            let n = self.inner.encode(frame, &mut self.scratch)?;
            emit(&self.scratch[..n]);
            consumed += self.frame;
        }
        self.pending.drain(..consumed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_survives_encode_and_decode() {
        let rate = SampleRate::Hz16000;
        let tone: Vec<i16> = (0..rate.hz() as usize / 2)
            .map(|i| ((i as f32 / 16000.0 * 300.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
            .collect();
        let mut enc = OpusEncoder::new(rate).unwrap();
        let mut packets = Vec::new();
        enc.encode(&tone, |p| packets.push(p.to_vec())).unwrap();
        assert_eq!(packets.len(), 25);
        let mut dec = OpusDecoder::new(rate).unwrap();
        let mut out = Vec::new();
        for p in &packets {
            dec.decode(p, &mut out).unwrap();
        }
        assert_eq!(out.len(), tone.len());
        let energy =
            |s: &[i16]| s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64;
        let ratio = energy(&out[1600..]) / energy(&tone[1600..]);
        assert!((0.5..2.0).contains(&ratio), "energy ratio {ratio}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = OpusDecoder::new(SampleRate::Hz8000).unwrap();
        let mut out = Vec::new();
        assert!(dec.decode(&[], &mut out).is_err());
        // A TOC byte claiming a code-3 packet with an impossible frame count.
        assert!(dec.decode(&[0xFF, 0xFF], &mut out).is_err());
    }
}
