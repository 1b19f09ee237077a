//! A call's recording over ten minutes: the memory it holds (heap in use by the recorder and
//! its encoder, read each simulated minute through a counting allocator) must stay flat, and
//! the cost per 20 ms frame (caller frame in, agent audio placed, settled audio encoded) small.
//! The call is fed as the media session feeds it: a caller frame every 20 ms, the agent
//! answering 40% of the time with audio released 300 ms ahead, a barge-in clearing it every
//! thirty seconds.
//!
//! Run: `cargo bench -p callbridge-core --bench recording`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use callbridge_core::audio::{AudioFormat, g711};
use callbridge_core::call::recorder::AudioRecorder;

/// Heap bytes in use, counted by the allocator itself.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn tone(hz: f32, ms: usize, from: usize) -> Vec<u8> {
    let pcm: Vec<i16> = (from..from + ms * 8)
        .map(|i| ((i as f32 / 8000.0 * hz * std::f32::consts::TAU).sin() * 6000.0) as i16)
        .collect();
    let mut out = Vec::new();
    g711::encode_mulaw(&pcm, &mut out);
    out
}

#[allow(clippy::disallowed_methods)] // A benchmark reads the clock for its origin and timing.
fn main() {
    let t0 = Instant::now();
    let caller_frame = tone(300.0, 20, 0);
    let agent_chunk = tone(500.0, 100, 0);
    let before = LIVE.load(Ordering::Relaxed);
    let mut recorder =
        AudioRecorder::new(t0, AudioFormat::MULAW_8K, AudioFormat::MULAW_8K, "CAbench").unwrap();
    let mut file_bytes = recorder.advance(t0).unwrap().len();
    let mut released_until = Duration::ZERO;
    let mut most_held = 0;
    let mut per_minute = Vec::new();
    let started = Instant::now();
    for frame in 0..30_000u32 {
        let at = Duration::from_millis(u64::from(frame) * 20);
        let now = t0 + at;
        recorder.caller(now, &caller_frame).unwrap();
        // The agent talks four seconds in every ten, released 300 ms ahead in 100 ms pieces.
        let talking = at.as_millis() % 10_000 < 4_000;
        while talking && released_until < at + Duration::from_millis(300) {
            let plays_at = t0 + released_until.max(at);
            recorder.agent(now, plays_at, &agent_chunk).unwrap();
            released_until = released_until.max(at) + Duration::from_millis(100);
        }
        if frame % 1_500 == 749 {
            recorder.clear(now);
            released_until = at;
        }
        file_bytes += recorder.advance(now).unwrap().len();
        most_held = most_held.max(recorder.held_samples());
        if frame % 3_000 == 2_999 {
            per_minute.push(LIVE.load(Ordering::Relaxed) - before);
        }
    }
    let elapsed = started.elapsed();
    let tail = recorder.finish(t0 + Duration::from_secs(600)).unwrap();
    file_bytes += tail.len();
    println!(
        "recording a 10-minute call (caller every 20 ms, agent 40% of the time, a barge-in every 30 s):"
    );
    for (minute, live) in per_minute.iter().enumerate() {
        println!("  minute {:>2}: {:>7} bytes of heap held", minute + 1, live);
    }
    let growth = per_minute.last().unwrap() - per_minute.first().unwrap();
    println!("  growth from minute 1 to minute 10: {growth} bytes");
    println!(
        "  most audio held unsettled: {most_held} samples ({} ms per channel)",
        most_held / 16
    );
    println!(
        "  file: {} bytes ({:.1} kbit/s, {:.1} MB an hour)",
        file_bytes,
        file_bytes as f64 * 8.0 / 600.0 / 1000.0,
        file_bytes as f64 * 6.0 / 1_000_000.0
    );
    println!(
        "  cost: {:.1} µs per 20 ms frame ({:.2} % of one core per call)",
        elapsed.as_secs_f64() * 1e6 / 30_000.0,
        elapsed.as_secs_f64() / 600.0 * 100.0
    );
}
