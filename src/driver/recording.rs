//! The call's recording on its way to disk: the call machine hands over Ogg pages as they
//! complete (about a second of audio each), and one writer task per call appends them to the
//! call's file. Nothing here waits: the pages that come before the call is admitted and
//! prepared are held, bounded (a refused or replayed stream leaves no file); the writer's queue is bounded and a page that finds it full
//! is dropped and counted, so a stalled disk costs pages of the recording, never the call's
//! audio. The file is readable at every moment (each page is whole), so a node killed
//! mid-call leaves a recording that plays up to its last second.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::crm::calls;
use crate::recordings::relative_path;
use crate::telemetry;

/// Pages held before the call is prepared: preparation takes a few seconds at most; this is
/// a minute of audio.
const HOLD_LIMIT: usize = 192 * 1024;
/// Pages queued for the writer: half a minute.
const QUEUE: usize = 32;
/// Deadline of noting the file in `call_recordings`.
const STORE_DEADLINE: Duration = Duration::from_secs(5);

enum State {
    /// Before the call's log exists: pages kept in order.
    Holding(Vec<u8>),
    /// The writer has the file.
    Writing(mpsc::Sender<Vec<u8>>),
    /// Not recorded (refused before it was prepared, or the writer gave up).
    Off,
}

/// The executor's end of one call's recording.
pub(super) struct RecordingSink {
    state: State,
    started_at: Option<DateTime<Utc>>,
}

fn dropped(bytes: usize) {
    metrics::counter!(telemetry::RECORDING, "what" => "dropped_bytes").increment(bytes as u64);
}

impl RecordingSink {
    pub(super) fn new() -> Self {
        RecordingSink {
            state: State::Holding(Vec::new()),
            started_at: None,
        }
    }

    /// The file's next bytes, produced at `at` (the first bytes come when the stream starts:
    /// that is where the recording's timeline begins).
    pub(super) fn push(&mut self, bytes: Vec<u8>, at: DateTime<Utc>) {
        self.started_at.get_or_insert(at);
        match &mut self.state {
            State::Holding(held) if held.len() + bytes.len() <= HOLD_LIMIT => {
                held.extend_from_slice(&bytes);
            }
            State::Holding(held) => {
                dropped(held.len() + bytes.len());
                tracing::warn!("recording held too long before the call was prepared; dropped");
                self.state = State::Off;
            }
            State::Writing(tx) => {
                if let Err(e) = tx.try_send(bytes) {
                    let bytes = match e {
                        mpsc::error::TrySendError::Full(b) => b,
                        mpsc::error::TrySendError::Closed(b) => b,
                    };
                    dropped(bytes.len());
                }
            }
            State::Off => dropped(bytes.len()),
        }
    }

    /// The call is prepared (its log opened, unless the database was away): the writer
    /// starts with what was held.
    pub(super) fn open(
        &mut self,
        db: DatabaseConnection,
        dir: &Path,
        call_sid: &str,
        tasks: &TaskTracker,
    ) {
        let State::Holding(held) = std::mem::replace(&mut self.state, State::Off) else {
            return;
        };
        let Some(started_at) = self.started_at else {
            return;
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let file = RecordingFile {
            db,
            dir: dir.to_path_buf(),
            relative: relative_path(call_sid, started_at),
            call_sid: call_sid.to_string(),
            started_at,
        };
        tasks.spawn(file.write(held, rx));
        self.state = State::Writing(tx);
    }
}

/// One call's file and where it is noted.
struct RecordingFile {
    db: DatabaseConnection,
    dir: PathBuf,
    relative: PathBuf,
    call_sid: String,
    started_at: DateTime<Utc>,
}

impl RecordingFile {
    /// Appends pages until the call's end closes the queue; notes the file in `call_recordings`
    /// once its first bytes are on disk (again at the end if that failed).
    async fn write(self, first: Vec<u8>, mut rx: mpsc::Receiver<Vec<u8>>) {
        let path = self.dir.join(&self.relative);
        let mut file = match open(&path).await {
            Ok(f) => f,
            Err(e) => {
                metrics::counter!(telemetry::RECORDING, "what" => "write_failed").increment(1);
                tracing::error!(path = %path.display(), error = %e, "cannot create the recording");
                return;
            }
        };
        let mut failed = file.write_all(&first).await.err();
        let mut stored = failed.is_none() && self.store().await;
        while let Some(bytes) = rx.recv().await {
            if failed.is_some() {
                dropped(bytes.len());
                continue;
            }
            failed = file.write_all(&bytes).await.err();
        }
        if failed.is_none() {
            failed = file.sync_data().await.err();
        }
        if let Some(e) = failed {
            metrics::counter!(telemetry::RECORDING, "what" => "write_failed").increment(1);
            tracing::error!(path = %path.display(), error = %e, "recording write failed; the file ends early");
        }
        if !stored {
            stored = self.store().await;
        }
        if !stored {
            metrics::counter!(telemetry::RECORDING, "what" => "not_stored").increment(1);
        }
    }

    async fn store(&self) -> bool {
        let relative = self.relative.to_string_lossy();
        let noted = tokio::time::timeout(
            STORE_DEADLINE,
            calls::add_recording(&self.db, &self.call_sid, &relative, self.started_at),
        )
        .await;
        match noted {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not note the recording");
                false
            }
            Err(_) => {
                tracing::warn!("noting the recording timed out");
                false
            }
        }
    }
}

async fn open(path: &Path) -> std::io::Result<tokio::fs::File> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}
