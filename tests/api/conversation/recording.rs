//! Recorded calls through the real server: the caller simulator talks over the agent, and the
//! file the server wrote is read back as a player would hear it. Its left channel is the
//! caller's line (each clip where it was said), its right channel the agent as the caller
//! heard it, stopping where the barge-in cut it.

use std::time::Duration;

use callbridge::audio::g711::decode_mulaw;
use callbridge::audio::ogg_opus::{DecodedRecording, decode};
use callbridge::crm::calls;
use callbridge::simulator::run::load_clip;
use entity::call_recording;

use super::{Line, MARIA, goodbye, said, stream};
use crate::fakes::openai::text_reply;
use crate::helpers::TestApp;

/// Log energy of each 20 ms window: speech envelopes compare well on this scale whatever
/// the codec did to the waveform.
pub(crate) fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(160)
        .map(|w| {
            let power = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64;
            (power + 1.0).ln()
        })
        .collect()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().take(n as usize).map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().take(n as usize).map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Where `clip` best matches in `channel` (window index) and how well.
fn find(channel: &[f64], clip: &[f64]) -> (usize, f64) {
    (0..channel.len().saturating_sub(clip.len()))
        .map(|at| (at, correlation(&channel[at..at + clip.len()], clip)))
        .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
}

fn clip_envelope(name: &str) -> Vec<f64> {
    let path = format!("{}/fixtures/calls/{name}.wav", env!("CARGO_MANIFEST_DIR"));
    let mut pcm = Vec::new();
    decode_mulaw(&load_clip(std::path::Path::new(&path)).unwrap(), &mut pcm);
    envelope(&pcm)
}

/// The call's `n`th recording as noted, and the file read back, once it is finished (the
/// writer ends it after the call).
pub(crate) async fn finished_recording(
    app: &TestApp,
    sid: &str,
    n: usize,
) -> (call_recording::Model, DecodedRecording) {
    for _ in 0..100 {
        let mut noted = calls::recordings(&app.state.db, sid).await.unwrap();
        if n < noted.len() {
            let row = noted.swap_remove(n);
            let file = app.state.settings.recording.dir.join(&row.path);
            let rec = decode(&std::fs::read(&file).unwrap()).expect("a well-formed file");
            if rec.complete {
                return (row, rec);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the call's recording was never finished");
}

#[tokio::test]
async fn a_barge_in_is_recorded_as_the_caller_heard_it() {
    let line = Line::open().await;
    let long = [
        "Sure, we do oil changes every day of the week. ",
        "A conventional oil change takes about forty five minutes and costs eighty nine dollars and ninety nine cents. ",
        "We also check your tire pressure, your fluids, your lights and your wiper blades at no extra charge. ",
    ];
    line.llm.push(stream(text_reply(&long)));
    line.llm.push(goodbye("Of course. Goodbye!"));
    let sid = "CArecording000000000000000bargein";
    let mut barge = said("barge_in");
    barge.barge_in_after = Some(Duration::from_millis(500));
    let summary = line
        .call_with(
            MARIA,
            sid,
            vec![
                "Hi, I'd like to book an oil change for my Honda.",
                "Actually, wait a second.",
            ],
            vec![said("book_oil_change"), barge],
        )
        .await;
    let (row, rec) = finished_recording(&line.app, sid, 0).await;
    assert!(row.path.ends_with(".ogg"), "{}", row.path);
    assert!(String::from_utf8_lossy(&rec.headers[1]).contains(&format!("CALL={sid}")));

    // The caller's channel: each clip, where it was said.
    let left = envelope(&rec.left);
    let (asked_at, r1) = find(&left, &clip_envelope("book_oil_change"));
    let barge_clip = clip_envelope("barge_in");
    let (barged_at, r2) = find(&left, &barge_clip);
    assert!(
        r1 > 0.9 && r2 > 0.9,
        "clips found with r = {r1:.3}, {r2:.3}"
    );
    assert!(
        barged_at > asked_at + 150,
        "the barge-in follows the request"
    );

    // The agent's channel: as much as the caller heard, in its place.
    let mut heard = Vec::new();
    decode_mulaw(&summary.agent_audio, &mut heard);
    let loud = |e: &[f64]| e.iter().filter(|&&x| x > 13.0).count() as i64 * 20;
    let right = envelope(&rec.right);
    let (recorded_ms, heard_ms) = (loud(&right), loud(&envelope(&heard)));
    assert!(
        (recorded_ms - heard_ms).abs() <= 200,
        "agent channel {recorded_ms} ms, the caller heard {heard_ms} ms"
    );
    assert!(
        right[barged_at - 10..barged_at].iter().all(|&x| x > 13.0),
        "the agent was talking when the caller cut in: {:?}",
        &right[barged_at - 10..barged_at]
    );
    // The reply stops within the time voice activity takes to call it a barge-in, and stays
    // stopped (the reply had many seconds left) until the agent answers the interruption.
    let cut = (barged_at..barged_at + 60)
        .find(|&w| right[w] < 8.0)
        .expect("the agent's channel stops after the caller cuts in");
    assert!(
        right[cut..cut + 40].iter().all(|&x| x < 8.0),
        "the agent's channel stops where the caller stopped hearing it: {:?}",
        &right[barged_at..cut + 40]
    );
    line.app.stop().await;
}
