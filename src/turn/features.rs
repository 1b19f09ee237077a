//! The log-mel spectrogram Smart Turn v3 reads: Whisper's features (80 Slaney mel bands of a
//! 400-point, 160-hop power spectrum at 16 kHz) over exactly the last 8 seconds of the turn.
//! It must match, number for number, what the model was trained on: Hugging Face's
//! `WhisperFeatureExtractor(chunk_length=8)` with `do_normalize`, as pipecat computes it before
//! it runs the model (zero-mean unit-variance waveform over the padded 8 s, a reflect-padded
//! centred STFT, the trailing frame dropped, an 8-decade floor below the peak, then
//! `(x + 4) / 4`). The unit test holds values that implementation printed.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::models::whisper_assets::mel_filters;

/// Samples per second the model hears.
pub const SAMPLE_RATE: u32 = 16_000;
/// Seconds of audio the model reads (the last ones of the turn).
pub const WINDOW_SECS: usize = 8;
/// Samples in the window.
pub const WINDOW: usize = SAMPLE_RATE as usize * WINDOW_SECS;
/// Mel bands.
pub const MELS: usize = 80;
/// Frames of the spectrogram (10 ms each).
pub const FRAMES: usize = WINDOW / HOP;

const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;

/// Computes the features; built once (its FFT plan, window and filter bank are shared by
/// every decision).
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    /// `[mel][bin]`.
    filters: Vec<f64>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogMel")
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// The extractor.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        // Periodic Hann, as torch.hann_window.
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
            .collect();
        let filters = mel_filters(SAMPLE_RATE, N_FFT, MELS)
            .into_iter()
            .map(f64::from)
            .collect();
        Self {
            fft,
            window,
            filters,
        }
    }

    /// Features `[MELS][FRAMES]` (row-major) of 16 kHz `audio` in [-1, 1]: its last
    /// [`WINDOW`] samples, zeros before them when it is shorter.
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let mut x = vec![0f32; WINDOW];
        let tail = &audio[audio.len().saturating_sub(WINDOW)..];
        x[WINDOW - tail.len()..].copy_from_slice(tail);
        normalize(&mut x);

        // Centred frames: reflect-padded by half a frame on both sides.
        let pad = N_FFT / 2;
        let padded: Vec<f64> = (0..WINDOW + 2 * pad)
            .map(|i| f64::from(x[reflect(i as isize - pad as isize, WINDOW)]))
            .collect();
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f64; BINS];
        let mut out = vec![0f64; MELS * FRAMES];
        // The last frame (FRAMES + 1 in all) is dropped, as the reference does.
        for t in 0..FRAMES {
            let start = t * HOP;
            for (i, v) in frame.iter_mut().enumerate() {
                *v = padded[start + i] * self.window[i];
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for m in 0..MELS {
                let row = &self.filters[m * BINS..(m + 1) * BINS];
                let energy: f64 = row.iter().zip(&power).map(|(w, p)| w * p).sum();
                out[m * FRAMES + t] = energy.max(1e-10).log10();
            }
        }
        let peak = out.iter().copied().fold(f64::MIN, f64::max);
        out.into_iter()
            .map(|v| ((v.max(peak - 8.0) + 4.0) / 4.0) as f32)
            .collect()
    }
}

/// Zero mean, unit variance (in f32, as the reference), over the whole padded window.
fn normalize(x: &mut [f32]) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let scale = (var + 1e-7).sqrt();
    for v in x.iter_mut() {
        *v = (*v - mean) / scale;
    }
}

/// numpy's "reflect" index (the edge sample is not repeated).
fn reflect(i: isize, len: usize) -> usize {
    let last = len as isize - 1;
    let mut i = i;
    if i < 0 {
        i = -i;
    }
    if i > last {
        i = 2 * last - i;
    }
    i as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 s of two tones, one amplitude-modulated, and a quiet chirp, at 16 kHz.
    fn signal() -> Vec<f32> {
        let tau = 2.0 * std::f64::consts::PI;
        (0..48_000)
            .map(|n| {
                let n = n as f64;
                (0.3 * (tau * 440.0 * n / 16_000.0).sin()
                    * (1.0 + 0.5 * (tau * 3.0 * n / 16_000.0).sin())
                    + 0.1 * (tau * 1234.5 * n / 16_000.0).sin()
                    + 0.02 * (tau * 5000.0 * n * n / 16_000.0 / 48_000.0 / 2.0).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn the_features_are_the_ones_the_model_was_trained_on() {
        let f = LogMel::new().compute(&signal());
        assert_eq!(f.len(), MELS * FRAMES);
        // Printed by pipecat's `compute_whisper_log_mel_features` (numpy) for the same
        // signal, left-padded to 8 s as pipecat pads it: (mel, frame, value).
        let expected = [
            (8, 499, 0.68531),
            (10, 500, 1.58536),
            (10, 700, 1.65769),
            (20, 799, 0.69773),
            (21, 610, -0.16522),
            (30, 560, 1.29851),
            (15, 650, 0.17070),
            (0, 0, -0.16522),
        ];
        for (m, t, v) in expected {
            let got = f[m * FRAMES + t];
            assert!(
                (got - v).abs() < 2e-3,
                "mel {m} frame {t}: {got}, expected {v}"
            );
        }
        let mean = f.iter().sum::<f32>() / f.len() as f32;
        assert!((mean - -0.060589).abs() < 1e-3, "mean {mean}");
        let max = f.iter().copied().fold(f32::MIN, f32::max);
        assert!((max - 1.83478).abs() < 2e-3, "max {max}");
    }

    #[test]
    fn only_the_last_eight_seconds_count() {
        let lm = LogMel::new();
        let s = signal();
        let mut long = vec![0.25f32; 16_000 * 9];
        long.extend_from_slice(&s);
        let mut padded = vec![0.0f32; WINDOW - s.len()];
        padded.extend_from_slice(&s);
        let a = lm.compute(&long[long.len() - WINDOW..]);
        assert_eq!(a, lm.compute(&long));
        assert_eq!(lm.compute(&padded), lm.compute(&s));
    }
}
