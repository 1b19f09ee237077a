//! The built-in recogniser (whisper.cpp, the fetched tiny.en model) on the caller clips of
//! `fixtures/calls/`: how long one utterance takes to transcribe, and how it holds up when
//! `CALLS` utterances (default 8) arrive at once for `WORKERS` workers (default 2).
//!
//! Prints per-utterance milliseconds (p50, p95, max) one at a time, CPU-seconds per second of
//! speech, the quick passes decoded again, and under the burst the wait-plus-decode p50/p99
//! and utterances per second, with resident memory; and the word error over the clips that
//! have a sentence. Run: `cargo bench --bench builtin_stt` (after `callbridge models fetch`);
//! `CLIPS_DIR` measures other clips (e.g. the sentences in another voice, rendered by
//! `scripts/make-caller-clips.sh`), `THREADS` lets one transcription use more cores,
//! `SHOP_PROMPT=1` gives Whisper the shop's words (the demo menu, the weekdays) as the server
//! does by default (`PROMPT="..."` another prompt to compare); the word error also counts the
//! weekday and service words missed. Local only;
//! bounded by the clip count and `REPEAT` (default 3).

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge::audio::transcode::Transcoder;
use callbridge::audio::{AudioFormat, pcm, wav};
use callbridge::config::{Settings, Source};
use callbridge::providers::stt::whisper_engine::{WhisperEngine, WhisperEngineConfig};
use callbridge::providers::stt::word_error::{shop_words_missed, word_errors, words};
use common::{cpu_seconds, env_or, rss_mib};

/// The initial prompt: the shop's, as the server makes it from the demo menu, with
/// `SHOP_PROMPT=1`; none otherwise.
fn prompt() -> String {
    if let Ok(text) = std::env::var("PROMPT") {
        return text; // another prompt to compare
    }
    let question = std::env::var("QUESTION").unwrap_or_default();
    if std::env::var("SHOP_PROMPT").as_deref() != Ok("1") {
        return question;
    }
    let menu = callbridge::crm::seed::demo_menu();
    let shop =
        callbridge::providers::stt::whisper_engine::shop_prompt("Lone Star Auto Service", &menu);
    format!("{shop} {question}").trim().to_string()
}

/// The clips' directory.
fn clips_dir() -> std::path::PathBuf {
    std::env::var("CLIPS_DIR").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls"),
        std::path::PathBuf::from,
    )
}

/// What each clip says, from `sentences.txt` beside them (pauses as spaces).
fn sentences() -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(clips_dir().join("sentences.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('|'))
        .map(|(name, said)| {
            let said: String = said
                .split('{')
                .map(|piece| piece.split_once('}').map_or(piece, |(_, rest)| rest))
                .collect::<Vec<_>>()
                .join(" ");
            (name.to_string(), said)
        })
        .collect()
}

/// The caller clips as 16 kHz samples.
fn clips() -> Vec<(String, Vec<f32>)> {
    let dir = clips_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "wav").then_some(p)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let clip = wav::read(&std::fs::read(&path).unwrap()).unwrap();
            let mut t = Transcoder::new(clip.format, AudioFormat::LINEAR16_16K).unwrap();
            let mut bytes = Vec::new();
            t.process(&clip.data, &mut bytes).unwrap();
            let mut samples = Vec::new();
            pcm::decode_le(&bytes, &mut samples);
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            (
                name,
                samples.iter().map(|&s| f32::from(s) / 32768.0).collect(),
            )
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_millis()
}

fn main() {
    let settings = Settings::from_source(&Source::from_pairs(std::env::vars())).unwrap();
    let model = settings.providers.whisper_model.clone();
    assert!(
        model.is_file(),
        "no model at {}: run `callbridge models fetch`",
        model.display()
    );
    let workers = env_or("WORKERS", 2) as usize;
    let calls = env_or("CALLS", 8) as usize;
    let repeat = env_or("REPEAT", 3) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(
        WhisperEngine::load(WhisperEngineConfig {
            model,
            workers,
            queue: calls.max(1) * 2,
            max_tokens: 64,
            threads: env_or("THREADS", 1) as usize,
            prompt: prompt(),
        })
        .unwrap(),
    );
    let clips = clips();
    let speech_secs: f64 = clips.iter().map(|(_, s)| s.len() as f64 / 16_000.0).sum();
    let pid = std::process::id();

    // One at a time: the latency a caller waits for after they stop.
    let cpu0 = cpu_seconds(pid);
    let mut one = Vec::new();
    let said = sentences();
    let (mut errors, mut total, mut misheard) = (0, 0, Vec::new());
    let (mut shop_missed, mut shop_total) = (0, 0);
    for pass in 0..repeat {
        for (name, samples) in &clips {
            let started = Instant::now();
            let heard = rt.block_on(engine.transcribe(samples.clone())).unwrap();
            one.push(started.elapsed());
            if let Some(said) = said.get(name).filter(|_| pass == 0) {
                let e = word_errors(&words(said), &words(&heard.text));
                let (missed, shop) = shop_words_missed(&words(said), &words(&heard.text));
                shop_missed += missed;
                shop_total += shop;
                errors += e;
                total += words(said).len();
                if e > 0 {
                    misheard.push(format!("  {name}: {:?}", heard.text));
                }
            }
        }
    }
    let cpu = cpu_seconds(pid) - cpu0;
    one.sort();
    println!(
        "builtin_stt one at a time: {} utterances ({:.1} s of speech each pass): p50 {} ms, p95 {} ms, max {} ms; {:.3} CPU-s per second of speech",
        one.len(),
        speech_secs,
        percentile(&one, 0.5),
        percentile(&one, 0.95),
        percentile(&one, 1.0),
        cpu / (speech_secs * repeat as f64)
    );

    println!(
        "builtin_stt word error: {errors}/{total} = {:.1} %; weekday and service words missed {shop_missed}/{shop_total}",
        100.0 * errors as f64 / total.max(1) as f64
    );
    for m in misheard {
        println!("{m}");
    }

    // A burst: `calls` callers stop speaking at once.
    let started = Instant::now();
    let waits: Vec<Duration> = rt.block_on(async {
        let tasks: Vec<_> = (0..calls)
            .map(|i| {
                let engine = engine.clone();
                let samples = clips[i % clips.len()].1.clone();
                tokio::spawn(async move {
                    let asked = Instant::now();
                    engine.transcribe(samples).await.unwrap();
                    asked.elapsed()
                })
            })
            .collect();
        let mut waits = Vec::new();
        for t in tasks {
            waits.push(t.await.unwrap());
        }
        waits
    });
    let wall = started.elapsed();
    let mut waits = waits;
    waits.sort();
    println!(
        "builtin_stt burst: {calls} utterances at once, {workers} workers: wait+decode p50 {} ms, p99 {} ms; {:.1} utterances/s; RSS {:.0} MiB",
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
        calls as f64 / wall.as_secs_f64(),
        rss_mib(pid)
    );
}
