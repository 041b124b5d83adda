//! Server-side apply that costs nothing when nothing changed.
//!
//! Every applied object carries an annotation with a digest of what wardops
//! applied. A child is re-applied only when that digest differs (the spec
//! changed, so fields wardops no longer sets are released) or when the live
//! object no longer holds what wardops applied (edited by hand). An unchanged
//! cluster therefore sees reads at most, never writes. The watch caches keep
//! a fingerprint of what a child holds of wardops' fields instead of the
//! child's content ([`live_fingerprint`]).

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cache::{self, Lean};
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

/// Annotation a watch cache puts on its copy of a child (never sent to the
/// API server): [`live_fingerprint`], which stands in for the child's content.
pub const LIVE_FINGERPRINT_ANNOTATION: &str = "wardops.io/live-fingerprint";

/// The fingerprint a live child has when it holds `desired`: `desired`
/// without what the API server's field sets never name (apiVersion, kind,
/// name, namespace), as [`live_fingerprint`] digests it.
pub fn desired_fingerprint(mut desired: Value) -> String {
    if let Value::Object(top) = &mut desired {
        top.remove("apiVersion");
        top.remove("kind");
        top.remove("status");
        if let Some(Value::Object(meta)) = top.get_mut("metadata") {
            for identity in ["name", "namespace", "resourceVersion"] {
                meta.remove(identity);
            }
        }
    }
    fingerprint(&desired)
}

/// Digest of what a live object (as JSON, with its `managedFields`) holds of
/// the fields wardops applied to it: its values at the fields of wardops'
/// apply entry, empty values dropped, keys sorted. The API server's defaults,
/// other writers' fields and status are not part of it; a field someone else
/// changed by hand moves to that writer's entry and drops out, so the
/// fingerprint then differs from [`desired_fingerprint`]. It compares like
/// [`is_subset`] over the fields wardops owns, and lets a cache keep a digest
/// instead of the object. `None` when wardops applied nothing to it.
pub fn live_fingerprint(live: &Value) -> Option<String> {
    let fields = live
        .pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|entry| {
            entry["manager"] == FIELD_MANAGER
                && entry["operation"] == "Apply"
                && entry.get("subresource").is_none_or(|s| s == "")
        })?
        .get("fieldsV1")?
        .as_object()?;
    Some(fingerprint(&project(fields, live)))
}

/// The part of `live` a field set (`fieldsV1`) names: `f:<field>` of an
/// object, `k:<key>`, `v:<value>` or `i:<index>` of a list.
fn project(fields: &serde_json::Map<String, Value>, live: &Value) -> Value {
    match live {
        Value::Object(object) => Value::Object(
            fields
                .iter()
                .filter_map(|(key, sub)| {
                    let field = key.strip_prefix("f:")?;
                    Some((field.to_string(), project_member(sub, object.get(field)?)))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| {
                    let (_, sub) = fields
                        .iter()
                        .find(|(key, _)| names_item(key, index, item))?;
                    Some(project_member(sub, item))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A member a field set names: whole when the set names nothing inside it (a
/// leaf, or an atomic value), else only what it names (`.` names the member's
/// own existence).
fn project_member(sub: &Value, live: &Value) -> Value {
    match sub.as_object() {
        Some(inner) if !inner.is_empty() => project(inner, live),
        _ => live.clone(),
    }
}

/// Whether a list's field set key names the item at `index`.
fn names_item(key: &str, index: usize, item: &Value) -> bool {
    if let Some(k) = key.strip_prefix("k:") {
        serde_json::from_str::<serde_json::Map<String, Value>>(k)
            .is_ok_and(|k| k.iter().all(|(field, v)| item.get(field) == Some(v)))
    } else if let Some(v) = key.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| v == *item)
    } else if let Some(i) = key.strip_prefix("i:") {
        i.parse() == Ok(index)
    } else {
        false
    }
}

/// [`digest`] of `v` written with sorted keys and without empty values (as
/// [`is_subset`] reads them), so that equal content has one fingerprint.
fn fingerprint(v: &Value) -> String {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().filter(|k| !is_empty(&m[*k])).collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(&Value::String(k.clone()), out);
                    out.push(b':');
                    write(&m[k], out);
                }
                out.push(b'}');
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
        }
    }
    let mut bytes = Vec::new();
    write(v, &mut bytes);
    digest(&bytes)
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

/// The owner reference of `meta` that marks its controller, if it has one.
pub fn controller_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether the resource of uid `owner_uid` controls `obj`.
pub fn controlled_by<K: Resource>(obj: &K, owner_uid: &str) -> bool {
    controller_of(obj.meta()).is_some_and(|c| c.uid == owner_uid)
}

/// Whether wardops may apply over an existing object on behalf of `owner`:
/// the object is controlled by `owner`, or it has no controller and wardops
/// made it for a resource of the same name (a retained PersistentVolumeClaim).
/// Anything else belongs to someone else and is never taken over.
pub fn may_manage(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    owner: Owner,
) -> bool {
    match controller_of(meta) {
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
/// API server asked. Returns the live object: when written, the API server's
/// answer without its content (`trimmed`); when unchanged, the copy compared,
/// which from the cache is trimmed alike ([`cache::CachedChild`]) and, read because
/// the cache had none (the name was taken), whole.
pub async fn apply<K>(
    client: &Client,
    namespace: &str,
    owner: Owner<'_>,
    mut obj: K,
    cached: Option<Arc<K>>,
) -> Result<(Arc<K>, Outcome), ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Lean,
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
            Ok(Some(created)) => return Ok((Arc::new(trimmed(created)), Outcome::Applied)),
            Ok(None) => api.get_opt(&name).await.map_err(api_err)?.map(Arc::new),
            Err(e) => return Err(api_err(e)),
        },
    };
    if let Some(live) = live {
        if !may_manage(live.meta(), owner) {
            return Err(ApplyError::NotOwned { kind, name });
        }
        let same_digest = live.annotations().get(APPLIED_DIGEST_ANNOTATION) == Some(&want_digest);
        if same_digest {
            let desired = serde_json::to_value(&obj).map_err(ser)?;
            let holds = match live.annotations().get(LIVE_FINGERPRINT_ANNOTATION) {
                // A cached child keeps only the fingerprint of what wardops applied to it.
                Some(fingerprint) => *fingerprint == desired_fingerprint(desired),
                None => is_subset(&desired, &serde_json::to_value(live.as_ref()).map_err(ser)?),
            };
            if holds {
                return Ok((live, Outcome::Unchanged));
            }
        }
    }
    let live = api
        .patch(&name, &params, &Patch::Apply(&obj))
        .await
        .map_err(api_err)?;
    Ok((Arc::new(trimmed(live)), Outcome::Applied))
}

/// The API server's answer to an apply without what no reconcile reads of it:
/// its managed fields and its content ([`Lean`]), as the cache holds it. A
/// reconcile keeps what it applied until it ends; a BackupPolicy applies a
/// CronJob per target, and a hundred answers held whole (each with its Job
/// template and managed fields) were most of the operator's heap while a
/// city converged.
fn trimmed<K: Resource + Lean>(mut live: K) -> K {
    cache::slim(&mut live);
    live.lean();
    live
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
    store: &impl cache::Live<K>,
    obj: K,
) -> Result<Arc<K>, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Lean,
{
    let cached = store.live(namespace, &obj.name_any());
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
    if !controlled_by(live.as_ref(), owner_uid) {
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

    /// A Deployment as the API server returned it after wardops applied
    /// `applied()`: defaults filled in, a quantity canonicalised by the
    /// builder already, the Deployment controller's status and field set.
    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "fp", "namespace": "default", "uid": "u", "resourceVersion": "7", "generation": 1,
                "labels": {"app": "fp"},
                "annotations": {"wardops.io/applied-digest": "abc", "deployment.kubernetes.io/revision": "1"},
                "managedFields": [
                    {"manager": "wardops", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:annotations": {"f:wardops.io/applied-digest": {}}, "f:labels": {"f:app": {}}},
                        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                ".": {}, "f:image": {}, "f:name": {},
                                "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                                "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}}},
                                "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}}}},
                                "f:volumes": {"k:{\"name\":\"t\"}": {".": {}, "f:emptyDir": {}, "f:name": {}}}}}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:replicas": {}}}}
                ]
            },
            "spec": {
                "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "fp"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "fp"}},
                    "spec": {
                        "containers": [{
                            "name": "app", "image": "nginx", "imagePullPolicy": "Always",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
                            "terminationMessagePath": "/dev/termination-log"
                        }, {"name": "sidecar", "image": "added-by-someone-else"}],
                        "volumes": [{"name": "t", "emptyDir": {}}],
                        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"
                    }
                }
            },
            "status": {"replicas": 1, "observedGeneration": 1}
        })
    }

    /// What wardops applied (as its builders serialise it: no status, empty
    /// values included).
    fn applied() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "fp", "namespace": "default", "labels": {"app": "fp"},
                "annotations": {"wardops.io/applied-digest": "abc"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "fp"}},
                "template": {
                    "metadata": {"labels": {"app": "fp"}, "annotations": {}},
                    "spec": {
                        "containers": [{
                            "name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}
                        }],
                        "volumes": [{"name": "t", "emptyDir": {}}],
                        "initContainers": []
                    }
                }
            }
        })
    }

    #[test]
    fn an_apply_answer_keeps_what_a_reconcile_reads() {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::batch::v1::CronJob;
        let d: Deployment = serde_json::from_value(live_deployment()).unwrap();
        let t = trimmed(d.clone());
        assert_eq!(t.metadata.managed_fields, None);
        assert_eq!(t.metadata.annotations, d.metadata.annotations);
        assert_eq!(t.spec.as_ref().and_then(|s| s.replicas), Some(1));
        assert_eq!(t.spec.and_then(|s| s.template.spec), None);
        assert_eq!(t.status, d.status);

        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "nightly-p1", "namespace": "default",
                "managedFields": [{"manager": "wardops", "operation": "Apply",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:schedule": {}}}}]},
            "spec": {"schedule": "30 1 * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"containers": [{"name": "backup", "image": "wardops"}]}}}}},
            "status": {"lastScheduleTime": "2026-11-29T01:30:00Z"}
        }))
        .unwrap();
        let t = trimmed(cj.clone());
        assert_eq!((t.metadata.managed_fields, t.spec), (None, None));
        assert_eq!(t.metadata.name.as_deref(), Some("nightly-p1"));
        assert_eq!(
            t.status, cj.status,
            "a policy's status reads the last schedule time"
        );
    }

    #[test]
    fn a_live_child_holding_what_was_applied_has_its_fingerprint() {
        let live = live_deployment();
        assert!(is_subset(&applied(), &{
            // The old check agrees, once the other writer's container is gone.
            let mut l = live.clone();
            l["spec"]["template"]["spec"]["containers"]
                .as_array_mut()
                .unwrap()
                .pop();
            l
        }));
        assert_eq!(
            live_fingerprint(&live),
            Some(desired_fingerprint(applied())),
            "defaults, status, other writers' fields and empty values are not part of it"
        );
    }

    #[test]
    fn a_changed_spec_or_a_hand_edit_changes_the_fingerprint() {
        let live = live_fingerprint(&live_deployment());
        let mut image = applied();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_ne!(live, Some(desired_fingerprint(image)));
        let mut env = applied();
        env["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("2");
        assert_ne!(live, Some(desired_fingerprint(env)));

        // `kubectl edit` of the image: the field moves to kubectl's entry.
        let mut edited = live_deployment();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil");
        let own = &mut edited["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
            ["f:containers"]["k:{\"name\":\"app\"}"];
        own.as_object_mut().unwrap().remove("f:image");
        assert_ne!(
            live_fingerprint(&edited),
            Some(desired_fingerprint(applied()))
        );
        // A label removed by hand.
        let mut unlabelled = live_deployment();
        unlabelled["metadata"]["labels"] = json!({});
        assert_ne!(
            live_fingerprint(&unlabelled),
            Some(desired_fingerprint(applied()))
        );
    }

    #[test]
    fn nothing_applied_by_wardops_has_no_fingerprint() {
        let mut live = live_deployment();
        live["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        assert_eq!(live_fingerprint(&live), None);
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
