//! Converting the CTranslate2 Whisper model to the file whisper.cpp loads (its legacy `ggml`
//! format): magic `ggml`; eleven `i32` hyper-parameters (n_vocab, n_audio_ctx,
//! n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head,
//! n_text_layer, n_mels, ftype 1 = f16); the mel filterbank (`i32` n_mel, `i32` n_fft, then
//! floats); the vocabulary (`i32` count, then per token `u32` length and bytes; whisper.cpp
//! adds the special tokens itself); then per tensor `i32` n_dims, `i32` name length, `i32`
//! type (0 f32, 1 f16), the dimensions innermost first, the name and the data.
//!
//! Names and types follow whisper.cpp's loader: matrices and convolution kernels in f16,
//! biases, norms and positional embeddings in f32, convolution biases as `[1, n]`, no key
//! biases. CTranslate2 fuses self-attention query|key|value and cross-attention key|value
//! into one matrix each; they are split by rows here.

use super::ct2::{Ct2Model, DType, Variable};
use super::whisper_assets::{mel_filters, token_bytes};

/// Tokens whisper.cpp expects in the file for an English-only model (GPT-2's vocabulary,
/// `<|endoftext|>` last); it adds the rest.
const BASE_VOCAB: usize = 50_257;

/// Why a model cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A variable the conversion needs is missing or has an unexpected shape or type.
    #[error("the CTranslate2 model has no usable {0}")]
    Missing(String),
}

#[derive(Clone, Copy)]
enum Target {
    F32,
    F16,
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn i32(&mut self, v: usize) {
        self.out.extend((v as i32).to_le_bytes());
    }

    /// One tensor from `rows` rows of `v` (all when `None`), with `shape` (outermost
    /// first) in the file.
    fn tensor(
        &mut self,
        name: &str,
        v: &Variable,
        rows: Option<(usize, usize)>,
        shape: &[usize],
        target: Target,
    ) -> Result<(), ConvertError> {
        if v.dtype != DType::F16 && v.dtype != DType::F32 {
            return Err(ConvertError::Missing(format!("{} as float", v.name)));
        }
        let row_elems: usize = v.shape.iter().skip(1).product::<usize>().max(1);
        let (from, to) = rows.unwrap_or((0, v.shape.first().copied().unwrap_or(1)));
        let size = v.dtype.size();
        let bytes = v
            .data
            .get(from * row_elems * size..to * row_elems * size)
            .ok_or_else(|| ConvertError::Missing(format!("rows {from}..{to} of {}", v.name)))?;
        if shape.iter().product::<usize>() * size != bytes.len() {
            return Err(ConvertError::Missing(format!("{} as {shape:?}", v.name)));
        }
        self.i32(shape.len());
        self.i32(name.len());
        self.i32(match target {
            Target::F32 => 0,
            Target::F16 => 1,
        });
        for d in shape.iter().rev() {
            self.i32(*d);
        }
        self.out.extend(name.as_bytes());
        match (v.dtype, target) {
            (DType::F16, Target::F16) | (DType::F32, Target::F32) => self.out.extend(bytes),
            (DType::F16, Target::F32) => {
                for h in bytes.chunks_exact(2) {
                    let f = f16_to_f32(u16::from_le_bytes([h[0], h[1]]));
                    self.out.extend(f.to_le_bytes());
                }
            }
            _ => return Err(ConvertError::Missing(format!("{} in f16", v.name))),
        }
        Ok(())
    }
}

/// IEEE 754 half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            let f = (f << shift) & 0x3ff;
            sign | ((127 - 15 - shift + 1) << 23) | (f << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

fn var<'a>(m: &'a Ct2Model, name: &str) -> Result<&'a Variable, ConvertError> {
    m.get(name)
        .ok_or_else(|| ConvertError::Missing(name.into()))
}

fn scalar(m: &Ct2Model, name: &str) -> Result<usize, ConvertError> {
    let v = var(m, name)?;
    match (v.dtype, v.data.as_slice()) {
        (DType::I16, [a, b]) => Ok(i16::from_le_bytes([*a, *b]).max(0) as usize),
        (DType::I32, [a, b, c, d]) => Ok(i32::from_le_bytes([*a, *b, *c, *d]).max(0) as usize),
        _ => Err(ConvertError::Missing(format!("{name} as an integer"))),
    }
}

fn layers(m: &Ct2Model, side: &str) -> usize {
    (0..)
        .take_while(|i| {
            m.get(&format!("{side}/layer_{i}/ffn/linear_0/weight"))
                .is_some()
        })
        .count()
}

/// The whisper.cpp model file for `m`, with the tokens of `vocabulary` (one per line, as in
/// CTranslate2's `vocabulary.txt`).
pub fn convert(m: &Ct2Model, vocabulary: &str) -> Result<Vec<u8>, ConvertError> {
    let embed = var(m, "decoder/embeddings/weight")?;
    let [n_vocab, state] = embed.shape[..] else {
        return Err(ConvertError::Missing(
            "decoder/embeddings/weight as 2-D".into(),
        ));
    };
    let audio_ctx = var(m, "encoder/position_encodings/encodings")?.shape[0];
    let text_ctx = var(m, "decoder/position_encodings/encodings")?.shape[0];
    let conv1 = var(m, "encoder/conv1/weight")?;
    let n_mels = *conv1
        .shape
        .get(1)
        .ok_or_else(|| ConvertError::Missing("encoder/conv1/weight as 3-D".into()))?;
    let (audio_layers, text_layers) = (layers(m, "encoder"), layers(m, "decoder"));

    let mut w = Writer { out: Vec::new() };
    w.out.extend(0x6767_6d6cu32.to_le_bytes());
    for v in [
        n_vocab,
        audio_ctx,
        state,
        scalar(m, "encoder/num_heads")?,
        audio_layers,
        text_ctx,
        state,
        scalar(m, "decoder/num_heads")?,
        text_layers,
        n_mels,
        1,
    ] {
        w.i32(v);
    }
    let (n_fft_bins, filters) = (201, mel_filters(16_000, 400, n_mels));
    w.i32(n_mels);
    w.i32(n_fft_bins);
    for f in filters {
        w.out.extend(f.to_le_bytes());
    }
    let tokens: Vec<&str> = vocabulary.lines().take(BASE_VOCAB).collect();
    w.i32(tokens.len());
    for t in tokens {
        let bytes = token_bytes(t).unwrap_or_else(|| t.as_bytes().to_vec());
        w.out.extend((bytes.len() as u32).to_le_bytes());
        w.out.extend(bytes);
    }

    let s = state;
    w.tensor(
        "encoder.positional_embedding",
        var(m, "encoder/position_encodings/encodings")?,
        None,
        &[audio_ctx, s],
        Target::F32,
    )?;
    for conv in ["conv1", "conv2"] {
        let weight = var(m, &format!("encoder/{conv}/weight"))?;
        let shape = weight.shape.clone();
        w.tensor(
            &format!("encoder.{conv}.weight"),
            weight,
            None,
            &shape,
            Target::F16,
        )?;
        let bias = var(m, &format!("encoder/{conv}/bias"))?;
        w.tensor(
            &format!("encoder.{conv}.bias"),
            bias,
            None,
            &[s, 1],
            Target::F32,
        )?;
    }
    norm(&mut w, m, "encoder/layer_norm", "encoder.ln_post", s)?;
    for i in 0..audio_layers {
        let (from, to) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        self_attention(&mut w, m, &from, &to, s)?;
        ffn(&mut w, m, &from, &to, s)?;
    }

    w.tensor(
        "decoder.positional_embedding",
        var(m, "decoder/position_encodings/encodings")?,
        None,
        &[text_ctx, s],
        Target::F32,
    )?;
    w.tensor(
        "decoder.token_embedding.weight",
        embed,
        None,
        &[n_vocab, s],
        Target::F16,
    )?;
    norm(&mut w, m, "decoder/layer_norm", "decoder.ln", s)?;
    for i in 0..text_layers {
        let (from, to) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        self_attention(&mut w, m, &from, &to, s)?;
        let cross = format!("{from}/attention");
        norm(
            &mut w,
            m,
            &format!("{cross}/layer_norm"),
            &format!("{to}.cross_attn_ln"),
            s,
        )?;
        linear(
            &mut w,
            m,
            &format!("{cross}/linear_0"),
            &format!("{to}.cross_attn.query"),
            None,
            s,
            s,
        )?;
        let kv = var(m, &format!("{cross}/linear_1/weight"))?;
        w.tensor(
            &format!("{to}.cross_attn.key.weight"),
            kv,
            Some((0, s)),
            &[s, s],
            Target::F16,
        )?;
        linear(
            &mut w,
            m,
            &format!("{cross}/linear_1"),
            &format!("{to}.cross_attn.value"),
            Some((s, 2 * s)),
            s,
            s,
        )?;
        linear(
            &mut w,
            m,
            &format!("{cross}/linear_2"),
            &format!("{to}.cross_attn.out"),
            None,
            s,
            s,
        )?;
        ffn(&mut w, m, &from, &to, s)?;
    }
    Ok(w.out)
}

/// A layer norm: gamma and beta as weight and bias.
fn norm(w: &mut Writer, m: &Ct2Model, from: &str, to: &str, s: usize) -> Result<(), ConvertError> {
    w.tensor(
        &format!("{to}.weight"),
        var(m, &format!("{from}/gamma"))?,
        None,
        &[s],
        Target::F32,
    )?;
    w.tensor(
        &format!("{to}.bias"),
        var(m, &format!("{from}/beta"))?,
        None,
        &[s],
        Target::F32,
    )
}

/// A linear layer (or `rows` of a fused one): weight `[out, inp]` in f16, bias in f32.
fn linear(
    w: &mut Writer,
    m: &Ct2Model,
    from: &str,
    to: &str,
    rows: Option<(usize, usize)>,
    out: usize,
    inp: usize,
) -> Result<(), ConvertError> {
    let weight = var(m, &format!("{from}/weight"))?;
    w.tensor(
        &format!("{to}.weight"),
        weight,
        rows,
        &[out, inp],
        Target::F16,
    )?;
    let bias = var(m, &format!("{from}/bias"))?;
    w.tensor(&format!("{to}.bias"), bias, rows, &[out], Target::F32)
}

/// Self-attention: its norm, the fused query|key|value split (the key has no bias), output.
fn self_attention(
    w: &mut Writer,
    m: &Ct2Model,
    from: &str,
    to: &str,
    s: usize,
) -> Result<(), ConvertError> {
    let at = format!("{from}/self_attention");
    norm(
        w,
        m,
        &format!("{at}/layer_norm"),
        &format!("{to}.attn_ln"),
        s,
    )?;
    linear(
        w,
        m,
        &format!("{at}/linear_0"),
        &format!("{to}.attn.query"),
        Some((0, s)),
        s,
        s,
    )?;
    let qkv = var(m, &format!("{at}/linear_0/weight"))?;
    w.tensor(
        &format!("{to}.attn.key.weight"),
        qkv,
        Some((s, 2 * s)),
        &[s, s],
        Target::F16,
    )?;
    linear(
        w,
        m,
        &format!("{at}/linear_0"),
        &format!("{to}.attn.value"),
        Some((2 * s, 3 * s)),
        s,
        s,
    )?;
    linear(
        w,
        m,
        &format!("{at}/linear_1"),
        &format!("{to}.attn.out"),
        None,
        s,
        s,
    )
}

/// The feed-forward block: norm, expansion (`mlp.0`), projection (`mlp.2`).
fn ffn(w: &mut Writer, m: &Ct2Model, from: &str, to: &str, s: usize) -> Result<(), ConvertError> {
    norm(
        w,
        m,
        &format!("{from}/ffn/layer_norm"),
        &format!("{to}.mlp_ln"),
        s,
    )?;
    linear(
        w,
        m,
        &format!("{from}/ffn/linear_0"),
        &format!("{to}.mlp.0"),
        None,
        4 * s,
        s,
    )?;
    linear(
        w,
        m,
        &format!("{from}/ffn/linear_1"),
        &format!("{to}.mlp.2"),
        None,
        s,
        4 * s,
    )
}

#[cfg(test)]
#[path = "whisper_ggml_tests.rs"]
mod tests;
