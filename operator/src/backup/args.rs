//! restic's argument lists (pure). The repository, password and keys are in
//! the environment ([`super::settings`]), so nothing here is secret.

/// Scope of every snapshot wardops writes or reads: one target per host/tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub host: String,
    pub tag: String,
}

/// Retention, as the BackupPolicy states it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

fn scoped(mut args: Vec<String>, scope: &Scope) -> Vec<String> {
    args.extend([
        "--host".into(),
        scope.host.clone(),
        "--tag".into(),
        scope.tag.clone(),
    ]);
    args
}

/// `restic init`.
pub fn init() -> Vec<String> {
    vec!["init".into()]
}

/// `restic backup` of the working directory (run in the source directory,
/// so that the snapshot holds the source's contents at its root and a
/// restore puts them straight into the target).
pub fn backup(scope: &Scope, time: Option<&str>) -> Vec<String> {
    let mut args = scoped(vec!["backup".into(), "--json".into()], scope);
    if let Some(t) = time {
        args.extend(["--time".into(), t.into()]);
    }
    args.push(".".into());
    args
}

/// `restic forget` scoped to one target, one group per host and tag. At
/// least `--keep-last 1`: the newest snapshot is never removed, whatever the
/// policy says.
pub fn forget(scope: &Scope, keep: Retention) -> Vec<String> {
    let mut args = scoped(
        vec![
            "forget".into(),
            "--json".into(),
            "--group-by".into(),
            "host,tags".into(),
        ],
        scope,
    );
    let pairs = [
        ("--keep-last", keep.keep_last.max(1)),
        ("--keep-daily", keep.keep_daily),
        ("--keep-weekly", keep.keep_weekly),
        ("--keep-monthly", keep.keep_monthly),
    ];
    for (flag, n) in pairs {
        if n > 0 {
            args.extend([flag.into(), n.to_string()]);
        }
    }
    args
}

/// `restic prune`, after a forget that removed something.
pub fn prune() -> Vec<String> {
    vec!["prune".into()]
}

/// `restic snapshots --json` of every snapshot of the scope.
pub fn snapshots_all(scope: &Scope) -> Vec<String> {
    scoped(vec!["snapshots".into(), "--json".into()], scope)
}

/// `restic snapshots --json` of one snapshot (`latest` within the scope, or an id).
pub fn snapshots(scope: &Scope, snapshot: &str) -> Vec<String> {
    let mut args = snapshots_all(scope);
    if snapshot == "latest" {
        args.extend(["--latest".into(), "1".into()]);
    } else {
        args.push(snapshot.into());
    }
    args
}

/// `restic restore <id> --target DIR`.
pub fn restore(snapshot_id: &str, target: &std::path::Path) -> Vec<String> {
    vec![
        "restore".into(),
        "--json".into(),
        snapshot_id.into(),
        "--target".into(),
        target.display().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            host: "phuong-1".into(),
            tag: "ward-records".into(),
        }
    }

    #[test]
    fn backup_is_scoped_and_of_the_working_directory() {
        assert_eq!(
            backup(&scope(), None),
            [
                "backup",
                "--json",
                "--host",
                "phuong-1",
                "--tag",
                "ward-records",
                "."
            ]
        );
        assert_eq!(
            backup(&scope(), Some("2026-01-02 03:04:05")),
            [
                "backup",
                "--json",
                "--host",
                "phuong-1",
                "--tag",
                "ward-records",
                "--time",
                "2026-01-02 03:04:05",
                "."
            ]
        );
    }

    #[test]
    fn forget_always_keeps_the_newest() {
        assert_eq!(
            forget(&scope(), Retention::default()),
            [
                "forget",
                "--json",
                "--group-by",
                "host,tags",
                "--host",
                "phuong-1",
                "--tag",
                "ward-records",
                "--keep-last",
                "1"
            ]
        );
        let keep = Retention {
            keep_last: 3,
            keep_daily: 7,
            keep_weekly: 0,
            keep_monthly: 12,
        };
        assert_eq!(
            forget(&scope(), keep)[8..],
            [
                "--keep-last",
                "3",
                "--keep-daily",
                "7",
                "--keep-monthly",
                "12"
            ]
        );
    }

    #[test]
    fn snapshots_all_lists_the_whole_scope() {
        assert_eq!(
            snapshots_all(&scope()),
            [
                "snapshots",
                "--json",
                "--host",
                "phuong-1",
                "--tag",
                "ward-records"
            ]
        );
    }

    #[test]
    fn snapshots_resolves_latest_within_the_scope() {
        assert_eq!(snapshots(&scope(), "latest")[6..], ["--latest", "1"]);
        assert_eq!(snapshots(&scope(), "abc123").last().unwrap(), "abc123");
        assert_eq!(
            restore("abc", std::path::Path::new("/data")),
            ["restore", "--json", "abc", "--target", "/data"]
        );
    }
}
