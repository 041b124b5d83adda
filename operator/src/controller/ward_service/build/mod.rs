//! Pure builders of a WardService's children: one file per child, no cluster.
//!
//! [`children`] builds every object the WardService should have right now; an
//! optional child that is `None` must not exist (the reconcile deletes it).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::api::WardService;
use crate::api::ward_service::{ConnectorRef, WardServiceSpec};
use crate::runtime::settings::WorkloadSettings;

pub mod config_map;
pub mod deployment;
pub mod hpa;
pub mod ingress;
pub mod meta;
pub mod network_policy;
pub mod pdb;
pub mod pvc;
pub mod service;
pub mod service_account;

pub use meta::BuildContext;

/// What the build functions read: the WardService and what the reconcile
/// fetched for it.
#[derive(Clone, Copy, Debug)]
pub struct BuildInput<'a> {
    /// The WardService; must have metadata.name, namespace and uid.
    pub ward: &'a WardService,
    /// Operator settings (images, isolated node pool, ingress namespace).
    pub settings: &'a WorkloadSettings,
    /// resourceVersion of every Secret referenced by spec.secretEnv, by Secret name.
    pub secret_versions: &'a BTreeMap<String, String>,
    /// DataConnectors wired into this WardService (name + in-cluster URL); become env vars.
    pub connectors: &'a [ConnectorRef],
}

/// Every child a WardService should have. `None`: the child must not exist.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// The pods' identity, with no token automount.
    pub service_account: ServiceAccount,
    /// `spec.config` as a ConfigMap.
    pub config_map: ConfigMap,
    /// The service's pods.
    pub deployment: Deployment,
    /// In-cluster address of the pods.
    pub service: Service,
    /// Who may reach the pods, and what the pods may reach.
    pub network_policy: NetworkPolicy,
    /// When more than one pod runs.
    pub pdb: Option<PodDisruptionBudget>,
    /// When `spec.autoscaling` is set.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// When `spec.storage` is set.
    pub pvc: Option<PersistentVolumeClaim>,
    /// When `spec.ingress` is set and the service is not classified.
    pub ingress: Option<Ingress>,
}

/// One child in apply order; an optional child that is `None` must not exist.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    /// See [`Children::service_account`].
    ServiceAccount(ServiceAccount),
    /// See [`Children::config_map`].
    ConfigMap(ConfigMap),
    /// See [`Children::pvc`].
    Pvc(Option<PersistentVolumeClaim>),
    /// See [`Children::service`].
    Service(Service),
    /// See [`Children::deployment`] (boxed: by far the largest child).
    Deployment(Box<Deployment>),
    /// See [`Children::network_policy`].
    NetworkPolicy(NetworkPolicy),
    /// See [`Children::pdb`].
    Pdb(Option<PodDisruptionBudget>),
    /// See [`Children::hpa`].
    Hpa(Option<HorizontalPodAutoscaler>),
    /// See [`Children::ingress`].
    Ingress(Option<Ingress>),
}

impl Children {
    /// The one apply order, used by the reconcile and by `wardops render`:
    /// identities and volumes before the pods that use them, the Service
    /// before the Ingress that points at it.
    pub fn in_apply_order(self) -> [Child; 9] {
        [
            Child::ServiceAccount(self.service_account),
            Child::ConfigMap(self.config_map),
            Child::Pvc(self.pvc),
            Child::Service(self.service),
            Child::Deployment(Box::new(self.deployment)),
            Child::NetworkPolicy(self.network_policy),
            Child::Pdb(self.pdb),
            Child::Hpa(self.hpa),
            Child::Ingress(self.ingress),
        ]
    }
}

/// Why children cannot be built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The WardService lacks metadata the children need.
    #[error(transparent)]
    Metadata(#[from] crate::controller::MissingMetadata),
}

/// Builds every child of a WardService.
pub fn children(input: &BuildInput) -> Result<Children, BuildError> {
    let ctx = BuildContext::new(input)?;
    // Stopped by a Restore: no pod, so nothing writes while the data is
    // replaced; no autoscaler to start one, no budget to hold one.
    let stopped = crate::controller::labels::restoring_by(input.ward).is_some();
    let mut deployment = deployment::deployment(&ctx);
    if stopped && let Some(spec) = deployment.spec.as_mut() {
        spec.replicas = Some(0);
    }
    Ok(Children {
        service_account: service_account::service_account(&ctx),
        config_map: config_map::config_map(&ctx),
        deployment,
        service: service::service(&ctx),
        network_policy: network_policy::network_policy(&ctx),
        pdb: (!stopped).then(|| pdb::pdb(&ctx)).flatten(),
        hpa: (!stopped).then(|| hpa::hpa(&ctx)).flatten(),
        pvc: pvc::pvc(&ctx),
        ingress: ingress::ingress(&ctx),
    })
}

/// Name of the ServiceAccount.
pub fn service_account_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the ConfigMap: `<name>-config`.
pub fn config_map_name(ws_name: &str) -> String {
    format!("{ws_name}-config")
}

/// Name of the Deployment.
pub fn deployment_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the Service.
pub fn service_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the NetworkPolicy.
pub fn network_policy_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the PodDisruptionBudget.
pub fn pdb_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the HorizontalPodAutoscaler.
pub fn hpa_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Name of the PersistentVolumeClaim: `<name>-data`.
pub fn pvc_name(ws_name: &str) -> String {
    format!("{ws_name}-data")
}

/// Name of the Ingress.
pub fn ingress_name(ws_name: &str) -> String {
    ws_name.to_string()
}

/// Whether the WardService gets an Ingress: `spec.ingress` is set and the
/// service is not classified (classified services are never exposed).
pub fn has_ingress(spec: &WardServiceSpec) -> bool {
    spec.ingress.is_some() && !spec.classification.is_classified()
}

/// The fewest pods that run: `autoscaling.minReplicas` when autoscaling,
/// else `replicas`.
pub fn min_replicas(spec: &WardServiceSpec) -> i32 {
    spec.autoscaling
        .as_ref()
        .map_or(spec.replicas, |a| a.min_replicas)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::api::WardServiceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// A WardService as read from the API server: internal, one replica, no options.
    pub fn ward() -> WardService {
        let spec: WardServiceSpec = serde_json::from_value(serde_json::json!({
            "ward": { "code": "31101", "name": "Phường Hồng Bàng", "tier": "ward" },
            "image": "registry.city.gov.vn/one-stop/backend:2.4.1",
        }))
        .expect("minimal spec deserialises");
        WardService {
            metadata: ObjectMeta {
                name: Some("one-stop".to_string()),
                namespace: Some("phuong-hong-bang".to_string()),
                uid: Some("6f1c0d2e-0000-4000-8000-000000000001".to_string()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    /// A WardService with `patch` merged into its spec (JSON merge semantics, top level).
    pub fn ward_with(patch: serde_json::Value) -> WardService {
        let mut ws = ward();
        let mut spec = serde_json::to_value(&ws.spec).expect("spec serialises");
        if let (Some(spec), Some(patch)) = (spec.as_object_mut(), patch.as_object()) {
            for (k, v) in patch {
                spec.insert(k.clone(), v.clone());
            }
        }
        ws.spec = serde_json::from_value(spec).expect("patched spec deserialises");
        ws
    }

    pub fn input_for<'a>(
        ward: &'a WardService,
        settings: &'a WorkloadSettings,
        secret_versions: &'a BTreeMap<String, String>,
        connectors: &'a [ConnectorRef],
    ) -> BuildInput<'a> {
        BuildInput {
            ward,
            settings,
            secret_versions,
            connectors,
        }
    }

    /// Builds with default settings, no secrets and no connectors.
    pub fn build(ward: &WardService) -> Children {
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        children(&input_for(ward, &settings, &versions, &[])).expect("children build")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::controller::labels;
    use serde_json::json;

    fn owned_by_ward(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
        meta.owner_references.as_ref().is_some_and(|refs| {
            refs.len() == 1
                && refs[0].kind == "WardService"
                && refs[0].name == "one-stop"
                && refs[0].controller == Some(true)
        })
    }

    #[test]
    fn names_follow_conventions() {
        assert_eq!(config_map_name("one-stop"), "one-stop-config");
        assert_eq!(pvc_name("one-stop"), "one-stop-data");
        for f in [
            service_account_name,
            deployment_name,
            service_name,
            network_policy_name,
            pdb_name,
            hpa_name,
            ingress_name,
        ] {
            assert_eq!(f("one-stop"), "one-stop");
        }
    }

    #[test]
    fn minimal_ward_service_gets_the_mandatory_children_only() {
        let c = build(&ward());
        assert!(c.pdb.is_none());
        assert!(c.hpa.is_none());
        assert!(c.pvc.is_none());
        assert!(c.ingress.is_none());
        assert_eq!(c.service_account.metadata.name.as_deref(), Some("one-stop"));
        assert_eq!(
            c.config_map.metadata.name.as_deref(),
            Some("one-stop-config")
        );
    }

    #[test]
    fn every_child_is_owned_labelled_annotated_and_namespaced() {
        let ws = ward_with(json!({
            "replicas": 3,
            "autoscaling": { "minReplicas": 2, "maxReplicas": 5 },
            "storage": { "size": "1Gi", "reclaimPolicy": "Delete" },
            "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" },
        }));
        let c = build(&ws);
        let metas = [
            &c.service_account.metadata,
            &c.config_map.metadata,
            &c.deployment.metadata,
            &c.service.metadata,
            &c.network_policy.metadata,
            &c.pdb.as_ref().unwrap().metadata,
            &c.hpa.as_ref().unwrap().metadata,
            &c.pvc.as_ref().unwrap().metadata,
            &c.ingress.as_ref().unwrap().metadata,
        ];
        for meta in metas {
            assert!(owned_by_ward(meta), "{:?}", meta.name);
            assert_eq!(meta.namespace.as_deref(), Some("phuong-hong-bang"));
            let l = meta.labels.as_ref().unwrap();
            assert_eq!(l[labels::WARD_LABEL], "31101");
            assert_eq!(l["app.kubernetes.io/managed-by"], "wardops");
            assert_eq!(
                meta.annotations.as_ref().unwrap()[labels::WARD_NAME_ANNOTATION],
                "Phường Hồng Bàng"
            );
        }
    }

    #[test]
    fn serialised_children_have_api_version_and_kind() {
        let ws = ward_with(json!({
            "autoscaling": { "minReplicas": 2, "maxReplicas": 5 },
            "storage": { "size": "1Gi" },
            "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" },
        }));
        let c = build(&ws);
        let values = [
            serde_json::to_value(&c.service_account),
            serde_json::to_value(&c.config_map),
            serde_json::to_value(&c.deployment),
            serde_json::to_value(&c.service),
            serde_json::to_value(&c.network_policy),
            serde_json::to_value(c.pdb.as_ref().unwrap()),
            serde_json::to_value(c.hpa.as_ref().unwrap()),
            serde_json::to_value(c.pvc.as_ref().unwrap()),
            serde_json::to_value(c.ingress.as_ref().unwrap()),
        ];
        let kinds: Vec<(String, String)> = values
            .into_iter()
            .map(|v| {
                let v = v.unwrap();
                (
                    v["apiVersion"].as_str().unwrap().to_string(),
                    v["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected = [
            ("v1", "ServiceAccount"),
            ("v1", "ConfigMap"),
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("policy/v1", "PodDisruptionBudget"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("v1", "PersistentVolumeClaim"),
            ("networking.k8s.io/v1", "Ingress"),
        ];
        for ((av, k), (eav, ek)) in kinds.iter().zip(expected) {
            assert_eq!((av.as_str(), k.as_str()), (eav, ek));
        }
    }

    #[test]
    fn build_fails_without_uid() {
        let mut ws = ward();
        ws.metadata.uid = None;
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        let err = children(&input_for(&ws, &settings, &versions, &[])).unwrap_err();
        assert_eq!(
            err,
            BuildError::Metadata(crate::controller::MissingMetadata("metadata.uid"))
        );
    }

    #[test]
    fn min_replicas_prefers_autoscaling() {
        assert_eq!(min_replicas(&ward_with(json!({ "replicas": 3 })).spec), 3);
        let ws = ward_with(json!({
            "replicas": 3,
            "autoscaling": { "minReplicas": 1, "maxReplicas": 4 },
        }));
        assert_eq!(min_replicas(&ws.spec), 1);
    }

    #[test]
    fn classified_services_have_no_ingress() {
        let ws = ward_with(json!({
            "classification": "secret",
            "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" },
        }));
        assert!(!has_ingress(&ws.spec));
        assert!(build(&ws).ingress.is_none());
    }
}
