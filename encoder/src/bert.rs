//! The BERT encoder of all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads of 32, feed-forward
//! 1536, exact GELU, layer norm eps 1e-12), run on one sentence at a time with ndarray's
//! matrix products (already in the build for the turn model's runtime). One sentence has no
//! padding, so no attention mask; the sentence's vector is the mean of the last layer's
//! token vectors, scaled to length 1, as sentence-transformers' Pooling + Normalize do.
//!
//! The weights come from the model's `model.safetensors` (float32), read with the
//! `safetensors` crate.

use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use safetensors::{Dtype, SafeTensors};

/// The shape all-MiniLM-L6-v2 has.
const WIDTH: usize = 384;
const HEADS: usize = 12;
const HEAD: usize = WIDTH / HEADS;
const LAYERS: usize = 6;
const FEED_FORWARD: usize = 1536;
const EPS: f32 = 1e-12;
/// Positions the model was trained for.
pub const MAX_TOKENS: usize = 512;

/// Why the weights cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file is not a safetensors file.
    #[error("reading the weights: {0}")]
    Format(#[from] safetensors::SafeTensorError),
    /// A tensor the encoder needs is absent, or of another type or shape.
    #[error("weight {name}: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// `x · wᵀ + b`, with `w` stored as the checkpoint does (out × in), kept transposed.
#[derive(Debug)]
struct Linear {
    /// in × out.
    wt: Array2<f32>,
    b: Array1<f32>,
}

impl Linear {
    fn apply(&self, x: &ArrayView2<f32>) -> Array2<f32> {
        x.dot(&self.wt) + &self.b
    }
}

#[derive(Debug)]
struct LayerNorm {
    gamma: Array1<f32>,
    beta: Array1<f32>,
}

impl LayerNorm {
    fn apply(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + EPS).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder's weights.
#[derive(Debug)]
pub struct Bert {
    words: Array2<f32>,
    positions: Array2<f32>,
    token_type: Array1<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

struct Reader<'a>(SafeTensors<'a>);

impl Reader<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
        let problem = |p: String| WeightsError::Tensor {
            name: name.to_string(),
            problem: p,
        };
        let t = self.0.tensor(name).map_err(|e| problem(e.to_string()))?;
        if t.dtype() != Dtype::F32 {
            return Err(problem(format!("{:?}, not F32", t.dtype())));
        }
        if t.shape() != shape {
            return Err(problem(format!("shape {:?}, not {shape:?}", t.shape())));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>, WeightsError> {
        let data = self.tensor(name, &[rows, cols])?;
        Ok(Array2::from_shape_vec((rows, cols), data).expect("shape checked"))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Array1<f32>, WeightsError> {
        Ok(Array1::from(self.tensor(name, &[len])?))
    }

    fn linear(&self, prefix: &str, inputs: usize, outputs: usize) -> Result<Linear, WeightsError> {
        let w = self.matrix(&format!("{prefix}.weight"), outputs, inputs)?;
        Ok(Linear {
            wt: w.t().as_standard_layout().into_owned(),
            b: self.vector(&format!("{prefix}.bias"), outputs)?,
        })
    }

    fn norm(&self, prefix: &str) -> Result<LayerNorm, WeightsError> {
        Ok(LayerNorm {
            gamma: self.vector(&format!("{prefix}.weight"), WIDTH)?,
            beta: self.vector(&format!("{prefix}.bias"), WIDTH)?,
        })
    }
}

impl Bert {
    /// The encoder in a safetensors file's bytes, for a vocabulary of `vocab` tokens.
    pub fn from_safetensors(bytes: &[u8], vocab: usize) -> Result<Self, WeightsError> {
        let r = Reader(SafeTensors::deserialize(bytes)?);
        let token_types = r.matrix("embeddings.token_type_embeddings.weight", 2, WIDTH)?;
        let layers = (0..LAYERS)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: r.linear(&format!("{p}.attention.self.query"), WIDTH, WIDTH)?,
                    key: r.linear(&format!("{p}.attention.self.key"), WIDTH, WIDTH)?,
                    value: r.linear(&format!("{p}.attention.self.value"), WIDTH, WIDTH)?,
                    attention_out: r.linear(
                        &format!("{p}.attention.output.dense"),
                        WIDTH,
                        WIDTH,
                    )?,
                    attention_norm: r.norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: r.linear(
                        &format!("{p}.intermediate.dense"),
                        WIDTH,
                        FEED_FORWARD,
                    )?,
                    output: r.linear(&format!("{p}.output.dense"), FEED_FORWARD, WIDTH)?,
                    output_norm: r.norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        Ok(Self {
            words: r.matrix("embeddings.word_embeddings.weight", vocab, WIDTH)?,
            positions: r.matrix("embeddings.position_embeddings.weight", MAX_TOKENS, WIDTH)?,
            // Every token is of the first segment.
            token_type: token_types.row(0).to_owned(),
            embedding_norm: r.norm("embeddings.LayerNorm")?,
            layers,
        })
    }

    /// The unit-length sentence vector of `ids` (at most [`MAX_TOKENS`]; ids within the
    /// vocabulary, as the tokenizer makes them).
    pub fn embed(&self, ids: &[u32]) -> Vec<f32> {
        let n = ids.len().min(MAX_TOKENS);
        let mut x = Array2::<f32>::zeros((n, WIDTH));
        for (i, &id) in ids[..n].iter().enumerate() {
            let mut row = x.row_mut(i);
            row += &self.words.row(id as usize);
            row += &self.positions.row(i);
            row += &self.token_type;
        }
        self.embedding_norm.apply(&mut x);
        for layer in &self.layers {
            x = layer.apply(x);
        }
        let mean = x.mean_axis(Axis(0)).expect("at least one token");
        let length = mean.dot(&mean).sqrt().max(1e-12);
        mean.iter().map(|v| v / length).collect()
    }
}

impl Layer {
    fn apply(&self, x: Array2<f32>) -> Array2<f32> {
        let view = x.view();
        let q = self.query.apply(&view);
        let k = self.key.apply(&view);
        let v = self.value.apply(&view);
        let n = x.nrows();
        let mut context = Array2::<f32>::zeros((n, WIDTH));
        let scale = 1.0 / (HEAD as f32).sqrt();
        for h in 0..HEADS {
            let cols = s![.., h * HEAD..(h + 1) * HEAD];
            let mut scores = q.slice(cols).dot(&k.slice(cols).t()) * scale;
            for mut row in scores.rows_mut() {
                let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row /= sum;
            }
            context.slice_mut(cols).assign(&scores.dot(&v.slice(cols)));
        }
        let mut attended = self.attention_out.apply(&context.view()) + &x;
        self.attention_norm.apply(&mut attended);
        let mut inner = self.intermediate.apply(&attended.view());
        inner.mapv_inplace(gelu);
        let mut out = self.output.apply(&inner.view()) + &attended;
        self.output_norm.apply(&mut out);
        out
    }
}

/// GELU as BERT defines it, with the error function (not the tanh approximation).
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2))
}
