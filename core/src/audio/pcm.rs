//! 16-bit PCM samples with an explicit sample rate, and their byte layouts.

use std::fmt;

/// The sample rates callbridge converts between. Anything else is rejected at the edge, so the
/// resampler and the pacing arithmetic never meet a rate they were not built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// Narrowband telephony.
    Hz8000,
    /// Wideband: what speech recognisers prefer.
    Hz16000,
    /// Common TTS output rate.
    Hz24000,
    /// Opus' native rate.
    Hz48000,
}

/// A sample rate outside the supported set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sample rate {0} Hz (supported: 8000, 16000, 24000, 48000)")]
pub struct UnsupportedRate(pub u32);

impl SampleRate {
    /// Parses a rate in hertz.
    pub fn from_hz(hz: u32) -> Result<Self, UnsupportedRate> {
        match hz {
            8000 => Ok(SampleRate::Hz8000),
            16000 => Ok(SampleRate::Hz16000),
            24000 => Ok(SampleRate::Hz24000),
            48000 => Ok(SampleRate::Hz48000),
            other => Err(UnsupportedRate(other)),
        }
    }

    /// The rate in hertz.
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8000,
            SampleRate::Hz16000 => 16000,
            SampleRate::Hz24000 => 24000,
            SampleRate::Hz48000 => 48000,
        }
    }

    /// Samples in one 20 ms frame, the carriers' packet size.
    pub const fn samples_per_20ms(self) -> usize {
        self.hz() as usize / 50
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

/// Appends little-endian 16-bit samples from `bytes` to `out`. A trailing odd byte is ignored:
/// PCM frames from a well-behaved peer are whole samples, and half a sample cannot be played.
pub fn decode_le(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]])),
    );
}

/// Appends big-endian (network order) 16-bit samples from `bytes` to `out`.
pub fn decode_be(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_be_bytes([b[0], b[1]])),
    );
}

/// Appends `samples` to `out` as little-endian bytes.
pub fn encode_le(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// Appends `samples` to `out` as big-endian bytes.
pub fn encode_be(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_reject() {
        assert_eq!(SampleRate::from_hz(16000), Ok(SampleRate::Hz16000));
        assert_eq!(SampleRate::from_hz(44100), Err(UnsupportedRate(44100)));
        assert_eq!(SampleRate::Hz8000.samples_per_20ms(), 160);
    }

    #[test]
    fn byte_orders_round_trip() {
        let samples = [0i16, 1, -1, i16::MAX, i16::MIN, 0x1234];
        let mut le = Vec::new();
        encode_le(&samples, &mut le);
        assert_eq!(&le[10..], &[0x34, 0x12]);
        let mut back = Vec::new();
        decode_le(&le, &mut back);
        assert_eq!(back, samples);

        let mut be = Vec::new();
        encode_be(&samples, &mut be);
        assert_eq!(&be[10..], &[0x12, 0x34]);
        back.clear();
        decode_be(&be, &mut back);
        assert_eq!(back, samples);
    }

    #[test]
    fn odd_trailing_byte_is_ignored() {
        let mut out = Vec::new();
        decode_le(&[1, 0, 9], &mut out);
        assert_eq!(out, [1]);
    }
}
