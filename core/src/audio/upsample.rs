//! Doubling the sample rate of 8 kHz telephone audio for the voice activity detector, which
//! works at 16 kHz. A polyphase interpolating FIR: a Blackman-windowed sinc low-pass at 16 kHz
//! with its cutoff below 4 kHz (a telephone line carries nothing above 3.4 kHz), split into two
//! phases of `TAPS` taps that make the even and the odd output samples. A 20 ms frame costs
//! about ten thousand multiply-adds and a few dozen bytes of state; the FFT resampler used for
//! audio a person hears costs several times that per frame, with kilobytes of buffers per call,
//! which a detector does not need. The cutoff matters: a half-band filter passes noise near
//! 4 kHz into its mirror image above it, and broadband line noise then scores as speech.

/// Taps per phase (a multiple of eight, for the vector sums).
const TAPS: usize = 16;
/// Where the low-pass starts to cut, Hz.
const CUTOFF_HZ: f64 = 3300.0;
/// The output rate, Hz.
const OUT_HZ: f64 = 16_000.0;

/// An 8 kHz → 16 kHz interpolator that keeps its history across calls (a stream).
#[derive(Debug, Clone)]
pub struct Upsampler2x {
    /// Even and odd phases, newest input sample first.
    phases: [[f32; TAPS]; 2],
    /// The last `TAPS` input samples, newest first from `newest`, written twice so the
    /// window is always one contiguous slice (no shifting per sample).
    ring: [f32; 2 * TAPS],
    newest: usize,
}

impl Default for Upsampler2x {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler2x {
    /// A stream starting from silence.
    pub fn new() -> Self {
        let len = 2 * TAPS;
        let centre = (len - 1) as f64 / 2.0;
        let fc = CUTOFF_HZ / OUT_HZ;
        let mut prototype = vec![0.0f64; len];
        for (n, h) in prototype.iter_mut().enumerate() {
            let t = n as f64 - centre;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let x = n as f64 / (len - 1) as f64;
            let w = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * x).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * x).cos();
            *h = sinc * w;
        }
        // Each phase has unit gain at DC (the factor two of zero-stuffing).
        let mut phases = [[0.0f32; TAPS]; 2];
        for (p, phase) in phases.iter_mut().enumerate() {
            let sum: f64 = (0..TAPS).map(|k| prototype[2 * k + p]).sum();
            for (k, tap) in phase.iter_mut().enumerate() {
                *tap = (prototype[2 * k + p] / sum) as f32;
            }
        }
        Self {
            phases,
            ring: [0.0; 2 * TAPS],
            newest: 0,
        }
    }

    /// Takes `input` into the history without producing output (for audio nobody needs
    /// doubled, so the next [`Upsampler2x::process`] continues as if it had been).
    pub fn prime(&mut self, input: &[i16]) {
        for &s in input.iter().rev().take(TAPS).rev() {
            self.take(s);
        }
    }

    /// Adds a sample to the history; the window is `ring[newest..newest + TAPS]`.
    fn take(&mut self, s: i16) {
        self.newest = (self.newest + TAPS - 1) % TAPS;
        let x = f32::from(s);
        self.ring[self.newest] = x;
        self.ring[self.newest + TAPS] = x;
    }

    /// Appends two output samples per input sample to `out` (the filter delays the audio by
    /// about 1.5 ms).
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() * 2);
        for &s in input {
            self.take(s);
            let window: &[f32; TAPS] = self.ring[self.newest..self.newest + TAPS]
                .try_into()
                .expect("the ring holds two windows");
            for phase in &self.phases {
                // Eight running sums the compiler keeps in one vector register.
                let mut acc = [0.0f32; 8];
                for (h, x) in phase.chunks_exact(8).zip(window.chunks_exact(8)) {
                    for lane in 0..8 {
                        acc[lane] += h[lane] * x[lane];
                    }
                }
                let y: f32 = acc.iter().sum();
                // `as` saturates at the i16 range; rounding to nearest without the libm call.
                out.push((y + 0.5f32.copysign(y)) as i16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: f64, n: usize, amplitude: f64) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f64 / rate * hz * std::f64::consts::TAU).sin() * amplitude) as i16)
            .collect()
    }

    /// Power of `x` at `hz`, by correlation.
    fn power_at(x: &[i16], hz: f64, rate: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            let p = i as f64 / rate * hz * std::f64::consts::TAU;
            re += f64::from(s) * p.cos();
            im += f64::from(s) * p.sin();
        }
        (re * re + im * im) / (x.len() as f64).powi(2)
    }

    #[test]
    fn speech_band_tones_pass_at_twice_the_rate_and_their_images_do_not() {
        for hz in [300.0, 1000.0, 2500.0] {
            let input = tone(hz, 8000.0, 8000, 10000.0);
            let mut up = Upsampler2x::new();
            let mut out = Vec::new();
            // In 20 ms frames, as the carrier delivers it.
            for frame in input.chunks(160) {
                up.process(frame, &mut out);
            }
            assert_eq!(out.len(), 16000);
            let steady = &out[1000..];
            let wanted = power_at(steady, hz, 16000.0);
            let image = power_at(steady, 8000.0 - hz, 16000.0);
            let reference = power_at(&tone(hz, 16000.0, 15000, 10000.0), hz, 16000.0);
            let gain_db = 10.0 * (wanted / reference).log10();
            let image_db = 10.0 * (image / wanted).log10();
            assert!(gain_db.abs() < 1.0, "{hz} Hz: gain {gain_db} dB");
            assert!(image_db < -50.0, "{hz} Hz: image at {image_db} dB");
        }
    }

    #[test]
    fn silence_stays_silent_and_full_scale_does_not_wrap() {
        let mut up = Upsampler2x::new();
        let mut out = Vec::new();
        up.process(&[0; 160], &mut out);
        assert!(out.iter().all(|&s| s == 0));
        let square: Vec<i16> = (0..320)
            .map(|i| if i % 8 < 4 { 32767 } else { -32768 })
            .collect();
        out.clear();
        up.process(&square, &mut out);
        // Overshoot clamps rather than wrapping to the opposite sign.
        let wraps = out
            .windows(2)
            .filter(|w| (i32::from(w[0]) - i32::from(w[1])).abs() > 60000)
            .count();
        assert!(wraps < 10, "{wraps}");
    }
}
