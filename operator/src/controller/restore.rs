//! Restore controller. In place: stop the ward through its WardService (the
//! `wardops.io/restore` annotation; the WardService controller scales it to
//! zero), wait for its pods to be gone, run the restore Job into its claim,
//! then start the ward again. Into a new claim: create the claim (never
//! deleted by wardops), run the Job. The Job's termination message is the
//! result. A Restore ends `Succeeded` or `Failed` and never runs again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tracing::warn;

use crate::api::common::condition::{PROGRESSING, READY};
use crate::api::restore::{RestorePhase, RestoreStatus};
use crate::api::{BackupPolicy, Restore, WardService};
use crate::controller::backup_policy::build::{self as bp_build, RESTORE_CONTAINER};
use crate::controller::conditions::{self, DesiredCondition};
use crate::controller::{Context, SharedCaches, cache, labels, requests::Requests, results};

/// Most Restores reconciled at once.
const MAX_CONCURRENT_RECONCILES: u16 = 2;

/// Kind label of this controller's metrics.
pub const KIND: &str = "Restore";

/// How long a reconcile waits for the watch caches' first listing.
const CACHE_WAIT: Duration = Duration::from_millis(500);

/// Stable condition reasons of a Restore.
pub mod reason {
    /// Waiting for the policy, the ward, or their checks.
    pub const PENDING: &str = "Pending";
    /// In place: the ward's pods are stopping.
    pub const STOPPING_WARD: &str = "StoppingWard";
    /// The restore Job runs.
    pub const RESTORING: &str = "Restoring";
    /// Restored.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The restore Job failed.
    pub const RESTORE_FAILED: &str = "RestoreFailed";
    /// `spec.backupPolicyRef` names no BackupPolicy (yet).
    pub const POLICY_NOT_FOUND: &str = "BackupPolicyNotFound";
    /// `spec.wardServiceRef` names no WardService (yet).
    pub const WARD_SERVICE_NOT_FOUND: &str = "WardServiceNotFound";
    /// The ward is above the policy's classification: its data cannot be in
    /// that repository, and the policy's key may not touch it.
    pub const CLASSIFICATION_MISMATCH: &str = "ClassificationMismatch";
    /// The ward has no data volume.
    pub const NO_STORAGE: &str = "NoStorage";
    /// Another Restore is restoring this ward.
    pub const WARD_BUSY: &str = "WardBusy";
    /// `spec.targetClaim` exists and was not made by this Restore.
    pub const CLAIM_EXISTS: &str = "ClaimExists";
    /// Every reason above (runbook entries and tests read it).
    pub const ALL: &[&str] = &[
        PENDING,
        STOPPING_WARD,
        RESTORING,
        SUCCEEDED,
        RESTORE_FAILED,
        POLICY_NOT_FOUND,
        WARD_SERVICE_NOT_FOUND,
        CLASSIFICATION_MISMATCH,
        NO_STORAGE,
        WARD_BUSY,
        CLAIM_EXISTS,
    ];
}

/// What the Restore reconcile reads.
pub struct State {
    /// Client, settings, Events, metrics, backoff.
    pub ctx: Arc<Context>,
    /// The watch caches.
    pub cache: Caches,
}

/// The watch caches of the Restore controller.
pub struct Caches {
    policies: Store<BackupPolicy>,
    ward_services: Store<WardService>,
    jobs: Store<Job>,
    pods: Store<Pod>,
    ward_pods: Store<PartialObjectMeta<Pod>>,
    claims: Store<PartialObjectMeta<PersistentVolumeClaim>>,
}

impl Caches {
    /// Sizes by cached kind, for the `wardops_cache_objects` gauge.
    /// (The shared caches are counted once, by [`SharedCaches::sizes`].)
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("Job", self.jobs.len()),
            ("Pod", self.pods.len() + self.ward_pods.len()),
            ("PersistentVolumeClaim", self.claims.len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        cache::is_ready(&self.policies)
            && cache::is_ready(&self.ward_services)
            && cache::is_ready(&self.jobs)
            && cache::is_ready(&self.pods)
            && cache::is_ready(&self.ward_pods)
            && cache::is_ready(&self.claims)
    }
}

/// Why a reconcile step failed (not: why the Restore failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object lacks metadata the API server always sets.
    #[error(transparent)]
    MissingMetadata(#[from] crate::controller::MissingMetadata),
    /// Building the Job failed.
    #[error(transparent)]
    Build(#[from] bp_build::BuildError),
    /// A request to the API server failed.
    #[error("{what}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// Writing the status failed.
    #[error("updating status")]
    Status(#[source] kube::Error),
}

impl Error {
    /// Bounded category: Event reason and metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingMetadata(_) => "InvalidObject",
            Error::Build(_) => "BuildFailed",
            Error::Api { .. } => "ApiRequestFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}

fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Api { what, source }
}

/// Reconciles one Restore, recording metrics.
pub async fn reconcile(r: Arc<Restore>, state: Arc<State>) -> Result<Action, Error> {
    if !state.cache.is_ready() {
        return Ok(Action::requeue(CACHE_WAIT));
    }
    let start = Instant::now();
    let result = reconcile_inner(&r, &state).await;
    state.ctx.metrics.reconciled(
        KIND,
        start.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    result
}

/// Requeues a failed reconcile with per-object backoff.
pub fn error_policy(r: Arc<Restore>, err: &Error, state: Arc<State>) -> Action {
    let key = format!("rst/{}/{}", r.namespace().unwrap_or_default(), r.name_any());
    let (wait, _) = state.ctx.next_backoff(&key);
    warn!(
        kind = KIND,
        namespace = %r.namespace().unwrap_or_default(),
        name = %r.name_any(),
        category = err.category(),
        error = %crate::error_chain(err),
        "reconcile failed"
    );
    Action::requeue(wait)
}

async fn reconcile_inner(r: &Restore, state: &State) -> Result<Action, Error> {
    let (ctx, cache) = (state.ctx.as_ref(), &state.cache);
    let id = crate::controller::identity(&r.metadata)?;
    let (ns, name) = (id.namespace.to_string(), id.name.to_string());
    let old = r.status.clone().unwrap_or_default();
    if r.meta().deletion_timestamp.is_some()
        || matches!(old.phase, RestorePhase::Succeeded | RestorePhase::Failed)
    {
        return Ok(Action::await_change());
    }
    let spec = &r.spec;
    let pending = |reason: &'static str, message: String| Outcome {
        phase: RestorePhase::Pending,
        reason,
        message,
    };

    // The policy and the ward, from the caches.
    let Some(policy) = cache::get(&cache.policies, &ns, &spec.backup_policy_ref.name) else {
        let msg = format!(
            "BackupPolicy `{}` not found in namespace `{ns}` (spec.backupPolicyRef)",
            spec.backup_policy_ref.name
        );
        return finish(r, ctx, old, pending(reason::POLICY_NOT_FOUND, msg)).await;
    };
    let ward_name = &spec.ward_service_ref.name;
    let Some(ward) = cache::get(&cache.ward_services, &ns, ward_name) else {
        let msg = format!(
            "WardService `{ward_name}` not found in namespace `{ns}` (spec.wardServiceRef)"
        );
        return finish(r, ctx, old, pending(reason::WARD_SERVICE_NOT_FOUND, msg)).await;
    };
    let failed = |reason: &'static str, message: String| Outcome {
        phase: RestorePhase::Failed,
        reason,
        message,
    };
    if ward.spec.classification > policy.spec.classification {
        let msg = format!(
            "WardService {ward_name} is {}, above BackupPolicy {}'s {}: its data is not in that \
             repository and may not be restored from it",
            ward.spec.classification,
            policy.name_any(),
            policy.spec.classification
        );
        return finish(r, ctx, old, failed(reason::CLASSIFICATION_MISMATCH, msg)).await;
    }
    let Some(storage) = &ward.spec.storage else {
        let msg = format!("WardService {ward_name} has no spec.storage: nothing to restore into");
        return finish(r, ctx, old, failed(reason::NO_STORAGE, msg)).await;
    };

    // The claim to write: the ward's own (stopped first) or a new one.
    let in_place = spec.target_claim.is_none();
    let claim = spec
        .target_claim
        .clone()
        .unwrap_or_else(|| crate::controller::ward_service::build::pvc_name(ward_name));
    let job_name = bp_build::restore_job_name(&name);
    let job = cache::get(&cache.jobs, &ns, &job_name);
    if in_place {
        match labels::restoring_by(ward.as_ref()) {
            Some(other) if other != name => {
                let msg = format!("Restore {other} is restoring WardService {ward_name}; waiting");
                return finish(r, ctx, old, pending(reason::WARD_BUSY, msg)).await;
            }
            Some(_) => {}
            None => set_restoring(ctx, &ns, ward_name, Some(&name)).await?,
        }
        let running = cache
            .ward_pods
            .state()
            .iter()
            .filter(|p| {
                p.namespace().as_deref() == Some(ns.as_str())
                    && p.labels().get(labels::INSTANCE_LABEL) == Some(ward_name)
            })
            .count();
        if running > 0 && job.is_none() {
            let msg = format!("stopping WardService {ward_name}: {running} pod(s) still running");
            let outcome = Outcome {
                phase: RestorePhase::StoppingWard,
                reason: reason::STOPPING_WARD,
                message: msg,
            };
            return finish(r, ctx, old, outcome).await;
        }
    } else if job.is_none() {
        match cache::get(&cache.claims, &ns, &claim) {
            Some(c) if c.labels().get(labels::RESTORE_ANNOTATION) != Some(&name) => {
                let msg = format!(
                    "PersistentVolumeClaim {claim} (spec.targetClaim) exists and was not made by \
                     this Restore: wardops writes only into a new claim; choose another name"
                );
                return finish(r, ctx, old, failed(reason::CLAIM_EXISTS, msg)).await;
            }
            Some(_) => {}
            None => create_claim(ctx, &ns, &claim, &name, &ward, storage).await?,
        }
    }

    // The Job.
    let Some(job) = job else {
        let key = match &policy.spec.encryption {
            Some(e) => (e.key_secret_ref.name.clone(), e.key_secret_ref.key.clone()),
            None => (
                bp_build::generated_key_name(&policy.name_any()),
                bp_build::KEY_FILE.to_string(),
            ),
        };
        let input = bp_build::TargetInput {
            policy: &policy,
            ward: &ward,
            settings: &ctx.settings,
            key: (&key.0, &key.1),
        };
        let job = bp_build::restore_job(&input, r, &claim)?;
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
        match jobs.create(&PostParams::default(), &job).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(api(format!("creating Job {job_name}"))(e)),
        }
        let mut st = old;
        st.job = Some(job_name.clone());
        st.start_time.get_or_insert(Time(Timestamp::now()));
        let outcome = Outcome {
            phase: RestorePhase::Restoring,
            reason: reason::RESTORING,
            message: format!(
                "Job {job_name} restores snapshot `{}` into {claim}",
                spec.snapshot
            ),
        };
        return finish(r, ctx, st, outcome).await;
    };

    // Its result.
    let result = cache
        .pods
        .state()
        .into_iter()
        .filter(|p| {
            p.namespace().as_deref() == Some(ns.as_str())
                && p.labels().get("job-name") == Some(&job.name_any())
        })
        .find_map(|p| terminated(&p).map(parse));
    let mut st = old;
    st.job = Some(job.name_any());
    // The status write that recorded the start may not be in the cache yet
    // when the Job's events arrive: the Job's creation is the start.
    if st.start_time.is_none() {
        st.start_time = job.metadata.creation_timestamp.clone();
    }
    let Some(result) = result else {
        let outcome = Outcome {
            phase: RestorePhase::Restoring,
            reason: reason::RESTORING,
            message: format!(
                "Job {} restores snapshot `{}` into {claim}",
                job.name_any(),
                spec.snapshot
            ),
        };
        return finish(r, ctx, st, outcome).await;
    };
    st.completion_time = Some(Time(Timestamp::now()));
    match result {
        Ok((snapshot, bytes)) => {
            if in_place {
                set_restoring(ctx, &ns, ward_name, None).await?;
            }
            st.snapshot_id = Some(snapshot.clone());
            st.bytes_restored = bytes;
            let restarted = if in_place {
                format!("; WardService {ward_name} starts again")
            } else {
                String::new()
            };
            let outcome = Outcome {
                phase: RestorePhase::Succeeded,
                reason: reason::SUCCEEDED,
                message: format!("snapshot {snapshot} restored into {claim}{restarted}"),
            };
            finish(r, ctx, st, outcome).await
        }
        Err(why) => {
            let state_of_ward = if in_place {
                format!(
                    "; WardService {ward_name} stays stopped (its data may be partly restored): \
                     create a new Restore, or remove its {} annotation to start it as it is",
                    labels::RESTORE_ANNOTATION
                )
            } else {
                String::new()
            };
            let outcome = Outcome {
                phase: RestorePhase::Failed,
                reason: reason::RESTORE_FAILED,
                message: format!("{why}{state_of_ward}"),
            };
            finish(r, ctx, st, outcome).await
        }
    }
}

/// Keeps of a ward's pod only what a restore reads: its identity and the
/// WardService it runs (its instance label). The cache holds one per ward (a
/// country's 16,000); the rest of their metadata (other labels, annotations,
/// owner reference) no reconcile reads.
fn ward_pod(pod: &mut PartialObjectMeta<Pod>) {
    pod.types = None;
    let meta = &mut pod.metadata;
    let ward = meta
        .labels
        .as_mut()
        .and_then(|l| l.remove_entry(labels::INSTANCE_LABEL));
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        resource_version: meta.resource_version.take(),
        deletion_timestamp: meta.deletion_timestamp.take(),
        labels: ward.map(|entry| [entry].into()),
        ..ObjectMeta::default()
    };
}

/// The restore container's end, once its pod ended.
fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    results::ended(pod, RESTORE_CONTAINER, false)
}

/// The snapshot restored and bytes written, or why it failed.
fn parse(t: &ContainerStateTerminated) -> Result<(String, Option<u64>), String> {
    match results::line(t) {
        Some(v) if v["result"] == "Succeeded" && t.exit_code == 0 => Ok((
            v["snapshotID"].as_str().unwrap_or_default().to_string(),
            v["bytesRestored"].as_u64(),
        )),
        Some(v) if v["result"] == "Failed" => Err(results::truncate(&results::failure(&v))),
        _ => Err(results::no_result("restore", t)),
    }
}

/// Sets (or, with `None`, removes) the annotation that stops a WardService.
async fn set_restoring(
    ctx: &Context,
    ns: &str,
    ward: &str,
    restore: Option<&str>,
) -> Result<(), Error> {
    let wards: Api<WardService> = Api::namespaced(ctx.client.clone(), ns);
    let patch =
        serde_json::json!({"metadata": {"annotations": {labels::RESTORE_ANNOTATION: restore}}});
    wards
        .patch(ward, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api(format!("annotating WardService {ward}")))?;
    Ok(())
}

/// Creates the new claim of a Restore into `spec.targetClaim`: the ward's
/// size and class, labelled with the Restore, owned by nothing.
async fn create_claim(
    ctx: &Context,
    ns: &str,
    claim: &str,
    restore: &str,
    ward: &WardService,
    storage: &crate::api::ward_service::Storage,
) -> Result<(), Error> {
    let mut labels_of = labels::common_labels(
        labels::COMPONENT_RESTORE,
        restore,
        &ward.name_any(),
        &ward.spec.ward.code,
        ward.spec.classification.as_str(),
    );
    labels_of.insert(labels::RESTORE_ANNOTATION.to_string(), restore.to_string());
    let pvc = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim.to_string()),
            namespace: Some(ns.to_string()),
            labels: Some(labels_of),
            ..ObjectMeta::default()
        },
        spec: Some(
            crate::controller::ward_service::build::pvc::read_write_once(
                &storage.size,
                storage.storage_class_name.clone(),
            ),
        ),
        ..PersistentVolumeClaim::default()
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    match claims.create(&PostParams::default(), &pvc).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(api(format!("creating PersistentVolumeClaim {claim}"))(e)),
    }
}

/// Where a reconcile leaves a Restore.
struct Outcome {
    phase: RestorePhase,
    reason: &'static str,
    message: String,
}

/// Writes the phase, conditions and fields of `st`; Events on a phase change.
async fn finish(
    r: &Restore,
    ctx: &Context,
    mut st: RestoreStatus,
    outcome: Outcome,
) -> Result<Action, Error> {
    let old = r.status.clone().unwrap_or_default();
    let done = matches!(
        outcome.phase,
        RestorePhase::Succeeded | RestorePhase::Failed
    );
    let desired = [
        DesiredCondition::new(
            READY,
            outcome.phase == RestorePhase::Succeeded,
            outcome.reason,
            outcome.message.clone(),
        ),
        DesiredCondition::new(PROGRESSING, !done, outcome.reason, outcome.message.clone()),
    ];
    st.phase = outcome.phase;
    st.observed_generation = r.metadata.generation;
    st.conditions = conditions::merge(
        &old.conditions,
        &desired,
        r.metadata.generation,
        Timestamp::now(),
    );
    if st != old {
        crate::controller::apply::patch_status(&ctx.client, r, &st)
            .await
            .map_err(Error::Status)?;
        if conditions::state_of(&old.conditions, PROGRESSING).map(|s| s.1) != Some(outcome.reason) {
            let ok = outcome.phase != RestorePhase::Failed;
            crate::controller::publish(
                ctx,
                &r.object_ref(&()),
                ok,
                outcome.reason,
                &outcome.message,
            )
            .await;
        }
    }
    Ok(if done {
        Action::await_change()
    } else {
        Action::requeue(ctx.resync)
    })
}

/// The Restore controller for one namespace (or all).
pub fn controller<S>(
    ctx: Arc<Context>,
    shared: Arc<SharedCaches>,
    namespace: Option<&str>,
    drives: &mut cache::Drives,
    shutdown: S,
) -> (
    Store<Restore>,
    Arc<State>,
    impl std::future::Future<Output = ()> + use<S>,
)
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let client = ctx.client.clone();
    let restore_children =
        || watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_RESTORE));
    let restores = drives.shared(
        cache::api_for::<Restore>(&client, namespace),
        watcher::Config::default(),
        cache::slim,
    );
    let pace = cache::Pace::for_concurrency(MAX_CONCURRENT_RECONCILES);
    let (store, restores) = (restores.store(), restores.subscribe(pace.clone()));
    let (policy_events, ws_events) = (
        shared.backup_policies.changes(),
        shared.ward_services.changes(),
    );
    let (jobs, job_events) = drives.cached(
        cache::api_for::<Job>(&client, namespace),
        restore_children(),
        cache::slim,
    );
    let (pods, pod_events) = drives.cached(
        cache::api_for::<Pod>(&client, namespace),
        restore_children(),
        cache::pod_result,
    );
    // The wards' pods, metadata only: whether a stopped ward's pods are gone.
    let (ward_pods, ward_pod_events) = drives.cached(
        cache::api_for::<PartialObjectMeta<Pod>>(&client, namespace),
        watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_WARD_SERVICE)),
        ward_pod,
    );
    let (claims, claim_events) = drives.cached(
        cache::api_for::<PartialObjectMeta<PersistentVolumeClaim>>(&client, namespace),
        watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_RESTORE)),
        cache::metadata,
    );
    let state = Arc::new(State {
        ctx: ctx.clone(),
        cache: Caches {
            policies: shared.backup_policies.store(),
            ward_services: shared.ward_services.store(),
            jobs,
            pods,
            ward_pods,
            claims,
        },
    });
    let (s1, s2, s3, s4, s5) = (
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
    );
    // Every request through our queue (`controller::requests`): in the order
    // asked, those for objects reconciled before first.
    let (controller, ends) = Requests::of(restores)
        .owns(job_events)
        .watches(pod_events, move |p: Pod| {
            let ns = p.namespace().unwrap_or_default();
            let name = p
                .labels()
                .get(labels::INSTANCE_LABEL)
                .cloned()
                .unwrap_or_default();
            cache::refs_where(&s1, &ns, |r| r.name_any() == name)
        })
        .watches(policy_events, move |bp: BackupPolicy| {
            let name = bp.name_any();
            cache::refs_where(&s2, &bp.namespace().unwrap_or_default(), |r| {
                r.spec.backup_policy_ref.name == name
            })
        })
        .watches(ws_events, move |ws: WardService| {
            let name = ws.name_any();
            cache::refs_where(&s3, &ws.namespace().unwrap_or_default(), |r| {
                r.spec.ward_service_ref.name == name
            })
        })
        .watches(ward_pod_events, move |p: PartialObjectMeta<Pod>| {
            let ward = p
                .labels()
                .get(labels::INSTANCE_LABEL)
                .cloned()
                .unwrap_or_default();
            cache::refs_where(&s4, &p.namespace().unwrap_or_default(), |r| {
                r.spec.ward_service_ref.name == ward
            })
        })
        .watches(
            claim_events,
            move |c: PartialObjectMeta<PersistentVolumeClaim>| {
                let restore = c.labels().get(labels::RESTORE_ANNOTATION).cloned();
                cache::refs_where(&s5, &c.namespace().unwrap_or_default(), |r| {
                    Some(r.name_any()) == restore
                })
            },
        )
        .controller(store.clone(), MAX_CONCURRENT_RECONCILES);
    let fut = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state.clone())
        .for_each(ends.on_reconcile(pace));
    (store, state, fut)
}

/// Ready counts of the Restores in `store`, for the resources gauge.
pub fn ready_counts(store: &Store<Restore>) -> Vec<(crate::runtime::metrics::ReadyLabels, i64)> {
    let state = store.state();
    conditions::ready_counts(
        KIND,
        state
            .iter()
            .map(|o| o.status.as_ref().map(|s| s.conditions.as_slice())),
    )
}

#[cfg(test)]
mod tests {
    use super::reason::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ward_pod_is_cached_as_its_identity_and_ward() {
        let mut pod: PartialObjectMeta<Pod> = serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {
                "name": "ws-1-6d9f-abcde", "namespace": "ward-1", "uid": "u-1",
                "resourceVersion": "42", "generateName": "ws-1-6d9f-",
                "labels": {(labels::INSTANCE_LABEL): "ws-1", "pod-template-hash": "6d9f"},
                "annotations": {"wardops.io/config-hash": "abc"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "ws-1-6d9f", "uid": "rs-1"}],
                "finalizers": ["example.com/keep"],
            },
        }))
        .unwrap();
        ward_pod(&mut pod);
        assert!(pod.types.is_none(), "the cache's type says its kind");
        let meta = serde_json::to_value(&pod.metadata).unwrap();
        assert_eq!(
            meta,
            json!({
                "name": "ws-1-6d9f-abcde", "namespace": "ward-1", "uid": "u-1",
                "resourceVersion": "42", "labels": {(labels::INSTANCE_LABEL): "ws-1"},
            })
        );
    }

    #[test]
    fn reasons_are_camel_case() {
        for r in ALL {
            assert!(r.chars().next().is_some_and(char::is_uppercase));
            assert!(r.chars().all(char::is_alphanumeric), "{r}");
        }
    }

    fn ended(exit: i32, message: &str) -> ContainerStateTerminated {
        serde_json::from_value(json!({"exitCode": exit, "message": message})).unwrap()
    }

    #[test]
    fn the_result_line_gives_the_snapshot_or_the_failure() {
        let ok = r#"{"result":"Succeeded","snapshotID":"4bd1a9e2","filesRestored":3,"bytesRestored":4096,"durationSeconds":0.4}"#;
        assert_eq!(
            parse(&ended(0, ok)),
            Ok(("4bd1a9e2".to_string(), Some(4096)))
        );
        let bad =
            r#"{"result":"Failed","reason":"SnapshotNotFound","message":"no snapshot 0123abcd"}"#;
        assert_eq!(
            parse(&ended(1, bad)),
            Err("SnapshotNotFound: no snapshot 0123abcd".to_string())
        );
        assert!(
            parse(&ended(137, ""))
                .unwrap_err()
                .contains("exit code 137")
        );
    }
}
