//! Pure status decisions of a BackupPolicy: reasons (stable API), each
//! target's last results from its backup pods' termination messages, the
//! next scheduled time, and whether the policy is overdue.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::backup_policy::{BackupPolicySpec, BackupTargetStatus};

use super::build::BACKUP_CONTAINER;
use crate::controller::results;

/// Stable condition reasons of a BackupPolicy.
pub mod reason {
    pub use crate::controller::ward_service::status::reason::{
        APPLY_FAILED, CLASSIFICATION_MISMATCH, SECRET_MISSING,
    };
    /// `Ready=True`: every target has its CronJob.
    pub const SCHEDULED: &str = "Scheduled";
    /// `Ready=True`: `spec.suspend`; nothing new starts.
    pub const SUSPENDED: &str = "Suspended";
    /// The target names no WardService, or the selector matches none.
    pub const NO_TARGETS: &str = "NoTargets";
    /// `spec.destination.pvc.claimName` names no PersistentVolumeClaim.
    pub const DESTINATION_MISSING: &str = "DestinationMissing";
    /// A target WardService has no `spec.storage`: nothing to back up.
    pub const NO_STORAGE: &str = "NoStorage";
    /// `spec.timeZone` is not in the IANA database, or the schedule is not cron.
    pub const INVALID_TIME_ZONE: &str = "InvalidTimeZone";
    /// `Degraded=True`: some targets are skipped or their last backup failed.
    pub const TARGETS_DEGRADED: &str = "TargetsDegraded";
    /// `Degraded=False`.
    pub const ALL_TARGETS_HEALTHY: &str = "AllTargetsHealthy";
    /// A target's last backup failed (target reason and Event).
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// Event: a `wardops.io/backup-now` value started backups.
    pub const BACKUP_STARTED: &str = "BackupStarted";
    /// Every reason above (runbook entries and tests read it).
    pub const ALL: &[&str] = &[
        SCHEDULED,
        SUSPENDED,
        NO_TARGETS,
        DESTINATION_MISSING,
        NO_STORAGE,
        INVALID_TIME_ZONE,
        TARGETS_DEGRADED,
        ALL_TARGETS_HEALTHY,
        BACKUP_FAILED,
        BACKUP_STARTED,
        SECRET_MISSING,
        CLASSIFICATION_MISMATCH,
        APPLY_FAILED,
    ];
}

/// What the ended backup pods of one target say, folded into its status
/// (`old`). A pod gone (its Job deleted) changes nothing.
pub fn observe_target<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    old: &BackupTargetStatus,
) -> BackupTargetStatus {
    let mut new = old.clone();
    let mut ended: Vec<(&Time, Result<serde_json::Value, String>)> = pods
        .into_iter()
        .filter_map(terminated)
        .filter_map(|t| t.finished_at.as_ref().map(|at| (at, parse(t))))
        .collect();
    ended.sort_by_key(|(at, _)| at.0);
    let after = |t: &Option<Time>, at: &Time| t.as_ref().is_none_or(|t| at.0 > t.0);
    if let Some((at, Ok(result))) = ended.iter().rev().find(|(_, r)| r.is_ok())
        && after(&old.last_successful_time, at)
    {
        new.last_successful_time = Some((*at).clone());
        new.last_snapshot_id = result["snapshotID"].as_str().map(str::to_string);
        new.last_snapshot_bytes = result["bytesProcessed"].as_u64();
        new.last_bytes_added = result["bytesAdded"].as_u64();
    }
    if let Some((at, Err(message))) = ended.iter().rev().find(|(_, r)| r.is_err())
        && after(&old.last_failed_time, at)
    {
        new.last_failed_time = Some((*at).clone());
        new.reason = Some(reason::BACKUP_FAILED.to_string());
        new.message = Some(message.clone());
    }
    // The latest result decides whether the target is failing now.
    if let Some((_, Ok(_))) = ended.last()
        && new.reason.as_deref() == Some(reason::BACKUP_FAILED)
        && new.last_successful_time.as_ref().map(|t| t.0)
            > new.last_failed_time.as_ref().map(|t| t.0)
    {
        new.reason = None;
        new.message = None;
    }
    new
}

fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    results::ended(pod, BACKUP_CONTAINER, true)
}

/// The result line of a successful backup, or why it failed.
fn parse(t: &ContainerStateTerminated) -> Result<serde_json::Value, String> {
    match results::line(t) {
        Some(v) if v["result"] == "Succeeded" && t.exit_code == 0 => Ok(v),
        Some(v) if v["result"] == "Failed" => Err(results::truncate(&results::failure(&v))),
        _ => Err(results::no_result("backup", t)),
    }
}

/// Whether a target is skipped (no storage, a classification mismatch, ...):
/// its reason is not a failed backup. A skipped target is never overdue.
pub fn target_skipped(target: &BackupTargetStatus) -> bool {
    target
        .reason
        .as_deref()
        .is_some_and(|r| r != reason::BACKUP_FAILED)
}

/// The first time the schedule fires strictly after `after`, in its zone.
pub fn next_run(spec: &BackupPolicySpec, after: Timestamp) -> Option<Timestamp> {
    crate::controller::schedule::next_run(&spec.schedule, &spec.time_zone, after)
}

/// Whether a target is overdue at `now`: the first scheduled time after its
/// last success (or after `since`, when it never had one) is more than
/// `grace` seconds in the past. A suspended policy is never overdue.
pub fn target_overdue(
    spec: &BackupPolicySpec,
    target: &BackupTargetStatus,
    since: Timestamp,
    now: Timestamp,
    grace: i64,
) -> bool {
    if spec.suspend {
        return false;
    }
    let from = target
        .last_successful_time
        .as_ref()
        .map_or(since, |t| t.0.max(since));
    next_run(spec, from).is_some_and(|due| now.as_second() > due.as_second() + grace)
}

#[cfg(test)]
mod tests {
    use super::reason::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_are_camel_case() {
        for r in ALL {
            assert!(r.chars().next().is_some_and(char::is_uppercase));
            assert!(r.chars().all(char::is_alphanumeric), "{r}");
        }
    }

    fn pod(finished: &str, exit: i32, message: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p-{finished}")},
            "status": {"phase": if exit == 0 { "Succeeded" } else { "Failed" }, "initContainerStatuses": [{"name": "backup", "image": "i", "imageID": "",
                "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": exit,
                "finishedAt": finished, "message": message}}}]}
        }))
        .unwrap()
    }

    const OK: &str = r#"{"result":"Succeeded","snapshotID":"4bd1a9e2","filesNew":3,"filesChanged":0,"filesUnmodified":0,"bytesAdded":120,"bytesProcessed":4096,"durationSeconds":1.5}"#;
    const BAD: &str = r#"{"result":"Failed","reason":"WrongPassword","message":"opening the repository: the key does not open it"}"#;

    #[test]
    fn successes_and_failures_of_a_target() {
        let old = BackupTargetStatus::default();
        let ok = pod("2026-11-27T01:30:05Z", 0, OK);
        let bad = pod("2026-11-28T01:30:05Z", 1, BAD);
        let first = observe_target([&ok], &old);
        assert_eq!(first.last_snapshot_id.as_deref(), Some("4bd1a9e2"));
        assert_eq!(first.last_snapshot_bytes, Some(4096));
        assert_eq!(first.reason, None);
        let then = observe_target([&ok, &bad], &first);
        assert_eq!(then.reason.as_deref(), Some(BACKUP_FAILED));
        assert!(
            then.message
                .as_deref()
                .unwrap()
                .starts_with("WrongPassword: ")
        );
        assert_eq!(then.last_snapshot_id.as_deref(), Some("4bd1a9e2"));
        let again = pod("2026-11-29T01:30:05Z", 0, OK);
        let healed = observe_target([&bad, &again], &then);
        assert_eq!(healed.reason, None);
        assert_eq!(
            observe_target([], &healed),
            healed,
            "pods gone: nothing changes"
        );
        let killed = observe_target([&pod("2026-11-30T01:30:05Z", 137, "")], &healed);
        assert!(killed.message.unwrap().contains("exit code 137"));
    }

    #[test]
    fn next_run_and_overdue_follow_the_schedule_in_its_zone() {
        let spec: BackupPolicySpec = serde_json::from_value(json!({
            "target": {"wardServiceRef": {"name": "w"}}, "schedule": "30 1 * * *",
            "retention": {"keepLast": 3}, "destination": {"pvc": {"claimName": "b"}}}))
        .unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        // 01:30 in Hồ Chí Minh City is 18:30 UTC the day before.
        assert_eq!(
            next_run(&spec, t("2026-11-27T10:00:00Z")),
            Some(t("2026-11-27T18:30:00Z"))
        );
        let never = BackupTargetStatus::default();
        let since = t("2026-11-27T10:00:00Z");
        assert!(!target_overdue(
            &spec,
            &never,
            since,
            t("2026-11-27T19:00:00Z"),
            3600
        ));
        assert!(target_overdue(
            &spec,
            &never,
            since,
            t("2026-11-27T19:31:00Z"),
            3600
        ));
        let done = BackupTargetStatus {
            last_successful_time: Some(Time(t("2026-11-27T18:31:00Z"))),
            ..BackupTargetStatus::default()
        };
        assert!(!target_overdue(
            &spec,
            &done,
            since,
            t("2026-11-28T19:00:00Z"),
            3600
        ));
        assert!(target_overdue(
            &spec,
            &done,
            since,
            t("2026-11-28T19:31:00Z"),
            3600
        ));
        let mut suspended = spec.clone();
        suspended.suspend = true;
        assert!(!target_overdue(
            &suspended,
            &never,
            since,
            t("2026-12-27T00:00:00Z"),
            3600
        ));
    }
}
