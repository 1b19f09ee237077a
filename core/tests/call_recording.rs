//! A recorded call with a barge-in, through the whole call machine and the fake carrier that
//! plays audio in real time and drops what a `clear` cuts: the file's caller channel is what
//! the caller's line sent, and its agent channel holds what the caller heard and stops where
//! the caller stopped hearing it.

mod common;

use std::time::Duration;

use callbridge_core::audio::g711::decode_mulaw;
use callbridge_core::audio::ogg_opus::decode;
use callbridge_core::call::record::{Record, Speaker};
use callbridge_core::stt::SttEvent;
use common::{Line, agent_config};

/// Mean power of each 20 ms window.
fn windows(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(160)
        .map(|w| w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64)
        .collect()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

const LOUD: f64 = 1_000_000.0;

#[test]
fn a_barge_in_is_recorded_as_heard() {
    let mut config = agent_config();
    config.session.record = true;
    let mut line = Line::new(config);
    line.start();
    line.run_until_quiet();
    let asked_at = line.now;
    line.caller_turn("price", "How much is a brake inspection?");
    // The turn is placed where the caller began to speak (the recording is played in step
    // with the turns), not where recognition finished with it.
    let asked = line
        .records
        .iter()
        .find_map(|r| match r {
            Record::Turn(t) if t.speaker == Speaker::Caller => Some(t.at),
            _ => None,
        })
        .expect("the caller's turn is recorded");
    assert!(
        asked >= asked_at && asked < asked_at + Duration::from_millis(600),
        "the turn is at {:?} from when the caller began",
        asked - asked_at
    );
    assert!(line.now > asked + Duration::from_secs(1));
    line.llm_says(
        "A brake inspection is sixty nine dollars and ninety nine cents, and it takes about an \
         hour. We check the pads, the rotors, the calipers and the brake fluid.",
    );
    let heard = line.heard_ms();
    line.run_until(Duration::from_secs(5), |l| l.heard_ms() > heard + 2_000);
    line.caller_says("hours");
    line.run_until(Duration::from_secs(10), |l| !l.caller_speaking());
    line.stt(SttEvent::Final {
        text: "What time do you open on Saturday?".into(),
        speech_final: true,
        from_finalize: false,
        start: 0.0,
        end: 0.5,
        confidence: 0.9,
    });
    line.run_for(1_000);
    assert_eq!(line.clears, 1, "the caller's question stopped the agent");
    line.caller_hangs_up();
    line.run_for(500);

    let rec = decode(&line.recording).expect("a well-formed file");
    assert!(String::from_utf8_lossy(&rec.headers[1]).contains("CALL=CA1"));

    // The caller's channel is what the line sent, frame for frame.
    let mut said = Vec::new();
    decode_mulaw(&line.said, &mut said);
    let (left, sent) = (windows(&rec.left), windows(&said));
    assert!(
        left.len() + 2 >= sent.len(),
        "{} of {} windows",
        left.len(),
        sent.len()
    );
    let r = correlation(&left, &sent);
    assert!(r > 0.95, "caller channel against the line: r = {r}");

    // The agent's channel: as much as the caller heard, and nothing after the clear.
    let right = windows(&rec.right);
    let loud_ms = right.iter().filter(|&&e| e > LOUD).count() as u64 * 20;
    let heard_ms = line.heard_ms();
    assert!(
        loud_ms.abs_diff(heard_ms) <= 120,
        "agent channel {loud_ms} ms, the caller heard {heard_ms} ms"
    );
    let cut = (line.cleared_at[0] - line.t0).as_millis() as usize / 20;
    assert!(
        right[cut - 10..cut - 2].iter().all(|&e| e > LOUD),
        "the agent plays up to the cut"
    );
    assert!(
        right[cut + 2..].iter().all(|&e| e < LOUD / 100.0),
        "nothing of the agent after the cut at window {cut}"
    );
}
