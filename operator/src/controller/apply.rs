//! Server-side apply that costs nothing when nothing changed.
//!
//! Every applied object carries an annotation with a digest of what wardops
//! applied. A child is re-applied only when that digest differs (the spec
//! changed, so fields wardops no longer sets are released) or when the live
//! object no longer holds what wardops applied (edited by hand). An unchanged
//! cluster therefore sees reads at most, never writes.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::labels::{FIELD_MANAGER, MANAGED_BY, WARD_SERVICE_LABEL};

/// Annotation holding the digest of the last applied configuration.
pub const APPLIED_DIGEST_ANNOTATION: &str = "wardops.io/applied-digest";

/// What `apply` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The live object already held the desired state; no request was written.
    Unchanged,
    /// The object was created or updated.
    Applied,
}

/// 64-bit FNV-1a, hex: a stable digest for change detection (not for secrets;
/// nothing hashed here is secret).
pub fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// True when every field set in `desired` has the same value in `live`.
/// Empty maps and lists in `desired` match missing ones in `live`.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Null, _) => true,
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            None => is_empty(dv),
        }),
        (Value::Object(d), Value::Null) => d.values().all(is_empty),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (d, l) => d == l,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Stamps `obj` with the digest of its own content.
fn stamp<K: Resource + Serialize>(obj: &mut K) -> Result<String, serde_json::Error> {
    obj.annotations_mut().remove(APPLIED_DIGEST_ANNOTATION);
    let d = digest(&serde_json::to_vec(obj)?);
    obj.annotations_mut()
        .insert(APPLIED_DIGEST_ANNOTATION.to_string(), d.clone());
    Ok(d)
}

/// The resource whose children are applied.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    /// Its uid: children carry it in their controller owner reference.
    pub uid: &'a str,
    /// Its name: children carry it in the `wardops.io/ward-service` label.
    pub name: &'a str,
}

/// Whether wardops may apply over an existing object on behalf of `owner`:
/// the object is controlled by `owner`, or it has no controller and wardops
/// made it for a resource of the same name (a retained PersistentVolumeClaim).
/// Anything else belongs to someone else and is never taken over.
pub fn may_manage(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    owner: Owner,
) -> bool {
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    match refs.iter().find(|r| r.controller == Some(true)) {
        Some(controller) => controller.uid == owner.uid,
        None => {
            let labels = meta.labels.as_ref();
            let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
            label("app.kubernetes.io/managed-by") == Some(MANAGED_BY)
                && label(WARD_SERVICE_LABEL) == Some(owner.name)
        }
    }
}

/// Error of one apply or delete, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused the request.
    #[error("{kind} {name}")]
    Api {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// An object of that name exists and belongs to someone else.
    #[error(
        "{kind} `{name}` already exists and is not managed by this resource; wardops does not take over \
         objects it did not create: rename the resource or remove that {kind}"
    )]
    NotOwned { kind: String, name: String },
    /// A child the apply order always holds was not built (a bug).
    #[error("no {kind} was built")]
    Missing { kind: String },
    /// The object could not be serialised (a bug).
    #[error("{kind} {name}: cannot serialise")]
    Serialise {
        kind: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ApplyError {
    /// The API server's message, without the client's wrapping.
    pub fn api_message(&self) -> String {
        match self {
            ApplyError::Api {
                kind,
                name,
                source: kube::Error::Api(status),
            } => format!("{kind} {name}: {}", status.message),
            other => other.to_string(),
        }
    }

    /// True when retrying might help (not a refusal of the object itself).
    pub fn is_transient(&self) -> bool {
        match self {
            ApplyError::Api {
                source: kube::Error::Api(s),
                ..
            } => s.code == 409 || s.code == 429 || s.code >= 500,
            ApplyError::Api { .. } => true,
            ApplyError::Serialise { .. }
            | ApplyError::NotOwned { .. }
            | ApplyError::Missing { .. } => false,
        }
    }
}

/// Applies `obj` in `namespace` with the `wardops` field manager, unless the live
/// object already holds it. `cached` is the object from the watch cache; only
/// when the cache has none (a new child, or one wardops does not own) is the
/// API server asked. Returns the live object.
pub async fn apply<K>(
    client: &Client,
    namespace: &str,
    owner: Owner<'_>,
    mut obj: K,
    cached: Option<Arc<K>>,
) -> Result<(Arc<K>, Outcome), ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let name = obj.name_any();
    let ser = |source| ApplyError::Serialise {
        kind: kind.clone(),
        name: name.clone(),
        source,
    };
    let api_err = |source| ApplyError::Api {
        kind: kind.clone(),
        name: name.clone(),
        source,
    };
    let want_digest = stamp(&mut obj).map_err(ser)?;
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let live = match cached {
        Some(live) => Some(live),
        None => match create_only(&api, &name, &params, &obj).await {
            Ok(Some(created)) => return Ok((Arc::new(created), Outcome::Applied)),
            Ok(None) => api.get_opt(&name).await.map_err(api_err)?.map(Arc::new),
            Err(e) => return Err(api_err(e)),
        },
    };
    if let Some(live) = live {
        if !may_manage(live.meta(), owner) {
            return Err(ApplyError::NotOwned { kind, name });
        }
        let same_digest = live.annotations().get(APPLIED_DIGEST_ANNOTATION) == Some(&want_digest);
        let desired = serde_json::to_value(&obj).map_err(ser)?;
        let live_value = serde_json::to_value(live.as_ref()).map_err(ser)?;
        if same_digest && is_subset(&desired, &live_value) {
            return Ok((live, Outcome::Unchanged));
        }
    }
    let live = api
        .patch(&name, &params, &Patch::Apply(&obj))
        .await
        .map_err(api_err)?;
    Ok((Arc::new(live), Outcome::Applied))
}

/// A resource version no stored object can hold (etcd revisions count up from 1
/// and would take centuries to reach it).
const NEVER_STORED_RESOURCE_VERSION: &str = "18446744073709551615";

/// Creates `obj` by server-side apply only if no object of its name exists:
/// an apply carrying a resource version is refused with 409 when an object
/// exists (its version differs) and creates the object when none does. One
/// request for a new child, instead of a read to prove the name free and then
/// the apply; `None` when the name is taken, and the caller must read it to
/// find out whose it is.
async fn create_only<K>(
    api: &Api<K>,
    name: &str,
    params: &PatchParams,
    obj: &K,
) -> Result<Option<K>, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let mut guarded = obj.clone();
    guarded.meta_mut().resource_version = Some(NEVER_STORED_RESOURCE_VERSION.to_string());
    match api.patch(name, params, &Patch::Apply(&guarded)).await {
        Ok(created) => Ok(Some(created)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies `obj` against its live copy in the watch cache `store`.
pub async fn apply_cached<K>(
    client: &Client,
    namespace: &str,
    owner: Owner<'_>,
    store: &kube::runtime::reflector::Store<K>,
    obj: K,
) -> Result<Arc<K>, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    let cached = super::cache::get(store, namespace, &obj.name_any());
    apply(client, namespace, owner, obj, cached)
        .await
        .map(|(live, _)| live)
}

/// Writes `status` into `obj`'s status subresource by server-side apply,
/// with the `wardops` field manager (the one writer of wardops' status).
pub async fn patch_status<K>(
    client: &Client,
    obj: &K,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// Deletes `cached`, the watch cache's copy of a child, if it is controlled by
/// `owner_uid`. Nothing in the cache: nothing to delete, and no request.
/// Returns whether a delete was sent.
pub async fn delete_owned<K>(
    client: &Client,
    namespace: &str,
    cached: Option<Arc<K>>,
    owner_uid: &str,
) -> Result<bool, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let Some(live) = cached else {
        return Ok(false);
    };
    // Already on its way out (finalizers, such as a claim's protection while a
    // pod still uses it): asking again changes nothing.
    if live.meta().deletion_timestamp.is_some() {
        return Ok(false);
    }
    let name = live.name_any();
    let api_err = |source| ApplyError::Api {
        kind: kind.clone(),
        name: name.clone(),
        source,
    };
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let owned = live
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == owner_uid);
    if !owned {
        return Ok(false);
    }
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(api_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_ignores_server_added_fields() {
        let desired = json!({"spec": {"replicas": 2, "template": {"labels": {}}}});
        let live = json!({"spec": {"replicas": 2, "paused": false, "template": {}}, "status": {}});
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn subset_detects_changed_and_missing_values() {
        let desired = json!({"data": {"A": "1", "B": "2"}});
        assert!(!is_subset(&desired, &json!({"data": {"A": "1"}})));
        assert!(!is_subset(&desired, &json!({"data": {"A": "1", "B": "3"}})));
        assert!(!is_subset(&json!({"l": [1, 2]}), &json!({"l": [1]})));
    }

    #[test]
    fn only_own_or_orphaned_wardops_objects_are_managed() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
        let owner = Owner {
            uid: "u1",
            name: "one-stop",
        };
        let controlled_by = |uid: &str| ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        };
        assert!(may_manage(&controlled_by("u1"), owner));
        assert!(
            !may_manage(&controlled_by("u2"), owner),
            "another controller's object"
        );
        assert!(
            !may_manage(&ObjectMeta::default(), owner),
            "an object made by hand"
        );
        let retained = ObjectMeta {
            labels: Some(
                [
                    ("app.kubernetes.io/managed-by", "wardops"),
                    (WARD_SERVICE_LABEL, "one-stop"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..ObjectMeta::default()
        };
        assert!(
            may_manage(&retained, owner),
            "a retained PVC of the same name is adopted"
        );
        assert!(!may_manage(
            &retained,
            Owner {
                uid: "u1",
                name: "other"
            }
        ));
    }

    #[test]
    fn digest_is_stable_and_sensitive() {
        assert_eq!(digest(b"abc"), digest(b"abc"));
        assert_ne!(digest(b"abc"), digest(b"abd"));
        assert_eq!(digest(b"").len(), 16);
    }
}
