//! Pure builders of a BackupPolicy's children: one CronJob per target
//! WardService (`wardops backup`, then `wardops forget` for the retention),
//! the Job a `wardops.io/backup-now` value starts, and the key Secret wardops
//! generates when the policy names none.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EmptyDirVolumeSource, EnvVar, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
    Secret, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;

use crate::api::backup_policy::BackupPolicySpec;
use crate::api::ward_service::SECRET_FILE_MODE;
use crate::api::{BackupPolicy, Classification, WardService};
use crate::backup::settings::{ACCESS_KEY_FILE, SECRET_KEY_FILE};
use crate::controller::labels;
use crate::controller::ward_service::build::deployment::{
    default_resources, restricted_container, restricted_pod,
};
use crate::controller::ward_service::build::pvc_name;
use crate::runtime::settings::WorkloadSettings;

/// The binary in the wardops image.
pub const BINARY: &str = "/wardops";
/// Container that backs up (an init container: its result is the Job's).
pub const BACKUP_CONTAINER: &str = "backup";
/// Container that applies the retention after a successful backup.
pub const FORGET_CONTAINER: &str = "forget";
/// Where the ward's volume is mounted, read-only.
pub const SOURCE_DIR: &str = "/var/lib/wardops/source";
/// Where the encryption key Secret is mounted.
pub const KEY_DIR: &str = "/var/run/secrets/wardops/backup-key";
/// The key file inside [`KEY_DIR`].
pub const KEY_FILE: &str = "password";
/// Where the S3 credentials Secret is mounted.
pub const S3_DIR: &str = "/var/run/secrets/wardops/s3";
/// Where a PVC destination is mounted.
pub const REPOSITORY_DIR: &str = "/var/lib/wardops/repository";
/// restic's cache: an emptyDir (the root filesystem is read-only).
pub const CACHE_DIR: &str = "/tmp/restic";
/// Size limit of that cache.
pub const CACHE_SIZE_LIMIT: &str = "2Gi";
/// Finished Jobs of each outcome a CronJob keeps.
pub const JOBS_HISTORY_LIMIT: i32 = 3;
/// A schedule missed by more than this is skipped, not run late.
pub const STARTING_DEADLINE_SECONDS: i64 = 3600;
/// A backup-now Job is deleted this long after it ended (a day).
pub const BACKUP_NOW_TTL_SECONDS: i32 = 86_400;
/// Longest CronJob name (the CronJob controller appends 11 characters).
pub const MAX_CRON_JOB_NAME: usize = 52;
/// Bytes of a generated encryption key.
pub const GENERATED_KEY_BYTES: usize = 32;

/// What the builders of one target read.
#[derive(Clone, Copy, Debug)]
pub struct TargetInput<'a> {
    /// The policy; must have metadata.name, namespace and uid.
    pub policy: &'a BackupPolicy,
    /// The target WardService (with `spec.storage`).
    pub ward: &'a WardService,
    /// Operator settings (backup image, isolated pool).
    pub settings: &'a WorkloadSettings,
    /// The Secret and key of the repository password.
    pub key: (&'a str, &'a str),
}

/// Why children cannot be built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The policy or the WardService lacks metadata the children need.
    #[error(transparent)]
    Metadata(#[from] crate::controller::MissingMetadata),
}

/// `<policy>-<ward service>`, shortened with a digest to fit a CronJob name.
pub fn cron_job_name(policy: &str, ward: &str) -> String {
    let full = format!("{policy}-{ward}");
    if full.len() <= MAX_CRON_JOB_NAME {
        return full;
    }
    let digest = crate::controller::apply::digest(full.as_bytes());
    let keep = MAX_CRON_JOB_NAME - 9;
    let head = full[..keep].trim_end_matches(['-', '.']);
    format!("{head}-{}", &digest[..8])
}

/// `<cron job>-<digest of the value>`: one Job per backup-now value (≤ 63).
pub fn backup_now_job_name(policy: &str, ward: &str, value: &str) -> String {
    let digest = crate::controller::apply::digest(value.as_bytes());
    format!("{}-{}", cron_job_name(policy, ward), &digest[..10])
}

/// Name of the key Secret wardops generates: `<policy>-backup-key`.
pub fn generated_key_name(policy: &str) -> String {
    format!("{policy}-backup-key")
}

/// The repository of one target: its own folder under the destination.
pub fn repository(spec: &BackupPolicySpec, namespace: &str, ward: &str) -> String {
    match (&spec.destination.s3, &spec.destination.pvc) {
        (Some(s3), _) => {
            let prefix = s3
                .prefix
                .as_deref()
                .map(|p| format!("/{}", p.trim_matches('/')))
                .unwrap_or_default();
            format!(
                "s3:{}/{}{prefix}/{namespace}/{ward}",
                s3.endpoint.trim_end_matches('/'),
                s3.bucket
            )
        }
        _ => format!("{REPOSITORY_DIR}/{namespace}/{ward}"),
    }
}

/// Labels of a target's CronJob, Jobs and pods.
pub fn target_labels(input: &TargetInput) -> BTreeMap<String, String> {
    let ward = input.ward;
    labels::common_labels(
        labels::COMPONENT_BACKUP,
        &input.policy.metadata.name.clone().unwrap_or_default(),
        &ward.metadata.name.clone().unwrap_or_default(),
        &ward.spec.ward.code,
        level(input).as_str(),
    )
}

/// The level a target's backup pods run at: the ward's or the policy's, the higher.
fn level(input: &TargetInput) -> Classification {
    input
        .ward
        .spec
        .classification
        .max(input.policy.spec.classification)
}

fn owner(policy: &BackupPolicy) -> Result<OwnerReference, BuildError> {
    policy.controller_owner_ref(&()).ok_or(BuildError::Metadata(
        crate::controller::MissingMetadata("metadata.uid"),
    ))
}

fn owned(input: &TargetInput, name: String) -> Result<(ObjectMeta, String, String), BuildError> {
    let id = crate::controller::identity(&input.policy.metadata)?;
    let ward = input
        .ward
        .metadata
        .name
        .clone()
        .ok_or(crate::controller::MissingMetadata("metadata.name"))?;
    Ok((
        ObjectMeta {
            name: Some(name),
            namespace: Some(id.namespace.to_string()),
            labels: Some(target_labels(input)),
            owner_references: Some(vec![owner(input.policy)?]),
            ..ObjectMeta::default()
        },
        id.name.to_string(),
        ward,
    ))
}

/// The CronJob of one target: one backup at a time, the last
/// [`JOBS_HISTORY_LIMIT`] successes and failures kept.
pub fn cron_job(input: &TargetInput) -> Result<CronJob, BuildError> {
    let policy_name = input.policy.metadata.name.clone().unwrap_or_default();
    let ward_name = input.ward.metadata.name.clone().unwrap_or_default();
    let (metadata, _, _) = owned(input, cron_job_name(&policy_name, &ward_name))?;
    let spec = &input.policy.spec;
    Ok(CronJob {
        metadata,
        spec: Some(CronJobSpec {
            schedule: spec.schedule.clone(),
            time_zone: Some(spec.time_zone.clone()),
            suspend: spec.suspend.then_some(true),
            concurrency_policy: Some("Forbid".to_string()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(JOBS_HISTORY_LIMIT),
            failed_jobs_history_limit: Some(JOBS_HISTORY_LIMIT),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(target_labels(input)),
                    ..ObjectMeta::default()
                }),
                spec: Some(job_spec(input)?),
            },
        }),
        ..CronJob::default()
    })
}

/// The Job a `wardops.io/backup-now` value starts for one target, owned by
/// the policy and deleted [`BACKUP_NOW_TTL_SECONDS`] after it ends.
pub fn backup_now_job(input: &TargetInput, value: &str) -> Result<Job, BuildError> {
    let policy_name = input.policy.metadata.name.clone().unwrap_or_default();
    let ward_name = input.ward.metadata.name.clone().unwrap_or_default();
    let (mut metadata, _, _) = owned(input, backup_now_job_name(&policy_name, &ward_name, value))?;
    metadata.annotations = Some(BTreeMap::from([(
        labels::BACKUP_NOW_ANNOTATION.to_string(),
        value.to_string(),
    )]));
    Ok(Job {
        metadata,
        spec: Some(JobSpec {
            ttl_seconds_after_finished: Some(BACKUP_NOW_TTL_SECONDS),
            ..job_spec(input)?
        }),
        ..Job::default()
    })
}

/// One backup: no retry within the Job (the next schedule, or a new
/// backup-now value, tries again).
fn job_spec(input: &TargetInput) -> Result<JobSpec, BuildError> {
    Ok(JobSpec {
        backoff_limit: Some(0),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(target_labels(input)),
                ..ObjectMeta::default()
            }),
            spec: Some(pod_spec(input)?),
        },
        ..JobSpec::default()
    })
}

/// The repository arguments every `wardops backup|forget|restore` of a
/// target takes: its repository, key file, host and tag, S3 credentials.
fn repository_args(input: &TargetInput, ward_name: &str) -> Vec<String> {
    let namespace = input.policy.metadata.namespace.clone().unwrap_or_default();
    let spec = &input.policy.spec;
    let mut common = vec![
        "--repository".to_string(),
        repository(spec, &namespace, ward_name),
        "--password-file".to_string(),
        format!("{KEY_DIR}/{KEY_FILE}"),
        "--host".to_string(),
        ward_name.to_string(),
        "--tag".to_string(),
        format!("{namespace}.{ward_name}"),
    ];
    if spec.destination.s3.is_some() {
        common.extend(["--s3-credentials-dir".to_string(), S3_DIR.to_string()]);
    }
    common
}

/// A container of a backup or restore pod: the wardops image, restricted,
/// its result line as termination message.
fn tool_container(
    input: &TargetInput,
    name: &str,
    args: Vec<String>,
    mounts: Vec<VolumeMount>,
) -> Container {
    let spec = &input.policy.spec;
    let s = input.settings;
    Container {
        name: name.to_string(),
        image: Some(spec.image.clone().unwrap_or_else(|| s.backup_image.clone())),
        command: Some(vec![BINARY.to_string()]),
        args: Some(args),
        env: Some(vec![EnvVar {
            name: "RESTIC_CACHE_DIR".to_string(),
            value: Some(CACHE_DIR.to_string()),
            value_from: None,
        }]),
        resources: Some(default_resources(s)),
        security_context: Some(restricted_container()),
        termination_message_policy: Some("File".to_string()),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

/// The mounts of the repository side: restic's cache, the key, and the S3
/// credentials or the PVC destination.
fn repository_mounts(input: &TargetInput) -> Vec<VolumeMount> {
    let mut m = vec![mount("cache", "/tmp", false), mount("key", KEY_DIR, true)];
    if input.policy.spec.destination.s3.is_some() {
        m.push(mount("s3", S3_DIR, true));
    } else {
        m.push(mount("repository", REPOSITORY_DIR, false));
    }
    m
}

/// What every backup or restore pod shares: restricted, no token, the
/// isolated pool when classified.
fn tool_pod(input: &TargetInput) -> PodSpec {
    let s = input.settings;
    let classified = level(input).is_classified();
    PodSpec {
        restart_policy: Some("Never".to_string()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(restricted_pod()),
        node_selector: classified.then(|| s.isolated_node_selector.0.clone()),
        tolerations: classified.then(|| s.isolated_tolerations.0.clone()),
        ..PodSpec::default()
    }
}

fn pod_spec(input: &TargetInput) -> Result<PodSpec, BuildError> {
    let (_, _, ward_name) = owned(input, String::new())?;
    let common = repository_args(input, &ward_name);
    let mut backup_args = vec!["backup".to_string()];
    backup_args.extend(common.clone());
    backup_args.extend(["--source".to_string(), SOURCE_DIR.to_string()]);
    let r = &input.policy.spec.retention;
    let mut forget_args = vec![FORGET_COMMAND.to_string()];
    forget_args.extend(common);
    for (flag, n) in
        KEEP_FLAGS
            .into_iter()
            .zip([r.keep_last, r.keep_daily, r.keep_weekly, r.keep_monthly])
    {
        if let Some(n) = n {
            forget_args.extend([flag.to_string(), n.to_string()]);
        }
    }
    let repo_mounts = repository_mounts(input);
    let mut backup_mounts = repo_mounts.clone();
    backup_mounts.push(mount("source", SOURCE_DIR, true));
    let mut volumes = repository_volumes(input);
    volumes.push(claim_volume("source", &pvc_name(&ward_name), true));
    Ok(PodSpec {
        init_containers: Some(vec![tool_container(
            input,
            BACKUP_CONTAINER,
            backup_args,
            backup_mounts,
        )]),
        containers: vec![tool_container(
            input,
            FORGET_CONTAINER,
            forget_args,
            repo_mounts,
        )],
        volumes: Some(volumes),
        affinity: Some(same_node_as_the_ward(&ward_name)),
        ..tool_pod(input)
    })
}

/// The forget container's subcommand.
const FORGET_COMMAND: &str = "forget";
/// The retention flags of `wardops forget`, each followed by a count.
const KEEP_FLAGS: [&str; 4] = [
    "--keep-last",
    "--keep-daily",
    "--keep-weekly",
    "--keep-monthly",
];

/// Container (and `app.kubernetes.io/name`) of the Job that lists a
/// target's repository (`kubectl wardops snapshots --from-repository`).
pub const SNAPSHOTS_CONTAINER: &str = "snapshots";
/// A snapshots Job is deleted this long after it ended, if its starter did not.
pub const SNAPSHOTS_TTL_SECONDS: i32 = 600;

/// The Job that lists one target's snapshots: the pod of the target's
/// CronJob without the backup and without the ward's volume, its forget
/// container running `wardops snapshots` with the same repository, key and
/// credentials. `None` when the CronJob is not one wardops built.
pub fn snapshots_job(cron_job: &CronJob, name: &str) -> Option<Job> {
    let template = &cron_job.spec.as_ref()?.job_template;
    let mut pod_template = template.spec.as_ref()?.template.clone();
    let pod = pod_template.spec.as_mut()?;
    let mut container = pod
        .containers
        .iter()
        .find(|c| c.name == FORGET_CONTAINER)?
        .clone();
    let forget = container.args.take()?;
    let mut args = vec![SNAPSHOTS_CONTAINER.to_string()];
    let mut rest = forget.iter().skip(1);
    while let Some(a) = rest.next() {
        if KEEP_FLAGS.contains(&a.as_str()) {
            rest.next();
        } else {
            args.push(a.clone());
        }
    }
    container.name = SNAPSHOTS_CONTAINER.to_string();
    container.args = Some(args);
    pod.containers = vec![container];
    pod.init_containers = None;
    pod.affinity = None;
    if let Some(volumes) = pod.volumes.as_mut() {
        volumes.retain(|v| v.name != "source");
    }
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(
        labels::NAME_LABEL.to_string(),
        SNAPSHOTS_CONTAINER.to_string(),
    );
    labels.insert(
        labels::COMPONENT_LABEL.to_string(),
        SNAPSHOTS_CONTAINER.to_string(),
    );
    pod_template.metadata = Some(ObjectMeta {
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    });
    Some(Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cron_job.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: cron_job.metadata.owner_references.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(600),
            ttl_seconds_after_finished: Some(SNAPSHOTS_TTL_SECONDS),
            template: pod_template,
            ..JobSpec::default()
        }),
        ..Job::default()
    })
}

/// Container of a restore pod.
pub const RESTORE_CONTAINER: &str = "restore";
/// Where a restore pod mounts the claim it writes.
pub const RESTORE_DIR: &str = "/var/lib/wardops/target";

/// The Job that restores the Restore's snapshot of the target into `claim`
/// (the ward's own, stopped, or a new one), owned by the Restore.
pub fn restore_job(
    input: &TargetInput,
    restore: &crate::api::Restore,
    claim: &str,
) -> Result<Job, BuildError> {
    let id = crate::controller::identity(&restore.metadata)?;
    let ward_name = input
        .ward
        .metadata
        .name
        .clone()
        .ok_or(crate::controller::MissingMetadata("metadata.name"))?;
    let owner = restore
        .controller_owner_ref(&())
        .ok_or(crate::controller::MissingMetadata("metadata.uid"))?;
    let labels = labels::common_labels(
        labels::COMPONENT_RESTORE,
        id.name,
        &ward_name,
        &input.ward.spec.ward.code,
        level(input).as_str(),
    );
    let mut args = vec!["restore".to_string()];
    args.extend(repository_args(input, &ward_name));
    args.extend([
        "--snapshot".to_string(),
        restore.spec.snapshot.clone(),
        "--target".to_string(),
        RESTORE_DIR.to_string(),
    ]);
    let mut mounts = repository_mounts(input);
    mounts.push(mount("target", RESTORE_DIR, false));
    let mut volumes = repository_volumes(input);
    volumes.push(claim_volume("target", claim, false));
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(restore_job_name(id.name)),
            namespace: Some(id.namespace.to_string()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![tool_container(input, RESTORE_CONTAINER, args, mounts)],
                    volumes: Some(volumes),
                    ..tool_pod(input)
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    })
}

/// `<restore>-restore`.
pub fn restore_job_name(restore: &str) -> String {
    format!("{restore}-restore")
}

fn claim_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.to_string(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: read_only.then_some(true),
        }),
        ..Volume::default()
    }
}

/// The ward's volume is ReadWriteOnce: the backup pod runs on the node of
/// the ward's pods (while the ward runs; with its pods stopped, anywhere).
fn same_node_as_the_ward(ward: &str) -> Affinity {
    Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(labels::selector_labels(
                        labels::COMPONENT_WARD_SERVICE,
                        ward,
                    )),
                    match_expressions: None,
                }),
                topology_key: "kubernetes.io/hostname".to_string(),
                ..PodAffinityTerm::default()
            }]),
            ..PodAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn secret_volume(name: &str, secret: &str, items: Vec<(&str, &str)>) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            default_mode: Some(SECRET_FILE_MODE),
            items: Some(
                items
                    .into_iter()
                    .map(|(key, path)| KeyToPath {
                        key: key.to_string(),
                        path: path.to_string(),
                        mode: None,
                    })
                    .collect(),
            ),
            optional: None,
        }),
        ..Volume::default()
    }
}

/// The volumes of the repository side: restic's cache, the key, and the S3
/// credentials or the PVC destination.
fn repository_volumes(input: &TargetInput) -> Vec<Volume> {
    let spec = &input.policy.spec;
    let (key_secret, key) = input.key;
    let mut v = vec![
        Volume {
            name: "cache".to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(Quantity(CACHE_SIZE_LIMIT.to_string())),
            }),
            ..Volume::default()
        },
        secret_volume("key", key_secret, vec![(key, KEY_FILE)]),
    ];
    match (&spec.destination.s3, &spec.destination.pvc) {
        (Some(s3), _) => v.push(secret_volume(
            "s3",
            &s3.credentials_secret_ref.name,
            vec![
                (ACCESS_KEY_FILE, ACCESS_KEY_FILE),
                (SECRET_KEY_FILE, SECRET_KEY_FILE),
            ],
        )),
        (None, Some(pvc)) => v.push(claim_volume("repository", &pvc.claim_name, false)),
        (None, None) => {}
    }
    v
}

/// The key Secret wardops generates for a policy without `encryption`:
/// owned by nothing, so deleting the policy never makes its backups
/// unreadable. `key` is random bytes, base64; it is written once and never
/// read back by wardops.
pub fn generated_key_secret(policy: &BackupPolicy, key: String) -> Result<Secret, BuildError> {
    let id = crate::controller::identity(&policy.metadata)?;
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(generated_key_name(id.name)),
            namespace: Some(id.namespace.to_string()),
            labels: Some(BTreeMap::from([
                (
                    labels::MANAGED_BY_LABEL.to_string(),
                    labels::MANAGED_BY.to_string(),
                ),
                (labels::BACKUP_POLICY_LABEL.to_string(), id.name.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                "wardops.io/note".to_string(),
                "The encryption key of the backups of this BackupPolicy. Kept when the policy is \
                 deleted: without it the backups cannot be read. Keep a copy outside the cluster."
                    .to_string(),
            )])),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([(KEY_FILE.to_string(), key)])),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    })
}

/// A new random key: [`GENERATED_KEY_BYTES`] bytes from the kernel, base64.
pub fn random_key() -> std::io::Result<String> {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; GENERATED_KEY_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn policy(extra: serde_json::Value) -> BackupPolicy {
        let mut spec = json!({
            "target": {"wardServiceRef": {"name": "one-stop"}},
            "schedule": "30 1 * * *",
            "retention": {"keepDaily": 7, "keepWeekly": 4},
            "destination": {"s3": {"endpoint": "https://s3.dc.haiphong.gov.vn", "bucket": "wardops",
                "prefix": "backups", "credentialsSecretRef": {"name": "s3"}}},
        });
        if let (Some(s), serde_json::Value::Object(e)) = (spec.as_object_mut(), extra) {
            s.extend(e);
        }
        serde_json::from_value(json!({
            "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "nightly", "namespace": "phuong-hong-bang",
                "uid": "6f1c0d2e-0000-4000-8000-0000000000bb"},
            "spec": spec,
        }))
        .unwrap()
    }

    pub(crate) fn ward(name: &str, classification: &str) -> WardService {
        serde_json::from_value(json!({
            "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
            "metadata": {"name": name, "namespace": "phuong-hong-bang", "uid": "u"},
            "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1",
                "classification": classification, "storage": {"size": "1Gi"}},
        }))
        .unwrap()
    }

    fn pod(cj: &CronJob) -> PodSpec {
        cj.spec
            .clone()
            .unwrap()
            .job_template
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
    }

    #[test]
    fn a_cron_job_per_target_backs_up_then_forgets_with_the_retention() {
        let settings = WorkloadSettings::default();
        let (p, w) = (policy(json!({})), ward("one-stop", "internal"));
        let input = TargetInput {
            policy: &p,
            ward: &w,
            settings: &settings,
            key: ("k", "password"),
        };
        let cj = cron_job(&input).unwrap();
        assert_eq!(cj.metadata.name.as_deref(), Some("nightly-one-stop"));
        let spec = cj.spec.clone().unwrap();
        assert_eq!(spec.schedule, "30 1 * * *");
        assert_eq!(spec.time_zone.as_deref(), Some("Asia/Ho_Chi_Minh"));
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
        assert_eq!(spec.suspend, None);
        let p = pod(&cj);
        let backup = &p.init_containers.as_ref().unwrap()[0];
        let args = backup.args.clone().unwrap();
        assert_eq!(args[0], "backup");
        assert!(args.windows(2).any(|w| w
            == [
                "--repository",
                "s3:https://s3.dc.haiphong.gov.vn/wardops/backups/phuong-hong-bang/one-stop"
            ]));
        let forget = p.containers[0].args.clone().unwrap();
        assert!(forget.windows(2).any(|w| w == ["--keep-daily", "7"]));
        assert!(forget.windows(2).any(|w| w == ["--keep-weekly", "4"]));
        // The ward's data read-only; no value anywhere, only references.
        let source = backup
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "source")
            .unwrap();
        assert_eq!(source.read_only, Some(true));
        assert!(
            p.containers
                .iter()
                .chain(p.init_containers.iter().flatten())
                .all(|c| c.env.iter().flatten().all(|e| e.value_from.is_none()))
        );
        assert_eq!(p.automount_service_account_token, Some(false));
        let term = &p
            .affinity
            .unwrap()
            .pod_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()[0];
        assert_eq!(
            term.label_selector.as_ref().unwrap().match_labels,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
    }

    #[test]
    fn classified_targets_run_on_the_isolated_pool_and_suspend_is_passed_on() {
        let mut settings = WorkloadSettings::default();
        settings.isolated_node_selector.0 =
            BTreeMap::from([("wardops.io/pool".to_string(), "isolated".to_string())]);
        let p = policy(json!({"suspend": true, "classification": "secret",
            "encryption": {"keySecretRef": {"name": "key", "key": "k"}}}));
        let w = ward("records", "confidential");
        let input = TargetInput {
            policy: &p,
            ward: &w,
            settings: &settings,
            key: ("key", "k"),
        };
        let cj = cron_job(&input).unwrap();
        assert_eq!(cj.spec.as_ref().unwrap().suspend, Some(true));
        let pod = pod(&cj);
        assert_eq!(
            pod.node_selector,
            Some(settings.isolated_node_selector.0.clone())
        );
        let labels = cj.metadata.labels.unwrap();
        assert_eq!(labels[labels::CLASSIFICATION_LABEL], "secret");
    }

    #[test]
    fn names_fit_kubernetes_limits() {
        let long_ward = "a".repeat(40);
        let name = cron_job_name(&"p".repeat(30), &long_ward);
        assert!(name.len() <= MAX_CRON_JOB_NAME, "{name}");
        assert_ne!(name, cron_job_name(&"p".repeat(30), &"b".repeat(40)));
        let job = backup_now_job_name(&"p".repeat(30), &long_ward, "now");
        assert!(job.len() <= 63, "{job}");
        assert_ne!(
            job,
            backup_now_job_name(&"p".repeat(30), &long_ward, "later")
        );
    }

    #[test]
    fn the_generated_key_is_owned_by_nothing_and_random() {
        let p = policy(json!({}));
        let a = random_key().unwrap();
        assert_ne!(a, random_key().unwrap());
        assert_eq!(a.len(), 44);
        let s = generated_key_secret(&p, a).unwrap();
        assert!(s.metadata.owner_references.is_none());
        assert_eq!(s.metadata.name.as_deref(), Some("nightly-backup-key"));
    }

    #[test]
    fn a_pvc_destination_is_mounted_and_holds_one_folder_per_target() {
        let settings = WorkloadSettings::default();
        let p = policy(json!({"destination": {"pvc": {"claimName": "backups"}}}));
        let w = ward("one-stop", "internal");
        let input = TargetInput {
            policy: &p,
            ward: &w,
            settings: &settings,
            key: ("k", "password"),
        };
        let pod = pod(&cron_job(&input).unwrap());
        let args = pod.containers[0].args.clone().unwrap();
        assert!(args.windows(2).any(|w| w
            == [
                "--repository",
                "/var/lib/wardops/repository/phuong-hong-bang/one-stop"
            ]));
        assert!(pod.volumes.unwrap().iter().any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == "backups")
        }));
    }
}
