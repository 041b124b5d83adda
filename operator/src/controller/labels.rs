//! Labels, annotations and names that wardops puts on the objects it makes.
//! They are an API: selectors, network policies and scripts match on them.

use std::collections::BTreeMap;

/// Field manager of every server-side apply wardops sends.
pub const FIELD_MANAGER: &str = "wardops";

/// The recommended label that names the tool managing an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// `app.kubernetes.io/managed-by` value.
pub const MANAGED_BY: &str = "wardops";
/// `app.kubernetes.io/part-of` value.
pub const PART_OF: &str = "wardops";

/// Administrative unit code of the ward a child object serves.
pub const WARD_LABEL: &str = "wardops.io/ward";
/// Name of the WardService a child object (or connector gateway) belongs to.
pub const WARD_SERVICE_LABEL: &str = "wardops.io/ward-service";
/// Classification of the workload, on every child object (the same key as
/// the namespace label that states a namespace's highest classification).
pub use crate::api::common::CLASSIFICATION_LABEL;
/// On connector gateway pods: the WardService they serve. The ward service's
/// NetworkPolicy allows egress to pods with this label and its own name.
pub const CONNECTOR_FOR_LABEL: &str = "wardops.io/connector-for";

/// Display name of the ward (UTF-8, never a label value).
pub const WARD_NAME_ANNOTATION: &str = "wardops.io/ward-name";
/// On pod templates: `secret=resourceVersion` of every referenced Secret, so a
/// rotation rolls the pods once. Never anything derived from a value.
pub const SECRET_VERSIONS_ANNOTATION: &str = "wardops.io/secret-versions";
/// On pod templates: a digest of `spec.config` (plain configuration, not secret),
/// so a configuration change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "wardops.io/config-hash";
/// On a retained PersistentVolumeClaim: the reclaim policy it was made with.
pub const RECLAIM_POLICY_ANNOTATION: &str = "wardops.io/reclaim-policy";
/// On a retained PersistentVolumeClaim: the PersistentVolume whose reclaim
/// policy wardops set to `Retain` (so that it does so once per volume).
pub const RETAINED_VOLUME_ANNOTATION: &str = "wardops.io/retained-volume";

/// `app.kubernetes.io/component` of a ward service's objects.
pub const COMPONENT_WARD_SERVICE: &str = "ward-service";
/// `app.kubernetes.io/component` of a connector gateway's objects.
pub const COMPONENT_CONNECTOR: &str = "connector-gateway";

/// `app.kubernetes.io/component` (and name) of a sync connector's CronJob,
/// Jobs and pods: apart from the gateway's, so neither its Service nor its
/// Deployment ever selects a sync pod.
pub const COMPONENT_CONNECTOR_SYNC: &str = "connector-sync";
/// On a sync connector's gateway and sync pods: the connector whose snapshot
/// volume they mount. Both require affinity to it, so a ReadWriteOnce volume
/// is only ever used on one node.
pub const CONNECTOR_DATA_LABEL: &str = "wardops.io/connector-data";
/// On a DataConnector: a new value starts one sync at once.
pub const SYNC_NOW_ANNOTATION: &str = "wardops.io/sync-now";
/// `app.kubernetes.io/component` (and name) of a BackupPolicy's CronJobs,
/// Jobs and backup pods.
pub const COMPONENT_BACKUP: &str = "backup";
/// `app.kubernetes.io/component` (and name) of a Restore's Job and pod.
pub const COMPONENT_RESTORE: &str = "restore";
/// On a BackupPolicy: a new value starts one backup of every target at once.
pub const BACKUP_NOW_ANNOTATION: &str = "wardops.io/backup-now";
/// On a BackupPolicy, with a new `wardops.io/backup-now` value: back up only
/// this target WardService (`kubectl wardops backup now --target`).
pub const BACKUP_NOW_TARGET_ANNOTATION: &str = "wardops.io/backup-now-target";
/// On a WardService: the Restore that has stopped it (its pods scaled to
/// zero, its autoscaler and disruption budget removed) to restore its data
/// in place. Set and removed by the Restore controller only.
pub const RESTORE_ANNOTATION: &str = "wardops.io/restore";

/// The Restore that has stopped `ward`, if any.
pub fn restoring_by<K: kube::Resource>(ward: &K) -> Option<&str> {
    ward.meta()
        .annotations
        .as_ref()?
        .get(RESTORE_ANNOTATION)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// On the encryption key Secret wardops generates: the BackupPolicy it was
/// made for (the Secret outlives it).
pub const BACKUP_POLICY_LABEL: &str = "wardops.io/backup-policy";

/// The recommended label that names the application (a wardops component).
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The recommended label that names the component.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The recommended label that names the instance: a child's owner's name.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Label selector of the children wardops makes for a resource of `component`:
/// what the child watches select on.
pub fn child_selector(component: &str) -> String {
    format!("{NAME_LABEL}={component},{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// Selector labels: stable for the life of an object (Deployment selectors are immutable).
pub fn selector_labels(component: &str, instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_string(), component.to_string()),
        (INSTANCE_LABEL.to_string(), instance.to_string()),
    ])
}

/// The recommended labels plus the ward labels.
pub fn common_labels(
    component: &str,
    instance: &str,
    ward_service: &str,
    ward_code: &str,
    classification: &str,
) -> BTreeMap<String, String> {
    let mut labels = selector_labels(component, instance);
    labels.extend([
        (COMPONENT_LABEL.to_string(), component.to_string()),
        ("app.kubernetes.io/part-of".to_string(), PART_OF.to_string()),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        (WARD_LABEL.to_string(), ward_code.to_string()),
        (WARD_SERVICE_LABEL.to_string(), ward_service.to_string()),
        (CLASSIFICATION_LABEL.to_string(), classification.to_string()),
    ]);
    labels
}

/// Environment variable that carries a connector's URL to its ward service:
/// `WARDOPS_CONNECTOR_<NAME>_URL`, with `-` as `_`.
pub fn connector_env_name(connector: &str) -> String {
    format!(
        "WARDOPS_CONNECTOR_{}_URL",
        connector.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Port of a connector gateway's Service.
pub const CONNECTOR_PORT: i32 = 8080;

/// Name of a connector gateway's Deployment and Service: `<connector>-connector`.
pub fn connector_gateway_name(connector: &str) -> String {
    format!("{connector}-connector")
}

/// Labels that select the gateway pods of connector `connector` serving
/// WardService `ward_service`: its selector labels plus what only wardops
/// sets together. The gateway's pods carry them all.
pub fn connector_peer_labels(connector: &str, ward_service: &str) -> BTreeMap<String, String> {
    let mut l = selector_labels(COMPONENT_CONNECTOR, connector);
    l.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    l.insert(CONNECTOR_FOR_LABEL.to_string(), ward_service.to_string());
    l
}

/// In-cluster URL of a connector gateway.
pub fn connector_url(connector: &str, namespace: &str) -> String {
    format!(
        "http://{}.{namespace}.svc:{CONNECTOR_PORT}",
        connector_gateway_name(connector)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_env_name_is_an_env_var_name() {
        assert_eq!(connector_env_name("dan-cu"), "WARDOPS_CONNECTOR_DAN_CU_URL");
    }

    #[test]
    fn common_labels_include_recommended_and_ward() {
        let l = common_labels(
            COMPONENT_WARD_SERVICE,
            "one-stop",
            "one-stop",
            "11311",
            "internal",
        );
        assert_eq!(l["app.kubernetes.io/managed-by"], "wardops");
        assert_eq!(l[WARD_LABEL], "11311");
        assert_eq!(l["app.kubernetes.io/instance"], "one-stop");
        assert_eq!(l.len(), 8);
    }
}
