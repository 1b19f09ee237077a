//! Two-channel Opus in Ogg pages (RFC 7845), produced as bytes to append to a file: the format
//! call recordings are kept in, because every browser's `<audio>` plays it, it is a tenth of
//! the size of the carrier's G.711, and a file cut off at any page boundary (a node killed
//! mid-call) still plays up to that page.
//!
//! Sans-IO: samples in, bytes out. The `ogg` crate frames pages (CRC, lacing); this module
//! writes the two Opus headers and the granule positions.

use std::borrow::Cow;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::SampleRate;
use super::opus::{OpusEncoder, OpusError};

/// Packets per page: one page a second, so a file is at most a second short after a crash and
/// the writer is handed about 2.5 KB at a time.
const PACKETS_PER_PAGE: u64 = 50;
/// Ogg Opus counts granules at 48 kHz whatever the input rate.
const GRANULE_HZ: u64 = 48_000;
/// Telephone speech on two channels: 10 kb/s each keeps narrowband speech clear.
const BITS_PER_SECOND: i32 = 20_000;
/// libopus' effort per frame: 3 of 10 costs 86 µs a frame against 217 at 10 for the same
/// size (`cargo bench -p callbridge-core --bench recording`); a recording runs beside every call.
const COMPLEXITY: u8 = 3;

/// Why a recording stream failed.
#[derive(Debug, thiserror::Error)]
pub enum OggOpusError {
    /// libopus refused.
    #[error(transparent)]
    Opus(#[from] OpusError),
    /// The page writer failed (it writes to memory: only on a bug).
    #[error("ogg: {0}")]
    Ogg(#[from] std::io::Error),
    /// A file read back is not a well-formed Ogg stream.
    #[error("ogg read: {0}")]
    Read(String),
}

/// An Ogg Opus stream of two channels at `rate`, fed whole 20 ms stereo frames.
pub struct OggOpusStream {
    encoder: OpusEncoder,
    pages: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    rate: SampleRate,
    packets: u64,
    packet: Vec<u8>,
}

impl std::fmt::Debug for OggOpusStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusStream")
            .field("serial", &self.serial)
            .field("packets", &self.packets)
            .finish()
    }
}

impl OggOpusStream {
    /// A stream whose headers (identification, then tags naming `vendor` and `comments`) are
    /// the first bytes [`OggOpusStream::take_bytes`] returns. `serial` tells logical streams
    /// apart; any value will do for a file holding one.
    pub fn new(
        rate: SampleRate,
        serial: u32,
        vendor: &str,
        comments: &[(&str, &str)],
    ) -> Result<Self, OggOpusError> {
        let encoder = OpusEncoder::stereo(rate, BITS_PER_SECOND, COMPLEXITY)?;
        let scale = GRANULE_HZ / u64::from(rate.hz());
        let pre_skip = u64::from(encoder.lookahead()?) * scale;
        let mut stream = OggOpusStream {
            encoder,
            pages: PacketWriter::new(Vec::new()),
            serial,
            rate,
            packets: 0,
            packet: Vec::new(),
        };
        let head = identification_header(rate, pre_skip as u16);
        stream.write(head, PacketWriteEndInfo::EndPage, 0)?;
        let tags = comment_header(vendor, comments);
        stream.write(tags, PacketWriteEndInfo::EndPage, 0)?;
        Ok(stream)
    }

    fn write(
        &mut self,
        packet: Vec<u8>,
        end: PacketWriteEndInfo,
        granule: u64,
    ) -> Result<(), OggOpusError> {
        self.pages
            .write_packet(Cow::Owned(packet), self.serial, end, granule)?;
        Ok(())
    }

    /// Samples per channel in one frame.
    pub fn frame_samples(&self) -> usize {
        self.rate.samples_per_20ms()
    }

    /// Encodes one 20 ms frame of interleaved stereo samples (left, right, left, …); a short
    /// frame is padded with silence.
    pub fn push_frame(&mut self, interleaved: &[i16]) -> Result<(), OggOpusError> {
        self.encode(interleaved, false)
    }

    /// Ends the stream: `last` (a frame, or less) is encoded and the final page is marked as
    /// the end of the stream.
    pub fn finish(&mut self, last: &[i16]) -> Result<(), OggOpusError> {
        self.encode(last, true)
    }

    fn encode(&mut self, interleaved: &[i16], last: bool) -> Result<(), OggOpusError> {
        let want = self.frame_samples() * 2;
        let mut frame = interleaved[..interleaved.len().min(want)].to_vec();
        frame.resize(want, 0);
        let mut packet = std::mem::take(&mut self.packet);
        packet.clear();
        self.encoder
            .encode(&frame, |p| packet.extend_from_slice(p))?;
        self.packets += 1;
        let granule = self.packets * GRANULE_HZ / 50;
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if self.packets.is_multiple_of(PACKETS_PER_PAGE) {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        let bytes = packet.clone();
        self.packet = packet;
        self.write(bytes, end, granule)
    }

    /// The bytes of every page completed since the last call.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(self.pages.inner_mut())
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> u64 {
        self.packets
    }
}

/// `OpusHead`: version 1, two channels, mapping family 0 (mono or stereo, no table).
fn identification_header(rate: SampleRate, pre_skip: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(2);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&rate.hz().to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// `OpusTags`: the vendor string and `KEY=value` comments, lengths little-endian.
fn comment_header(vendor: &str, comments: &[(&str, &str)]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"OpusTags");
    h.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    h.extend_from_slice(vendor.as_bytes());
    h.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (key, value) in comments {
        let c = format!("{key}={value}");
        h.extend_from_slice(&(c.len() as u32).to_le_bytes());
        h.extend_from_slice(c.as_bytes());
    }
    h
}

/// A recording read back: what a player would hear on each channel.
#[derive(Debug, Clone, Default)]
pub struct DecodedRecording {
    /// The identification and comment headers, as stored.
    pub headers: Vec<Vec<u8>>,
    /// The left channel (the caller), 8 kHz.
    pub left: Vec<i16>,
    /// The right channel (the agent), 8 kHz.
    pub right: Vec<i16>,
    /// The stream's last page was read (the call ended and the file was finished).
    pub complete: bool,
}

/// Reads a whole two-channel 8 kHz file back, without the encoder's delay (the header's
/// pre-skip), as a player would. For the checks of recordings (the recorder's tests, the
/// service's end-to-end tests), which compare what a player hears with what was said.
pub fn decode(bytes: &[u8]) -> Result<DecodedRecording, OggOpusError> {
    let mut reader = ogg::reading::PacketReader::new(std::io::Cursor::new(bytes));
    let mut out = DecodedRecording::default();
    let mut decoder = super::opus::OpusDecoder::stereo(SampleRate::Hz8000)?;
    let mut pcm = Vec::new();
    while let Some(p) = reader
        .read_packet()
        .map_err(|e| OggOpusError::Read(e.to_string()))?
    {
        out.complete |= p.last_in_stream();
        if out.headers.len() < 2 {
            out.headers.push(p.data);
            continue;
        }
        pcm.clear();
        decoder.decode(&p.data, &mut pcm)?;
        for pair in pcm.chunks_exact(2) {
            out.left.push(pair[0]);
            out.right.push(pair[1]);
        }
    }
    let pre_skip = out
        .headers
        .first()
        .and_then(|h| h.get(10..12))
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let skip = (pre_skip * 8000 / GRANULE_HZ as usize).min(out.left.len());
    out.left.drain(..skip);
    out.right.drain(..skip);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| ((i as f32 / 8000.0 * hz * std::f32::consts::TAU).sin() * 8000.0) as i16)
            .collect()
    }

    fn energy(s: &[i16]) -> f64 {
        s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64
    }

    #[test]
    fn two_channels_come_back_apart_with_their_headers() {
        let mut s =
            OggOpusStream::new(SampleRate::Hz8000, 7, "callbridge", &[("CALL", "CA1")]).unwrap();
        let mut bytes = s.take_bytes();
        assert!(bytes.starts_with(b"OggS"));
        let left = tone(440.0, 8000);
        for chunk in left.chunks(160) {
            let frame: Vec<i16> = chunk.iter().flat_map(|&l| [l, 0]).collect();
            s.push_frame(&frame).unwrap();
        }
        s.finish(&[]).unwrap();
        bytes.extend(s.take_bytes());
        assert!(decode(&bytes).unwrap().complete);
        let DecodedRecording {
            headers,
            left: l,
            right: r,
            ..
        } = decode(&bytes).unwrap();
        assert_eq!(&headers[0][..8], b"OpusHead");
        assert_eq!(headers[0][9], 2, "two channels");
        assert_eq!(
            u32::from_le_bytes(headers[0][12..16].try_into().unwrap()),
            8000
        );
        assert!(String::from_utf8_lossy(&headers[1]).contains("CALL=CA1"));
        assert!((50 * 160..51 * 160).contains(&l.len()), "{}", l.len());
        assert!(energy(&l[800..]) > 1_000_000.0, "the tone is on the left");
        assert!(energy(&r[800..]) < 10_000.0, "the right is silent");
    }

    #[test]
    fn pages_come_once_a_second_so_a_cut_file_still_plays() {
        let mut s = OggOpusStream::new(SampleRate::Hz8000, 1, "callbridge", &[]).unwrap();
        let headers = s.take_bytes();
        for _ in 0..49 {
            s.push_frame(&[0; 320]).unwrap();
        }
        assert!(s.take_bytes().is_empty(), "a page waits for its second");
        s.push_frame(&[0; 320]).unwrap();
        let page = s.take_bytes();
        assert!(page.starts_with(b"OggS"));
        let mut cut = headers;
        cut.extend(page);
        let read = decode(&cut).unwrap();
        assert!(read.left.len() > 49 * 160);
        assert!(!read.complete, "a file cut short has no end of stream");
    }
}
