//! What a whisper.cpp model file carries besides the weights, rebuilt from first principles
//! because the CTranslate2 package does not include them: the mel filterbank Whisper's
//! front end uses (librosa's `filters.mel` with the Slaney scale and area normalisation, at
//! 16 kHz, a 400-point FFT and 80 bands), and each vocabulary token as raw bytes (the GPT-2
//! tokenizer writes bytes as printable characters; the table is inverted here).

/// Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above.
const HZ_PER_MEL: f64 = 200.0 / 3.0;
const LOG_FROM_HZ: f64 = 1000.0;
const LOG_FROM_MEL: f64 = LOG_FROM_HZ / HZ_PER_MEL;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= LOG_FROM_HZ {
        LOG_FROM_MEL + (hz / LOG_FROM_HZ).ln() / log_step()
    } else {
        hz / HZ_PER_MEL
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= LOG_FROM_MEL {
        LOG_FROM_HZ * (log_step() * (mel - LOG_FROM_MEL)).exp()
    } else {
        mel * HZ_PER_MEL
    }
}

/// `n_mels` triangular filters over the `n_fft / 2 + 1` FFT bins of audio at `sample_rate`,
/// row-major (one row per band), each with unit area in Hz.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let bins = n_fft / 2 + 1;
    let nyquist = f64::from(sample_rate) / 2.0;
    let fft_hz: Vec<f64> = (0..bins)
        .map(|k| k as f64 * f64::from(sample_rate) / n_fft as f64)
        .collect();
    let top = hz_to_mel(nyquist);
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(top * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * bins];
    for m in 0..n_mels {
        let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
        let norm = 2.0 / (hi - lo);
        for (k, &f) in fft_hz.iter().enumerate() {
            let rising = (f - lo) / (mid - lo);
            let falling = (hi - f) / (hi - mid);
            let w = rising.min(falling).max(0.0);
            out[m * bins + k] = (w * norm) as f32;
        }
    }
    out
}

/// The GPT-2 tokenizer's byte-to-character table: printable bytes stand for themselves, the
/// others for characters from U+0100 on, in order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        table[b as usize] = if printable(b) {
            char::from_u32(b).unwrap_or('\0')
        } else {
            let c = char::from_u32(next).unwrap_or('\0');
            next += 1;
            c
        };
    }
    table
}

/// A vocabulary token as the bytes it stands for ("Ġhello" is " hello"); `None` when it has
/// a character outside the table (special tokens such as `<|endoftext|>` are plain ASCII).
pub fn token_bytes(token: &str) -> Option<Vec<u8>> {
    let table = byte_chars();
    token
        .chars()
        .map(|c| table.iter().position(|t| *t == c).map(|b| b as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whispers_filterbank_is_rebuilt() {
        let f = mel_filters(16_000, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        // The first band peaks at 37 Hz: bin 1 (40 Hz) has librosa's 0.024863.
        assert!((f[1] - 0.024_863).abs() < 1e-5, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        // Every band has unit area in Hz, to within the 40 Hz bins once it spans a few of them.
        for m in 20..80 {
            let area: f32 = f[m * 201..(m + 1) * 201].iter().sum::<f32>() * 40.0;
            assert!((area - 1.0).abs() < 0.1, "band {m}: {area}");
        }
        assert!(f.iter().all(|w| *w >= 0.0));
    }

    #[test]
    fn tokens_become_the_bytes_they_stand_for() {
        assert_eq!(token_bytes("Ġhello").unwrap(), b" hello");
        assert_eq!(token_bytes("<|endoftext|>").unwrap(), b"<|endoftext|>");
        assert_eq!(token_bytes("Ċ").unwrap(), b"\n");
        // "é" in UTF-8 is two bytes, written as two table characters.
        assert_eq!(token_bytes("Ã©").unwrap(), "é".as_bytes());
        assert!(token_bytes("€").is_none());
    }
}
