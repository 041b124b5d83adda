//! The one-line JSON result: stdout and the termination message.

use std::path::Path;

use serde::Serialize;

use super::error::{Failure, Reason};

/// `"result": "Succeeded" | "Failed"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// Any of the three failed.
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
        let failed = FailedResult::from(Failure::new(Reason::WrongPassword, "no"));
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"result":"Failed","reason":"WrongPassword","message":"no"}"#
        );
    }
}
