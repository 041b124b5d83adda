//! DataConnector controller: dereference → validate → build → apply → status.
//!
//! A connector gets its gateway (`wardops gateway`): ServiceAccount,
//! ConfigMap, Service `<name>-connector`, NetworkPolicy and Deployment. Its
//! WardService (which watches DataConnectors) wires the connector's URL in.
//! A sync connector also gets its snapshot volume, the CronJob `<name>-sync`
//! that pulls on schedule, that CronJob's NetworkPolicy, and one Job per new
//! `wardops.io/sync-now` value; the sync pods' termination messages become
//! `status.lastSyncTime`, `lastSyncResult`, `datasets` and `Synced`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::data_connector::{ConnectorMode, DataConnectorStatus};
use crate::api::{DataConnector, WardService};
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
pub const KIND: &str = "DataConnector";

/// Most DataConnectors reconciled at once.
pub const MAX_CONCURRENT_RECONCILES: u16 = 4;

/// How long a reconcile waits for the watch caches' first listing.
const CACHE_WAIT: Duration = Duration::from_millis(500);

/// What the DataConnector reconcile reads: the shared context and the caches.
pub struct State {
    /// Client, settings, Events, metrics, backoff.
    pub ctx: Arc<Context>,
    /// Everything a steady-state reconcile reads, kept current by watches.
    pub cache: Caches,
}

/// The watch caches of one DataConnector controller.
pub struct Caches {
    namespaces: Store<PartialObjectMeta<Namespace>>,
    secrets: SecretIndex,
    ward_services: Store<WardService>,
    service_accounts: Store<cache::CachedChild<ServiceAccount>>,
    config_maps: Store<cache::CachedChild<ConfigMap>>,
    services: Store<cache::CachedChild<Service>>,
    deployments: Store<cache::CachedChild<Deployment>>,
    network_policies: Store<cache::CachedChild<NetworkPolicy>>,
    pvcs: Store<PersistentVolumeClaim>,
    cron_jobs: Store<cache::CachedChild<CronJob>>,
    jobs: Store<Job>,
    sync_pods: Store<Pod>,
}

impl Caches {
    /// Sizes by cached kind, for the `wardops_cache_objects` gauge.
    /// (The shared caches are counted once, by [`SharedCaches::sizes`].)
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("ServiceAccount", self.service_accounts.len()),
            ("ConfigMap", self.config_maps.len()),
            ("Service", self.services.len()),
            ("Deployment", self.deployments.len()),
            ("NetworkPolicy", self.network_policies.len()),
            ("PersistentVolumeClaim", self.pvcs.len()),
            ("CronJob", self.cron_jobs.len()),
            ("Job", self.jobs.len()),
            ("Pod", self.sync_pods.len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        cache::is_ready(&self.namespaces)
            && self.secrets.versions().is_ready()
            && cache::is_ready(&self.ward_services)
            && cache::is_ready(&self.service_accounts)
            && cache::is_ready(&self.config_maps)
            && cache::is_ready(&self.services)
            && cache::is_ready(&self.deployments)
            && cache::is_ready(&self.network_policies)
            && cache::is_ready(&self.pvcs)
            && cache::is_ready(&self.cron_jobs)
            && cache::is_ready(&self.jobs)
            && cache::is_ready(&self.sync_pods)
    }

    /// The ended and running sync pods of connector `name` in `ns`.
    fn sync_pods_of(&self, ns: &str, name: &str) -> Vec<Arc<Pod>> {
        self.sync_pods
            .state()
            .into_iter()
            .filter(|p| {
                p.namespace().as_deref() == Some(ns) && cache::instance_of(p.as_ref()) == Some(name)
            })
            .collect()
    }
}

/// Reconciles one DataConnector, recording metrics.
pub async fn reconcile(dc: Arc<DataConnector>, state: Arc<State>) -> Result<Action, Error> {
    let ctx = &state.ctx;
    if !state.cache.is_ready() {
        return Ok(Action::requeue(CACHE_WAIT));
    }
    let start = Instant::now();
    let result = reconcile_inner(&dc, &state).await;
    ctx.metrics.reconciled(
        KIND,
        start.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    if result.is_ok() {
        ctx.reset_backoff(&backoff_key(&dc));
    }
    result
}

fn backoff_key(dc: &DataConnector) -> String {
    format!(
        "dc/{}/{}",
        dc.namespace().unwrap_or_default(),
        dc.name_any()
    )
}

/// Requeues a failed reconcile with per-object backoff; the first failure of
/// a streak is also an Event, with the error's category as reason.
pub fn error_policy(dc: Arc<DataConnector>, err: &Error, state: Arc<State>) -> Action {
    let ctx = state.ctx.clone();
    let (wait, first) = ctx.next_backoff(&backoff_key(&dc));
    warn!(
        kind = KIND,
        namespace = %dc.namespace().unwrap_or_default(),
        name = %dc.name_any(),
        category = err.category(),
        error = %crate::error_chain(err),
        retry_in_seconds = wait.as_secs(),
        "reconcile failed"
    );
    if first && !matches!(err, Error::Apply(e) if !e.is_transient()) {
        let (category, message) = (
            err.category(),
            format!("{}; retrying", crate::error_chain(err)),
        );
        tokio::spawn(async move { publish(&ctx, &dc, false, category, &message).await });
    }
    Action::requeue(wait)
}

async fn reconcile_inner(dc: &DataConnector, state: &State) -> Result<Action, Error> {
    let (ctx, cache) = (state.ctx.as_ref(), &state.cache);
    let id = crate::controller::identity(&dc.metadata)?;
    let (ns, name, uid) = (id.namespace.to_string(), id.name.to_string(), id.uid);
    if dc.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let generation = dc.metadata.generation;
    let blocked =
        |reason: &'static str, message: String| status::blocked_conditions(reason, message);

    // Dereference, from the caches: the WardService, the namespace, the Secrets.
    let ward_name = &dc.spec.ward_service_ref.name;
    let Some(ward) = cache::get(&cache.ward_services, &ns, ward_name) else {
        let msg = format!(
            "WardService `{ward_name}` not found in namespace `{ns}` (spec.wardServiceRef); \
             the connector is wired when it exists"
        );
        update_status(
            dc,
            ctx,
            &blocked(reason::WARD_SERVICE_NOT_FOUND, msg),
            None,
            |_| {},
        )
        .await?;
        return Ok(Action::await_change());
    };
    let Some(namespace) = cache.namespaces.get(&ObjectRef::new(&ns)) else {
        return Ok(Action::requeue(CACHE_WAIT));
    };
    let ward_level = ward.spec.classification;
    if let Err(m) = validate::classification(dc, ward_level, &ns, namespace.labels()) {
        let conds = blocked(reason::CLASSIFICATION_MISMATCH, m.to_string());
        update_status(dc, ctx, &conds, None, |_| {}).await?;
        return Ok(Action::await_change());
    }
    if let Err(e) = validate::schedule(dc) {
        update_status(
            dc,
            ctx,
            &blocked(reason::INVALID_TIME_ZONE, e.to_string()),
            None,
            |_| {},
        )
        .await?;
        return Ok(Action::await_change());
    }
    let secret_check = cache
        .secrets
        .check(&ctx.client, &ns, &validate::secret_uses(dc))
        .await
        .map_err(|source| Error::SecretLookup {
            namespace: ns.clone(),
            source,
        })?;
    if !secret_check.missing.is_empty() {
        let conds = blocked(reason::SECRET_MISSING, secret_check.message());
        update_status(dc, ctx, &conds, None, |_| {}).await?;
        return Ok(Action::await_change());
    }

    // Build and apply.
    let input = build::BuildInput {
        connector: dc,
        ward_code: &ward.spec.ward.code,
        ward_classification: ward_level,
        settings: &ctx.settings,
        secret_versions: &secret_check.versions,
    };
    let children = build::children(&input)?;
    let owner = apply::Owner { uid, name: &name };
    if dc.spec.mode == ConnectorMode::Proxy {
        delete_sync_children(ctx, cache, &ns, &name, uid)
            .await
            .map_err(Error::Apply)?;
    }
    let deployment = match apply_children(ctx, cache, &ns, owner, children).await {
        Ok(d) => d,
        Err(e) => {
            if !e.is_transient() {
                let conds = blocked(reason::APPLY_FAILED, e.api_message());
                update_status(dc, ctx, &conds, None, |_| {}).await?;
            }
            return Err(Error::Apply(e));
        }
    };

    // Status from what the cluster reports.
    let state = status::deployment_state(&deployment);
    let mut conditions = status::running_conditions(&state, generation);
    let url = Some(labels::connector_url(&name, &ns));
    if dc.spec.mode == ConnectorMode::Proxy {
        update_status(dc, ctx, &conditions, url, |_| {}).await?;
        return Ok(Action::requeue(ctx.resync));
    }
    let old = dc.status.clone().unwrap_or_default();
    let last_sync_now = sync_now(dc, ctx, cache, &input, &old).await?;
    let pods = cache.sync_pods_of(&ns, &name);
    let observed = status::observe_sync(pods.iter().map(Arc::as_ref), &old);
    let pod_selector = labels::child_selector(labels::COMPONENT_CONNECTOR_SYNC);
    conditions
        .push(observed.condition(&format!("{pod_selector},{}={name}", labels::INSTANCE_LABEL)));
    update_status(dc, ctx, &conditions, url, move |s| {
        observed.apply_to(s);
        s.last_sync_now = last_sync_now;
    })
    .await?;
    Ok(Action::requeue(ctx.resync))
}

/// Starts one sync Job for a new `wardops.io/sync-now` value; returns the
/// value acted on, for `status.lastSyncNow`. The Job is named after the
/// value, so a repeated request (a lost status write, a restart) finds it
/// and starts nothing.
async fn sync_now(
    dc: &DataConnector,
    ctx: &Context,
    cache: &Caches,
    input: &build::BuildInput<'_>,
    old: &DataConnectorStatus,
) -> Result<Option<String>, Error> {
    let requested = dc
        .annotations()
        .get(labels::SYNC_NOW_ANNOTATION)
        .filter(|v| !v.is_empty());
    let Some(value) = requested else {
        return Ok(old.last_sync_now.clone());
    };
    if old.last_sync_now.as_deref() == Some(value.as_str()) {
        return Ok(Some(value.clone()));
    }
    let job = build::sync_now_job(input, value)?;
    let job_name = job.name_any();
    let ns = dc.namespace().unwrap_or_default();
    if cache::get(&cache.jobs, &ns, &job_name).is_none() {
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
        match api.create(&PostParams::default(), &job).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(source) => {
                return Err(Error::Apply(apply::ApplyError::Api {
                    kind: "Job".to_string(),
                    name: job_name,
                    source,
                }));
            }
        }
        let message = format!(
            "Job {job_name} started: a pull now, for {}={value}",
            labels::SYNC_NOW_ANNOTATION
        );
        publish(ctx, dc, true, reason::SYNC_STARTED, &message).await;
    }
    Ok(Some(value.clone()))
}

/// A proxy connector has no snapshot volume, CronJob, sync policy or pull
/// Jobs: those left from an earlier `mode: sync` are deleted (only when the
/// caches hold them, so a steady proxy connector sends nothing). The
/// CronJob's Jobs go with it; the sync-now Jobs, owned by the connector, are
/// deleted here, so no pod keeps the snapshot volume in use.
async fn delete_sync_children(
    ctx: &Context,
    cache: &Caches,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<(), ApplyError> {
    let client = &ctx.client;
    let sync = build::sync_name(name);
    apply::delete_owned(client, ns, cache::get(&cache.cron_jobs, ns, &sync), uid).await?;
    apply::delete_owned(
        client,
        ns,
        cache::get(&cache.network_policies, ns, &sync),
        uid,
    )
    .await?;
    for job in cache.jobs.state() {
        if job.namespace().as_deref() == Some(ns) && cache::instance_of(job.as_ref()) == Some(name)
        {
            apply::delete_owned(client, ns, Some(job), uid).await?;
        }
    }
    let claim = build::data_claim_name(name);
    apply::delete_owned(client, ns, cache::get(&cache.pvcs, ns, &claim), uid).await?;
    Ok(())
}

/// Applies the children in the one apply order; returns the live Deployment.
async fn apply_children(
    ctx: &Context,
    cache: &Caches,
    ns: &str,
    owner: apply::Owner<'_>,
    children: build::Children,
) -> Result<Arc<Deployment>, ApplyError> {
    let client = &ctx.client;
    let mut deployment = None;
    for child in children.in_apply_order() {
        match child {
            Child::ServiceAccount(o) => {
                apply::apply_cached(client, ns, owner, &cache.service_accounts, o).await?;
            }
            Child::ConfigMap(o) => {
                apply::apply_cached(client, ns, owner, &cache.config_maps, o).await?;
            }
            Child::Service(o) => {
                apply::apply_cached(client, ns, owner, &cache.services, *o).await?;
            }
            Child::NetworkPolicy(o) => {
                apply::apply_cached(client, ns, owner, &cache.network_policies, o).await?;
            }
            Child::Deployment(o) => {
                deployment =
                    Some(apply::apply_cached(client, ns, owner, &cache.deployments, *o).await?);
            }
            Child::Pvc(o) => {
                apply::apply_cached(client, ns, owner, &cache.pvcs, *o).await?;
            }
            Child::CronJob(o) => {
                apply::apply_cached(client, ns, owner, &cache.cron_jobs, *o).await?;
            }
        }
    }
    deployment.ok_or_else(|| ApplyError::Missing {
        kind: "Deployment".to_string(),
    })
}

/// Writes the status if it changed, and publishes an Event when Ready's
/// status or reason changed (not for a first rollout:
/// `conditions::ready_to_publish`). `url` is set once the gateway is applied;
/// `fill` sets the other fields (sync results).
async fn update_status(
    dc: &DataConnector,
    ctx: &Context,
    desired: &[DesiredCondition],
    url: Option<String>,
    fill: impl FnOnce(&mut DataConnectorStatus),
) -> Result<(), Error> {
    let old = dc.status.clone().unwrap_or_default();
    let mut new = old.clone();
    fill(&mut new);
    new.observed_generation = dc.metadata.generation;
    new.conditions = conditions::merge(
        &old.conditions,
        desired,
        dc.metadata.generation,
        Timestamp::now(),
    );
    // A blocked connector is not wired: no URL.
    new.url = url;
    if new == old {
        return Ok(());
    }
    apply::patch_status(&ctx.client, dc, &new)
        .await
        .map_err(Error::Status)?;

    if let Some(ready) = conditions::ready_to_publish(&old.conditions, &new.conditions) {
        info!(
            kind = KIND,
            namespace = %dc.namespace().unwrap_or_default(),
            name = %dc.name_any(),
            ready = %ready.status,
            reason = %ready.reason,
            "Ready changed"
        );
        publish(
            ctx,
            dc,
            ready.status == "True",
            &ready.reason,
            &ready.message,
        )
        .await;
    }
    Ok(())
}

/// Publishes an Event on the DataConnector; failures are logged, never fatal.
async fn publish(ctx: &Context, dc: &DataConnector, ok: bool, reason: &str, message: &str) {
    let normal = ok || reason == reason::ROLLING_OUT;
    crate::controller::publish(ctx, &dc.object_ref(&()), normal, reason, message).await;
}

/// Ready counts of the DataConnectors in `store`, for the resources gauge.
pub fn ready_counts(store: &Store<DataConnector>) -> Vec<(ReadyLabels, i64)> {
    let state = store.state();
    conditions::ready_counts(
        KIND,
        state
            .iter()
            .map(|o| o.status.as_ref().map(|s| s.conditions.as_slice())),
    )
}

/// The DataConnector controller for one namespace (or all): its caches and
/// the future that runs it until `shutdown` completes.
pub fn controller<S>(
    ctx: Arc<Context>,
    shared: Arc<SharedCaches>,
    namespace: Option<&str>,
    drives: &mut cache::Drives,
    shutdown: S,
) -> (
    Store<DataConnector>,
    Arc<State>,
    impl std::future::Future<Output = ()> + use<S>,
)
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let client = ctx.client.clone();
    let children =
        || watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_CONNECTOR));
    let sync_children = || {
        watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_CONNECTOR_SYNC))
    };
    let dc_store = shared.connectors.store();
    let pace = cache::Pace::for_concurrency(MAX_CONCURRENT_RECONCILES);
    let connectors = shared.connectors.subscribe(pace.clone());

    let (service_accounts, sa_events) = drives.children(
        cache::api_for::<cache::CachedChild<ServiceAccount>>(&client, namespace),
        children(),
    );
    let (config_maps, cm_events) = drives.children(
        cache::api_for::<cache::CachedChild<ConfigMap>>(&client, namespace),
        children(),
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
    let (pvcs, pvc_events) = drives.cached(
        cache::api_for::<PersistentVolumeClaim>(&client, namespace),
        children(),
        cache::slim,
    );
    let (cron_jobs, cron_job_events) = drives.children(
        cache::api_for::<cache::CachedChild<CronJob>>(&client, namespace),
        children(),
    );
    let (jobs, job_events) = drives.cached(
        cache::api_for::<Job>(&client, namespace),
        sync_children(),
        cache::slim,
    );
    let (sync_pods, pod_events) = drives.cached(
        cache::api_for::<Pod>(&client, namespace),
        sync_children(),
        cache::pod_result,
    );
    let (secret_events, ns_events, ws_events) = (
        shared.secrets.changes(),
        shared.namespaces.changes(),
        // What a connector reads of its WardService is its metadata and spec.
        shared.ward_services.spec_changes(),
    );

    let state = Arc::new(State {
        ctx: ctx.clone(),
        cache: Caches {
            namespaces: shared.namespaces.store(),
            secrets: SecretIndex::new(shared.secrets.clone()),
            ward_services: shared.ward_services.store(),
            service_accounts,
            config_maps,
            services,
            deployments,
            network_policies,
            pvcs,
            cron_jobs,
            jobs,
            sync_pods,
        },
    });

    let (secret_store, ns_store, ws_store) = (dc_store.clone(), dc_store.clone(), dc_store.clone());
    // Every request through our queue (`controller::requests`): in the order
    // asked, those for objects reconciled before first.
    let (controller, ends) = Requests::of(connectors)
        .owns(sa_events)
        .owns(cm_events)
        .owns(svc_events)
        .owns(deploy_events)
        .owns(np_events)
        .owns(pvc_events)
        .owns(cron_job_events)
        // Jobs (the CronJob's or a sync-now one) and sync pods, by their
        // connector's name label.
        .watches(job_events, |j: Job| cache::owner_by_instance(&j))
        .watches(pod_events, |p: Pod| cache::owner_by_instance(&p))
        .watches(secret_events, move |s: PartialObjectMeta<Secret>| {
            let name = s.name_any();
            cache::refs_where(&secret_store, &s.namespace().unwrap_or_default(), |dc| {
                validate::secret_uses(dc).iter().any(|u| u.secret == name)
            })
        })
        .watches(ns_events, move |n: PartialObjectMeta<Namespace>| {
            cache::refs_where(&ns_store, &n.name_any(), |_| true)
        })
        // A WardService that appears, changes level or ward: its connectors follow.
        .watches(ws_events, move |ws: WardService| {
            let name = ws.name_any();
            cache::refs_where(&ws_store, &ws.namespace().unwrap_or_default(), |dc| {
                dc.spec.ward_service_ref.name == name
            })
        })
        .controller(dc_store.clone(), MAX_CONCURRENT_RECONCILES);
    let fut = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state.clone())
        .for_each(ends.on_reconcile(pace));
    (dc_store, state, fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_selector_matches_built_labels() {
        let l = labels::common_labels(labels::COMPONENT_CONNECTOR, "a", "w", "11311", "internal");
        for pair in labels::child_selector(labels::COMPONENT_CONNECTOR).split(',') {
            let (k, v) = pair.split_once('=').unwrap();
            assert_eq!(l.get(k).map(String::as_str), Some(v), "{k}");
        }
    }
}
