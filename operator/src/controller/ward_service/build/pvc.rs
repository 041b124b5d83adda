//! The PersistentVolumeClaim that holds a ward service's data.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{BuildContext, pvc_name};
use crate::api::ward_service::ReclaimPolicy;
use crate::controller::labels;

/// The PersistentVolumeClaim, only when `spec.storage` is set.
///
/// With `reclaimPolicy: Retain` it has no owner reference, so deleting the
/// WardService never deletes the data; its labels and the
/// `wardops.io/reclaim-policy` annotation let a WardService of the same name
/// find and adopt it again. With `Delete` the WardService owns it.
pub fn pvc(ctx: &BuildContext) -> Option<PersistentVolumeClaim> {
    let storage = ctx.spec.storage.as_ref()?;
    let metadata = match storage.reclaim_policy {
        ReclaimPolicy::Retain => {
            let mut meta = ctx.unowned_metadata(pvc_name(ctx.name));
            meta.annotations.get_or_insert_with(BTreeMap::new).insert(
                labels::RECLAIM_POLICY_ANNOTATION.to_string(),
                "Retain".to_string(),
            );
            meta
        }
        ReclaimPolicy::Delete => ctx.owned_metadata(pvc_name(ctx.name)),
    };
    Some(PersistentVolumeClaim {
        metadata,
        spec: Some(read_write_once(
            &storage.size,
            storage.storage_class_name.clone(),
        )),
        ..PersistentVolumeClaim::default()
    })
}

/// A ReadWriteOnce claim of `size` in `storage_class_name` (the cluster
/// default when `None`).
pub fn read_write_once(
    size: &str,
    storage_class_name: Option<String>,
) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".to_string()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_string(),
                Quantity(size.to_string()),
            )])),
            limits: None,
        }),
        storage_class_name,
        ..PersistentVolumeClaimSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};
    use super::*;

    #[test]
    fn only_with_storage() {
        assert!(build(&ward()).pvc.is_none());
    }

    #[test]
    fn retained_claim_has_no_owner_but_can_be_found() {
        let ws = ward_with(json!({ "storage": { "size": "10Gi" } }));
        let pvc = build(&ws).pvc.unwrap();
        assert_eq!(pvc.metadata.name.as_deref(), Some("one-stop-data"));
        assert_eq!(pvc.metadata.namespace.as_deref(), Some("phuong-hong-bang"));
        assert!(pvc.metadata.owner_references.is_none());
        let annotations = pvc.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[labels::RECLAIM_POLICY_ANNOTATION], "Retain");
        assert_eq!(
            annotations[labels::WARD_NAME_ANNOTATION],
            "Phường Hồng Bàng"
        );
        assert_eq!(
            pvc.metadata.labels,
            Some(labels::common_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop",
                "one-stop",
                "31101",
                "internal"
            ))
        );
    }

    #[test]
    fn deleted_claim_is_owned() {
        let ws = ward_with(json!({ "storage": { "size": "10Gi", "reclaimPolicy": "Delete" } }));
        let pvc = build(&ws).pvc.unwrap();
        let owners = pvc.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "WardService");
        assert_eq!(owners[0].controller, Some(true));
        assert!(
            !pvc.metadata
                .annotations
                .unwrap()
                .contains_key(labels::RECLAIM_POLICY_ANNOTATION)
        );
    }

    #[test]
    fn size_class_and_access_mode() {
        let ws =
            ward_with(json!({ "storage": { "size": "20Gi", "storageClassName": "ceph-rbd" } }));
        let spec = build(&ws).pvc.unwrap().spec.unwrap();
        assert_eq!(spec.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
        assert_eq!(
            spec.resources.unwrap().requests.unwrap()["storage"],
            Quantity("20Gi".to_string())
        );
        assert_eq!(spec.storage_class_name.as_deref(), Some("ceph-rbd"));
        let ws = ward_with(json!({ "storage": { "size": "20Gi" } }));
        assert!(
            build(&ws)
                .pvc
                .unwrap()
                .spec
                .unwrap()
                .storage_class_name
                .is_none()
        );
    }
}
