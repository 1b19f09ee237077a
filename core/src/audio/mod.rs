//! Audio formats and the conversions between them: G.711, 16-bit PCM, resampling, Opus.
//!
//! Everything here is synchronous and allocation-conscious; it never does IO or touches a
//! runtime. The call driver asks [`transcode::Transcoder`] to move bytes between the carrier's
//! format and the far end's, and a transcoder between equal formats is a passthrough.

pub mod g711;
pub mod ogg_opus;
pub mod opus;
pub mod pcm;
pub mod resample;
pub mod transcode;
pub mod upsample;
pub mod vad;
pub mod wav;

pub use pcm::SampleRate;

/// How samples are encoded on a wire. Carriers and providers each declare one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// G.711 mu-law, one byte per sample (Twilio's only format).
    Mulaw,
    /// G.711 A-law, one byte per sample (PCMA; Europe and Telnyx).
    Alaw,
    /// Signed 16-bit little-endian PCM (what most speech engines want).
    Linear16,
    /// Signed 16-bit big-endian PCM (RTP's L16, network byte order, RFC 3551 §4.5.11).
    Linear16Be,
    /// Opus packets, one packet per carrier frame.
    Opus,
}

impl Encoding {
    /// A short stable name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Mulaw => "mulaw",
            Encoding::Alaw => "alaw",
            Encoding::Linear16 => "linear16",
            Encoding::Linear16Be => "l16",
            Encoding::Opus => "opus",
        }
    }
}

/// An encoding at a sample rate: the full description of a mono audio stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// Sample encoding on the wire.
    pub encoding: Encoding,
    /// Samples per second.
    pub sample_rate: SampleRate,
}

impl AudioFormat {
    /// Twilio Media Streams' fixed format: mu-law at 8 kHz.
    pub const MULAW_8K: AudioFormat = AudioFormat {
        encoding: Encoding::Mulaw,
        sample_rate: SampleRate::Hz8000,
    };

    /// Little-endian 16-bit PCM at 16 kHz, the usual speech-engine input.
    pub const LINEAR16_16K: AudioFormat = AudioFormat {
        encoding: Encoding::Linear16,
        sample_rate: SampleRate::Hz16000,
    };

    /// Builds a format from its parts.
    pub const fn new(encoding: Encoding, sample_rate: SampleRate) -> Self {
        AudioFormat {
            encoding,
            sample_rate,
        }
    }

    /// Bytes one millisecond of this format takes, for formats with a constant bit rate.
    /// `None` for Opus, whose packets vary in size.
    pub fn bytes_per_ms(self) -> Option<usize> {
        let samples_per_ms = self.sample_rate.hz() as usize / 1000;
        match self.encoding {
            Encoding::Mulaw | Encoding::Alaw => Some(samples_per_ms),
            Encoding::Linear16 | Encoding::Linear16Be => Some(samples_per_ms * 2),
            Encoding::Opus => None,
        }
    }

    /// How long `bytes` of this format play, in whole milliseconds (0 for Opus).
    pub fn duration_ms(self, bytes: usize) -> u64 {
        match self.bytes_per_ms() {
            Some(per_ms) if per_ms > 0 => (bytes / per_ms) as u64,
            _ => 0,
        }
    }
}
