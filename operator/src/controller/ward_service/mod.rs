//! WardService controller: dereference → validate → build → apply → status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::common::condition::READY;
use crate::api::data_connector::ConnectorMode;
use crate::api::ward_service::{ConnectorRef, ReclaimPolicy};
use crate::api::{Classification, DataConnector, WardService};
use crate::controller::apply::{self, ApplyError};
use crate::controller::conditions::{self, DesiredCondition};
use crate::controller::{Context, SharedCaches, cache, labels, requests::Requests};
use crate::runtime::metrics::ReadyLabels;
use crate::secrets::SecretIndex;

pub mod build;
pub mod error;
pub mod status;
pub mod validate;

use build::Child;
pub use error::Error;
use status::reason;

/// Kind label of this controller's metrics.
pub const KIND: &str = "WardService";

/// Most WardServices reconciled at once: bounds memory and API bursts.
pub const MAX_CONCURRENT_RECONCILES: u16 = 8;

/// How long a reconcile waits for the watch caches' first listing.
const CACHE_WAIT: Duration = Duration::from_millis(500);

/// What the WardService reconcile reads: the shared context and the watch caches.
pub struct State {
    /// Client, settings, Events, metrics, backoff.
    pub ctx: Arc<Context>,
    /// Everything a steady-state reconcile reads, kept current by watches.
    pub cache: Caches,
    /// Volumes set to `Retain` whose claim's note the cache has not shown
    /// yet: a reconcile in between must not write them again.
    retaining: std::sync::Mutex<Retaining>,
}

/// Volumes being set to `Retain`, each with its claim (namespace, name),
/// from the first write until the cached claim shows the note, or is gone.
#[derive(Debug, Default)]
struct Retaining(std::collections::HashMap<String, (String, String)>);

impl Retaining {
    /// Whether this reconcile must write for `volume`, bound to claim
    /// `ns`/`claim`: not when the claim's note already records it (`noted`;
    /// the entry is then done) nor while another reconcile's writes for it
    /// are unseen. Entries of claims no longer in the cache (`cached` false)
    /// go first: a claim deleted between the writes and its watch event
    /// leaves no note to end its entry.
    fn begin(
        &mut self,
        volume: &str,
        (ns, claim): (&str, &str),
        noted: bool,
        cached: impl Fn(&str, &str) -> bool,
    ) -> bool {
        self.0.retain(|_, (ns, claim)| cached(ns, claim));
        if noted {
            self.0.remove(volume);
            return false;
        }
        self.0
            .insert(volume.to_string(), (ns.to_string(), claim.to_string()))
            .is_none()
    }

    /// A write for `volume` failed: the next reconcile writes again.
    fn failed(&mut self, volume: &str) {
        self.0.remove(volume);
    }
}

/// The watch caches of one WardService controller.
pub struct Caches {
    namespaces: Store<PartialObjectMeta<Namespace>>,
    secrets: SecretIndex,
    connectors: Store<DataConnector>,
    service_accounts: Store<cache::CachedChild<ServiceAccount>>,
    config_maps: Store<cache::CachedChild<ConfigMap>>,
    pvcs: Store<PersistentVolumeClaim>,
    services: Store<cache::CachedChild<Service>>,
    deployments: Store<cache::CachedChild<Deployment>>,
    network_policies: Store<cache::CachedChild<NetworkPolicy>>,
    pdbs: Store<cache::CachedChild<PodDisruptionBudget>>,
    hpas: Store<cache::CachedChild<HorizontalPodAutoscaler>>,
    ingresses: Store<cache::CachedChild<Ingress>>,
}

impl Caches {
    /// Sizes by cached kind, for the `wardops_cache_objects` gauge (the
    /// shared caches are counted once, by [`SharedCaches::sizes`]).
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("ServiceAccount", self.service_accounts.len()),
            ("ConfigMap", self.config_maps.len()),
            ("PersistentVolumeClaim", self.pvcs.len()),
            ("Service", self.services.len()),
            ("Deployment", self.deployments.len()),
            ("NetworkPolicy", self.network_policies.len()),
            ("PodDisruptionBudget", self.pdbs.len()),
            ("HorizontalPodAutoscaler", self.hpas.len()),
            ("Ingress", self.ingresses.len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        cache::is_ready(&self.namespaces)
            && self.secrets.versions().is_ready()
            && cache::is_ready(&self.connectors)
            && cache::is_ready(&self.service_accounts)
            && cache::is_ready(&self.config_maps)
            && cache::is_ready(&self.pvcs)
            && cache::is_ready(&self.services)
            && cache::is_ready(&self.deployments)
            && cache::is_ready(&self.network_policies)
            && cache::is_ready(&self.pdbs)
            && cache::is_ready(&self.hpas)
            && cache::is_ready(&self.ingresses)
    }
}

/// Reconciles one WardService, recording metrics.
pub async fn reconcile(ws: Arc<WardService>, state: Arc<State>) -> Result<Action, Error> {
    let ctx = &state.ctx;
    if !state.cache.is_ready() {
        // Not a reconcile yet: reading before the first listing would send requests.
        return Ok(Action::requeue(CACHE_WAIT));
    }
    let start = Instant::now();
    let result = reconcile_inner(&ws, &state).await;
    ctx.metrics.reconciled(
        KIND,
        start.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    // Any outcome that is not an error (blocked ones included) ends a failure streak.
    if result.is_ok() {
        ctx.reset_backoff(&backoff_key(&ws));
    }
    result
}

/// Key of a WardService's failure streak.
fn backoff_key(ws: &WardService) -> String {
    format!("{}/{}", ws.namespace().unwrap_or_default(), ws.name_any())
}

/// Requeues a failed reconcile with per-object backoff; the first failure of a
/// streak is also an Event, with the error's category as reason.
pub fn error_policy(ws: Arc<WardService>, err: &Error, state: Arc<State>) -> Action {
    let ctx = state.ctx.clone();
    let (wait, first) = ctx.next_backoff(&backoff_key(&ws));
    warn!(
        kind = KIND,
        namespace = %ws.namespace().unwrap_or_default(),
        name = %ws.name_any(),
        category = err.category(),
        error = %crate::error_chain(err),
        retry_in_seconds = wait.as_secs(),
        "reconcile failed"
    );
    // ApplyFailed already published its Event with the Ready transition.
    if first && !matches!(err, Error::Apply(e) if !e.is_transient()) {
        let (category, message) = (
            err.category(),
            format!("{}; retrying", crate::error_chain(err)),
        );
        tokio::spawn(async move { publish(&ctx, &ws, false, category, &message).await });
    }
    Action::requeue(wait)
}

async fn reconcile_inner(ws: &WardService, state: &State) -> Result<Action, Error> {
    let (ctx, cache) = (state.ctx.as_ref(), &state.cache);
    let id = crate::controller::identity(&ws.metadata)?;
    let (ns, name, uid) = (id.namespace.to_string(), id.name.to_string(), id.uid);
    if ws.meta().deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the children.
        return Ok(Action::await_change());
    }
    let generation = ws.metadata.generation;

    if ws.spec.paused {
        let msg = "spec.paused is true: wardops leaves every child object as it is".to_string();
        update_status(
            ws,
            ctx,
            &status::blocked_conditions(reason::PAUSED, msg),
            None,
        )
        .await?;
        return Ok(Action::await_change());
    }

    // Dereference, from the caches: the namespace's classification, the
    // referenced Secrets, the connectors.
    // A namespace the cache has not seen yet: its watch event reconciles again.
    let Some(namespace) = cache.namespaces.get(&ObjectRef::new(&ns)) else {
        return Ok(Action::requeue(CACHE_WAIT));
    };
    let namespace_labels = namespace.labels();
    if let Err(mismatch) = validate::classification(&ws.spec, &ns, namespace_labels) {
        let conds =
            status::blocked_conditions(reason::CLASSIFICATION_MISMATCH, mismatch.to_string());
        update_status(ws, ctx, &conds, None).await?;
        return Ok(Action::await_change());
    }
    if ws.spec.storage.is_some() {
        let claim = build::pvc_name(&name);
        if let Some(pvc) = cache::get(&cache.pvcs, &ns, &claim)
            && let Err(above) = validate::volume_classification(&ws.spec, &claim, pvc.labels())
        {
            let conds =
                status::blocked_conditions(reason::CLASSIFICATION_MISMATCH, above.to_string());
            update_status(ws, ctx, &conds, None).await?;
            return Ok(Action::await_change());
        }
    }
    let secret_check = cache
        .secrets
        .check(&ctx.client, &ns, &validate::secret_uses(ws))
        .await
        .map_err(|source| Error::SecretLookup {
            namespace: ns.clone(),
            source,
        })?;
    if !secret_check.missing.is_empty() {
        let conds = status::blocked_conditions(reason::SECRET_MISSING, secret_check.message());
        update_status(ws, ctx, &conds, None).await?;
        return Ok(Action::await_change());
    }
    let connectors = connectors_of(&cache.connectors, &ns, &name, ws.spec.classification);

    // Build and apply.
    let children = build::children(&build::BuildInput {
        ward: ws,
        settings: &ctx.settings,
        secret_versions: &secret_check.versions,
        connectors: &connectors,
    })?;
    let port = ws.spec.port;
    let owner = apply::Owner { uid, name: &name };
    let deployment = match apply_children(ctx, cache, &ns, owner, children).await {
        Ok(d) => d,
        Err(e) => {
            if !e.is_transient() {
                let conds = status::blocked_conditions(reason::APPLY_FAILED, e.api_message());
                update_status(ws, ctx, &conds, None).await?;
            }
            return Err(Error::Apply(e));
        }
    };

    if ws
        .spec
        .storage
        .as_ref()
        .is_some_and(|s| s.reclaim_policy == ReclaimPolicy::Retain)
    {
        retain_volume(state, &ns, &build::pvc_name(&name)).await?;
    }

    // Status from what the cluster reports.
    let state = status::deployment_state(&deployment);
    let extras = Extras {
        ready_replicas: state.ready,
        endpoint: build::service::endpoint_url(&name, &ns, port),
        connectors,
    };
    let conditions = match labels::restoring_by(ws) {
        Some(restore) => status::blocked_conditions(
            reason::RESTORING,
            format!(
                "Restore {restore} is restoring this service's data in place: its pods are \
                 stopped until it ends"
            ),
        ),
        None => status::running_conditions(&state, generation),
    };
    update_status(ws, ctx, &conditions, Some(extras)).await?;
    Ok(Action::requeue(ctx.resync))
}

/// Applies the children in the one apply order and removes the optional ones
/// the spec no longer asks for, reading the live children from the caches.
/// Returns the live Deployment.
async fn apply_children(
    ctx: &Context,
    cache: &Caches,
    ns: &str,
    owner: apply::Owner<'_>,
    children: build::Children,
) -> Result<Arc<Deployment>, ApplyError> {
    let client = &ctx.client;
    let name = owner.name;
    let mut deployment = None;
    for child in children.in_apply_order() {
        match child {
            Child::ServiceAccount(o) => {
                apply::apply_cached(client, ns, owner, &cache.service_accounts, o).await?;
            }
            Child::ConfigMap(o) => {
                apply::apply_cached(client, ns, owner, &cache.config_maps, o).await?;
            }
            // Only a PVC with reclaimPolicy Delete is owned, so a retained one is never deleted here.
            Child::Pvc(o) => {
                apply_optional(client, ns, owner, &cache.pvcs, &build::pvc_name(name), o).await?;
            }
            Child::Service(o) => {
                apply::apply_cached(client, ns, owner, &cache.services, o).await?;
            }
            Child::Deployment(o) => {
                deployment =
                    Some(apply::apply_cached(client, ns, owner, &cache.deployments, *o).await?);
            }
            Child::NetworkPolicy(o) => {
                apply::apply_cached(client, ns, owner, &cache.network_policies, o).await?;
            }
            Child::Pdb(o) => {
                apply_optional(client, ns, owner, &cache.pdbs, &build::pdb_name(name), o).await?;
            }
            Child::Hpa(o) => {
                apply_optional(client, ns, owner, &cache.hpas, &build::hpa_name(name), o).await?;
            }
            Child::Ingress(o) => {
                let ingress = build::ingress_name(name);
                apply_optional(client, ns, owner, &cache.ingresses, &ingress, o).await?;
            }
        }
    }
    deployment.ok_or_else(|| ApplyError::Missing {
        kind: "Deployment".to_string(),
    })
}

/// Keeps a retained volume's data whoever deletes its claim: deleting the
/// WardService never does, but deleting its namespace deletes every claim in
/// it, and with the reclaim policy most StorageClasses give (`Delete`) the
/// volume and its data would go with the claim. So once the claim `claim` is
/// bound, its PersistentVolume's reclaim policy is set to `Retain` (the
/// volume is then kept, `Released`, when the claim goes), and the claim
/// records which volume that was done for: one write per volume, none in a
/// steady state. The claim is read from the cache; until it is bound, its
/// binding's watch event reconciles again. Between the writes and the
/// claim's watch event, `state.retaining` keeps other reconciles from
/// writing again.
async fn retain_volume(state: &State, ns: &str, claim: &str) -> Result<(), Error> {
    use k8s_openapi::api::core::v1::PersistentVolume;
    use kube::api::{Patch, PatchParams};
    let ctx = state.ctx.as_ref();
    let Some(pvc) = cache::get(&state.cache.pvcs, ns, claim) else {
        return Ok(());
    };
    let Some(volume) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
        return Ok(());
    };
    let noted = pvc.annotations().get(labels::RETAINED_VOLUME_ANNOTATION) == Some(&volume);
    let first = state
        .retaining
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .begin(&volume, (ns, claim), noted, |ns, claim| {
            cache::get(&state.cache.pvcs, ns, claim).is_some()
        });
    if !first {
        return Ok(());
    }
    let retain_failed = |source| {
        state
            .retaining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed(&volume);
        Error::RetainVolume {
            volume: volume.clone(),
            source,
        }
    };
    let params = PatchParams::default();
    Api::<PersistentVolume>::all(ctx.client.clone())
        .patch(
            &volume,
            &params,
            &Patch::Merge(serde_json::json!({"spec": {"persistentVolumeReclaimPolicy": "Retain"}})),
        )
        .await
        .map_err(retain_failed)?;
    let note = serde_json::json!({"metadata": {"annotations": {labels::RETAINED_VOLUME_ANNOTATION: &volume}}});
    Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), ns)
        .patch(claim, &params, &Patch::Merge(note))
        .await
        .map_err(retain_failed)?;
    info!(namespace = %ns, claim = %claim, volume = %volume, "volume set to reclaim policy Retain");
    Ok(())
}

/// Applies `obj`, or deletes the cached child `name` (if this WardService
/// controls it) when `obj` is `None`.
async fn apply_optional<K>(
    client: &kube::Client,
    ns: &str,
    owner: apply::Owner<'_>,
    store: &impl cache::Live<K>,
    name: &str,
    obj: Option<K>,
) -> Result<(), ApplyError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + cache::Lean,
{
    match obj {
        Some(obj) => apply::apply_cached(client, ns, owner, store, obj)
            .await
            .map(|_| ()),
        None => apply::delete_owned::<K>(client, ns, store.live(ns, name), owner.uid)
            .await
            .map(|_| ()),
    }
}

/// The DataConnectors that name this WardService, sorted by name, each with
/// its URL once the DataConnector controller wired it (`status.url`: valid,
/// gateway created) and its readiness. A connector below the service's
/// classification is never wired, whatever its status says.
fn connectors_of(
    store: &Store<DataConnector>,
    ns: &str,
    name: &str,
    level: Classification,
) -> Vec<ConnectorRef> {
    let mut out: Vec<ConnectorRef> = store
        .state()
        .iter()
        .filter(|dc| dc.namespace().as_deref() == Some(ns) && dc.spec.ward_service_ref.name == name)
        .map(|dc| {
            let dc_name = dc.name_any();
            let status = dc.status.as_ref();
            let at_level = dc.spec.classification.unwrap_or(level) >= level;
            let ready = status
                .and_then(|s| conditions::state_of(&s.conditions, READY))
                .is_some_and(|(s, _)| s == "True");
            ConnectorRef {
                env: labels::connector_env_name(&dc_name),
                url: status
                    .and_then(|s| s.url.clone())
                    .filter(|_| at_level && dc.spec.mode == ConnectorMode::Proxy),
                ready: ready && at_level,
                name: dc_name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Status fields other than conditions, known when the children were applied.
struct Extras {
    ready_replicas: i32,
    endpoint: String,
    connectors: Vec<ConnectorRef>,
}

/// Writes the status if it changed, and publishes an Event when Ready's status or
/// reason changed (not for a first rollout: `conditions::ready_to_publish`).
async fn update_status(
    ws: &WardService,
    ctx: &Context,
    desired: &[DesiredCondition],
    extras: Option<Extras>,
) -> Result<(), Error> {
    let old = ws.status.clone().unwrap_or_default();
    let mut new = old.clone();
    new.observed_generation = ws.metadata.generation;
    new.conditions = conditions::merge(
        &old.conditions,
        desired,
        ws.metadata.generation,
        Timestamp::now(),
    );
    if let Some(x) = extras {
        new.ready_replicas = Some(x.ready_replicas);
        new.endpoint = Some(x.endpoint);
        new.connectors = x.connectors;
    }
    if new == old {
        return Ok(());
    }
    apply::patch_status(&ctx.client, ws, &new)
        .await
        .map_err(Error::Status)?;

    if let Some(ready) = conditions::ready_to_publish(&old.conditions, &new.conditions) {
        info!(
            kind = KIND,
            namespace = %ws.namespace().unwrap_or_default(),
            name = %ws.name_any(),
            ready = %ready.status,
            reason = %ready.reason,
            "Ready changed"
        );
        publish(
            ctx,
            ws,
            ready.status == "True",
            &ready.reason,
            &ready.message,
        )
        .await;
    }
    Ok(())
}

/// Publishes an Event on the WardService; failures are logged, never fatal.
async fn publish(ctx: &Context, ws: &WardService, ok: bool, reason: &str, message: &str) {
    let normal = ok || reason == status::reason::PAUSED || reason == status::reason::ROLLING_OUT;
    crate::controller::publish(ctx, &ws.object_ref(&()), normal, reason, message).await;
}

/// WardServices in `store` that refer to Secret `secret` in `ns`.
fn referrers_of_secret(
    store: &Store<WardService>,
    ns: &str,
    secret: &str,
) -> Vec<ObjectRef<WardService>> {
    store
        .state()
        .iter()
        .filter(|ws| ws.namespace().as_deref() == Some(ns))
        .filter(|ws| validate::secret_uses(ws).iter().any(|u| u.secret == secret))
        .map(|ws| ObjectRef::from_obj(ws.as_ref()))
        .collect()
}

/// Ready counts of the WardServices in `store`, for the resources gauge.
pub fn ready_counts(store: &Store<WardService>) -> Vec<(ReadyLabels, i64)> {
    let state = store.state();
    conditions::ready_counts(
        KIND,
        state
            .iter()
            .map(|o| o.status.as_ref().map(|s| s.conditions.as_slice())),
    )
}

/// The WardService controller for one namespace (or all): its caches and the
/// future that runs it until `shutdown` completes (then it finishes the
/// reconciles in flight).
pub fn controller<S>(
    ctx: Arc<Context>,
    shared: Arc<SharedCaches>,
    namespace: Option<&str>,
    drives: &mut cache::Drives,
    shutdown: S,
) -> (
    Store<WardService>,
    Arc<State>,
    impl std::future::Future<Output = ()> + use<S>,
)
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let client = ctx.client.clone();
    let children = || {
        watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_WARD_SERVICE))
    };
    let ws_store = shared.ward_services.store();
    let pace = cache::Pace::for_concurrency(MAX_CONCURRENT_RECONCILES);
    let wards = shared.ward_services.subscribe(pace.clone());

    let (service_accounts, sa_events) = drives.children(
        cache::api_for::<cache::CachedChild<ServiceAccount>>(&client, namespace),
        children(),
    );
    let (config_maps, cm_events) = drives.children(
        cache::api_for::<cache::CachedChild<ConfigMap>>(&client, namespace),
        children(),
    );
    let (pvcs, pvc_events) = drives.cached(
        cache::api_for::<PersistentVolumeClaim>(&client, namespace),
        children(),
        cache::slim,
    );
    let (services, svc_events) = drives.children(
        cache::api_for::<cache::CachedChild<Service>>(&client, namespace),
        children(),
    );
    let (deployments, deploy_events) = drives.children(
        cache::api_for::<cache::CachedChild<Deployment>>(&client, namespace),
        children(),
    );
    let (network_policies, np_events) = drives.children(
        cache::api_for::<cache::CachedChild<NetworkPolicy>>(&client, namespace),
        children(),
    );
    let (pdbs, pdb_events) = drives.children(
        cache::api_for::<cache::CachedChild<PodDisruptionBudget>>(&client, namespace),
        children(),
    );
    let (hpas, hpa_events) = drives.children(
        cache::api_for::<cache::CachedChild<HorizontalPodAutoscaler>>(&client, namespace),
        children(),
    );
    let (ingresses, ingress_events) = drives.children(
        cache::api_for::<cache::CachedChild<Ingress>>(&client, namespace),
        children(),
    );
    let (secret_events, ns_events, dc_events) = (
        shared.secrets.changes(),
        shared.namespaces.changes(),
        shared.connectors.changes(),
    );

    let state = Arc::new(State {
        retaining: Default::default(),
        ctx: ctx.clone(),
        cache: Caches {
            namespaces: shared.namespaces.store(),
            secrets: SecretIndex::new(shared.secrets.clone()),
            connectors: shared.connectors.store(),
            service_accounts,
            config_maps,
            pvcs,
            services,
            deployments,
            network_policies,
            pdbs,
            hpas,
            ingresses,
        },
    });

    let (secret_store, ns_store) = (ws_store.clone(), ws_store.clone());
    // Every request through our queue (`controller::requests`): in the order
    // asked, those for objects reconciled before first.
    let (controller, ends) = Requests::of(wards)
        .owns(sa_events)
        .owns(cm_events)
        .owns(svc_events)
        .owns(deploy_events)
        .owns(np_events)
        .owns(pdb_events)
        .owns(hpa_events)
        .owns(ingress_events)
        // A retained PVC has no owner reference: map it by its label.
        .watches(pvc_events, |pvc| {
            let ns = pvc.namespace();
            pvc.labels()
                .get(labels::WARD_SERVICE_LABEL)
                .zip(ns)
                .map(|(ws, ns)| ObjectRef::new(ws).within(&ns))
        })
        .watches(secret_events, move |s: PartialObjectMeta<Secret>| {
            referrers_of_secret(
                &secret_store,
                &s.namespace().unwrap_or_default(),
                &s.name_any(),
            )
        })
        .watches(ns_events, move |n: PartialObjectMeta<Namespace>| {
            let name = n.name_any();
            ns_store
                .state()
                .iter()
                .filter(|ws| ws.namespace().as_deref() == Some(name.as_str()))
                .map(|ws| ObjectRef::from_obj(ws.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches(dc_events, |dc: DataConnector| {
            dc.namespace()
                .map(|ns| ObjectRef::new(&dc.spec.ward_service_ref.name).within(&ns))
        })
        .controller(ws_store.clone(), MAX_CONCURRENT_RECONCILES);
    let fut = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state.clone())
        .for_each(ends.on_reconcile(pace));
    (ws_store, state, fut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::WardServiceStatus;

    #[test]
    fn child_selector_matches_built_labels() {
        let l = labels::common_labels(
            labels::COMPONENT_WARD_SERVICE,
            "a",
            "a",
            "11311",
            "internal",
        );
        for pair in labels::child_selector(labels::COMPONENT_WARD_SERVICE).split(',') {
            let (k, v) = pair.split_once('=').unwrap();
            assert_eq!(l.get(k).map(String::as_str), Some(v), "{k}");
        }
    }

    #[test]
    fn a_volume_is_retained_once_and_a_deleted_claim_leaves_no_entry() {
        let mut r = Retaining::default();
        let cached = |_: &str, _: &str| true;
        assert!(
            r.begin("pv-1", ("ns", "data"), false, cached),
            "the first reconcile writes"
        );
        assert!(
            !r.begin("pv-1", ("ns", "data"), false, cached),
            "not again before the note"
        );
        assert!(
            !r.begin("pv-1", ("ns", "data"), true, cached),
            "the note ends it"
        );
        assert!(r.0.is_empty());

        assert!(r.begin("pv-2", ("ns", "gone"), false, cached));
        r.failed("pv-2");
        assert!(
            r.begin("pv-2", ("ns", "gone"), false, cached),
            "a failed write is retried"
        );
        // The claim is deleted before its note is seen: another claim's
        // reconcile drops its entry.
        let only_data = |_: &str, claim: &str| claim == "data";
        assert!(r.begin("pv-3", ("ns", "data"), false, only_data));
        assert_eq!(r.0.keys().collect::<Vec<_>>(), ["pv-3"]);
    }

    fn connector(name: &str, extra: serde_json::Value) -> DataConnector {
        let mut dc: DataConnector = serde_json::from_value(serde_json::json!({
            "apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"wardServiceRef": {"name": "one-stop"},
                     "source": {"kind": "land", "endpoint": "https://dd.city"},
                     "credentialsSecretRef": {"name": "s"}, "datasets": ["a"]},
        }))
        .unwrap();
        if let Some(status) = extra.get("status") {
            dc.status = Some(serde_json::from_value(status.clone()).unwrap());
        }
        if let Some(level) = extra.get("classification") {
            dc.spec.classification = Some(serde_json::from_value(level.clone()).unwrap());
        }
        dc
    }

    #[test]
    fn only_connectors_the_connector_controller_wired_get_a_url() {
        let (store, mut writer) = kube::runtime::reflector::store::<DataConnector>();
        let ready = serde_json::json!({"url": "http://b-connector.ns.svc:8080",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        for dc in [
            connector("b", serde_json::json!({"status": ready})),
            // Not reconciled yet, or refused: no status.url.
            connector("a", serde_json::json!({})),
            // Wired once, but below the service's level now.
            connector(
                "c",
                serde_json::json!({"status": ready, "classification": "public"}),
            ),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(dc));
        }
        let refs = connectors_of(&store, "ns", "one-stop", Classification::Internal);
        let got: Vec<(&str, Option<&str>, bool)> = refs
            .iter()
            .map(|r| (r.name.as_str(), r.url.as_deref(), r.ready))
            .collect();
        assert_eq!(
            got,
            [
                ("a", None, false),
                ("b", Some("http://b-connector.ns.svc:8080"), true),
                ("c", None, false),
            ]
        );
        assert!(connectors_of(&store, "other", "one-stop", Classification::Internal).is_empty());
    }

    #[test]
    fn status_type_round_trips() {
        let s = WardServiceStatus {
            observed_generation: Some(2),
            ready_replicas: Some(1),
            endpoint: Some("http://a.b.svc:8080".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["observedGeneration"], 2);
        assert_eq!(serde_json::from_value::<WardServiceStatus>(v).unwrap(), s);
    }
}
