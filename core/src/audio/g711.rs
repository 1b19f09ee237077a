//! G.711 mu-law and A-law, table-driven in both directions.
//!
//! The arithmetic follows ITU-T G.711 as in the widely used public-domain Sun reference
//! (`g711.c`): mu-law works on 14-bit magnitudes, A-law on 13-bit, so the encode tables are
//! indexed by the 16-bit sample shifted right by 2 and 3 bits respectively, which loses nothing.
//! All four tables are built at compile time.

const QUANT_MASK: u8 = 0x0f;
const SEG_MASK: u8 = 0x70;
const SEG_SHIFT: u8 = 4;
const SIGN_BIT: u8 = 0x80;
const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP_14: i32 = 8159;
const MULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

const fn segment(value: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if value <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

const fn mulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & QUANT_MASK) as i32) << 3) + MULAW_BIAS;
    t <<= ((u & SEG_MASK) >> SEG_SHIFT) as i32;
    if u & SIGN_BIT != 0 {
        (MULAW_BIAS - t) as i16
    } else {
        (t - MULAW_BIAS) as i16
    }
}

/// Encodes a 14-bit sample (the 16-bit sample shifted right by two).
const fn linear14_to_mulaw(sample14: i32) -> u8 {
    let (mut value, mask) = if sample14 < 0 {
        (-sample14, 0x7Fu8)
    } else {
        (sample14, 0xFFu8)
    };
    if value > MULAW_CLIP_14 {
        value = MULAW_CLIP_14;
    }
    value += MULAW_BIAS >> 2;
    let seg = segment(value, &MULAW_SEG_END);
    if seg >= 8 {
        0x7F ^ mask
    } else {
        let u = ((seg as i32) << 4) | ((value >> (seg + 1)) & 0xF);
        (u as u8) ^ mask
    }
}

const fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & QUANT_MASK) as i32) << 4;
    let seg = ((a & SEG_MASK) >> SEG_SHIFT) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & SIGN_BIT != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Encodes a 13-bit sample (the 16-bit sample shifted right by three).
const fn linear13_to_alaw(sample13: i32) -> u8 {
    let (value, mask) = if sample13 >= 0 {
        (sample13, 0xD5u8)
    } else {
        (-sample13 - 1, 0x55u8)
    };
    let seg = segment(value, &ALAW_SEG_END);
    if seg >= 8 {
        0x7F ^ mask
    } else {
        let mut a = (seg as i32) << SEG_SHIFT;
        if seg < 2 {
            a |= (value >> 1) & QUANT_MASK as i32;
        } else {
            a |= (value >> seg) & QUANT_MASK as i32;
        }
        (a as u8) ^ mask
    }
}

const MULAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = mulaw_to_linear(i as u8);
        i += 1;
    }
    table
};

const ALAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_to_linear(i as u8);
        i += 1;
    }
    table
};

/// Indexed by `(sample >> 2) as u16 >> 2`, i.e. the 14-bit sample reinterpreted as unsigned.
static MULAW_ENCODE: [u8; 1 << 14] = {
    let mut table = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Sign-extend the 14-bit index back to a signed sample.
        let sample14 = ((i as i32) << 18) >> 18;
        table[i] = linear14_to_mulaw(sample14);
        i += 1;
    }
    table
};

/// Indexed by the 13-bit sample reinterpreted as unsigned.
static ALAW_ENCODE: [u8; 1 << 13] = {
    let mut table = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let sample13 = ((i as i32) << 19) >> 19;
        table[i] = linear13_to_alaw(sample13);
        i += 1;
    }
    table
};

/// Decodes one mu-law byte.
#[inline]
pub fn mulaw_decode(byte: u8) -> i16 {
    MULAW_DECODE[byte as usize]
}

/// Encodes one sample as mu-law.
#[inline]
pub fn mulaw_encode(sample: i16) -> u8 {
    MULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// Decodes one A-law byte.
#[inline]
pub fn alaw_decode(byte: u8) -> i16 {
    ALAW_DECODE[byte as usize]
}

/// Encodes one sample as A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as u16 & 0x1FFF) as usize]
}

/// Appends the samples of a mu-law buffer to `out`.
pub fn decode_mulaw(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(bytes.iter().map(|&b| mulaw_decode(b)));
}

/// Appends the mu-law encoding of `samples` to `out`.
pub fn encode_mulaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| mulaw_encode(s)));
}

/// Appends the samples of an A-law buffer to `out`.
pub fn decode_alaw(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(bytes.iter().map(|&b| alaw_decode(b)));
}

/// Appends the A-law encoding of `samples` to `out`.
pub fn encode_alaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| alaw_encode(s)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_known_values() {
        // Values from the G.711 mu-law table: 0xFF and 0x7F are the two zeros, 0x00 / 0x80 the
        // extremes, and each segment's step doubles.
        assert_eq!(mulaw_decode(0xFF), 0);
        assert_eq!(mulaw_decode(0x7F), 0);
        assert_eq!(mulaw_decode(0x00), -32124);
        assert_eq!(mulaw_decode(0x80), 32124);
        assert_eq!(mulaw_decode(0xFE), 8);
        assert_eq!(mulaw_decode(0x7E), -8);
        assert_eq!(mulaw_decode(0xEF), 132); // first code of segment 1
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn mulaw_encode_known_values() {
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
        assert_eq!(mulaw_encode(-8), 0x7E);
    }

    #[test]
    fn every_code_round_trips() {
        for byte in 0..=255u8 {
            // 0x7F is mu-law's negative zero; it decodes to 0, which encodes as 0xFF.
            if byte != 0x7F {
                assert_eq!(mulaw_encode(mulaw_decode(byte)), byte, "mu-law {byte:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(byte)), byte, "A-law {byte:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic_and_close() {
        // Quantisation error stays within half a step of the segment the sample falls in.
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let mu = mulaw_decode(mulaw_encode(sample)) as i32;
            let a = alaw_decode(alaw_encode(sample)) as i32;
            let s = sample as i32;
            let tolerance = (s.abs() / 16).max(16);
            assert!((mu - s).abs() <= tolerance, "mu-law {s} -> {mu}");
            assert!((a - s).abs() <= tolerance, "A-law {s} -> {a}");
        }
    }

    #[test]
    fn buffers_convert() {
        let mut pcm = Vec::new();
        decode_mulaw(&[0xFF, 0x80], &mut pcm);
        assert_eq!(pcm, [0, 32124]);
        let mut bytes = Vec::new();
        encode_alaw(&pcm, &mut bytes);
        assert_eq!(bytes, [0xD5, 0xAA]);
    }
}
