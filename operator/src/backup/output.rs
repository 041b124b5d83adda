//! restic's `--json` output, parsed (pure). restic prints one JSON object
//! per line for `backup` and `restore` (status lines, then a summary) and one
//! JSON document for `forget` and `snapshots`.

use serde::Deserialize;

/// `backup`'s summary line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BackupSummary {
    pub snapshot_id: Option<String>,
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
    #[serde(default)]
    pub total_duration: f64,
}

/// `restore`'s summary line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RestoreSummary {
    #[serde(default)]
    pub files_restored: u64,
    #[serde(default)]
    pub total_files: u64,
    #[serde(default)]
    pub bytes_restored: u64,
    #[serde(default)]
    pub total_bytes: u64,
    #[serde(default)]
    pub seconds_elapsed: f64,
}

/// A snapshot as `snapshots` and `forget` list it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub time: String,
    // restic leaves out an empty host name or tag list (`omitempty`).
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One group of `forget --json`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ForgetGroup {
    #[serde(default)]
    pub keep: Option<Vec<Snapshot>>,
    #[serde(default)]
    pub remove: Option<Vec<Snapshot>>,
}

const RETRYING: &str = "returned error, retrying after ";

#[derive(Deserialize)]
struct Line {
    message_type: Option<String>,
}

#[derive(Deserialize)]
struct ExitError {
    message: String,
}

#[derive(Deserialize)]
struct ItemError {
    error: ItemErrorMessage,
    #[serde(default)]
    item: String,
}

#[derive(Deserialize)]
struct ItemErrorMessage {
    message: String,
}

/// The line whose `message_type` is `summary`, parsed as `T`.
pub fn summary<T: for<'de> Deserialize<'de>>(lines: &str) -> Option<T> {
    lines
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find(|l| {
            serde_json::from_str::<Line>(l)
                .ok()
                .and_then(|m| m.message_type)
                .as_deref()
                == Some("summary")
        })
        .and_then(|l| serde_json::from_str(l).ok())
}

/// The human text of restic's errors: `exit_error` and per-item `error`
/// JSON lines, and plain `Fatal:` / error lines; status lines dropped.
pub fn error_text(stderr: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    // restic clears its progress line with an ANSI escape even without a terminal.
    let cleaned = stderr.replace("\u{1b}[2K", "");
    for line in cleaned.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('{') {
            let kind = serde_json::from_str::<Line>(line)
                .ok()
                .and_then(|m| m.message_type);
            match kind.as_deref() {
                Some("exit_error") => {
                    if let Ok(e) = serde_json::from_str::<ExitError>(line) {
                        out.push(e.message);
                    }
                }
                Some("error") => {
                    if let Ok(e) = serde_json::from_str::<ItemError>(line) {
                        out.push(format!("{}: {}", e.item, e.error.message));
                    }
                }
                _ => {}
            }
        } else if let Some((_, rest)) = line.split_once(RETRYING) {
            // `Stat(<config/>) returned error, retrying after 1.2s: <error>`: the error once.
            out.push(rest.split_once(": ").map_or(rest, |(_, e)| e).to_owned());
        } else if !line.starts_with("signal ") {
            out.push(line.to_owned());
        }
    }
    out.dedup();
    out.join("; ")
}

/// Snapshots kept and removed by `forget --json`, ids only.
pub fn forget(json: &str) -> Result<(Vec<String>, Vec<String>), serde_json::Error> {
    let groups: Vec<ForgetGroup> = serde_json::from_str(last_document(json))?;
    let ids = |v: &Option<Vec<Snapshot>>| -> Vec<String> {
        v.iter().flatten().map(|s| s.id.clone()).collect()
    };
    let kept = groups.iter().flat_map(|g| ids(&g.keep)).collect();
    let removed = groups.iter().flat_map(|g| ids(&g.remove)).collect();
    Ok((kept, removed))
}

/// The list `snapshots --json` prints.
pub fn snapshots(json: &str) -> Result<Vec<Snapshot>, serde_json::Error> {
    serde_json::from_str(last_document(json))
}

/// The snapshots, newest first. Times are compared as instants (restic
/// writes them with the writer's UTC offset); on equal or unreadable times,
/// the later in restic's list (oldest first) comes first.
pub fn newest_first(mut list: Vec<Snapshot>) -> Vec<Snapshot> {
    list.reverse();
    list.sort_by_key(|s| std::cmp::Reverse(s.time.parse::<jiff::Timestamp>().ok()));
    list
}

/// restic may print a text line before its JSON document; the document is
/// the last line that starts with `[`.
fn last_document(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_summary_is_found_among_status_lines() {
        let out = r#"{"message_type":"status","percent_done":0.5,"total_files":3}
{"message_type":"summary","files_new":2,"files_changed":1,"files_unmodified":0,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":3,"tree_blobs":2,"data_added":1234,"data_added_packed":900,"total_files_processed":3,"total_bytes_processed":5000,"total_duration":0.25,"backup_start":"2026-01-01T00:00:00Z","backup_end":"2026-01-01T00:00:01Z","snapshot_id":"abcdef0123"}
"#;
        let s: BackupSummary = summary(out).unwrap();
        assert_eq!(s.snapshot_id.as_deref(), Some("abcdef0123"));
        assert_eq!((s.files_new, s.files_changed, s.data_added), (2, 1, 1234));
        assert_eq!(summary::<BackupSummary>("not json\n"), None);
    }

    #[test]
    fn restore_summary() {
        let out = r#"{"message_type":"summary","seconds_elapsed":2,"total_files":5,"files_restored":5,"total_bytes":10,"bytes_restored":10}"#;
        let s: RestoreSummary = summary(out).unwrap();
        assert_eq!((s.files_restored, s.bytes_restored), (5, 10));
    }

    #[test]
    fn errors_keep_the_words_and_drop_the_status() {
        let err = r#"{"message_type":"error","error":{"message":"open /data/x: permission denied"},"during":"archival","item":"/data/x"}
{"message_type":"status","percent_done":1}
<ESC>[2KFatal: wrong password or no key found
{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"}
"#;
        let err = err.replace("<ESC>", "\u{1b}");
        assert_eq!(
            error_text(&err),
            "/data/x: open /data/x: permission denied; Fatal: wrong password or no key found"
        );
    }

    #[test]
    fn retries_are_told_once() {
        let err = "Stat(<config/>) returned error, retrying after 955ms: Stat: dial tcp 127.0.0.1:1: connect: connection refused
Stat(<config/>) returned error, retrying after 2.5s: Stat: dial tcp 127.0.0.1:1: connect: connection refused
signal terminated received, cleaning up
Fatal: unable to open config file: context canceled
";
        assert_eq!(
            error_text(err),
            "Stat: dial tcp 127.0.0.1:1: connect: connection refused; Fatal: unable to open config file: context canceled"
        );
    }

    #[test]
    fn forget_lists_kept_and_removed_ids() {
        let out = r#"[{"tags":["t"],"host":"h","paths":null,"keep":[{"time":"2026-01-03T00:00:00Z","id":"c3","short_id":"c3"}],"remove":[{"time":"2026-01-01T00:00:00Z","id":"a1"},{"time":"2026-01-02T00:00:00Z","id":"b2"}],"reasons":[]}]"#;
        let (kept, removed) = forget(out).unwrap();
        assert_eq!(kept, ["c3"]);
        assert_eq!(removed, ["a1", "b2"]);
        let (kept, removed) = forget("[]").unwrap();
        assert!(kept.is_empty() && removed.is_empty());
    }

    /// `restic snapshots --json` (0.18) of two snapshots, shortened.
    const SNAPSHOTS: &str = r#"[{"time":"2026-11-27T08:00:00.123456789+07:00","parent":"p","tree":"t","paths":["/data"],"hostname":"phuong-1","username":"root","uid":0,"gid":0,"tags":["dn.phuong-1"],"program_version":"restic 0.18.1","summary":{"files_new":3,"total_bytes_processed":4096},"id":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9","short_id":"a1b2c3d4"},{"time":"2026-11-27T01:30:00Z","tree":"t2","paths":["/data"],"hostname":"phuong-1","id":"ffee","short_id":"ffee"}]"#;

    #[test]
    fn snapshots_have_id_time_host_and_tags() {
        let list = snapshots(SNAPSHOTS).unwrap();
        assert_eq!(
            list[0],
            Snapshot {
                id: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
                time: "2026-11-27T08:00:00.123456789+07:00".into(),
                hostname: "phuong-1".into(),
                tags: vec!["dn.phuong-1".into()],
            }
        );
        // No tags: restic leaves the field out.
        assert!(list[1].tags.is_empty());
        assert!(snapshots("[]").unwrap().is_empty());
    }

    #[test]
    fn newest_first_compares_instants_not_text() {
        // 08:00+07:00 is 01:00Z: older than 01:30Z although it sorts later as text.
        let ids: Vec<String> = newest_first(snapshots(SNAPSHOTS).unwrap())
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids[0], "ffee");
        let at = |id: &str, time: &str| Snapshot {
            id: id.into(),
            time: time.into(),
            hostname: String::new(),
            tags: Vec::new(),
        };
        let list = vec![
            at("old", "2026-01-01T00:00:00Z"),
            at("tie-a", "2026-01-02T00:00:00Z"),
            at("tie-b", "2026-01-02T00:00:00Z"),
            at("bad", "not a time"),
            at("new", "2026-01-03T00:00:00.5Z"),
        ];
        let ids: Vec<String> = newest_first(list).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["new", "tie-b", "tie-a", "old", "bad"]);
    }

    #[test]
    fn snapshots_after_a_text_line() {
        let out = "repository 1234 opened\n[{\"time\":\"2026-01-01T00:00:00Z\",\"id\":\"ff\"}]\n";
        assert_eq!(snapshots(out).unwrap()[0].id, "ff");
    }
}
