//! WAV files of mono telephone audio: reading the caller clips the simulator plays and
//! writing what the agent said. RIFF/WAVE with a `fmt ` chunk of PCM (16-bit little-endian),
//! mu-law or A-law (the extensible form too); other chunks are skipped.

use super::{AudioFormat, Encoding, SampleRate};

/// A WAV file's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// Encoding and rate.
    pub format: AudioFormat,
    /// The samples as stored.
    pub data: Vec<u8>,
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// Not RIFF/WAVE, or a chunk runs past the end.
    #[error("not a WAV file: {0}")]
    Malformed(&'static str),
    /// A layout we do not play.
    #[error("unsupported WAV: {0}")]
    Unsupported(String),
}

const PCM: u16 = 1;
const ALAW: u16 = 6;
const MULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xfffe;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a WAV file.
pub fn read(bytes: &[u8]) -> Result<Wav, WavError> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavError::Malformed("no RIFF/WAVE header"));
    }
    let mut at = 12;
    let mut format = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).ok_or(WavError::Malformed("chunk header"))? as usize;
        let body = at + 8;
        let end = body
            .checked_add(size)
            .filter(|e| *e <= bytes.len())
            .ok_or(WavError::Malformed("a chunk runs past the end"))?;
        match id {
            b"fmt " => {
                let mut tag = u16_at(bytes, body).ok_or(WavError::Malformed("fmt"))?;
                let channels = u16_at(bytes, body + 2).ok_or(WavError::Malformed("fmt"))?;
                let rate = u32_at(bytes, body + 4).ok_or(WavError::Malformed("fmt"))?;
                let bits = u16_at(bytes, body + 14).ok_or(WavError::Malformed("fmt"))?;
                if tag == EXTENSIBLE {
                    // The sub-format GUID starts with the plain format tag.
                    tag = u16_at(bytes, body + 24).ok_or(WavError::Malformed("fmt extensible"))?;
                }
                if channels != 1 {
                    return Err(WavError::Unsupported(format!(
                        "{channels} channels; use mono"
                    )));
                }
                let encoding = match (tag, bits) {
                    (PCM, 16) => Encoding::Linear16,
                    (MULAW, 8) => Encoding::Mulaw,
                    (ALAW, 8) => Encoding::Alaw,
                    _ => {
                        return Err(WavError::Unsupported(format!(
                            "format {tag} with {bits}-bit samples; use 16-bit PCM, mu-law or A-law"
                        )));
                    }
                };
                let rate = SampleRate::from_hz(rate)
                    .map_err(|_| WavError::Unsupported(format!("{rate} Hz")))?;
                format = Some(AudioFormat::new(encoding, rate));
            }
            b"data" => {
                let format = format.ok_or(WavError::Malformed("data before fmt"))?;
                return Ok(Wav {
                    format,
                    data: bytes[body..end].to_vec(),
                });
            }
            _ => {}
        }
        at = end + (size & 1); // chunks are padded to even sizes
    }
    Err(WavError::Malformed("no data chunk"))
}

/// A WAV file holding `data` in `format` (PCM, mu-law or A-law).
pub fn write(format: AudioFormat, data: &[u8]) -> Vec<u8> {
    let (tag, bits): (u16, u16) = match format.encoding {
        Encoding::Mulaw => (MULAW, 8),
        Encoding::Alaw => (ALAW, 8),
        _ => (PCM, 16),
    };
    let rate = format.sample_rate.hz();
    let block = bits / 8;
    let companded = tag != PCM;
    let fmt_size: u32 = if companded { 18 } else { 16 };
    let fact = if companded { 12 } else { 0 };
    let pad = data.len() & 1;
    let riff_size = 4 + (8 + fmt_size) + fact + 8 + data.len() as u32 + pad as u32;
    let mut out = Vec::with_capacity(riff_size as usize + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&fmt_size.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if companded {
        out.extend_from_slice(&0u16.to_le_bytes()); // cbSize
        out.extend_from_slice(b"fact");
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32 / u32::from(block)).to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if pad == 1 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_caller_clips_read_as_8k_mulaw() {
        let clip = read(include_bytes!("../../../fixtures/calls/yes_correct.wav")).unwrap();
        assert_eq!(clip.format, AudioFormat::MULAW_8K);
        assert!(clip.data.len() > 8000, "over a second of audio");
    }

    #[test]
    fn written_files_read_back_in_every_format() {
        for format in [
            AudioFormat::MULAW_8K,
            AudioFormat::new(Encoding::Alaw, SampleRate::Hz8000),
            AudioFormat::LINEAR16_16K,
        ] {
            let data: Vec<u8> = (0..1601u32).map(|i| (i % 253) as u8).collect();
            let data = if format.encoding == Encoding::Linear16 {
                data[..1600].to_vec()
            } else {
                data
            };
            let back = read(&write(format, &data)).unwrap();
            assert_eq!(back, Wav { format, data });
        }
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(matches!(read(b"nope"), Err(WavError::Malformed(_))));
        let mut stereo = write(AudioFormat::MULAW_8K, &[0; 16]);
        stereo[22] = 2;
        assert!(matches!(read(&stereo), Err(WavError::Unsupported(m)) if m.contains("mono")));
        let mut truncated = write(AudioFormat::MULAW_8K, &[0; 16]);
        truncated.truncate(40);
        assert!(read(&truncated).is_err());
        let mut odd_rate = write(AudioFormat::MULAW_8K, &[0; 16]);
        odd_rate[24..28].copy_from_slice(&11025u32.to_le_bytes());
        assert!(matches!(read(&odd_rate), Err(WavError::Unsupported(_))));
    }
}
