//! DataConnector controller: dereference → validate → build → apply → status.
//!
//! A proxy connector gets its gateway (`wardops gateway`): ServiceAccount,
//! ConfigMap, Service `<name>-connector`, NetworkPolicy and Deployment. Its
//! WardService (which watches DataConnectors) wires the connector's URL in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::common::condition::READY;
use crate::api::data_connector::ConnectorMode;
use crate::api::{DataConnector, WardService};
use crate::controller::apply::{self, ApplyError};
use crate::controller::conditions::{self, DesiredCondition};
use crate::controller::{Context, cache, labels};
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
    service_accounts: Store<ServiceAccount>,
    config_maps: Store<ConfigMap>,
    services: Store<Service>,
    deployments: Store<Deployment>,
    network_policies: Store<NetworkPolicy>,
}

impl Caches {
    /// Sizes by cached kind, for the `wardops_cache_objects` gauge.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("Namespace", self.namespaces.len()),
            ("Secret", self.secrets.store().len()),
            ("WardService", self.ward_services.len()),
            ("ServiceAccount", self.service_accounts.len()),
            ("ConfigMap", self.config_maps.len()),
            ("Service", self.services.len()),
            ("Deployment", self.deployments.len()),
            ("NetworkPolicy", self.network_policies.len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        cache::is_ready(&self.namespaces)
            && cache::is_ready(self.secrets.store())
            && cache::is_ready(&self.ward_services)
            && cache::is_ready(&self.service_accounts)
            && cache::is_ready(&self.config_maps)
            && cache::is_ready(&self.services)
            && cache::is_ready(&self.deployments)
            && cache::is_ready(&self.network_policies)
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
        update_status(dc, ctx, &blocked(reason::WARD_SERVICE_NOT_FOUND, msg), None).await?;
        return Ok(Action::await_change());
    };
    let Some(namespace) = cache.namespaces.get(&ObjectRef::new(&ns)) else {
        return Ok(Action::requeue(CACHE_WAIT));
    };
    let ward_level = ward.spec.classification;
    if let Err(m) = validate::classification(dc, ward_level, &ns, namespace.labels()) {
        let conds = blocked(reason::CLASSIFICATION_MISMATCH, m.to_string());
        update_status(dc, ctx, &conds, None).await?;
        return Ok(Action::await_change());
    }
    if let Err(e) = validate::schedule(dc) {
        update_status(
            dc,
            ctx,
            &blocked(reason::INVALID_TIME_ZONE, e.to_string()),
            None,
        )
        .await?;
        return Ok(Action::await_change());
    }
    if dc.spec.mode == ConnectorMode::Sync {
        let msg = "spec.mode sync is not run by this version of wardops; nothing was created \
                   (use mode proxy, see docs/connectors.md)"
            .to_string();
        update_status(dc, ctx, &blocked(reason::MODE_NOT_SUPPORTED, msg), None).await?;
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
        update_status(dc, ctx, &conds, None).await?;
        return Ok(Action::await_change());
    }

    // Build and apply.
    let children = build::children(&build::BuildInput {
        connector: dc,
        ward_code: &ward.spec.ward.code,
        ward_classification: ward_level,
        settings: &ctx.settings,
        secret_versions: &secret_check.versions,
    })?;
    let owner = apply::Owner { uid, name: &name };
    let deployment = match apply_children(ctx, cache, &ns, owner, children).await {
        Ok(d) => d,
        Err(e) => {
            if !e.is_transient() {
                let conds = blocked(reason::APPLY_FAILED, e.api_message());
                update_status(dc, ctx, &conds, None).await?;
            }
            return Err(Error::Apply(e));
        }
    };

    // Status from what the cluster reports.
    let state = status::deployment_state(&deployment);
    update_status(
        dc,
        ctx,
        &status::running_conditions(&state, generation),
        Some(labels::connector_url(&name, &ns)),
    )
    .await?;
    Ok(Action::requeue(ctx.resync))
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
        }
    }
    deployment.ok_or_else(|| ApplyError::Missing {
        kind: "Deployment".to_string(),
    })
}

/// Writes the status if it changed, and publishes an Event when Ready's
/// status or reason changed. `url` is set once the gateway is applied.
async fn update_status(
    dc: &DataConnector,
    ctx: &Context,
    desired: &[DesiredCondition],
    url: Option<String>,
) -> Result<(), Error> {
    let old = dc.status.clone().unwrap_or_default();
    let mut new = old.clone();
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
    let body = serde_json::json!({
        "apiVersion": DataConnector::api_version(&()),
        "kind": DataConnector::kind(&()),
        "status": new,
    });
    let api: Api<DataConnector> =
        Api::namespaced(ctx.client.clone(), &dc.namespace().unwrap_or_default());
    api.patch_status(
        &dc.name_any(),
        &PatchParams::apply(labels::FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::Status)?;

    let before = conditions::state_of(&old.conditions, READY);
    let after = conditions::state_of(&new.conditions, READY);
    if before != after
        && let Some(ready) = new.conditions.iter().find(|c| c.type_ == READY)
    {
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

/// Connectors in `store` (namespace `ns`) that `pick` selects.
fn connectors_where(
    store: &Store<DataConnector>,
    ns: &str,
    pick: impl Fn(&DataConnector) -> bool,
) -> Vec<ObjectRef<DataConnector>> {
    store
        .state()
        .iter()
        .filter(|dc| dc.namespace().as_deref() == Some(ns) && pick(dc))
        .map(|dc| ObjectRef::from_obj(dc.as_ref()))
        .collect()
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
pub fn controller(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> (
    Store<DataConnector>,
    Arc<State>,
    impl std::future::Future<Output = ()>,
) {
    let client = ctx.client.clone();
    let children =
        || watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_CONNECTOR));
    let (dc_store, dc_writer) = reflector::store::<DataConnector>();
    let connectors = watcher(
        cache::api_for::<DataConnector>(&client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(cache::slim)
    .reflect(dc_writer)
    .applied_objects();

    let (service_accounts, sa_events) = cache::cached(
        cache::api_for::<ServiceAccount>(&client, namespace),
        children(),
        cache::slim,
    );
    let (config_maps, cm_events) = cache::cached(
        cache::api_for::<ConfigMap>(&client, namespace),
        children(),
        cache::slim,
    );
    let (services, svc_events) = cache::cached(
        cache::api_for::<Service>(&client, namespace),
        children(),
        cache::slim,
    );
    let (deployments, deploy_events) = cache::cached(
        cache::api_for::<Deployment>(&client, namespace),
        children(),
        cache::slim,
    );
    let (network_policies, np_events) = cache::cached(
        cache::api_for::<NetworkPolicy>(&client, namespace),
        children(),
        cache::slim,
    );
    // Secrets and Namespaces by metadata only: no secret value is ever received.
    let (secret_meta, secret_events) = cache::cached(
        cache::api_for::<PartialObjectMeta<Secret>>(&client, namespace),
        watcher::Config::default(),
        cache::secret_identity,
    );
    let ns_config = match namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => watcher::Config::default(),
    };
    let (namespaces, ns_events) = cache::cached(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        ns_config,
        cache::slim,
    );
    let (ward_services, ws_events) = cache::cached(
        cache::api_for::<WardService>(&client, namespace),
        watcher::Config::default(),
        cache::slim,
    );

    let state = Arc::new(State {
        ctx: ctx.clone(),
        cache: Caches {
            namespaces,
            secrets: SecretIndex::new(secret_meta),
            ward_services,
            service_accounts,
            config_maps,
            services,
            deployments,
            network_policies,
        },
    });

    let (secret_store, ns_store, ws_store) = (dc_store.clone(), dc_store.clone(), dc_store.clone());
    let fut = Controller::for_stream(connectors, dc_store.clone())
        .with_config(controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES))
        .owns_stream(sa_events)
        .owns_stream(cm_events)
        .owns_stream(svc_events)
        .owns_stream(deploy_events)
        .owns_stream(np_events)
        .watches_stream(secret_events, move |s: PartialObjectMeta<Secret>| {
            let name = s.name_any();
            connectors_where(&secret_store, &s.namespace().unwrap_or_default(), |dc| {
                validate::secret_uses(dc).iter().any(|u| u.secret == name)
            })
        })
        .watches_stream(ns_events, move |n: PartialObjectMeta<Namespace>| {
            connectors_where(&ns_store, &n.name_any(), |_| true)
        })
        // A WardService that appears, changes level or ward: its connectors follow.
        .watches_stream(ws_events, move |ws: WardService| {
            let name = ws.name_any();
            connectors_where(&ws_store, &ws.namespace().unwrap_or_default(), |dc| {
                dc.spec.ward_service_ref.name == name
            })
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state.clone())
        .for_each(|_| futures::future::ready(()));
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
