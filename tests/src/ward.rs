//! Helpers of the WardService behaviour tests: a WardService from a spec
//! fragment, create and wait for a Ready reason, Secrets, owned objects.

use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::WardService;

use crate::{TestNamespace, client, operator, wait_for};

/// How long a test waits for the operator.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// A WardService `name` of Phường Hồng Bàng, with the fields of `spec` set.
pub fn ward_service(name: &str, spec: Value) -> WardService {
    let mut base = json!({
        "ward": {"code": "11311", "name": "Phường Hồng Bàng", "tier": "ward"},
        "image": "registry.haiphong.gov.vn/one-stop/backend:2.4.1",
    });
    for (k, v) in spec.as_object().unwrap() {
        base[k] = v.clone();
    }
    WardService::new(name, serde_json::from_value(base).unwrap())
}

/// The shared operator, a client, and a fresh namespace with `labels`.
pub async fn setup(prefix: &str, labels: &[(&str, &str)]) -> Result<(Client, TestNamespace)> {
    operator().await;
    let c = client().await?;
    let ns = TestNamespace::create(&c, prefix, labels).await?;
    Ok((c, ns))
}

/// Creates `ws` in `ns`.
pub async fn create(c: &Client, ns: &str, ws: &WardService) -> Result<WardService> {
    Ok(Api::<WardService>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), ws)
        .await?)
}

/// Merge-patches the spec of WardService `name`.
pub async fn patch_spec(c: &Client, ns: &str, name: &str, spec: Value) -> Result<()> {
    Api::<WardService>::namespaced(c.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await?;
    Ok(())
}

/// The names of the Deployments in `ns`, sorted (two for one WardService
/// show as a name too many).
pub async fn deployment_names(c: &Client, ns: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(c.clone(), ns)
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|d| d.name_any())
            .collect();
    names.sort();
    Ok(names)
}

/// Ready's (status, reason), once the status describes the current generation.
pub fn ready_state(ws: &WardService) -> Option<(String, String)> {
    let st = ws.status.as_ref()?;
    if st.observed_generation != ws.metadata.generation {
        return None;
    }
    st.conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Waits until Ready has `status`/`reason` at the current generation.
pub async fn wait_ready_reason(
    c: &Client,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> Result<WardService> {
    wait_ready_reason_within(c, ns, name, status, reason, TIMEOUT).await
}

/// [`wait_ready_reason`], giving up after `timeout`.
pub async fn wait_ready_reason_within(
    c: &Client,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
    timeout: Duration,
) -> Result<WardService> {
    let api = Api::<WardService>::namespaced(c.clone(), ns);
    wait_for(
        &format!("WardService {ns}/{name} Ready={status} reason {reason}"),
        timeout,
        || {
            let api = api.clone();
            async move {
                let ws = api.get(name).await?;
                match ready_state(&ws) {
                    Some((s, r)) if s == status && r == reason => Ok(Some(ws)),
                    other => Err(anyhow!("now {other:?}")),
                }
            }
        },
    )
    .await
}

/// Creates a WardService from `spec` and waits until it is Ready.
pub async fn create_ready(c: &Client, ns: &str, name: &str, spec: Value) -> Result<WardService> {
    create(c, ns, &ward_service(name, spec)).await?;
    wait_ready(c, ns, name).await
}

/// Waits until WardService `name` is Ready=True, reason Available.
pub async fn wait_ready(c: &Client, ns: &str, name: &str) -> Result<WardService> {
    wait_ready_reason(c, ns, name, "True", "Available").await
}

/// Whether object `name` of kind `K` exists in `ns`.
pub async fn exists<K>(c: &Client, ns: &str, name: &str) -> Result<bool>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Ok(Api::<K>::namespaced(c.clone(), ns)
        .get_opt(name)
        .await?
        .is_some())
}

/// Waits until object `name` of kind `K` is gone from `ns`.
pub async fn wait_gone<K>(c: &Client, ns: &str, name: &str) -> Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    wait_for(&format!("{ns}/{name} to be deleted"), TIMEOUT, || async {
        Ok((!exists::<K>(c, ns, name).await?).then_some(()))
    })
    .await
}

/// The ReplicaSets of Deployment `deployment`.
pub async fn owned_replica_sets(c: &Client, ns: &str, deployment: &str) -> Result<Vec<ReplicaSet>> {
    Ok(Api::<ReplicaSet>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.kind == "Deployment" && o.name == deployment)
        })
        .collect())
}

/// Creates or replaces Secret `name` with `data` (server-side apply).
pub async fn put_secret(c: &Client, ns: &str, name: &str, data: &[(&str, &str)]) -> Result<Secret> {
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    }))?;
    Ok(Api::<Secret>::namespaced(c.clone(), ns)
        .patch(
            name,
            &PatchParams::apply("wardops-tests").force(),
            &Patch::Apply(&s),
        )
        .await?)
}

/// The message of the Ready condition.
pub fn ready_message(ws: &WardService) -> String {
    ws.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}
