//! Call recording: whether calls are recorded, where the files go, and what the caller is told.

use std::path::PathBuf;

use super::settings::Reader;

/// Recording of calls (two channels, Ogg Opus, one file per call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSettings {
    /// `RECORD_CALLS` (default `true`): agent calls are recorded as the caller heard them.
    pub enabled: bool,
    /// `RECORDINGS_DIR` (default `data/recordings`): files go in a folder per day. With
    /// several nodes it must be one shared folder, so any node's console plays any call.
    pub dir: PathBuf,
    /// `RECORDING_NOTICE`: said before the greeting when calls are recorded (consent laws
    /// want the caller told); empty says nothing.
    pub notice: String,
}

impl RecordingSettings {
    /// The greeting with the recording notice before it, when there is one to give.
    pub fn announce(&self, greeting: String) -> String {
        let notice = self.notice.trim();
        if !self.enabled || notice.is_empty() {
            greeting
        } else {
            format!("{notice} {greeting}")
        }
    }
}

pub(super) fn read(r: &mut Reader<'_>) -> RecordingSettings {
    RecordingSettings {
        enabled: r.parsed("RECORD_CALLS", true, "use `true` or `false`"),
        dir: PathBuf::from(r.string("RECORDINGS_DIR", "data/recordings")),
        notice: r.string(
            "RECORDING_NOTICE",
            "This call is recorded for quality and training.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enabled: bool, notice: &str) -> RecordingSettings {
        RecordingSettings {
            enabled,
            dir: PathBuf::from("x"),
            notice: notice.into(),
        }
    }

    #[test]
    fn the_notice_comes_first_only_when_recording() {
        let hi = || "Hi, how can I help?".to_string();
        assert_eq!(
            settings(true, "This call is recorded.").announce(hi()),
            "This call is recorded. Hi, how can I help?"
        );
        assert_eq!(
            settings(false, "This call is recorded.").announce(hi()),
            hi()
        );
        assert_eq!(settings(true, "  ").announce(hi()), hi());
    }
}
