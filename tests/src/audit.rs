//! The API server's audit log (`up.sh` writes one JSON event per request, at
//! Metadata level: user, userAgent, verb, objectRef): what tests count
//! requests by.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::state_dir;

/// Path of the audit log.
pub fn path() -> PathBuf {
    state_dir().join("logs/audit.log")
}

/// The current end of the audit log: a byte offset at the start of a line,
/// so that [`events`] from it sees whole events only.
pub fn mark() -> Result<u64> {
    let path = path();
    let mut file = std::fs::File::open(&path).with_context(|| path.display().to_string())?;
    let len = file.metadata()?.len();
    // A line being written is left for the next mark.
    let tail_start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    Ok(tail_start + complete as u64)
}

/// Audit events from mark `from` to mark `to` (the end when `None`).
pub fn events(from: u64, to: Option<u64>) -> Result<Vec<Value>> {
    let path = path();
    let mut file = std::fs::File::open(&path).with_context(|| path.display().to_string())?;
    file.seek(SeekFrom::Start(from))?;
    let mut text = Vec::new();
    match to {
        Some(to) => file.take(to.saturating_sub(from)).read_to_end(&mut text)?,
        None => file.read_to_end(&mut text)?,
    };
    // A last line without its newline is still being written.
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    text.truncate(complete);
    String::from_utf8_lossy(&text)
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("an audit event: {l}")))
        .collect()
}

/// Requests the operator (user agent `wardops/…`) sent for objects in `ns` or
/// for Namespace `ns`, between two audit-log marks: every verb but `watch` (a
/// watch opened before `from` is not a request sent after it).
pub fn operator_requests(ns: &str, from: u64, to: Option<u64>) -> Result<Vec<String>> {
    Ok(events(from, to)?
        .into_iter()
        .filter(|e| {
            let object = &e["objectRef"];
            e["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("wardops/"))
                && e["verb"] != "watch"
                && e["stage"] != "ResponseStarted"
                && (object["namespace"] == ns
                    || (object["resource"] == "namespaces" && object["name"] == ns))
        })
        .map(|e| {
            format!(
                "{} {}",
                e["verb"].as_str().unwrap_or_default(),
                e["requestURI"].as_str().unwrap_or_default()
            )
        })
        .collect())
}
