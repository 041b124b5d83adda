//! At start: the wardops CRDs must be installed and Established.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

/// Why the CRDs are not usable.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A CRD is missing.
    #[error(
        "CustomResourceDefinition `{0}` is not installed; install the CRDs with \
         `kubectl apply --server-side -f crds/` (or `wardops crds | kubectl apply --server-side -f -`, or the Helm chart)"
    )]
    Missing(String),
    /// A CRD exists but is not Established yet.
    #[error(
        "CustomResourceDefinition `{0}` is not Established yet; check `kubectl get crd {0} -o yaml` for its conditions"
    )]
    NotEstablished(String),
    /// The API server could not be asked.
    #[error("reading CustomResourceDefinition `{name}`")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Checks every CRD of `crate::api::crds()`.
pub async fn check(client: &Client) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        let live = api.get_opt(&name).await.map_err(|source| CrdError::Api {
            name: name.clone(),
            source,
        })?;
        let Some(live) = live else {
            return Err(CrdError::Missing(name));
        };
        let established = live
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if !established {
            return Err(CrdError::NotEstablished(name));
        }
    }
    Ok(())
}
