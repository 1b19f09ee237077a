//! Call recordings on disk: one file per call stream under `RECORDINGS_DIR`, in a folder per
//! day. This module owns the layout (where a file goes, which stored paths may be served) and
//! removal (a removed call's file, and whole days past retention, which also catches files
//! whose call log never learned of them: a node killed before noting one).

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

/// Where a call's file goes, relative to the recordings folder: a folder per day, and the
/// call sid with the start time, so a second stream of the same call never overwrites the
/// first. Only letters, digits, `-` and `_` of the sid are kept: it comes from outside.
pub fn relative_path(call_sid: &str, started_at: DateTime<Utc>) -> PathBuf {
    let safe: String = call_sid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    PathBuf::from(started_at.format("%Y-%m-%d").to_string()).join(format!(
        "{}-{}.ogg",
        if safe.is_empty() { "call" } else { &safe },
        started_at.format("%H%M%S")
    ))
}

/// Whether a stored path stays inside the recordings folder (we wrote it; a row edited by
/// hand or restored from elsewhere must still not reach other files).
pub fn is_contained(relative: &Path) -> bool {
    relative.components().next().is_some()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Removes one call's file; whether it was there to remove.
pub fn remove(dir: &Path, relative: &str) -> std::io::Result<bool> {
    if !is_contained(Path::new(relative)) {
        return Ok(false);
    }
    match std::fs::remove_file(dir.join(relative)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the day folders before `day` (named `YYYY-MM-DD`; anything else is left alone);
/// the files removed. Safe when another node sweeps at the same time: what is already gone
/// is not an error.
pub fn remove_days_before(dir: &Path, day: NaiveDate) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(folder_day) = name
            .to_str()
            .and_then(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if folder_day >= day || !entry.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(entry.path())?.flatten() {
            match std::fs::remove_file(file.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        match std::fs::remove_dir(entry.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_calls_file_is_named_by_day_sid_and_time_and_cannot_escape_the_folder() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 5, 3).unwrap();
        assert_eq!(
            relative_path("CA0123abc", at),
            PathBuf::from("2026-12-07/CA0123abc-090503.ogg")
        );
        assert_eq!(
            relative_path("../../etc/passwd", at),
            PathBuf::from("2026-12-07/etcpasswd-090503.ogg")
        );
        assert_eq!(
            relative_path("", at),
            PathBuf::from("2026-12-07/call-090503.ogg")
        );
    }

    #[test]
    fn only_plain_relative_paths_are_served_or_removed() {
        assert!(is_contained(Path::new("2026-12-07/CA1-090000.ogg")));
        assert!(!is_contained(Path::new("../secret.ogg")));
        assert!(!is_contained(Path::new("/etc/passwd")));
        assert!(!is_contained(Path::new("2026-12-07/../../x.ogg")));
        assert!(!is_contained(Path::new("")));
    }

    #[test]
    fn old_days_go_whole_and_the_rest_stays() {
        let dir = std::env::temp_dir().join(format!("cb-rec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (folder, file) in [
            ("2026-11-01", "a.ogg"),
            ("2026-11-01", "b.ogg"),
            ("2026-12-06", "c.ogg"),
            ("notes", "d.txt"),
        ] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            std::fs::write(dir.join(folder).join(file), b"x").unwrap();
        }
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(remove_days_before(&dir, day).unwrap(), 2);
        assert!(!dir.join("2026-11-01").exists());
        assert!(dir.join("2026-12-06/c.ogg").exists());
        assert!(dir.join("notes/d.txt").exists());
        assert_eq!(remove_days_before(&dir, day).unwrap(), 0, "once");
        assert!(remove(&dir, "2026-12-06/c.ogg").unwrap());
        assert!(!remove(&dir, "2026-12-06/c.ogg").unwrap());
        assert!(!remove(&dir, "../x").unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
