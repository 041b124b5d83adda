//! Pure status decisions of a DataConnector. Reasons are stable API (alerts
//! and runbooks match on them); the gateway's availability reads as a
//! WardService's (`Available`, `RollingOut`, ...).

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use crate::controller::ward_service::status::{
    blocked_conditions, deployment_state, running_conditions,
};

use crate::api::common::condition::SYNCED;
use crate::api::data_connector::{DataConnectorStatus, SyncedDataset};
use crate::controller::conditions::DesiredCondition;
use crate::controller::results;
use crate::gateway::sync::SyncResult;

use super::build::sync::CONTAINER_NAME;

/// Stable condition reasons of a DataConnector.
pub mod reason {
    pub use crate::controller::ward_service::status::reason::{
        APPLY_FAILED, AVAILABLE, CLASSIFICATION_MISMATCH, ROLLING_OUT, SECRET_MISSING,
    };
    /// `spec.wardServiceRef` names no WardService in the namespace (yet).
    pub const WARD_SERVICE_NOT_FOUND: &str = "WardServiceNotFound";
    /// A sync connector's `spec.timeZone` is not an IANA name, or its
    /// `spec.schedule` is not a cron expression.
    pub const INVALID_TIME_ZONE: &str = "InvalidTimeZone";
    /// Event: a `wardops.io/sync-now` value started a pull.
    pub const SYNC_STARTED: &str = "SyncStarted";
    /// `Synced=True`: the last pull succeeded; the gateway serves it.
    pub const SYNC_SUCCEEDED: &str = "SyncSucceeded";
    /// `Synced=False`: the last pull failed; the gateway serves the previous
    /// complete snapshot, if any.
    pub const SYNC_FAILED: &str = "SyncFailed";
    /// `Synced=False`: no pull has ended yet; the gateway has nothing to serve.
    pub const NOT_SYNCED_YET: &str = "NotSyncedYet";
    /// Every reason above (runbook entries and tests read it).
    pub const ALL: &[&str] = &[
        WARD_SERVICE_NOT_FOUND,
        INVALID_TIME_ZONE,
        SECRET_MISSING,
        CLASSIFICATION_MISMATCH,
        AVAILABLE,
        ROLLING_OUT,
        APPLY_FAILED,
        SYNC_SUCCEEDED,
        SYNC_STARTED,
        SYNC_FAILED,
        NOT_SYNCED_YET,
    ];
}

/// What the sync pods reported, as status fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncObserved {
    /// When the last pull ended.
    pub last_sync_time: Option<Time>,
    /// `Succeeded` or `Failed`.
    pub last_sync_result: Option<String>,
    /// When the snapshot served was pulled.
    pub last_successful_sync_time: Option<Time>,
    /// The datasets of the snapshot served.
    pub datasets: Vec<SyncedDataset>,
    /// Why the last pull failed, when it did and the pod is still there.
    pub error: Option<String>,
}

impl SyncObserved {
    /// Writes the fields into `status`.
    pub fn apply_to(self, status: &mut DataConnectorStatus) {
        status.last_sync_time = self.last_sync_time;
        status.last_sync_result = self.last_sync_result;
        status.last_successful_sync_time = self.last_successful_sync_time;
        status.datasets = self.datasets;
    }

    /// The `Synced` condition.
    pub fn condition(&self, pods_label: &str) -> DesiredCondition {
        let at = |t: &Option<Time>| {
            t.as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "an unknown time".to_string())
        };
        match self.last_sync_result.as_deref() {
            Some(SUCCEEDED) => DesiredCondition::new(
                SYNCED,
                true,
                reason::SYNC_SUCCEEDED,
                format!(
                    "the snapshot pulled at {} is served ({} datasets)",
                    at(&self.last_sync_time),
                    self.datasets.len()
                ),
            ),
            Some(_) => {
                let served = match &self.last_successful_sync_time {
                    Some(t) => format!("the snapshot pulled at {} is still served", t.0),
                    None => "no snapshot is served yet".to_string(),
                };
                let why = self
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                DesiredCondition::new(
                    SYNCED,
                    false,
                    reason::SYNC_FAILED,
                    format!(
                        "the pull that ended at {} failed{why}; {served} (kubectl get jobs,pods -l {pods_label})",
                        at(&self.last_sync_time)
                    ),
                )
            }
            None => DesiredCondition::new(
                SYNCED,
                false,
                reason::NOT_SYNCED_YET,
                "no pull has ended yet: the gateway has no snapshot to serve until the first one \
                 (on spec.schedule, or at once with the wardops.io/sync-now annotation)",
            ),
        }
    }
}

/// `lastSyncResult` of a successful pull.
pub const SUCCEEDED: &str = "Succeeded";
/// `lastSyncResult` of a failed pull.
pub const FAILED: &str = "Failed";

/// Folds the ended sync pods into the status: the latest ended pod, when it
/// ended after `old.lastSyncTime`, gives the last result; otherwise (its pod
/// already deleted with its Job) the status stays as it was.
pub fn observe_sync<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    old: &DataConnectorStatus,
) -> SyncObserved {
    let mut observed = SyncObserved {
        last_sync_time: old.last_sync_time.clone(),
        last_sync_result: old.last_sync_result.clone(),
        last_successful_sync_time: old.last_successful_sync_time.clone(),
        datasets: old.datasets.clone(),
        error: None,
    };
    let mut ended: Vec<(&Time, Result<Vec<SyncedDataset>, String>)> = pods
        .into_iter()
        .filter_map(terminated)
        .filter_map(|t| t.finished_at.as_ref().map(|at| (at, parse(t))))
        .collect();
    ended.sort_by_key(|(at, _)| at.0);
    let after = |t: &Option<Time>, at: &Time| t.as_ref().is_none_or(|t| at.0 > t.0);
    // The snapshot served: the latest successful pull.
    if let Some((at, Ok(datasets))) = ended.iter().rev().find(|(_, r)| r.is_ok())
        && after(&old.last_successful_sync_time, at)
    {
        observed.last_successful_sync_time = Some((*at).clone());
        observed.datasets = datasets.clone();
    }
    // The last result: the latest pull of all.
    if let Some((at, result)) = ended.pop()
        && (after(&old.last_sync_time, at) || old.last_sync_time.as_ref() == Some(at))
    {
        observed.last_sync_time = Some(at.clone());
        observed.last_sync_result =
            Some(if result.is_ok() { SUCCEEDED } else { FAILED }.to_string());
        observed.error = result.err();
    }
    observed
}

fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    results::ended(pod, CONTAINER_NAME, false)
}

/// The datasets of a successful pull, or why it failed.
fn parse(t: &ContainerStateTerminated) -> Result<Vec<SyncedDataset>, String> {
    let result = results::line(t).and_then(|v| serde_json::from_value::<SyncResult>(v).ok());
    match (result, t.exit_code) {
        (Some(SyncResult::Succeeded { datasets, .. }), 0) => Ok(datasets
            .into_iter()
            .map(|d| SyncedDataset {
                name: d.name,
                records: d.records,
                bytes: d.bytes,
            })
            .collect()),
        (Some(SyncResult::Failed { error, .. }), _) => Err(results::truncate(&error)),
        _ => Err(results::no_result("sync", t)),
    }
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
            "status": {"phase": if exit == 0 { "Succeeded" } else { "Failed" },
                "containerStatuses": [{"name": "sync", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"terminated": {"exitCode": exit,
                    "finishedAt": finished, "message": message}}}]}
        }))
        .unwrap()
    }

    const OK: &str = r#"{"result":"Succeeded","time":"2026-11-27T02:00:05Z","snapshot":"s","datasets":[{"name":"thua-dat","records":3,"bytes":120}]}"#;
    const BAD: &str = r#"{"result":"Failed","time":"2026-11-28T02:00:05Z","error":"dataset `thua-dat`: the source answered HTTP 503"}"#;

    #[test]
    fn the_latest_ended_pod_gives_the_result_and_a_failure_keeps_the_served_snapshot() {
        let old = DataConnectorStatus::default();
        let ok = pod("2026-11-27T02:00:05Z", 0, OK);
        let bad = pod("2026-11-28T02:00:05Z", 1, BAD);
        let first = observe_sync([&ok], &old);
        assert_eq!(first.last_sync_result.as_deref(), Some(SUCCEEDED));
        assert_eq!(
            first.datasets,
            [SyncedDataset {
                name: "thua-dat".into(),
                records: 3,
                bytes: 120
            }]
        );
        assert!(first.condition("x").status);

        let both = observe_sync([&bad, &ok], &old);
        assert_eq!(both.last_sync_result.as_deref(), Some(FAILED));
        assert_eq!(both.last_successful_sync_time, first.last_sync_time);
        let mut status = DataConnectorStatus::default();
        first.apply_to(&mut status);
        let after = observe_sync([&ok, &bad], &status);
        assert_eq!(after.last_sync_result.as_deref(), Some(FAILED));
        assert_eq!(
            after.datasets.len(),
            1,
            "the served snapshot's datasets stay"
        );
        let c = after.condition("app.kubernetes.io/instance=dat-dai");
        assert!(!c.status);
        assert_eq!(c.reason, SYNC_FAILED);
        assert!(
            c.message.contains("HTTP 503") && c.message.contains("still served"),
            "{}",
            c.message
        );
    }

    #[test]
    fn pods_gone_keep_the_status_and_unreadable_results_are_failures() {
        let mut status = DataConnectorStatus::default();
        observe_sync([&pod("2026-11-27T02:00:05Z", 0, OK)], &status).apply_to(&mut status);
        assert_eq!(
            observe_sync([], &status).last_sync_result.as_deref(),
            Some(SUCCEEDED)
        );
        let killed = observe_sync([&pod("2026-11-29T02:00:05Z", 137, "")], &status);
        assert_eq!(killed.last_sync_result.as_deref(), Some(FAILED));
        assert!(killed.error.unwrap().contains("exit code 137"));
        let never = observe_sync([], &DataConnectorStatus::default());
        assert_eq!(never.condition("x").reason, NOT_SYNCED_YET);
    }
}
