//! The retention job: every `RETENTION_EVERY_SECS`, calls older than `RETENTION_DAYS` are
//! removed with their transcripts (`crm::retention`, safe with every node running it), then
//! their recordings: each removed call's file by the node that removed its row, and whole day
//! folders older than the cutoff's day (files no row named: a node killed mid-call). The
//! first run is soon after start, so a node that was down for a while catches up at once.

use std::time::Duration;

use crate::crm::retention;
use crate::recordings;
use crate::state::AppState;
use crate::telemetry;

/// From start to the first run.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(5);

/// Runs until aborted (the server stopping); returns at once when retention is off.
#[allow(clippy::disallowed_methods)] // A job is IO: the cutoff is read from the clock.
pub async fn retention_loop(state: AppState) {
    let Some((days, every)) = state.settings.storage.retention else {
        return;
    };
    tokio::time::sleep(FIRST_RUN_AFTER.min(every)).await;
    loop {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(days.into());
        match retention::remove_calls_before(&state.db, cutoff).await {
            Ok(r) => {
                metrics::counter!(telemetry::RETENTION_REMOVED, "what" => "calls")
                    .increment(r.calls);
                metrics::counter!(telemetry::RETENTION_REMOVED, "what" => "turns")
                    .increment(r.turns);
                if r.calls > 0 {
                    tracing::info!(
                        calls = r.calls,
                        turns = r.turns,
                        days,
                        "retention: old calls removed"
                    );
                }
                if r.skipped {
                    tracing::debug!("retention: another node is removing old calls");
                }
                remove_recordings(&state, &r.recordings, cutoff.date_naive()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention: old calls could not be removed; trying again later")
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Removes the named recordings and the day folders before `day`, off the runtime's threads.
async fn remove_recordings(state: &AppState, files: &[String], day: chrono::NaiveDate) {
    let dir = state.settings.recording.dir.clone();
    let files = files.to_vec();
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = 0u64;
        for file in &files {
            match recordings::remove(&dir, file) {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(file, error = %e, "retention: a recording could not be removed")
                }
            }
        }
        match recordings::remove_days_before(&dir, day) {
            Ok(n) => removed += n,
            Err(e) => {
                tracing::warn!(error = %e, "retention: old recording folders could not be removed")
            }
        }
        removed
    })
    .await
    .unwrap_or(0);
    metrics::counter!(telemetry::RECORDING, "what" => "removed_files").increment(removed);
}
