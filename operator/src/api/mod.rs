//! The wardops API: group `wardops.io`, version `v1alpha1`.

pub mod backup_policy;
pub mod common;
pub mod data_connector;
pub mod ward_service;

pub use backup_policy::{BackupPolicy, BackupPolicySpec, BackupPolicyStatus};
pub use common::{Classification, LocalObjectRef, SecretKeyRef, SecretRef};
pub use data_connector::{DataConnector, DataConnectorSpec, DataConnectorStatus};
pub use ward_service::{WardService, WardServiceSpec, WardServiceStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD of the API, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        WardService::crd(),
        DataConnector::crd(),
        BackupPolicy::crd(),
    ]
}

/// All CRDs as multi-document YAML, as `wardops crds` prints and `crds/` holds.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
