//! The one-line JSON result: stdout and the termination message.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Failure, Reason};

/// Kubernetes keeps the first 4096 bytes of a termination message; a result
/// line is kept shorter than this, so that it is read back whole.
pub const MAX_RESULT_LINE_BYTES: usize = 4000;

/// `"result": "Succeeded" | "Failed"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// `wardops backup` succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupResult {
    pub result: Outcome,
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub bytes_added: u64,
    pub bytes_processed: u64,
    pub duration_seconds: f64,
}

/// `wardops forget` succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgetResult {
    pub result: Outcome,
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    pub duration_seconds: f64,
}

/// `wardops restore` succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    pub result: Outcome,
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    pub files_restored: u64,
    pub bytes_restored: u64,
    pub duration_seconds: f64,
}

/// `wardops snapshots` succeeded: the target's newest snapshots, newest
/// first, as many as fit in a termination message; `total` counts them all,
/// so a list shorter than `total` was cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotsResult {
    pub result: Outcome,
    pub snapshots: Vec<SnapshotEntry>,
    pub total: usize,
}

/// One snapshot of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEntry {
    /// The full id (64 hex digits), as `wardops restore --snapshot` takes it.
    pub id: String,
    /// RFC 3339, as restic writes it.
    pub time: String,
    pub host: String,
    pub tags: Vec<String>,
}

impl SnapshotsResult {
    /// The first (newest) snapshots of `newest_first` whose result line is
    /// shorter than [`MAX_RESULT_LINE_BYTES`]; `total` is the full count.
    pub fn newest_that_fit(newest_first: Vec<SnapshotEntry>) -> Self {
        let mut result = SnapshotsResult {
            result: Outcome::Succeeded,
            snapshots: Vec::new(),
            total: newest_first.len(),
        };
        // Compact JSON: the line grows by each entry and a comma between them.
        let mut len = json_len(&result);
        for entry in newest_first {
            let comma = usize::from(!result.snapshots.is_empty());
            len = len.saturating_add(json_len(&entry)).saturating_add(comma);
            if len >= MAX_RESULT_LINE_BYTES {
                break;
            }
            result.snapshots.push(entry);
        }
        result
    }
}

fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |s| s.len())
}

/// Any of them failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedResult {
    pub result: Outcome,
    pub reason: Reason,
    pub message: String,
}

impl From<Failure> for FailedResult {
    fn from(f: Failure) -> Self {
        FailedResult {
            result: Outcome::Failed,
            reason: f.reason,
            message: f.message,
        }
    }
}

/// Prints `value` as one JSON line and writes it to the termination log
/// when that path is writable. Returns the line.
pub fn emit<T: Serialize>(value: &T, termination_log: &Path) -> String {
    let line = serde_json::to_string(value).unwrap_or_else(|e| {
        format!("{{\"result\":\"Failed\",\"reason\":\"ResticFailed\",\"message\":\"cannot serialise the result: {e}\"}}")
    });
    println!("{line}");
    crate::gateway::sync::write_termination_log(termination_log, &line);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> SnapshotEntry {
        SnapshotEntry {
            id: format!("{:x}", n % 16).repeat(64),
            time: format!("2026-11-27T01:00:{:02}Z", n % 60),
            host: "phuong-1".into(),
            tags: vec!["dn.phuong-1".into()],
        }
    }

    #[test]
    fn snapshots_are_cut_to_the_newest_that_fit() {
        let all: Vec<SnapshotEntry> = (0..500).map(entry).collect();
        let cut = SnapshotsResult::newest_that_fit(all.clone());
        let line = serde_json::to_string(&cut).unwrap();
        assert!(line.len() < MAX_RESULT_LINE_BYTES, "{}", line.len());
        assert_eq!(cut.total, 500);
        assert!(!cut.snapshots.is_empty());
        assert_eq!(
            cut.snapshots,
            all[..cut.snapshots.len()],
            "the newest, in order"
        );
        // One more would not fit.
        let mut more = cut.clone();
        more.snapshots.push(all[cut.snapshots.len()].clone());
        assert!(serde_json::to_string(&more).unwrap().len() >= MAX_RESULT_LINE_BYTES);
        // The reader gets the same value back.
        let read: SnapshotsResult = serde_json::from_str(&line).unwrap();
        assert_eq!(read, cut);
    }

    #[test]
    fn few_snapshots_are_all_listed_and_none_is_an_empty_list() {
        let all: Vec<SnapshotEntry> = (0..3).map(entry).collect();
        let listed = SnapshotsResult::newest_that_fit(all.clone());
        assert_eq!((listed.snapshots, listed.total), (all, 3));
        let none = SnapshotsResult::newest_that_fit(Vec::new());
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"result":"Succeeded","snapshots":[],"total":0}"#
        );
        // An entry too long for any line: none listed, the count still told.
        let mut huge = entry(0);
        huge.tags = vec!["t".repeat(MAX_RESULT_LINE_BYTES)];
        let cut = SnapshotsResult::newest_that_fit(vec![huge, entry(1)]);
        assert!(cut.snapshots.is_empty());
        assert_eq!(cut.total, 2);
    }

    #[test]
    fn result_lines_have_the_documented_fields() {
        let ok = BackupResult {
            result: Outcome::Succeeded,
            snapshot_id: "ab".into(),
            files_new: 1,
            files_changed: 2,
            files_unmodified: 3,
            bytes_added: 4,
            bytes_processed: 5,
            duration_seconds: 0.5,
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":"Succeeded","snapshotID":"ab","filesNew":1,"filesChanged":2,"filesUnmodified":3,"bytesAdded":4,"bytesProcessed":5,"durationSeconds":0.5}"#
        );
        let listed = SnapshotsResult::newest_that_fit(vec![entry(1)]);
        assert_eq!(
            serde_json::to_string(&listed).unwrap(),
            format!(
                r#"{{"result":"Succeeded","snapshots":[{{"id":"{}","time":"2026-11-27T01:00:01Z","host":"phuong-1","tags":["dn.phuong-1"]}}],"total":1}}"#,
                "1".repeat(64)
            )
        );
        let failed = FailedResult::from(Failure::new(Reason::WrongPassword, "no"));
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"result":"Failed","reason":"WrongPassword","message":"no"}"#
        );
    }
}
