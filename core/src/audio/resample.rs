//! Streaming sample-rate conversion between the supported rates, built on rubato's FFT
//! resampler (synchronous, fixed ratio, allocation-free while processing).
//!
//! Carrier frames arrive in 20 ms pieces; the resampler is fed exactly that chunk size so a
//! frame in gives a frame out with no extra buffering beyond rubato's own filter delay.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use super::SampleRate;

/// Why a resampler could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// rubato refused the configuration (should not happen for the supported rates).
    #[error("cannot build a {from} -> {to} resampler: {reason}")]
    Construction {
        /// Input rate.
        from: SampleRate,
        /// Output rate.
        to: SampleRate,
        /// rubato's explanation.
        reason: String,
    },
    /// rubato rejected a buffer; a bug in the buffer sizing here.
    #[error("resampling failed: {0}")]
    Process(String),
}

/// Converts a continuous mono 16-bit stream from one rate to another, 20 ms at a time.
pub struct StreamResampler {
    from: SampleRate,
    to: SampleRate,
    inner: Fft<f32>,
    /// Input samples waiting for a whole chunk.
    pending: Vec<f32>,
    /// Scratch output, sized once to the resampler's maximum.
    scratch_out: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    /// Builds a resampler that consumes 20 ms chunks at `from` and produces `to`.
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self, ResampleError> {
        let chunk = from.samples_per_20ms();
        // One FFT sub-chunk per 20 ms frame: every supported ratio divides a 20 ms frame
        // exactly, so each frame in yields exactly one frame out.
        let inner = Fft::<f32>::new_custom(
            from.hz() as usize,
            to.hz() as usize,
            chunk,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .map_err(|e| ResampleError::Construction {
            from,
            to,
            reason: e.to_string(),
        })?;
        let scratch_out = vec![0.0; inner.output_frames_max()];
        Ok(StreamResampler {
            from,
            to,
            inner,
            pending: Vec::with_capacity(chunk * 2),
            scratch_out,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Feeds `input` and appends every whole converted chunk to `out`. Samples that do not fill
    /// a chunk yet wait for the next call.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), ResampleError> {
        self.pending
            .extend(input.iter().map(|&s| s as f32 / 32768.0));
        let mut consumed = 0;
        loop {
            let need = self.inner.input_frames_next();
            if self.pending.len() - consumed < need {
                break;
            }
            let chunk = &self.pending[consumed..consumed + need];
            let input = SequentialSlice::new(chunk, 1, need)
                .map_err(|e| ResampleError::Process(e.to_string()))?;
            let frames_out = self.scratch_out.len();
            let mut output = SequentialSlice::new_mut(&mut self.scratch_out, 1, frames_out)
                .map_err(|e| ResampleError::Process(e.to_string()))?;
            let (used, written) = self
                .inner
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| ResampleError::Process(e.to_string()))?;
            consumed += used;
            out.extend(
                self.scratch_out[..written]
                    .iter()
                    .map(|&s| (s * 32768.0) as i16), // `as` saturates; truncation is below 1 LSB
            );
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Forgets buffered input and filter state (after a `clear`, say), so stale audio from
    /// before the cut does not leak into what follows.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.inner.reset();
    }

    /// Output samples by which the filter delays the signal.
    pub fn delay_samples(&self) -> usize {
        self.inner.output_delay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: SampleRate, freq: f32, ms: usize) -> Vec<i16> {
        let n = rate.hz() as usize * ms / 1000;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate.hz() as f32;
                ((t * freq * std::f32::consts::TAU).sin() * 10_000.0) as i16
            })
            .collect()
    }

    /// Frequency estimate from zero crossings: enough to tell a resampler that kept the pitch
    /// from one that did not.
    fn zero_crossing_hz(samples: &[i16], rate: SampleRate) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        crossings as f32 / 2.0 / (samples.len() as f32 / rate.hz() as f32)
    }

    #[test]
    fn every_supported_pair_keeps_length_and_pitch() {
        let rates = [
            SampleRate::Hz8000,
            SampleRate::Hz16000,
            SampleRate::Hz24000,
            SampleRate::Hz48000,
        ];
        for from in rates {
            for to in rates {
                if from == to {
                    continue;
                }
                let mut r = StreamResampler::new(from, to).unwrap();
                let input = sine(from, 440.0, 1000);
                let mut out = Vec::new();
                for frame in input.chunks(from.samples_per_20ms()) {
                    r.process(frame, &mut out).unwrap();
                }
                assert_eq!(out.len(), to.hz() as usize, "{from} -> {to}");
                let settled = &out[r.delay_samples() + to.samples_per_20ms()..];
                let hz = zero_crossing_hz(settled, to);
                assert!((hz - 440.0).abs() < 10.0, "{from} -> {to}: {hz} Hz");
            }
        }
    }

    #[test]
    fn partial_frames_wait_for_a_whole_chunk() {
        let mut r = StreamResampler::new(SampleRate::Hz8000, SampleRate::Hz16000).unwrap();
        let mut out = Vec::new();
        r.process(&[0; 100], &mut out).unwrap();
        assert!(out.is_empty());
        r.process(&[0; 60], &mut out).unwrap();
        assert_eq!(out.len(), 320);
        r.reset();
        r.process(&[0; 100], &mut out).unwrap();
        assert_eq!(out.len(), 320);
    }
}
