//! The call's transcript on its way to the database: the executor queues records without
//! waiting, and one writer per call stores them in order (what has queued up meanwhile in one
//! transaction, the turns numbered by the writer itself), so a slow database never holds up
//! the audio. When the database is down or frozen the writer retries each batch, every attempt
//! under a deadline, for up to [`RETRY_WINDOW`]: a batch keeps its turn numbers across
//! attempts, so an attempt whose commit landed but whose answer was lost is recognised by the
//! unique (call, turn number) index and not written twice. The queue is bounded: when the
//! database falls that far behind, further turns are dropped and counted
//! (`callbridge_record_errors_total`) rather than held in memory without limit; the call's
//! outcome is always queued, waiting for room if it must.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::call::record::{Record, Turn};
use crate::crm::CrmError;
use crate::crm::calls::{self, Speaker, TurnRecord};
use crate::crm::error::{is_connection_error, is_unique_violation};
use crate::crm::summary;
use crate::live::{CallFeed, LiveEvent};
use crate::telemetry;

/// Records waiting for the writer, per call: a call makes a few per turn.
const QUEUE: usize = 256;

/// Records written in one transaction when several are waiting.
const BATCH: usize = 32;

/// Longest wait for room in the queue for the call's outcome.
const FINISH_WAIT: Duration = Duration::from_secs(10);

/// One write attempt's deadline: a frozen database does not hold a batch forever.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);

/// How long a batch is retried through an outage before it is given up (and counted).
pub const RETRY_WINDOW: Duration = Duration::from_secs(120);

/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What to store.
#[derive(Debug)]
enum Job {
    Turn(Speaker, TurnRecord),
    Heard(String),
    Finish(String),
}

/// Maps the call machine's instants to wall-clock time, from one reading of each.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    wall: DateTime<Utc>,
}

impl WallClock {
    /// Both clocks read now.
    #[allow(clippy::disallowed_methods)] // The executor is where clocks are read.
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            wall: Utc::now(),
        }
    }

    /// The wall-clock time of `at`.
    pub fn at(&self, at: Instant) -> DateTime<Utc> {
        let since = at.saturating_duration_since(self.instant);
        self.wall + chrono::Duration::from_std(since).unwrap_or_default()
    }
}

/// How a batch's write ended.
enum Written {
    /// Committed now.
    Now,
    /// An earlier attempt had committed it (its first turn number is taken).
    Before,
}

/// Writes `jobs` in one transaction (one commit, one fsync on SQLite, whatever the count),
/// the turns numbered from `first_seq` on.
async fn write(
    db: &DatabaseConnection,
    id: i32,
    first_seq: i32,
    jobs: &[Job],
) -> Result<Written, CrmError> {
    let txn = db.begin().await?;
    let mut seq = first_seq;
    for job in jobs {
        match job {
            Job::Turn(speaker, turn) => {
                match calls::insert_turn(&txn, id, seq, *speaker, turn).await {
                    Err(CrmError::Db(e)) if is_unique_violation(&e) => return Ok(Written::Before),
                    r => r?,
                };
                seq += 1;
            }
            Job::Heard(heard) => calls::set_heard(&txn, id, heard).await?,
            Job::Finish(outcome) => {
                #[allow(clippy::disallowed_methods)] // The writer stamps the end.
                let ended = Utc::now();
                calls::finish(&txn, id, outcome, None, ended).await?;
            }
        }
    }
    txn.commit().await?;
    Ok(Written::Now)
}

/// Writes the call's summary once its outcome is stored: after the commit and on its own, so
/// failing to compose it (it is a convenience) never costs the records.
async fn summarise(db: &DatabaseConnection, id: i32, sid: &str, outcome: &str) {
    let actor = crate::staff::audit::agent_actor(sid);
    let written = tokio::time::timeout(ATTEMPT_DEADLINE, async {
        let facts = summary::facts(db, id, &actor, outcome).await?;
        calls::set_summary(db, id, &summary::compose(&facts)).await
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, call_log_id = id, "the call's summary could not be written")
        }
        Err(_) => tracing::warn!(
            call_log_id = id,
            "the call's summary was not written in time"
        ),
    }
}

/// The outcome `jobs` store, if they close the call.
fn outcome_of(jobs: &[Job]) -> Option<&str> {
    jobs.iter().find_map(|j| match j {
        Job::Finish(outcome) => Some(outcome.as_str()),
        _ => None,
    })
}

/// Turns in `jobs`.
fn turns(jobs: &[Job]) -> i32 {
    jobs.iter().filter(|j| matches!(j, Job::Turn(..))).count() as i32
}

/// The call's next turn number, asked of the database until it answers (or the window ends).
async fn first_seq(db: &DatabaseConnection, id: i32) -> Option<i32> {
    let mut backoff = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(ATTEMPT_DEADLINE, calls::next_seq(db, id)).await {
            Ok(Ok(seq)) => return Some(seq),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, call_log_id = id, "cannot number the call's turns yet")
            }
            Err(_) => tracing::warn!(call_log_id = id, "the database did not answer in time"),
        }
        if started.elapsed() >= RETRY_WINDOW {
            return None;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What became of a batch.
enum Stored {
    /// In the database.
    Yes,
    /// The database refused it (it would refuse it again): not retried.
    Refused,
    /// The database stayed unreachable for the whole window.
    GaveUp,
}

/// Stores `batch` as turns `seq..`, retrying through an outage (not a refusal).
async fn store(db: &DatabaseConnection, id: i32, seq: i32, batch: &[Job]) -> Stored {
    let mut backoff = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match tokio::time::timeout(ATTEMPT_DEADLINE, write(db, id, seq, batch)).await {
            Ok(Ok(_)) => {
                if attempts > 1 {
                    tracing::info!(
                        call_log_id = id,
                        attempts,
                        "the call's records were stored after retrying"
                    );
                }
                return Stored::Yes;
            }
            Ok(Err(CrmError::Db(e))) if !is_connection_error(&e) => {
                tracing::warn!(error = %e, call_log_id = id, "the database refused the call's records");
                return Stored::Refused;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, call_log_id = id, attempts, "could not record the call; retrying")
            }
            Err(_) => tracing::warn!(
                call_log_id = id,
                attempts,
                "the database did not answer in time; retrying"
            ),
        }
        if started.elapsed() >= RETRY_WINDOW {
            return Stored::GaveUp;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Records given up on: counted and logged, never silent.
fn lost(id: i32, records: usize, why: &str) {
    metrics::counter!(telemetry::RECORD_ERRORS).increment(records as u64);
    tracing::error!(
        call_log_id = id,
        records,
        why,
        "the call's records are lost"
    );
}

fn ms(d: Option<Duration>) -> Option<i32> {
    d.map(|d| d.as_millis().min(i32::MAX as u128) as i32)
}

/// Queues a call's records for its writer, and shows them on the console's live view.
#[derive(Debug)]
pub struct CallRecorder {
    tx: Option<mpsc::Sender<Job>>,
    clock: WallClock,
    live: CallFeed,
    /// The caller's words recognised so far in the turn under way (finals), for the view.
    said: String,
}

impl CallRecorder {
    /// A recorder for the call log `call_log_id`, its writer tracked by `tasks` (shutdown
    /// waits for it); `None` (the log could not be opened) keeps nothing but lets the call go
    /// on.
    pub fn spawn(
        db: DatabaseConnection,
        call_log_id: Option<i32>,
        clock: WallClock,
        tasks: &TaskTracker,
        live: CallFeed,
    ) -> Self {
        let Some(id) = call_log_id else {
            return Self {
                tx: None,
                clock,
                live,
                said: String::new(),
            };
        };
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let sid = live.sid().to_string();
        tasks.spawn(async move {
            let mut next_seq = None;
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if next_seq.is_none() {
                    next_seq = first_seq(&db, id).await;
                }
                let Some(seq) = next_seq else {
                    lost(id, batch.len(), "the database stayed down");
                    batch.clear();
                    continue;
                };
                match store(&db, id, seq, &batch).await {
                    Stored::Yes => {
                        next_seq = Some(seq + turns(&batch));
                        if let Some(outcome) = outcome_of(&batch) {
                            summarise(&db, id, &sid, outcome).await;
                        }
                    }
                    Stored::Refused => {
                        // One by one, so a record the database refuses does not take the
                        // others (the call's outcome above all) with it.
                        let mut seq = seq;
                        for job in &batch {
                            let one = std::slice::from_ref(job);
                            match store(&db, id, seq, one).await {
                                Stored::Yes => seq += turns(one),
                                Stored::Refused => lost(id, 1, "the database refused it"),
                                Stored::GaveUp => lost(id, 1, "the database stayed down"),
                            }
                        }
                        next_seq = Some(seq);
                    }
                    Stored::GaveUp => {
                        lost(id, batch.len(), "the database stayed down");
                        // Asked again: some of these may have landed after all.
                        next_seq = None;
                    }
                }
                batch.clear();
            }
        });
        Self {
            tx: Some(tx),
            clock,
            live,
            said: String::new(),
        }
    }

    fn queue(&self, job: Job) {
        if let Some(tx) = &self.tx
            && tx.try_send(job).is_err()
        {
            metrics::counter!(telemetry::RECORD_ERRORS).increment(1);
            tracing::warn!("the call's record queue is full; a record is dropped");
        }
    }

    /// Something the call machine wants stored.
    pub fn record(&mut self, record: Record) {
        match record {
            Record::Turn(t) => self.turn(t),
            Record::Heard(heard) => {
                self.live.send(|sid| LiveEvent::Heard {
                    sid,
                    text: heard.clone(),
                });
                self.queue(Job::Heard(heard));
            }
        }
    }

    /// What the recogniser hears: a guess at the current segment (`settled` false) or a
    /// segment that will not change. Shown live with the turn's earlier segments; not stored.
    pub fn hearing(&mut self, text: &str, settled: bool) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let shown = if self.said.is_empty() {
            text.to_string()
        } else {
            format!("{} {text}", self.said)
        };
        if settled {
            self.said.clone_from(&shown);
        }
        self.live.hearing(&shown);
    }

    fn turn(&mut self, t: Turn) {
        if t.speaker == Speaker::Caller {
            self.said.clear();
        }
        let turn = TurnRecord {
            text: t.text,
            heard_text: t.heard,
            started_at: self.clock.at(t.at),
            stt_ms: ms(t.stt),
            llm_first_token_ms: ms(t.llm_first_token),
            tts_first_byte_ms: ms(t.tts_first_byte),
        };
        self.live.send(|sid| LiveEvent::Turn {
            sid,
            speaker: t.speaker.as_str().to_string(),
            text: turn.text.clone(),
            at: turn.started_at,
            stt_ms: turn.stt_ms,
            llm_ms: turn.llm_first_token_ms,
            tts_ms: turn.tts_first_byte_ms,
        });
        self.queue(Job::Turn(t.speaker, turn));
    }

    /// The call is over with `outcome`: queued after everything else, waiting for room (up
    /// to a limit) rather than being dropped.
    pub async fn finish(self, outcome: &str) {
        self.live.send(|sid| LiveEvent::Ended {
            sid,
            outcome: outcome.to_string(),
        });
        let Some(tx) = self.tx else {
            return;
        };
        let job = Job::Finish(outcome.to_string());
        if tokio::time::timeout(FINISH_WAIT, tx.send(job))
            .await
            .is_err()
        {
            metrics::counter!(telemetry::RECORD_ERRORS).increment(1);
            tracing::warn!(outcome, "the call's outcome could not be queued");
        }
    }
}
