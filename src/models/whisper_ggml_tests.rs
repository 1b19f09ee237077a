//! Tests of `whisper_ggml`.

use super::*;

/// f16 bits of small integers (exact in half precision).
fn half(x: f32) -> [u8; 2] {
    // Positive integers below 2048: exponent and fraction by hand.
    if x == 0.0 {
        return [0, 0];
    }
    let e = x.log2().floor() as u32;
    let frac = ((x / 2f32.powi(e as i32) - 1.0) * 1024.0).round() as u16;
    (((e as u16 + 15) << 10) | frac).to_le_bytes()
}

/// A variable whose element k is `base + k` (so slices can be told apart).
fn v(name: &str, shape: &[usize], base: f32) -> Variable {
    let n: usize = shape.iter().product();
    Variable {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::F16,
        data: (0..n).flat_map(|k| half(base + k as f32)).collect(),
    }
}

fn int(name: &str, value: i16) -> Variable {
    Variable {
        name: name.into(),
        shape: Vec::new(),
        dtype: DType::I16,
        data: value.to_le_bytes().to_vec(),
    }
}

/// One encoder and one decoder layer, state 4, 3 mels, a vocabulary of 6.
fn tiny() -> Ct2Model {
    let s = 4;
    let mut vars = vec![
        int("encoder/num_heads", 2),
        int("decoder/num_heads", 2),
        v("encoder/conv1/weight", &[s, 3, 3], 1.0),
        v("encoder/conv1/bias", &[s], 1.0),
        v("encoder/conv2/weight", &[s, s, 3], 1.0),
        v("encoder/conv2/bias", &[s], 1.0),
        v("encoder/position_encodings/encodings", &[5, s], 1.0),
        v("encoder/layer_norm/gamma", &[s], 1.0),
        v("encoder/layer_norm/beta", &[s], 1.0),
        v("decoder/embeddings/weight", &[6, s], 1.0),
        v("decoder/position_encodings/encodings", &[7, s], 1.0),
        v("decoder/layer_norm/gamma", &[s], 1.0),
        v("decoder/layer_norm/beta", &[s], 1.0),
    ];
    for side in ["encoder", "decoder"] {
        let l = format!("{side}/layer_0");
        vars.push(v(
            &format!("{l}/self_attention/layer_norm/gamma"),
            &[s],
            1.0,
        ));
        vars.push(v(&format!("{l}/self_attention/layer_norm/beta"), &[s], 1.0));
        vars.push(v(
            &format!("{l}/self_attention/linear_0/weight"),
            &[3 * s, s],
            0.0,
        ));
        vars.push(v(
            &format!("{l}/self_attention/linear_0/bias"),
            &[3 * s],
            100.0,
        ));
        vars.push(v(
            &format!("{l}/self_attention/linear_1/weight"),
            &[s, s],
            1.0,
        ));
        vars.push(v(&format!("{l}/self_attention/linear_1/bias"), &[s], 1.0));
        vars.push(v(&format!("{l}/ffn/layer_norm/gamma"), &[s], 1.0));
        vars.push(v(&format!("{l}/ffn/layer_norm/beta"), &[s], 1.0));
        vars.push(v(&format!("{l}/ffn/linear_0/weight"), &[4 * s, s], 1.0));
        vars.push(v(&format!("{l}/ffn/linear_0/bias"), &[4 * s], 1.0));
        vars.push(v(&format!("{l}/ffn/linear_1/weight"), &[s, 4 * s], 1.0));
        vars.push(v(&format!("{l}/ffn/linear_1/bias"), &[s], 1.0));
    }
    let a = "decoder/layer_0/attention";
    vars.push(v(&format!("{a}/layer_norm/gamma"), &[s], 1.0));
    vars.push(v(&format!("{a}/layer_norm/beta"), &[s], 1.0));
    vars.push(v(&format!("{a}/linear_0/weight"), &[s, s], 1.0));
    vars.push(v(&format!("{a}/linear_0/bias"), &[s], 1.0));
    vars.push(v(&format!("{a}/linear_1/weight"), &[2 * s, s], 0.0));
    vars.push(v(&format!("{a}/linear_1/bias"), &[2 * s], 200.0));
    vars.push(v(&format!("{a}/linear_2/weight"), &[s, s], 1.0));
    vars.push(v(&format!("{a}/linear_2/bias"), &[s], 1.0));
    Ct2Model {
        spec: "WhisperSpec".into(),
        revision: 3,
        variables: vars,
        aliases: vec![(
            "decoder/projection/weight".into(),
            "decoder/embeddings/weight".into(),
        )],
    }
}

/// (name, type, dims innermost first, data) per tensor, after checking the header.
type Tensor = (String, i32, Vec<i32>, Vec<u8>);

fn parse(f: &[u8]) -> (Vec<i32>, Vec<Vec<u8>>, Vec<Tensor>) {
    let mut at = 0;
    let i32_ = |f: &[u8], at: &mut usize| {
        let v = i32::from_le_bytes(f[*at..*at + 4].try_into().unwrap());
        *at += 4;
        v
    };
    assert_eq!(&f[..4], 0x6767_6d6cu32.to_le_bytes());
    at += 4;
    let hp: Vec<i32> = (0..11).map(|_| i32_(f, &mut at)).collect();
    let (n_mel, n_fft) = (i32_(f, &mut at), i32_(f, &mut at));
    at += (n_mel * n_fft * 4) as usize;
    let n_vocab = i32_(f, &mut at);
    let mut vocab = Vec::new();
    for _ in 0..n_vocab {
        let len = i32_(f, &mut at) as usize;
        vocab.push(f[at..at + len].to_vec());
        at += len;
    }
    let mut tensors = Vec::new();
    while at < f.len() {
        let (dims, len, ttype) = (i32_(f, &mut at), i32_(f, &mut at), i32_(f, &mut at));
        let ne: Vec<i32> = (0..dims).map(|_| i32_(f, &mut at)).collect();
        let name = String::from_utf8(f[at..at + len as usize].to_vec()).unwrap();
        at += len as usize;
        let bytes = ne.iter().product::<i32>() as usize * if ttype == 0 { 4 } else { 2 };
        tensors.push((name, ttype, ne, f[at..at + bytes].to_vec()));
        at += bytes;
    }
    (hp, vocab, tensors)
}

#[test]
fn halves_become_floats() {
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert!(f16_to_f32(0x7c00).is_infinite());
}

#[test]
fn a_model_converts_to_what_whisper_cpp_loads() {
    let file = convert(&tiny(), "a\nĠb\nc\nd\ne\n<|endoftext|>\n").unwrap();
    let (hp, vocab, tensors) = parse(&file);
    assert_eq!(hp, [6, 5, 4, 2, 1, 7, 4, 2, 1, 3, 1]);
    assert_eq!(vocab[1], b" b");
    assert_eq!(vocab.len(), 6);
    let find = |n: &str| {
        tensors
            .iter()
            .find(|t| t.0 == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    // Per layer: 15 encoder and 24 decoder tensors, as whisper.cpp counts them.
    assert_eq!(tensors.len(), 7 + 15 + 4 + 24);
    let pe = find("encoder.positional_embedding");
    assert_eq!((pe.1, pe.2.clone()), (0, vec![4, 5]));
    assert_eq!(f32::from_le_bytes(pe.3[..4].try_into().unwrap()), 1.0);
    let conv = find("encoder.conv1.weight");
    assert_eq!((conv.1, conv.2.clone()), (1, vec![3, 3, 4]));
    assert_eq!(find("encoder.conv1.bias").2, [1, 4]);
    // The fused projection is split by rows: key starts at row 4 (element 16).
    let key = find("encoder.blocks.0.attn.key.weight");
    assert_eq!((key.1, key.2.clone()), (1, vec![4, 4]));
    assert_eq!(f16_to_f32(u16::from_le_bytes([key.3[0], key.3[1]])), 16.0);
    assert!(
        tensors
            .iter()
            .all(|t| t.0 != "encoder.blocks.0.attn.key.bias")
    );
    let vb = find("encoder.blocks.0.attn.value.bias");
    assert_eq!(f32::from_le_bytes(vb.3[..4].try_into().unwrap()), 108.0);
    let cross_v = find("decoder.blocks.0.cross_attn.value.bias");
    assert_eq!(
        f32::from_le_bytes(cross_v.3[..4].try_into().unwrap()),
        204.0
    );
    assert_eq!(find("decoder.token_embedding.weight").2, [4, 6]);
    assert_eq!(find("decoder.blocks.0.mlp.2.weight").2, [16, 4]);
}

#[test]
fn a_missing_part_is_named() {
    let mut m = tiny();
    m.variables
        .retain(|v| v.name != "decoder/layer_0/attention/linear_2/bias");
    assert_eq!(
        convert(&m, "a\n"),
        Err(ConvertError::Missing(
            "decoder/layer_0/attention/linear_2/bias".into()
        ))
    );
}
