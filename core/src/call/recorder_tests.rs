#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

use super::*;
use crate::audio::g711::encode_mulaw;
use crate::audio::ogg_opus::decode;

const MS: Duration = Duration::from_millis(1);

fn tone(hz: f32, ms: usize, from_sample: usize) -> Vec<u8> {
    let samples: Vec<i16> = (from_sample..from_sample + ms * 8)
        .map(|i| ((i as f32 / 8000.0 * hz * std::f32::consts::TAU).sin() * 8000.0) as i16)
        .collect();
    let mut out = Vec::new();
    encode_mulaw(&samples, &mut out);
    out
}

fn silence(ms: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_mulaw(&vec![0; ms * 8], &mut out);
    out
}

fn recorder(t0: Instant) -> AudioRecorder {
    AudioRecorder::new(t0, AudioFormat::MULAW_8K, AudioFormat::MULAW_8K, "CA1").unwrap()
}

/// Mean power of `samples` in each 50 ms window.
fn windows(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(400)
        .map(|w| w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64)
        .collect()
}

/// Whether the 50 ms window starting at `ms` is loud.
fn loud(w: &[f64], ms: usize) -> bool {
    w[ms / 50] > 1_000_000.0
}

/// A caller who talks for a second, then hears the agent's 1.2 s reply for 500 ms before
/// cutting in: drives the recorder as the session does (caller frames every 20 ms; the reply
/// released a 300 ms lead ahead, as the ledger releases it).
#[test]
fn a_barge_in_cuts_the_agent_channel_where_the_caller_stopped_hearing() {
    let t0 = Instant::now();
    let mut r = recorder(t0);
    let mut file = r.advance(t0).unwrap();
    let reply_from = 1000;
    let cut_at = 1500;
    let mut released = 0usize;
    for frame in 0..150usize {
        let now = t0 + MS * (frame as u32 * 20);
        let ms = frame * 20;
        let caller = if ms < 1000 || ms >= cut_at {
            tone(300.0, 20, ms * 8)
        } else {
            silence(20)
        };
        r.caller(now, &caller).unwrap();
        if ms == cut_at {
            r.clear(now);
        } else if (reply_from..cut_at).contains(&ms) {
            // Keep 300 ms of the reply buffered at the carrier.
            while released < 1200 && reply_from + released < ms + 300 {
                let plays_at = t0 + MS * (reply_from + released) as u32;
                r.agent(now, plays_at, &tone(1000.0, 20, released * 8))
                    .unwrap();
                released += 20;
            }
        }
        file.extend(r.advance(now).unwrap());
        assert!(
            r.held_samples() <= 2 * 8 * 1000,
            "held {}",
            r.held_samples()
        );
    }
    assert_eq!(r.losses(), RecorderLosses::default());
    file.extend(r.finish(t0 + MS * 3000).unwrap());
    let rec = decode(&file).unwrap();
    assert!(rec.left.len() >= 2990 * 8, "the call's 3 s are all there");
    let (left, right) = (windows(&rec.left), windows(&rec.right));
    for ms in [100, 500, 900, 1600, 2500, 2900] {
        assert!(loud(&left, ms), "the caller talks at {ms} ms: {left:?}");
    }
    for ms in [1100, 1300] {
        assert!(!loud(&left, ms), "the caller listens at {ms} ms");
        assert!(loud(&right, ms), "the agent is heard at {ms} ms: {right:?}");
    }
    for ms in [500, 900, 1550, 1700, 2000, 2500] {
        assert!(!loud(&right, ms), "no agent at {ms} ms: {right:?}");
    }
}

#[test]
fn the_end_of_a_call_drops_what_was_still_buffered_at_the_carrier() {
    let t0 = Instant::now();
    let mut r = recorder(t0);
    let mut file = r.advance(t0).unwrap();
    for frame in 0..25u32 {
        let now = t0 + MS * (frame * 20);
        r.caller(now, &silence(20)).unwrap();
        if frame == 0 {
            // Two seconds released at once; only half a second plays before the end.
            r.agent(now, now, &tone(1000.0, 2000, 0)).unwrap();
        }
        file.extend(r.advance(now).unwrap());
    }
    file.extend(r.finish(t0 + MS * 500).unwrap());
    let rec = decode(&file).unwrap();
    let right = windows(&rec.right);
    assert!(loud(&right, 200));
    assert!(
        rec.right.len() < 600 * 8,
        "the file ends with the call ({} samples)",
        rec.right.len()
    );
}

#[test]
fn a_stalled_stream_leaves_a_gap_and_the_clock_goes_on() {
    let t0 = Instant::now();
    let mut r = recorder(t0);
    let mut file = r.advance(t0).unwrap();
    // One second of talk, two seconds with no frames at all, then a second more.
    let mut times: Vec<u32> = (0..50).map(|f| f * 20).collect();
    times.extend((150..200).map(|f| f * 20));
    for ms in times {
        let now = t0 + MS * ms;
        r.caller(now, &tone(300.0, 20, ms as usize * 8)).unwrap();
        file.extend(r.advance(now).unwrap());
        // The silence between frames: the clock moves the timeline without the caller.
        file.extend(r.advance(now + MS * 10).unwrap());
    }
    file.extend(r.finish(t0 + MS * 4000).unwrap());
    let left = windows(&decode(&file).unwrap().left);
    assert!(loud(&left, 500));
    assert!(!loud(&left, 2000), "the stall is silence: {left:?}");
    assert!(
        loud(&left, 3500),
        "speech after the stall is where it was said"
    );
}

#[test]
fn a_flood_of_frames_cannot_grow_the_buffer() {
    let t0 = Instant::now();
    let mut r = recorder(t0);
    for _ in 0..1000 {
        r.caller(t0, &silence(20)).unwrap();
    }
    assert!(r.held_samples() <= 5_100 * 8, "held {}", r.held_samples());
    assert!(r.losses().caller_samples > 0);
    r.agent(t0, t0 + Duration::from_secs(60), &silence(20))
        .unwrap();
    assert_eq!(r.losses().agent_samples, 160);
}

/// Memory stays flat however long the call: after ten minutes of talk and replies, what is
/// held is what the last second needs.
#[test]
fn ten_minutes_hold_no_more_than_one_second() {
    let t0 = Instant::now();
    let mut r = recorder(t0);
    let mut bytes = r.advance(t0).unwrap().len();
    let mut most_held = 0;
    for frame in 0..30_000u32 {
        let now = t0 + MS * (frame * 20);
        r.caller(now, &silence(20)).unwrap();
        if frame % 10 == 0 {
            r.agent(now, now + MS * 200, &tone(500.0, 200, 0)).unwrap();
        }
        bytes += r.advance(now).unwrap().len();
        most_held = most_held.max(r.held_samples());
    }
    assert!(
        most_held <= 2 * 8 * 1000,
        "held at most {most_held} samples"
    );
    // At most twenty kilobits a second (the encoder spends less on silence), with the pages'
    // framing: about 8 MB an hour.
    assert!((600_000..1_600_000).contains(&bytes), "{bytes} bytes");
}
