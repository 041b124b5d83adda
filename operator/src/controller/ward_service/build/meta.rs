//! What every child shares: the resolved WardService identity, labels,
//! annotations and the controller owner reference.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::{BuildError, BuildInput};
use crate::api::ward_service::{ConnectorRef, WardServiceSpec};
use crate::api::{Classification, WardService};
use crate::controller::labels;
use crate::runtime::settings::WorkloadSettings;

/// A WardService with the metadata every child needs already checked, plus
/// what the build functions read. Made once by [`BuildContext::new`].
#[derive(Clone, Debug)]
pub struct BuildContext<'a> {
    /// The WardService the children belong to.
    pub ward: &'a WardService,
    /// Its spec.
    pub spec: &'a WardServiceSpec,
    /// `metadata.name` of the WardService (also the name of most children).
    pub name: &'a str,
    /// `metadata.namespace` of the WardService and of every child.
    pub namespace: &'a str,
    /// Operator settings that shape the children.
    pub settings: &'a WorkloadSettings,
    /// resourceVersion of every referenced Secret, by Secret name.
    pub secret_versions: &'a BTreeMap<String, String>,
    /// DataConnectors wired into the WardService.
    pub connectors: &'a [ConnectorRef],
    owner: OwnerReference,
}

impl<'a> BuildContext<'a> {
    /// Resolves name, namespace and owner reference; fails on a WardService that
    /// was not read from the API server (no namespace or uid).
    pub fn new(input: &BuildInput<'a>) -> Result<Self, BuildError> {
        let ward = input.ward;
        let id = crate::controller::identity(&ward.metadata)?;
        let (name, namespace) = (id.name, id.namespace);
        let owner = ward
            .controller_owner_ref(&())
            .map(|owner| OwnerReference {
                block_owner_deletion: Some(true),
                ..owner
            })
            .ok_or(crate::controller::MissingMetadata("metadata.uid"))?;
        Ok(BuildContext {
            ward,
            spec: &ward.spec,
            name,
            namespace,
            settings: input.settings,
            secret_versions: input.secret_versions,
            connectors: input.connectors,
            owner,
        })
    }

    /// Classification of the WardService.
    pub fn classification(&self) -> Classification {
        self.spec.classification
    }

    /// The recommended labels plus the ward labels, on every child and pod.
    pub fn labels(&self) -> BTreeMap<String, String> {
        labels::common_labels(
            labels::COMPONENT_WARD_SERVICE,
            self.name,
            self.name,
            &self.spec.ward.code,
            self.classification().as_str(),
        )
    }

    /// Labels that select the ward service's pods (stable for the Deployment's life).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        labels::selector_labels(labels::COMPONENT_WARD_SERVICE, self.name)
    }

    /// Annotations on every child: the ward's display name (UTF-8, never a label value).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            labels::WARD_NAME_ANNOTATION.to_string(),
            self.spec.ward.name.clone(),
        )])
    }

    /// The controller owner reference to the WardService (`controller` and
    /// `blockOwnerDeletion` true).
    pub fn owner_reference(&self) -> OwnerReference {
        self.owner.clone()
    }

    /// Metadata of a child that the WardService owns: garbage collection deletes it.
    pub fn owned_metadata(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![self.owner_reference()]),
            ..self.unowned_metadata(name)
        }
    }

    /// Metadata of a child that outlives the WardService (a retained volume claim).
    pub fn unowned_metadata(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.to_string()),
            labels: Some(self.labels()),
            annotations: Some(self.annotations()),
            ..ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{input_for, ward};
    use super::*;

    #[test]
    fn owner_reference_is_controller_and_blocks_deletion() {
        let ws = ward();
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        let ctx = BuildContext::new(&input_for(&ws, &settings, &versions, &[])).unwrap();
        let owner = ctx.owner_reference();
        assert_eq!(owner.api_version, "wardops.io/v1alpha1");
        assert_eq!(owner.kind, "WardService");
        assert_eq!(owner.name, "one-stop");
        assert_eq!(owner.uid, "6f1c0d2e-0000-4000-8000-000000000001");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
    }

    #[test]
    fn missing_metadata_names_the_field() {
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        for (field, clear) in [
            ("metadata.name", 0),
            ("metadata.namespace", 1),
            ("metadata.uid", 2),
        ] {
            let mut ws = ward();
            match clear {
                0 => ws.metadata.name = None,
                1 => ws.metadata.namespace = Some(String::new()),
                _ => ws.metadata.uid = None,
            }
            let err = BuildContext::new(&input_for(&ws, &settings, &versions, &[])).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn metadata_carries_labels_annotation_and_namespace() {
        let ws = ward();
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        let ctx = BuildContext::new(&input_for(&ws, &settings, &versions, &[])).unwrap();
        let meta = ctx.owned_metadata("x".to_string());
        assert_eq!(meta.namespace.as_deref(), Some("phuong-hong-bang"));
        let labels = meta.labels.unwrap();
        assert_eq!(labels[labels::WARD_LABEL], "31101");
        assert_eq!(labels["app.kubernetes.io/component"], "ward-service");
        assert_eq!(labels["app.kubernetes.io/instance"], "one-stop");
        assert_eq!(labels[labels::CLASSIFICATION_LABEL], "internal");
        assert_eq!(
            meta.annotations.unwrap()[labels::WARD_NAME_ANNOTATION],
            "Phường Hồng Bàng"
        );
        assert!(ctx.unowned_metadata("x".into()).owner_references.is_none());
    }
}
