//! The call's transcript on its way to the database: the call task queues turns without
//! waiting, and one writer per call stores them in order, so a slow database never holds up
//! the audio and a crash loses at most what was still queued.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::crm::calls::{self, Speaker, TurnRecord};

/// What to store.
#[derive(Debug)]
enum Job {
    Turn(Speaker, TurnRecord),
    Heard(String),
    Finish(String),
}

/// Queues a call's records; cloning shares the queue.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    tx: Option<mpsc::UnboundedSender<Job>>,
}

impl CallRecorder {
    /// A recorder for the call log `call_log_id`; `None` (the log could not be opened) keeps
    /// nothing but lets the call go on.
    pub fn spawn(db: DatabaseConnection, call_log_id: Option<i32>) -> Self {
        let Some(id) = call_log_id else {
            return Self { tx: None };
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let result = match &job {
                    Job::Turn(speaker, turn) => {
                        calls::append_turn(&db, id, *speaker, turn).await.map(drop)
                    }
                    Job::Heard(heard) => calls::set_heard(&db, id, heard).await,
                    Job::Finish(outcome) => calls::finish(&db, id, outcome, None, Utc::now()).await,
                };
                if let Err(e) = result {
                    metrics::counter!(crate::telemetry::RECORD_ERRORS).increment(1);
                    tracing::warn!(error = %e, call_log_id = id, "could not record the call");
                }
            }
        });
        Self { tx: Some(tx) }
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// A turn of the transcript.
    pub fn turn(&self, speaker: Speaker, turn: TurnRecord) {
        self.send(Job::Turn(speaker, turn));
    }

    /// The caller heard only `heard` of the last agent turn.
    pub fn heard(&self, heard: String) {
        self.send(Job::Heard(heard));
    }

    /// The call is over with `outcome`.
    pub fn finish(&self, outcome: &str) {
        self.send(Job::Finish(outcome.to_string()));
    }
}
