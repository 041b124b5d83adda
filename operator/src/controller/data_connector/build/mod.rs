//! Pure builders of a DataConnector's children: one file per child, no cluster.
//!
//! The gateway is `wardops gateway` behind a Service `<name>-connector`; its
//! configuration (never a credential) is a ConfigMap, its credentials are the
//! referenced Secrets mounted into the gateway's pod only.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::api::data_connector::{ConnectorMode, DataConnectorSpec};
use crate::api::{Classification, DataConnector};
use crate::controller::labels;
use crate::runtime::settings::WorkloadSettings;

pub mod config_map;
pub mod deployment;
pub mod network_policy;
pub mod service;
pub mod service_account;
pub mod sync;

/// What the build functions read: the connector and what the reconcile
/// fetched for it.
#[derive(Clone, Copy, Debug)]
pub struct BuildInput<'a> {
    /// The DataConnector; must have metadata.name, namespace and uid.
    pub connector: &'a DataConnector,
    /// Administrative unit code of its WardService's ward.
    pub ward_code: &'a str,
    /// Classification of its WardService (who may call the gateway).
    pub ward_classification: Classification,
    /// Operator settings (connector image, isolated node pool, DNS).
    pub settings: &'a WorkloadSettings,
    /// resourceVersion of every referenced Secret, by Secret name.
    pub secret_versions: &'a BTreeMap<String, String>,
}

/// A DataConnector with its identity checked, plus what the builders read.
#[derive(Clone, Debug)]
pub struct BuildContext<'a> {
    /// Its spec.
    pub spec: &'a DataConnectorSpec,
    /// `metadata.name` of the DataConnector.
    pub name: &'a str,
    /// `metadata.namespace` of the DataConnector and of every child.
    pub namespace: &'a str,
    /// See [`BuildInput::ward_code`].
    pub ward_code: &'a str,
    /// See [`BuildInput::ward_classification`].
    pub ward_classification: Classification,
    /// See [`BuildInput::settings`].
    pub settings: &'a WorkloadSettings,
    /// See [`BuildInput::secret_versions`].
    pub secret_versions: &'a BTreeMap<String, String>,
    owner: OwnerReference,
}

impl<'a> BuildContext<'a> {
    /// Resolves name, namespace and owner reference.
    pub fn new(input: &BuildInput<'a>) -> Result<Self, BuildError> {
        let dc = input.connector;
        let id = crate::controller::identity(&dc.metadata)?;
        // No blockOwnerDeletion: nothing waits on a connector's children, and
        // setting it would need update on dataconnectors/finalizers.
        let owner = dc
            .controller_owner_ref(&())
            .ok_or(crate::controller::MissingMetadata("metadata.uid"))?;
        Ok(BuildContext {
            spec: &dc.spec,
            name: id.name,
            namespace: id.namespace,
            ward_code: input.ward_code,
            ward_classification: input.ward_classification,
            settings: input.settings,
            secret_versions: input.secret_versions,
            owner,
        })
    }

    /// The connector's classification: its own, else its WardService's.
    pub fn classification(&self) -> Classification {
        effective_classification(self.spec, self.ward_classification)
    }

    /// The recommended labels plus the ward labels, on every child.
    pub fn labels(&self) -> BTreeMap<String, String> {
        labels::common_labels(
            labels::COMPONENT_CONNECTOR,
            self.name,
            &self.spec.ward_service_ref.name,
            self.ward_code,
            self.classification().as_str(),
        )
    }

    /// Labels of the gateway's pods: [`Self::labels`] plus the peer labels
    /// the WardService's NetworkPolicy selects.
    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels();
        l.extend(labels::connector_peer_labels(
            self.name,
            &self.spec.ward_service_ref.name,
        ));
        l
    }

    /// Labels that select the gateway's pods (stable for the Deployment's life).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        labels::selector_labels(labels::COMPONENT_CONNECTOR, self.name)
    }

    /// Labels of a sync connector's CronJob, Jobs and sync pods: the
    /// gateway's, under the `connector-sync` name and component, so no
    /// gateway selector matches them.
    pub fn sync_labels(&self) -> BTreeMap<String, String> {
        labels::common_labels(
            labels::COMPONENT_CONNECTOR_SYNC,
            self.name,
            &self.spec.ward_service_ref.name,
            self.ward_code,
            self.classification().as_str(),
        )
    }

    /// Labels that select the sync pods.
    pub fn sync_selector_labels(&self) -> BTreeMap<String, String> {
        labels::selector_labels(labels::COMPONENT_CONNECTOR_SYNC, self.name)
    }

    /// Metadata of a child the DataConnector owns: garbage collection deletes it.
    pub fn owned_metadata(&self, name: String) -> ObjectMeta {
        self.owned_metadata_labelled(name, self.labels())
    }

    /// [`Self::owned_metadata`] with the sync labels.
    pub fn owned_sync_metadata(&self, name: String) -> ObjectMeta {
        self.owned_metadata_labelled(name, self.sync_labels())
    }

    fn owned_metadata_labelled(
        &self,
        name: String,
        labels: BTreeMap<String, String>,
    ) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// A connector's classification: `spec.classification`, else its WardService's.
pub fn effective_classification(spec: &DataConnectorSpec, ward: Classification) -> Classification {
    spec.classification.unwrap_or(ward)
}

/// Every child of a DataConnector.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// Sync mode only: the snapshot volume, the schedule and its policy.
    pub sync: Option<SyncChildren>,
    /// The gateway's identity, with no token automount.
    pub service_account: ServiceAccount,
    /// The gateway's configuration (never a credential).
    pub config_map: ConfigMap,
    /// The gateway's pod.
    pub deployment: Deployment,
    /// `<name>-connector`: the URL the ward calls.
    pub service: Service,
    /// Who may call the gateway, and what it may reach.
    pub network_policy: NetworkPolicy,
}

/// The children only a sync connector has.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncChildren {
    /// `<name>-connector-data`: the snapshots the gateway serves.
    pub pvc: PersistentVolumeClaim,
    /// `<name>-sync`: `wardops gateway sync` on `spec.schedule`.
    pub cron_job: CronJob,
    /// `<name>-sync`: the sync pods reach the source and DNS, nothing calls them.
    pub network_policy: NetworkPolicy,
}

/// One child in apply order.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    /// See [`Children::service_account`].
    ServiceAccount(ServiceAccount),
    /// See [`Children::config_map`].
    ConfigMap(ConfigMap),
    /// See [`Children::service`] (boxed: far larger than the smallest child).
    Service(Box<Service>),
    /// See [`Children::deployment`] (boxed: by far the largest child).
    Deployment(Box<Deployment>),
    /// See [`Children::network_policy`] and [`SyncChildren::network_policy`].
    NetworkPolicy(NetworkPolicy),
    /// See [`SyncChildren::pvc`] (boxed: large).
    Pvc(Box<PersistentVolumeClaim>),
    /// See [`SyncChildren::cron_job`] (boxed: large).
    CronJob(Box<CronJob>),
}

impl Children {
    /// The one apply order, used by the reconcile and by `wardops render`: the
    /// identity and configuration before the pod that uses them, and the
    /// NetworkPolicy with the pod (a new pod is isolated as soon as it runs);
    /// in sync mode the volume before the gateway that mounts it, and the
    /// CronJob last.
    pub fn in_apply_order(self) -> Vec<Child> {
        let mut out = vec![
            Child::ServiceAccount(self.service_account),
            Child::ConfigMap(self.config_map),
            Child::Service(Box::new(self.service)),
            Child::NetworkPolicy(self.network_policy),
        ];
        let sync = self.sync.map(|s| {
            out.push(Child::Pvc(Box::new(s.pvc)));
            out.push(Child::NetworkPolicy(s.network_policy));
            Child::CronJob(Box::new(s.cron_job))
        });
        out.push(Child::Deployment(Box::new(self.deployment)));
        out.extend(sync);
        out
    }
}

/// Why children cannot be built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The DataConnector lacks metadata the children need.
    #[error(transparent)]
    Metadata(#[from] crate::controller::MissingMetadata),
    /// The gateway configuration built from the spec is not valid.
    #[error("the gateway configuration is not valid: {0}")]
    Config(String),
}

/// Builds every child of a DataConnector.
pub fn children(input: &BuildInput) -> Result<Children, BuildError> {
    let ctx = BuildContext::new(input)?;
    let config = config_map::gateway_config(&ctx);
    config
        .validate()
        .map_err(|e| BuildError::Config(e.to_string()))?;
    let sync = (ctx.spec.mode == ConnectorMode::Sync).then(|| SyncChildren {
        pvc: sync::pvc(&ctx),
        cron_job: sync::cron_job(&ctx, &config),
        network_policy: network_policy::sync_network_policy(&ctx),
    });
    Ok(Children {
        sync,
        service_account: service_account::service_account(&ctx),
        config_map: config_map::config_map(&ctx, &config),
        deployment: deployment::deployment(&ctx, &config),
        service: service::service(&ctx),
        network_policy: network_policy::network_policy(&ctx),
    })
}

/// The Job a `wardops.io/sync-now` value starts (see [`sync::sync_now_job`]).
pub fn sync_now_job(input: &BuildInput, value: &str) -> Result<Job, BuildError> {
    let ctx = BuildContext::new(input)?;
    let config = config_map::gateway_config(&ctx);
    Ok(sync::sync_now_job(&ctx, &config, value))
}

/// Name of the gateway's Deployment, Service, ServiceAccount and
/// NetworkPolicy: `<name>-connector`.
pub fn gateway_name(connector: &str) -> String {
    labels::connector_gateway_name(connector)
}

/// Name of a sync connector's snapshot volume: `<name>-connector-data`.
pub fn data_claim_name(connector: &str) -> String {
    format!("{}-data", labels::connector_gateway_name(connector))
}

/// Name of a sync connector's CronJob and its NetworkPolicy: `<name>-sync`
/// (a CronJob name has at most 52 characters; 40 + 5).
pub fn sync_name(connector: &str) -> String {
    format!("{connector}-sync")
}

/// Name of the gateway's ConfigMap: `<name>-connector-config`.
pub fn config_map_name(connector: &str) -> String {
    format!("{}-config", labels::connector_gateway_name(connector))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// A proxy DataConnector as read from the API server, with `spec` merged in.
    pub fn connector_with(extra: serde_json::Value) -> DataConnector {
        let mut spec = serde_json::json!({
            "wardServiceRef": {"name": "one-stop"},
            "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn/api"},
            "credentialsSecretRef": {"name": "dan-cu"},
            "datasets": ["cong-dan", "ho-khau"],
            "auth": {"type": "apiKey"},
        });
        if let (Some(s), serde_json::Value::Object(e)) = (spec.as_object_mut(), extra) {
            s.extend(e);
        }
        DataConnector {
            metadata: ObjectMeta {
                name: Some("dan-cu".to_string()),
                namespace: Some("phuong-hong-bang".to_string()),
                uid: Some("6f1c0d2e-0000-4000-8000-0000000000dc".to_string()),
                ..ObjectMeta::default()
            },
            spec: serde_json::from_value(spec).expect("spec deserialises"),
            status: None,
        }
    }

    /// [`connector_with`] nothing.
    pub fn connector() -> DataConnector {
        connector_with(serde_json::json!({}))
    }

    /// Children of `dc` for an internal ward 31101, default settings and
    /// credentials Secret version 7.
    pub fn build(dc: &DataConnector) -> Children {
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::from([("dan-cu".to_string(), "7".to_string())]);
        children(&BuildInput {
            connector: dc,
            ward_code: "31101",
            ward_classification: Classification::Internal,
            settings: &settings,
            secret_versions: &versions,
        })
        .expect("children build")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn every_child_is_owned_labelled_and_named_after_the_gateway() {
        let c = build(&connector());
        let metas = [
            &c.service_account.metadata,
            &c.config_map.metadata,
            &c.deployment.metadata,
            &c.service.metadata,
            &c.network_policy.metadata,
        ];
        for m in metas {
            let owner = &m.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.kind, "DataConnector");
            assert_eq!(owner.controller, Some(true));
            let l = m.labels.as_ref().unwrap();
            assert_eq!(l["app.kubernetes.io/component"], "connector-gateway");
            assert_eq!(l[labels::WARD_LABEL], "31101");
            assert_eq!(l[labels::WARD_SERVICE_LABEL], "one-stop");
            assert_eq!(l[labels::CLASSIFICATION_LABEL], "internal");
            assert_eq!(m.namespace.as_deref(), Some("phuong-hong-bang"));
        }
        assert_eq!(
            c.deployment.metadata.name.as_deref(),
            Some("dan-cu-connector")
        );
        assert_eq!(
            c.config_map.metadata.name.as_deref(),
            Some("dan-cu-connector-config")
        );
    }

    #[test]
    fn classification_defaults_to_the_wards() {
        let c = build(&connector_with(
            serde_json::json!({"classification": "secret"}),
        ));
        let l = c.deployment.metadata.labels.unwrap();
        assert_eq!(l[labels::CLASSIFICATION_LABEL], "secret");
    }

    #[test]
    fn build_fails_without_uid() {
        let mut dc = connector();
        dc.metadata.uid = None;
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        let err = children(&BuildInput {
            connector: &dc,
            ward_code: "31101",
            ward_classification: Classification::Internal,
            settings: &settings,
            secret_versions: &versions,
        })
        .unwrap_err();
        assert_eq!(
            err,
            BuildError::Metadata(crate::controller::MissingMetadata("metadata.uid"))
        );
    }
}
