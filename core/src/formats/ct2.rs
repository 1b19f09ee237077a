//! Reading a CTranslate2 model file (`model.bin`), the format the pinned Whisper weights come
//! in, so they can be converted for whisper.cpp. Layout, little-endian throughout:
//! `u32` format version (5 and 6 are read), then (version 2 and later) the spec name and a
//! `u32` spec revision, a `u32` variable count and per variable: name, `u8` rank, `u32` per
//! dimension, `u8` data type, `u32` byte size and the bytes; then a `u32` alias count and per
//! alias two names (alias, target). A name is a `u16` length that counts a trailing NUL,
//! then the bytes. Data types: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.

/// A variable's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// IEEE half float.
    F16,
    /// bfloat16.
    Bf16,
}

impl DType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::Bf16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::Bf16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One named tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// E.g. `encoder/conv1/weight`.
    pub name: String,
    /// Dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// The elements, little-endian.
    pub data: Vec<u8>,
}

/// A whole model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    /// E.g. `WhisperSpec`.
    pub spec: String,
    /// The spec's revision.
    pub revision: u32,
    /// The variables in file order.
    pub variables: Vec<Variable>,
    /// (alias, target) pairs: a name that means another variable.
    pub aliases: Vec<(String, String)>,
}

/// Why a model file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ct2Error {
    /// The file ends early.
    #[error("the model file ends early, at byte {0}")]
    Truncated(usize),
    /// A version this reader does not know.
    #[error("CTranslate2 format version {0} is not supported (5 and 6 are)")]
    Version(u32),
    /// Something inconsistent.
    #[error("malformed model file: {0}")]
    Malformed(String),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Ct2Error> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or(Ct2Error::Truncated(self.bytes.len()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Ct2Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Ct2Error> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Ct2Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<String, Ct2Error> {
        let n = self.u16()? as usize;
        let raw = self.take(n)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|e| Ct2Error::Malformed(e.to_string()))
    }
}

/// Reads a whole `model.bin`.
pub fn read(bytes: &[u8]) -> Result<Ct2Model, Ct2Error> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.u32()?;
    if !(5..=6).contains(&version) {
        return Err(Ct2Error::Version(version));
    }
    let spec = r.name()?;
    let revision = r.u32()?;
    let count = r.u32()? as usize;
    let mut variables = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let name = r.name()?;
        let rank = r.u8()? as usize;
        let shape = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        let code = r.u8()?;
        let dtype = DType::from_code(code)
            .ok_or_else(|| Ct2Error::Malformed(format!("{name}: data type {code}")))?;
        let size = r.u32()? as usize;
        // Checked: a forged shape must not wrap around to the size given (in a release build
        // it would, and the converter would index past the data).
        let bytes_needed = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
        if bytes_needed != Some(size) {
            return Err(Ct2Error::Malformed(format!(
                "{name}: {size} bytes for shape {shape:?} of {dtype:?}"
            )));
        }
        let data = r.take(size)?.to_vec();
        variables.push(Variable {
            name,
            shape,
            dtype,
            data,
        });
    }
    let aliases = (0..r.u32()?)
        .map(|_| Ok((r.name()?, r.name()?)))
        .collect::<Result<Vec<_>, Ct2Error>>()?;
    if r.at != bytes.len() {
        return Err(Ct2Error::Malformed(format!(
            "{} bytes after the aliases",
            bytes.len() - r.at
        )));
    }
    Ok(Ct2Model {
        spec,
        revision,
        variables,
        aliases,
    })
}

impl Ct2Model {
    /// The variable called `name`, following an alias.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        let target = self
            .aliases
            .iter()
            .find(|(a, _)| a == name)
            .map_or(name, |(_, t)| t.as_str());
        self.variables.iter().find(|v| v.name == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(out: &mut Vec<u8>, s: &str) {
        out.extend(((s.len() + 1) as u16).to_le_bytes());
        out.extend(s.as_bytes());
        out.push(0);
    }

    /// A small file in the layout the real Whisper model uses.
    fn file() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(6u32.to_le_bytes());
        name(&mut f, "WhisperSpec");
        f.extend(3u32.to_le_bytes());
        f.extend(2u32.to_le_bytes());
        name(&mut f, "decoder/embeddings/weight");
        f.push(2);
        f.extend(3u32.to_le_bytes());
        f.extend(2u32.to_le_bytes());
        f.push(4); // f16
        f.extend(12u32.to_le_bytes());
        f.extend([0x00, 0x3c].repeat(6)); // 1.0 in half precision
        name(&mut f, "decoder/num_heads");
        f.push(0);
        f.push(2); // i16 scalar
        f.extend(2u32.to_le_bytes());
        f.extend(6i16.to_le_bytes());
        f.extend(1u32.to_le_bytes());
        name(&mut f, "decoder/projection/weight");
        name(&mut f, "decoder/embeddings/weight");
        f
    }

    #[test]
    fn variables_and_aliases_are_read_as_written() {
        let m = read(&file()).unwrap();
        assert_eq!((m.spec.as_str(), m.revision), ("WhisperSpec", 3));
        assert_eq!(m.variables.len(), 2);
        let e = m.get("decoder/embeddings/weight").unwrap();
        assert_eq!((e.shape.as_slice(), e.dtype), (&[3, 2][..], DType::F16));
        assert_eq!(m.get("decoder/projection/weight"), Some(e));
        let heads = m.get("decoder/num_heads").unwrap();
        assert_eq!(heads.data, 6i16.to_le_bytes());
        assert!(m.get("encoder/nothing").is_none());
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let f = file();
        assert!(matches!(
            read(&f[..f.len() - 3]),
            Err(Ct2Error::Truncated(_))
        ));
        let mut v = f.clone();
        v[0] = 9;
        assert_eq!(read(&v), Err(Ct2Error::Version(9)));
        let mut extra = f.clone();
        extra.push(0);
        assert!(matches!(read(&extra), Err(Ct2Error::Malformed(_))));
        // A byte size that does not match the shape.
        let mut wrong = f;
        let at = wrong
            .windows(4)
            .position(|w| w == 12u32.to_le_bytes())
            .unwrap();
        wrong[at] = 10;
        assert!(matches!(read(&wrong), Err(Ct2Error::Malformed(_))));
    }

    #[test]
    fn a_shape_whose_size_overflows_is_refused_not_wrapped_to_match() {
        // 2^31 * 2^31 * 4 one-byte elements is 2^64 bytes: wrapped, that is 0, the size given.
        let mut f = Vec::new();
        f.extend(6u32.to_le_bytes());
        name(&mut f, "WhisperSpec");
        f.extend(3u32.to_le_bytes());
        f.extend(1u32.to_le_bytes());
        name(&mut f, "forged");
        f.push(3);
        for d in [1u32 << 31, 1 << 31, 4] {
            f.extend(d.to_le_bytes());
        }
        f.push(1); // i8
        f.extend(0u32.to_le_bytes());
        f.extend(0u32.to_le_bytes());
        assert!(matches!(read(&f), Err(Ct2Error::Malformed(_))));
    }
}
