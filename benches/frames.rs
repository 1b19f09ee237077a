//! Per-20 ms-frame costs of the media hot path: G.711, Twilio framing (JSON + base64),
//! resampling, Opus decode. Target: each under 5 µs per frame (release build).
//!
//! Run: `cargo bench --bench frames`.

use std::hint::black_box;

use callbridge::audio::opus::{OpusDecoder, OpusEncoder};
use callbridge::audio::resample::StreamResampler;
use callbridge::audio::transcode::Transcoder;
use callbridge::audio::{AudioFormat, SampleRate, g711};
use callbridge::carrier::{CarrierCommand, twilio};
use criterion::{Criterion, criterion_group, criterion_main};

fn tone(rate: SampleRate, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f32 / rate.hz() as f32;
            ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
        })
        .collect()
}

fn g711_frames(c: &mut Criterion) {
    let pcm = tone(SampleRate::Hz8000, 160);
    let mut mulaw = Vec::new();
    g711::encode_mulaw(&pcm, &mut mulaw);
    let mut out_pcm = Vec::with_capacity(160);
    c.bench_function("mulaw_decode_20ms", |b| {
        b.iter(|| {
            out_pcm.clear();
            g711::decode_mulaw(black_box(&mulaw), &mut out_pcm);
        })
    });
    let mut out_bytes = Vec::with_capacity(160);
    c.bench_function("mulaw_encode_20ms", |b| {
        b.iter(|| {
            out_bytes.clear();
            g711::encode_mulaw(black_box(&pcm), &mut out_bytes);
        })
    });
}

fn twilio_frames(c: &mut Criterion) {
    let frame = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/twilio/media.json"
    ))
    .unwrap();
    c.bench_function("twilio_media_decode_20ms", |b| {
        b.iter(|| twilio::decode(black_box(&frame)).unwrap())
    });
    let audio = vec![0x7Fu8; 160];
    c.bench_function("twilio_media_encode_20ms", |b| {
        b.iter(|| {
            twilio::encode(
                black_box("MZ18ad3ab5a668481ce02b83e7395059f0"),
                &CarrierCommand::Media(black_box(&audio)),
            )
        })
    });
}

fn resampling(c: &mut Criterion) {
    let mut up = StreamResampler::new(SampleRate::Hz8000, SampleRate::Hz16000).unwrap();
    let narrow = tone(SampleRate::Hz8000, 160);
    let mut out = Vec::with_capacity(640);
    c.bench_function("resample_8k_to_16k_20ms", |b| {
        b.iter(|| {
            out.clear();
            up.process(black_box(&narrow), &mut out).unwrap();
        })
    });
    let mut down = StreamResampler::new(SampleRate::Hz24000, SampleRate::Hz8000).unwrap();
    let wide = tone(SampleRate::Hz24000, 480);
    c.bench_function("resample_24k_to_8k_20ms", |b| {
        b.iter(|| {
            out.clear();
            down.process(black_box(&wide), &mut out).unwrap();
        })
    });
    let mut inbound = Transcoder::new(AudioFormat::MULAW_8K, AudioFormat::LINEAR16_16K).unwrap();
    let mut mulaw = Vec::new();
    g711::encode_mulaw(&narrow, &mut mulaw);
    let mut bytes = Vec::with_capacity(640);
    c.bench_function("transcode_mulaw8k_to_linear16_16k_20ms", |b| {
        b.iter(|| {
            bytes.clear();
            inbound.process(black_box(&mulaw), &mut bytes).unwrap();
        })
    });
}

fn opus(c: &mut Criterion) {
    for rate in [SampleRate::Hz16000, SampleRate::Hz48000] {
        let pcm = tone(rate, rate.samples_per_20ms() * 50);
        let mut encoder = OpusEncoder::new(rate).unwrap();
        let mut packets = Vec::new();
        encoder.encode(&pcm, |p| packets.push(p.to_vec())).unwrap();
        let mut decoder = OpusDecoder::new(rate).unwrap();
        let mut out = Vec::with_capacity(rate.samples_per_20ms());
        let mut i = 0;
        c.bench_function(&format!("opus_decode_20ms_{}k", rate.hz() / 1000), |b| {
            b.iter(|| {
                out.clear();
                decoder
                    .decode(black_box(&packets[i % packets.len()]), &mut out)
                    .unwrap();
                i += 1;
            })
        });
    }
}

/// Local voice activity on the caller's line: mu-law 8 kHz in, decoded, resampled to 16 kHz,
/// scored by earshot (one and a quarter detector frames per 20 ms).
fn voice_activity(c: &mut Criterion) {
    use callbridge::audio::vad::{VadConfig, VoiceActivity};
    let speech =
        callbridge::audio::wav::read(include_bytes!("../fixtures/calls/book_oil_change.wav"))
            .unwrap()
            .data;
    let mut vad = VoiceActivity::new(VadConfig::default(), AudioFormat::MULAW_8K).unwrap();
    let mut frames = speech.chunks_exact(160).cycle();
    c.bench_function("vad_mulaw8k_20ms", |b| {
        b.iter(|| std::hint::black_box(vad.push(frames.next().unwrap())))
    });
}

criterion_group!(
    benches,
    g711_frames,
    twilio_frames,
    resampling,
    opus,
    voice_activity
);
criterion_main!(benches);
