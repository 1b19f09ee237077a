//! Converts a stream of audio bytes from one [`AudioFormat`] to another: decode, resample,
//! encode, each step only when the two ends differ.

use super::g711;
use super::opus::{OpusDecoder, OpusEncoder, OpusError};
use super::pcm;
use super::resample::{ResampleError, StreamResampler};
use super::{AudioFormat, Encoding};

/// Why audio could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The resampler failed.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// libopus failed (a corrupt packet, usually).
    #[error(transparent)]
    Opus(#[from] OpusError),
}

enum Decode {
    Mulaw,
    Alaw,
    Le,
    Be,
    Opus(Box<OpusDecoder>),
}

enum Encode {
    Mulaw,
    Alaw,
    Le,
    Be,
    Opus(Box<OpusEncoder>),
}

struct Pipeline {
    decode: Decode,
    resampler: Option<StreamResampler>,
    encode: Encode,
    pcm: Vec<i16>,
    resampled: Vec<i16>,
}

/// One direction of one call's audio conversion. Holds codec and filter state, so each stream
/// needs its own.
pub struct Transcoder {
    from: AudioFormat,
    to: AudioFormat,
    pipeline: Option<Pipeline>,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("passthrough", &self.is_passthrough())
            .finish()
    }
}

impl Transcoder {
    /// Builds a converter; equal formats give a passthrough that does no work.
    pub fn new(from: AudioFormat, to: AudioFormat) -> Result<Self, TranscodeError> {
        if from == to {
            return Ok(Transcoder {
                from,
                to,
                pipeline: None,
            });
        }
        let decode = match from.encoding {
            Encoding::Mulaw => Decode::Mulaw,
            Encoding::Alaw => Decode::Alaw,
            Encoding::Linear16 => Decode::Le,
            Encoding::Linear16Be => Decode::Be,
            // Decoding straight at the target rate lets libopus do the resampling for free.
            Encoding::Opus => Decode::Opus(Box::new(OpusDecoder::new(to.sample_rate)?)),
        };
        let decoded_rate = if from.encoding == Encoding::Opus {
            to.sample_rate
        } else {
            from.sample_rate
        };
        let resampler = if decoded_rate != to.sample_rate {
            Some(StreamResampler::new(decoded_rate, to.sample_rate)?)
        } else {
            None
        };
        let encode = match to.encoding {
            Encoding::Mulaw => Encode::Mulaw,
            Encoding::Alaw => Encode::Alaw,
            Encoding::Linear16 => Encode::Le,
            Encoding::Linear16Be => Encode::Be,
            Encoding::Opus => Encode::Opus(Box::new(OpusEncoder::new(to.sample_rate)?)),
        };
        Ok(Transcoder {
            from,
            to,
            pipeline: Some(Pipeline {
                decode,
                resampler,
                encode,
                pcm: Vec::with_capacity(960),
                resampled: Vec::with_capacity(960),
            }),
        })
    }

    /// True when input bytes are already in the output format.
    pub fn is_passthrough(&self) -> bool {
        self.pipeline.is_none()
    }

    /// The input format.
    pub fn from_format(&self) -> AudioFormat {
        self.from
    }

    /// The output format.
    pub fn to_format(&self) -> AudioFormat {
        self.to
    }

    /// Converts `input` (for Opus: exactly one packet) and appends the result to `out`.
    /// Output may lag input by up to one 20 ms chunk while the resampler fills.
    pub fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranscodeError> {
        let Some(p) = self.pipeline.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        p.pcm.clear();
        match &mut p.decode {
            Decode::Mulaw => g711::decode_mulaw(input, &mut p.pcm),
            Decode::Alaw => g711::decode_alaw(input, &mut p.pcm),
            Decode::Le => pcm::decode_le(input, &mut p.pcm),
            Decode::Be => pcm::decode_be(input, &mut p.pcm),
            Decode::Opus(d) => d.decode(input, &mut p.pcm)?,
        }
        let samples = match &mut p.resampler {
            Some(r) => {
                p.resampled.clear();
                r.process(&p.pcm, &mut p.resampled)?;
                &p.resampled
            }
            None => &p.pcm,
        };
        match &mut p.encode {
            Encode::Mulaw => g711::encode_mulaw(samples, out),
            Encode::Alaw => g711::encode_alaw(samples, out),
            Encode::Le => pcm::encode_le(samples, out),
            Encode::Be => pcm::encode_be(samples, out),
            Encode::Opus(e) => e.encode(samples, |packet| out.extend_from_slice(packet))?,
        }
        Ok(())
    }

    /// Drops buffered samples and filter history, e.g. after the far end was interrupted.
    pub fn reset(&mut self) {
        if let Some(p) = self.pipeline.as_mut()
            && let Some(r) = p.resampler.as_mut()
        {
            r.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::SampleRate;

    #[test]
    fn equal_formats_pass_bytes_through() {
        let mut t = Transcoder::new(AudioFormat::MULAW_8K, AudioFormat::MULAW_8K).unwrap();
        assert!(t.is_passthrough());
        let mut out = Vec::new();
        t.process(&[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn mulaw_8k_to_linear16_16k_doubles_samples() {
        let mut t = Transcoder::new(AudioFormat::MULAW_8K, AudioFormat::LINEAR16_16K).unwrap();
        let mut out = Vec::new();
        for _ in 0..5 {
            t.process(&[0xFF; 160], &mut out).unwrap();
        }
        assert_eq!(out.len(), 5 * 320 * 2);
    }

    #[test]
    fn alaw_to_mulaw_at_the_same_rate_skips_the_resampler() {
        let alaw = AudioFormat::new(Encoding::Alaw, SampleRate::Hz8000);
        let mut t = Transcoder::new(alaw, AudioFormat::MULAW_8K).unwrap();
        let mut out = Vec::new();
        t.process(&[0xD5; 160], &mut out).unwrap();
        // A-law's smallest positive value (8) is mu-law 0xFE.
        assert_eq!(out, vec![0xFE; 160]);
    }

    #[test]
    fn opus_packets_decode_to_the_target_rate() {
        // Telnyx OPUS inbound at 16 kHz, to a 16 kHz speech engine: libopus decodes at the
        // target rate directly, so no resampler is built.
        let opus = AudioFormat::new(Encoding::Opus, SampleRate::Hz16000);
        let mut enc = Transcoder::new(AudioFormat::LINEAR16_16K, opus).unwrap();
        let mut dec = Transcoder::new(opus, AudioFormat::MULAW_8K).unwrap();
        let tone: Vec<i16> = (0..320)
            .map(|i| ((i as f32 / 16.0).sin() * 8000.0) as i16)
            .collect();
        let mut pcm = Vec::new();
        crate::audio::pcm::encode_le(&tone, &mut pcm);
        let mut packet = Vec::new();
        enc.process(&pcm, &mut packet).unwrap();
        assert!(!packet.is_empty() && packet.len() < 200, "one packet");
        let mut mulaw = Vec::new();
        dec.process(&packet, &mut mulaw).unwrap();
        assert_eq!(mulaw.len(), 160, "20 ms at 8 kHz");
        assert!(dec.process(&[0xFF, 0xFF, 0xFF], &mut mulaw).is_err());
    }

    #[test]
    fn big_endian_l16_is_read_in_network_order() {
        let l16 = AudioFormat::new(Encoding::Linear16Be, SampleRate::Hz16000);
        let mut t = Transcoder::new(l16, AudioFormat::LINEAR16_16K).unwrap();
        let mut out = Vec::new();
        t.process(&[0x12, 0x34], &mut out).unwrap();
        assert_eq!(out, [0x34, 0x12]);
    }
}
