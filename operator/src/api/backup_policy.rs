//! `BackupPolicy`: scheduled, retained, encrypted backups of ward data.

use super::common::{NO_DECLASSIFICATION_MESSAGE, no_declassification_rule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CRON_MESSAGE, CRON_RULE, Classification, HTTP_URL_RULE, LocalObjectRef, SecretKeyRef,
    SecretRef, TIME_ZONE_MESSAGE, TIME_ZONE_RULE, classified_cel_list, classified_prose,
    name_message, name_rule,
};

/// Longest BackupPolicy name: its CronJobs are named `<policy>-<ward service>`
/// (shortened with a hash when needed) within CronJob's 52-character limit.
pub const MAX_NAME_LENGTH: usize = 30;

/// Scheduled, retained, encrypted backups of the data of one or more WardServices.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardops.io",
    version = "v1alpha1",
    kind = "BackupPolicy",
    namespaced,
    status = "BackupPolicyStatus",
    shortname = "bp",
    category = "wardops",
    doc = "Scheduled, retained, encrypted backups of the data of ward services.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend", priority = "1"),
    printcolumn(name = "Last Success", type_ = "date", json_path = ".status.lastSuccessfulTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(name_rule(MAX_NAME_LENGTH))
        .message(kube::core::Message::Message(name_message(MAX_NAME_LENGTH, "CronJobs are named <policy>-<ward service>")))

)]
#[x_kube(validation = Rule::new(no_declassification_rule())
    .message(NO_DECLASSIFICATION_MESSAGE)
    .field_path(".classification"))]
#[x_kube(validation = Rule::new(format!("!(self.classification in {}) || has(self.encryption)", classified_cel_list()))
    .message(kube::core::Message::Message(format!("spec.encryption: required when spec.classification is {} (set spec.encryption.keySecretRef)", classified_prose())))
    .field_path(".encryption"))]
#[x_kube(validation = Rule::new(format!("!(self.classification in {}) || !has(self.destination.s3) || self.destination.s3.endpoint.startsWith('https://')", classified_cel_list()))
    .message(kube::core::Message::Message(format!("spec.destination.s3.endpoint: must be an https:// URL when spec.classification is {}", classified_prose())))
    .field_path(".destination.s3.endpoint"))]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicySpec {
    /// Which WardServices to back up: one by name, or all that match a selector.
    pub target: BackupTarget,

    /// When to back up: a cron expression with 5 fields, e.g. `30 1 * * *`.
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new(CRON_RULE).message(CRON_MESSAGE))]
    pub schedule: String,

    /// IANA time zone of `schedule`.
    #[serde(default = "default_time_zone")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new(TIME_ZONE_RULE).message(TIME_ZONE_MESSAGE))]
    pub time_zone: String,

    /// Stops scheduling new backups; running ones finish.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// How many snapshots to keep.
    pub retention: Retention,

    /// Where the snapshots go: exactly one of `s3` or `pvc`.
    pub destination: Destination,

    /// Encryption of the snapshots. Required when `classification` is
    /// `confidential` or `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,

    /// Highest classification of data this policy may hold. A target
    /// WardService above it is refused.
    #[serde(default)]
    pub classification: Classification,

    /// Backup tool image; the operator's default (a restic image) when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
}

fn default_time_zone() -> String {
    "Asia/Ho_Chi_Minh".to_string()
}

/// The WardServices a policy backs up.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.wardServiceRef) != has(self.selector)")
    .message("spec.target: set exactly one of spec.target.wardServiceRef or spec.target.selector"))]
pub struct BackupTarget {
    /// One WardService by name, in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ward_service_ref: Option<LocalObjectRef>,
    /// All WardServices in the namespace whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The fields of [`Retention`], for its rule and message.
pub const RETENTION_FIELDS: [&str; 4] = ["keepLast", "keepDaily", "keepWeekly", "keepMonthly"];

/// How many snapshots to keep (restic's `forget` policy).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
        RETENTION_FIELDS.map(|f| format!("(has(self.{f}) && self.{f} > 0)")).join(" || "))
    .message(kube::core::Message::Message(format!(
        "spec.retention: at least one of {} must be greater than 0", RETENTION_FIELDS.join(", ")))))]
pub struct Retention {
    /// Keep the last N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_last: Option<i32>,
    /// Keep the last snapshot of each of the last N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_daily: Option<i32>,
    /// Keep the last snapshot of each of the last N weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_weekly: Option<i32>,
    /// Keep the last snapshot of each of the last N months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_monthly: Option<i32>,
}

/// Where snapshots are stored.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.s3) != has(self.pvc)")
    .message("spec.destination: set exactly one of spec.destination.s3 or spec.destination.pvc"))]
pub struct Destination {
    /// An S3-compatible object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
    /// A PersistentVolumeClaim in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcDestination>,
}

/// An S3-compatible object store.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// URL of the object store, e.g. `https://s3.dc.haiphong.gov.vn`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE)
        .message("spec.destination.s3.endpoint: must be an http:// or https:// URL"))]
    pub endpoint: String,
    /// Bucket name.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket: String,
    /// Key prefix inside the bucket; each target gets its own folder under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512), regex(pattern = r"^[^/].*$"))]
    pub prefix: Option<String>,
    /// Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub credentials_secret_ref: SecretRef,
}

/// A PersistentVolumeClaim that holds the snapshots.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PvcDestination {
    /// Name of the claim, in the same namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub claim_name: String,
}

/// Snapshot encryption.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// The Secret key holding the repository password.
    pub key_secret_ref: SecretKeyRef,
}

/// Observed state of a BackupPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, with stable CamelCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Most recent time any target's backup was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// Most recent time every target had a successful backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// Most recent failed backup of any target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_time: Option<Time>,
    /// When the schedule next starts the backups (none while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The last value of the `wardops.io/backup-now` annotation acted on: a
    /// new value starts one backup Job per target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_now: Option<String>,
    /// One entry per target WardService.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["wardService"]))]
    pub targets: Vec<BackupTargetStatus>,
}

/// Backup state of one target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupTargetStatus {
    /// Name of the WardService.
    pub ward_service: String,
    /// Name of the CronJob that backs it up.
    pub cron_job: String,
    /// When its last backup was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When its last backup succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// When its last backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_time: Option<Time>,
    /// The snapshot of its last successful backup.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "lastSnapshotID"
    )]
    pub last_snapshot_id: Option<String>,
    /// Bytes of data that backup read (the size of the ward's data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_snapshot_bytes: Option<u64>,
    /// Bytes that backup added to the repository (after deduplication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bytes_added: Option<u64>,
    /// Why this target is not backed up (`NoStorage`,
    /// `ClassificationMismatch`), or why its last backup failed; empty when
    /// all is well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message that goes with `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
