//! `Restore`: restoring one snapshot of a BackupPolicy target.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{LocalObjectRef, name_message, name_rule};

/// Longest Restore name: its Job is `<restore>-restore`.
pub const MAX_NAME_LENGTH: usize = 50;

/// Restores a snapshot of a BackupPolicy's target WardService, in place (the
/// ward is stopped through its WardService meanwhile) or into a new claim.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardops.io",
    version = "v1alpha1",
    kind = "Restore",
    namespaced,
    status = "RestoreStatus",
    shortname = "rst",
    category = "wardops",
    doc = "Restores a snapshot of a BackupPolicy's target WardService.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Ward", type_ = "string", json_path = ".spec.wardServiceRef.name"),
    printcolumn(name = "Snapshot", type_ = "string", json_path = ".spec.snapshot"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Restored", type_ = "string", json_path = ".status.snapshotID"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(name_rule(MAX_NAME_LENGTH))
        .message(kube::core::Message::Message(name_message(MAX_NAME_LENGTH, "its Job is <restore>-restore")))
)]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("spec: a Restore cannot be changed once created; create a new Restore"))]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// The BackupPolicy whose repository holds the snapshot (same namespace).
    pub backup_policy_ref: LocalObjectRef,

    /// The WardService whose data is restored: one of the policy's targets.
    pub ward_service_ref: LocalObjectRef,

    /// `latest` (the target's newest snapshot) or a snapshot id.
    #[serde(default = "default_snapshot")]
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^(latest|[0-9a-f]{8,64})$")
    )]
    pub snapshot: String,

    /// Restore into this new claim (same size and class as the ward's) for
    /// inspection, instead of in place. wardops creates it and never deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub target_claim: Option<String>,
}

fn default_snapshot() -> String {
    "latest".to_string()
}

/// Where a Restore is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RestorePhase {
    /// Checking the policy and the ward.
    #[default]
    Pending,
    /// In place: waiting for the ward's pods to stop.
    StoppingWard,
    /// The restore Job runs.
    Restoring,
    /// The snapshot was restored; an in-place ward runs again.
    Succeeded,
    /// It failed; the message says why and what state the ward is in.
    Failed,
}

/// Observed state of a Restore.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (True once restored) and `Progressing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Where the Restore is.
    #[serde(default)]
    pub phase: RestorePhase,
    /// The snapshot restored.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "snapshotID"
    )]
    pub snapshot_id: Option<String>,
    /// Bytes written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_restored: Option<u64>,
    /// The restore Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// When the restore started (the ward stopped, for in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
}
