//! At start: the wardops CRDs must be installed and Established.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use kube::Client;

/// Why the CRDs are not usable.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A kind's resource is not served: its CRD is missing, or not
    /// Established yet.
    #[error(
        "CustomResourceDefinition `{0}` is not served: it is not installed (install the CRDs with \
         `kubectl apply --server-side -f crds/`, or `wardops crds | kubectl apply --server-side -f -`, or the Helm chart) \
         or not Established yet (check `kubectl get crd {0} -o yaml` for its conditions)"
    )]
    NotServed(String),
    /// The API server could not be asked.
    #[error("checking CustomResourceDefinition `{name}`")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Checks that every kind of `crate::api::kinds()` is served, from the API
/// server's discovery of its group and version (open to every authenticated
/// user: no RBAC rule): the API server serves a CRD's resource once the CRD
/// is Established. No CRD is read, nor built: their schemas are code and
/// text the operator would otherwise keep resident for nothing.
pub async fn check(client: &Client) -> Result<(), CrdError> {
    let mut served: HashMap<String, Vec<String>> = HashMap::new();
    for kind in crate::api::kinds() {
        let api_version = (kind.api_version)(&()).into_owned();
        let plurals = match served.entry(api_version) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let plurals = match client.list_api_group_resources(e.key()).await {
                    Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
                    Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
                    Err(source) => {
                        return Err(CrdError::Api {
                            name: (kind.crd_name)().to_string(),
                            source,
                        });
                    }
                };
                e.insert(plurals)
            }
        };
        if !plurals.iter().any(|p| *p == (kind.plural)(&())) {
            return Err(CrdError::NotServed((kind.crd_name)().to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::serve_by_path;
    use serde_json::json;
    use std::time::Duration;

    /// A fake API server whose discovery of the wardops group serves
    /// `served` (plurals); returns what `check` says and the paths it asked
    /// for.
    async fn check_against(served: &[&str]) -> (Result<(), CrdError>, Vec<String>) {
        let kinds = crate::api::kinds();
        let group_version = (kinds[0].api_version)(&()).into_owned();
        let discovery = format!("/apis/{group_version}");
        let resources: Vec<_> = served
            .iter()
            .map(|p| json!({"name": p, "namespaced": true, "kind": "K", "singularName": "", "verbs": ["get"]}))
            .collect();
        let list = json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}).to_string();
        // An API server that serves no resource of a group answers 404 for it.
        let group_served = !served.is_empty();
        let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}).to_string();
        let (url, seen) = serve_by_path(
            move |path| {
                if path == discovery && group_served {
                    (200, list.clone())
                } else {
                    (404, not_found.clone())
                }
            },
            Duration::ZERO,
        )
        .await;
        let client =
            crate::runtime::client::from_config(kube::Config::new(url.parse().unwrap())).unwrap();
        let result = check(&client).await;
        let paths = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        (result, paths)
    }

    fn plurals() -> Vec<String> {
        crate::api::kinds()
            .iter()
            .map(|k| (k.plural)(&()).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn served_kinds_need_one_request_and_no_crd() {
        let plurals = plurals();
        let served: Vec<&str> = plurals.iter().map(String::as_str).collect();
        let (result, paths) = check_against(&served).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(paths.len(), 1, "one discovery request: {paths:?}");
    }

    #[tokio::test]
    async fn a_group_not_served_names_its_first_kind() {
        let (result, _) = check_against(&[]).await;
        let first = (crate::api::kinds()[0].crd_name)();
        assert!(
            matches!(&result, Err(CrdError::NotServed(n)) if n == first),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_kind_not_served_is_named_with_both_remedies() {
        let kinds = crate::api::kinds();
        let plurals = plurals();
        // Every kind served but the last.
        let served: Vec<&str> = plurals[..plurals.len() - 1]
            .iter()
            .map(String::as_str)
            .collect();
        let last = (kinds[kinds.len() - 1].crd_name)();
        let (result, paths) = check_against(&served).await;
        assert!(
            matches!(&result, Err(CrdError::NotServed(n)) if n == last),
            "{result:?}"
        );
        assert_eq!(paths.len(), 1, "discovery only: {paths:?}");
        let message = result.unwrap_err().to_string();
        for remedy in ["kubectl apply --server-side -f crds/", "kubectl get crd"] {
            assert!(message.contains(remedy), "{message}");
        }
    }
}
