//! The CRM tools one call has running: the change to the appointment book each would make,
//! when the model stops waiting for it, and those it stopped waiting for. A tool that misses
//! its time is answered for the model with a timeout (it may still go through, the model is
//! told); its real answer, when it comes, still counts for the call's outcome. The task
//! running it is never cut short: a booking is written whole or not at all.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::tool::{BookingChange, ToolName};

#[derive(Debug)]
struct Run {
    tool: ToolName,
    change: Option<BookingChange>,
    answer_by: Instant,
    /// The model was already answered with a timeout.
    late: bool,
}

/// What a tool's answer means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Answered {
    /// The model still waits for it.
    pub(super) awaited: bool,
    /// The change to the appointment book the tool makes when it succeeds.
    pub(super) change: Option<BookingChange>,
}

/// The tools running for one call.
#[derive(Debug)]
pub(super) struct ToolRuns {
    timeout: Duration,
    runs: HashMap<String, Run>,
}

impl ToolRuns {
    /// Tools answered for the model after `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            runs: HashMap::new(),
        }
    }

    /// Tool call `id` started at `now`.
    pub(super) fn started(&mut self, id: String, tool: ToolName, now: Instant) {
        let run = Run {
            tool,
            change: tool.booking_change(),
            answer_by: now + self.timeout,
            late: false,
        };
        self.runs.insert(id, run);
    }

    /// Tool call `id` answered; `None` when it is not one of ours.
    pub(super) fn answered(&mut self, id: &str) -> Option<Answered> {
        let run = self.runs.remove(id)?;
        Some(Answered {
            awaited: !run.late,
            change: run.change,
        })
    }

    /// The calls whose time is up at `now`, with their tools: the model is answered for them
    /// now; they stay running.
    pub(super) fn overdue(&mut self, now: Instant) -> Vec<(String, ToolName)> {
        let mut due = Vec::new();
        for (id, run) in &mut self.runs {
            if !run.late && now >= run.answer_by {
                run.late = true;
                due.push((id.clone(), run.tool));
            }
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due
    }

    /// When the next call's time is up.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.runs
            .values()
            .filter(|r| !r.late)
            .map(|r| r.answer_by)
            .min()
    }

    /// Whether any tool is still running (late ones included).
    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}
