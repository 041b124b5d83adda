//! The children only a `sync` connector has: the snapshot volume, the
//! CronJob that runs `wardops gateway sync` on `spec.schedule`, and the Job a
//! `wardops.io/sync-now` value starts.
//!
//! The volume, CronJob and sync NetworkPolicy carry the gateway's labels
//! (the connector's child caches select them); Jobs and sync pods carry the
//! `connector-sync` labels, which no gateway selector matches.
//!
//! Why a CronJob and not a scheduler inside the gateway: the history of
//! pulls is then Jobs and pods that `kubectl get jobs` shows, a failed pull
//! is a failed Job with its message, the credentials are mounted only while
//! a pull runs, and the serving gateway holds no credential and reaches
//! nothing but its callers.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::config_map::config_path;
use super::deployment::{
    BINARY, DATA_DIR, Role, data_labels, image, pod_annotations, pod_spec, volume_mounts,
};
use super::{BuildContext, data_claim_name, sync_name};
use crate::api::data_connector::DEFAULT_SNAPSHOT_SIZE;
use crate::controller::labels;
use crate::controller::ward_service::build::deployment::{default_resources, restricted_container};
use crate::controller::ward_service::build::pvc::read_write_once;
use crate::gateway::config::GatewayConfig;

/// Name of the sync container.
pub const CONTAINER_NAME: &str = "sync";
/// Finished Jobs of each outcome the CronJob keeps (the pull history).
pub const JOBS_HISTORY_LIMIT: i32 = 3;
/// A schedule missed by more than this (operator or controller down) is
/// skipped, not run late.
pub const STARTING_DEADLINE_SECONDS: i64 = 3600;
/// A sync-now Job is deleted this long after it ended (a day).
pub const SYNC_NOW_TTL_SECONDS: i32 = 86_400;
/// Added to the per-dataset timeout for the whole Job: start-up and writes.
const JOB_DEADLINE_MARGIN_SECONDS: i64 = 300;

/// The snapshot volume `<name>-connector-data`, owned by the connector (a
/// copy of the source: after a loss the next pull fills it again).
pub fn pvc(ctx: &BuildContext) -> PersistentVolumeClaim {
    let storage = ctx.spec.storage.as_ref();
    PersistentVolumeClaim {
        metadata: ctx.owned_metadata(data_claim_name(ctx.name)),
        spec: Some(read_write_once(
            storage.map_or(DEFAULT_SNAPSHOT_SIZE, |s| s.size.as_str()),
            storage.and_then(|s| s.storage_class_name.clone()),
        )),
        ..PersistentVolumeClaim::default()
    }
}

/// The CronJob `<name>-sync`: one pull at a time (`Forbid`), the last
/// [`JOBS_HISTORY_LIMIT`] successes and failures kept.
pub fn cron_job(ctx: &BuildContext, config: &GatewayConfig) -> CronJob {
    CronJob {
        metadata: ctx.owned_metadata(sync_name(ctx.name)),
        spec: Some(CronJobSpec {
            schedule: ctx.spec.schedule.clone().unwrap_or_default(),
            time_zone: ctx.spec.time_zone.clone(),
            concurrency_policy: Some("Forbid".to_string()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(JOBS_HISTORY_LIMIT),
            failed_jobs_history_limit: Some(JOBS_HISTORY_LIMIT),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.sync_labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(job_spec(ctx, config)),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}

/// The Job a `wardops.io/sync-now` value starts: the CronJob's Job, named
/// after the value (so one value makes one Job, even across restarts), owned
/// by the connector and deleted [`SYNC_NOW_TTL_SECONDS`] after it ends.
pub fn sync_now_job(ctx: &BuildContext, config: &GatewayConfig, value: &str) -> Job {
    let mut metadata = ctx.owned_sync_metadata(sync_now_job_name(ctx.name, value));
    metadata.annotations = Some(BTreeMap::from([(
        labels::SYNC_NOW_ANNOTATION.to_string(),
        value.to_string(),
    )]));
    Job {
        metadata,
        spec: Some(JobSpec {
            ttl_seconds_after_finished: Some(SYNC_NOW_TTL_SECONDS),
            ..job_spec(ctx, config)
        }),
        ..Job::default()
    }
}

/// `<name>-sync-<digest of value>`: at most 40 + 16 characters, a valid Job
/// name (its pods' `job-name` label needs ≤ 63).
pub fn sync_now_job_name(connector: &str, value: &str) -> String {
    let digest = crate::controller::apply::digest(value.as_bytes());
    format!("{}-{}", sync_name(connector), &digest[..10])
}

/// One pull: no retry within the Job (the next schedule, or a new sync-now
/// value, tries again), bounded by the per-dataset timeout.
fn job_spec(ctx: &BuildContext, config: &GatewayConfig) -> JobSpec {
    let datasets = i64::try_from(config.datasets.len()).unwrap_or(i64::MAX);
    let deadline = i64::from(config.sync_timeout_seconds)
        .saturating_mul(datasets.max(1))
        .saturating_add(JOB_DEADLINE_MARGIN_SECONDS);
    let mut pod_labels = ctx.sync_labels();
    pod_labels.extend(data_labels(ctx));
    JobSpec {
        backoff_limit: Some(0),
        active_deadline_seconds: Some(deadline),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels),
                annotations: Some(pod_annotations(ctx, config, Role::Sync)),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_string()),
                containers: vec![container(ctx)],
                ..pod_spec(ctx, Role::Sync)
            }),
        },
        ..JobSpec::default()
    }
}

fn container(ctx: &BuildContext) -> Container {
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(image(ctx)),
        command: Some(vec![BINARY.to_string()]),
        args: Some(vec![
            "gateway".to_string(),
            "sync".to_string(),
            "--config".to_string(),
            config_path(),
            "--data-dir".to_string(),
            DATA_DIR.to_string(),
        ]),
        resources: Some(default_resources(ctx.settings)),
        security_context: Some(restricted_container()),
        // The one-line JSON result the controller reads into status.
        termination_message_policy: Some("File".to_string()),
        volume_mounts: Some(volume_mounts(ctx, Role::Sync)),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, connector_with};
    use super::*;
    use crate::controller::data_connector::build::deployment::{CREDENTIALS_VOLUME, DATA_VOLUME};

    fn sync_connector() -> crate::api::DataConnector {
        connector_with(json!({"mode": "sync", "schedule": "0 2 * * *",
            "timeZone": "Asia/Ho_Chi_Minh", "source": {"kind": "land",
            "endpoint": "https://datdai.haiphong.gov.vn/api"}}))
    }

    fn mounts(p: &PodSpec) -> Vec<(String, Option<bool>)> {
        p.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| (m.name.clone(), m.read_only))
            .collect()
    }

    #[test]
    fn proxy_connectors_have_no_sync_children() {
        assert!(build(&connector_with(json!({}))).sync.is_none());
    }

    #[test]
    fn the_cron_job_pulls_on_schedule_one_at_a_time_with_the_credentials() {
        let c = build(&sync_connector()).sync.unwrap();
        let cj = c.cron_job;
        assert_eq!(cj.metadata.name.as_deref(), Some("dan-cu-sync"));
        let spec = cj.spec.unwrap();
        assert_eq!(spec.schedule, "0 2 * * *");
        assert_eq!(spec.time_zone.as_deref(), Some("Asia/Ho_Chi_Minh"));
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
        let job = spec.job_template.spec.unwrap();
        assert_eq!(job.backoff_limit, Some(0));
        let pod = job.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let args = pod.containers[0].args.clone().unwrap();
        assert_eq!(&args[..2], ["gateway", "sync"]);
        assert_eq!(
            mounts(&pod),
            [
                ("config".to_string(), Some(true)),
                (DATA_VOLUME.to_string(), None),
                (CREDENTIALS_VOLUME.to_string(), Some(true)),
            ]
        );
        let labels = job.template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "connector-sync");
        assert_eq!(labels[labels::CONNECTOR_DATA_LABEL], "dan-cu");
    }

    #[test]
    fn the_sync_gateway_serves_the_snapshot_read_only_without_credentials() {
        let c = build(&sync_connector());
        let pod = c.deployment.spec.unwrap().template;
        let annotations = pod.metadata.unwrap().annotations.unwrap();
        assert!(!annotations.contains_key(labels::SECRET_VERSIONS_ANNOTATION));
        let pod = pod.spec.unwrap();
        assert_eq!(
            mounts(&pod),
            [
                ("config".to_string(), Some(true)),
                (DATA_VOLUME.to_string(), Some(true)),
            ]
        );
        assert!(
            pod.containers[0]
                .args
                .as_ref()
                .unwrap()
                .contains(&DATA_DIR.to_string())
        );
        let claim = c.sync.unwrap().pvc;
        assert_eq!(
            claim.metadata.name.as_deref(),
            Some("dan-cu-connector-data")
        );
        let requests = claim.spec.unwrap().resources.unwrap().requests.unwrap();
        assert_eq!(requests["storage"].0, DEFAULT_SNAPSHOT_SIZE);
    }

    #[test]
    fn gateway_and_sync_pods_share_one_node() {
        let c = build(&sync_connector());
        let gateway = c.deployment.spec.unwrap().template;
        let sync = c
            .sync
            .unwrap()
            .cron_job
            .spec
            .unwrap()
            .job_template
            .spec
            .unwrap()
            .template;
        for t in [gateway, sync] {
            let term = &t
                .spec
                .unwrap()
                .affinity
                .unwrap()
                .pod_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution
                .unwrap()[0];
            assert_eq!(term.topology_key, SAME_NODE_KEY);
            let sel = term
                .label_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap();
            let pod_labels = t.metadata.unwrap().labels.unwrap();
            for (k, v) in sel {
                assert_eq!(pod_labels.get(k), Some(v), "{k}");
            }
        }
    }
    const SAME_NODE_KEY: &str = super::super::deployment::SAME_NODE;

    #[test]
    fn one_sync_now_job_per_value_deleted_a_day_after() {
        let dc = sync_connector();
        let settings = crate::runtime::settings::WorkloadSettings::default();
        let versions = BTreeMap::new();
        let input = super::super::BuildInput {
            connector: &dc,
            ward_code: "31101",
            ward_classification: crate::api::Classification::Internal,
            settings: &settings,
            secret_versions: &versions,
        };
        let ctx = BuildContext::new(&input).unwrap();
        let config = super::super::config_map::gateway_config(&ctx);
        let a = sync_now_job(&ctx, &config, "2026-11-27T10:00");
        let again = sync_now_job(&ctx, &config, "2026-11-27T10:00");
        let b = sync_now_job(&ctx, &config, "2026-11-27T11:00");
        assert_eq!(a.metadata.name, again.metadata.name);
        assert_ne!(a.metadata.name, b.metadata.name);
        let name = a.metadata.name.clone().unwrap();
        assert!(name.starts_with("dan-cu-sync-") && name.len() <= 63);
        assert_eq!(
            a.metadata.annotations.as_ref().unwrap()[labels::SYNC_NOW_ANNOTATION],
            "2026-11-27T10:00"
        );
        assert_eq!(
            a.metadata.owner_references.unwrap()[0].kind,
            "DataConnector"
        );
        assert_eq!(
            a.spec.unwrap().ttl_seconds_after_finished,
            Some(SYNC_NOW_TTL_SECONDS)
        );
    }
}
