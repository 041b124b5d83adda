//! The operator's runtime: settings, leader election, metrics, health, shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;
use kube::api::ListParams;
use kube::runtime::reflector::Store;
use kube::{Api, Client, Config, ResourceExt};
use kube_lease_manager::LeaseManagerError;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::api::{BackupPolicy, DataConnector, Restore, WardService};
use crate::controller::{self, Context};

pub mod client;
pub mod crd_check;
pub mod health;
pub mod heap;
pub mod leader;
pub mod metrics;
pub mod settings;

use settings::{LogFormat, RunSettings};

/// How long shutdown may take before the process gives up on in-flight work.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Why `wardops run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The log filter is invalid.
    #[error(
        "--log-level `{0}` is not a valid level or filter (e.g. `info`, `wardops=debug,kube=info`)"
    )]
    LogLevel(String),
    /// No kubeconfig or in-cluster configuration.
    #[error("cannot configure the Kubernetes client (set KUBECONFIG or run in a pod)")]
    Config(#[source] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("cannot build the Kubernetes client")]
    Client(#[source] kube::Error),
    /// The CRDs are not usable.
    #[error(transparent)]
    Crds(#[from] crd_check::CrdError),
    /// An HTTP listener could not be bound.
    #[error("cannot listen for metrics/health")]
    Listen(#[source] std::io::Error),
    /// Leader election failed.
    #[error("leader election on Lease `{namespace}/{name}`")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    /// Classified WardServices exist but no isolated node pool is configured.
    #[error(
        "--isolated-node-selector is empty but {count} confidential or secret WardService(s) exist (e.g. {example}); \
         classified workloads must run on an isolated node pool: set WARDOPS_ISOLATED_NODE_SELECTOR"
    )]
    NoIsolatedPool { count: usize, example: String },
    /// Listing WardServices at start-up failed.
    #[error("listing WardServices to check the isolated node pool")]
    StartupList(#[source] kube::Error),
    /// Another replica took the lease while this one was leading.
    #[error("lost the leader Lease; exiting so that this replica restarts as a standby")]
    LostLease,
}

/// Sets up logging; call once.
pub fn init_logging(format: LogFormat, level: &str) -> Result<(), RunError> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|_| RunError::LogLevel(level.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already initialised (tests): keep the first.
    drop(res);
    Ok(())
}

/// A client that identifies itself as `wardops/<version>` (visible in audit logs).
pub async fn client() -> Result<Client, RunError> {
    let mut config = Config::infer().await.map_err(RunError::Config)?;
    if let Ok(ua) = http::HeaderValue::from_str(&format!("wardops/{}", crate::VERSION)) {
        config.headers.push((http::header::USER_AGENT, ua));
    }
    client::from_config(config).map_err(RunError::Client)
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "wardops".to_string());
    format!("{host}-{}", std::process::id())
}

/// With no isolated node pool configured, classified WardServices would run
/// on the shared pool: refuse to start while any exists.
async fn check_no_classified(client: &Client, namespaces: &[String]) -> Result<(), RunError> {
    let apis: Vec<Api<WardService>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let mut classified = Vec::new();
    for api in apis {
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(RunError::StartupList)?;
        classified.extend(
            list.items
                .into_iter()
                .filter(|ws| ws.spec.classification.is_classified())
                .map(|ws| format!("{}/{}", ws.namespace().unwrap_or_default(), ws.name_any())),
        );
    }
    match classified.first() {
        None => Ok(()),
        Some(example) => Err(RunError::NoIsolatedPool {
            count: classified.len(),
            example: example.clone(),
        }),
    }
}

/// Runs the controllers until SIGTERM/SIGINT (or a lost lease).
pub async fn run(settings: RunSettings) -> Result<(), RunError> {
    let client = client().await?;
    crd_check::check(&client).await?;
    if settings.workload.isolated_node_selector.0.is_empty() {
        check_no_classified(&client, &settings.watch_namespaces).await?;
    }

    let metrics = metrics::Metrics::new();
    let readiness = health::Readiness::new();
    let (metrics_addr, health_addr, servers) = health::serve(
        settings.metrics_addr,
        settings.health_addr,
        metrics.clone(),
        readiness.clone(),
    )
    .await
    .map_err(RunError::Listen)?;
    info!(%metrics_addr, %health_addr, version = crate::VERSION, "wardops starting");
    tokio::spawn(async move {
        if let Err(e) = servers.await {
            error!(error = %e, "metrics/health server stopped");
        }
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = Box::pin(termination());

    let streaming = controller::cache::detect_streaming_lists(&client, "kube-system").await;
    info!(
        streaming_lists = streaming,
        "caches list by {}",
        if streaming {
            "streaming"
        } else {
            "list and watch"
        }
    );

    // Controllers: one per watched namespace, or one for all.
    let ctx = Context::new(
        client.clone(),
        settings.workload.clone(),
        metrics.clone(),
        settings.resync(),
        std::env::var("POD_NAME").ok(),
    );
    let namespaces: Vec<Option<String>> = if settings.watch_namespaces.is_empty() {
        vec![None]
    } else {
        settings
            .watch_namespaces
            .iter()
            .cloned()
            .map(Some)
            .collect()
    };
    let mut stores: Vec<Store<WardService>> = Vec::new();
    let mut states = Vec::new();
    let mut dc_stores: Vec<Store<DataConnector>> = Vec::new();
    let mut dc_states = Vec::new();
    let mut bp_stores: Vec<Store<BackupPolicy>> = Vec::new();
    let mut bp_states = Vec::new();
    let mut rst_stores: Vec<Store<Restore>> = Vec::new();
    let mut rst_states = Vec::new();
    let mut shared_caches = Vec::new();
    let mut drives = controller::cache::Drives::new(stop_rx);
    // Every controller, as one list of futures of one type.
    let mut runs: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
    for ns in &namespaces {
        let shared = Arc::new(controller::SharedCaches::new(
            &client,
            ns.as_deref(),
            &mut drives,
        ));
        shared_caches.push(shared.clone());
        let shutdown = drives.stopping();
        let (store, state, fut) = controller::ward_service::controller(
            ctx.clone(),
            shared.clone(),
            ns.as_deref(),
            &mut drives,
            shutdown,
        );
        stores.push(store);
        states.push(state);
        runs.push(fut.boxed());
        let shutdown = drives.stopping();
        let (store, state, fut) = controller::data_connector::controller(
            ctx.clone(),
            shared.clone(),
            ns.as_deref(),
            &mut drives,
            shutdown,
        );
        dc_stores.push(store);
        dc_states.push(state);
        runs.push(fut.boxed());
        let shutdown = drives.stopping();
        let (store, state, fut) = controller::backup_policy::controller(
            ctx.clone(),
            shared.clone(),
            ns.as_deref(),
            &mut drives,
            shutdown,
        );
        bp_stores.push(store);
        bp_states.push(state);
        runs.push(fut.boxed());
        let shutdown = drives.stopping();
        let (store, state, fut) = controller::restore::controller(
            ctx.clone(),
            shared.clone(),
            ns.as_deref(),
            &mut drives,
            shutdown,
        );
        rst_stores.push(store);
        rst_states.push(state);
        runs.push(fut.boxed());
    }
    let (gauge_stores, gauge_dc_stores, gauge_bp_stores, gauge_rst_stores) = (
        stores.clone(),
        dc_stores.clone(),
        bp_stores.clone(),
        rst_stores.clone(),
    );
    metrics.add_ready_source(Box::new(move || {
        gauge_stores
            .iter()
            .flat_map(controller::ward_service::ready_counts)
            .chain(
                gauge_dc_stores
                    .iter()
                    .flat_map(controller::data_connector::ready_counts),
            )
            .chain(
                gauge_bp_stores
                    .iter()
                    .flat_map(controller::backup_policy::ready_counts),
            )
            .chain(
                gauge_rst_stores
                    .iter()
                    .flat_map(controller::restore::ready_counts),
            )
            .collect()
    }));
    let health_stores = bp_stores.clone();
    let grace = i64::try_from(settings.backup_overdue_grace_seconds).unwrap_or(i64::MAX);
    metrics.set_backup_source(Box::new(move || {
        let now = k8s_openapi::jiff::Timestamp::now();
        health_stores
            .iter()
            .fold((0, None), |(overdue, oldest), s| {
                let (o, old) = controller::backup_policy::backup_health(s, now, grace);
                let oldest = match (oldest, old) {
                    (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                    (a, b) => a.or(b),
                };
                (overdue + o, oldest)
            })
    }));
    let (size_bp_states, size_rst_states) = (bp_states.clone(), rst_states.clone());
    let (size_states, size_dc_states) = (states.clone(), dc_states.clone());
    let size_shared = shared_caches.clone();
    metrics.add_cache_source(Box::new(move || {
        let mut sizes: BTreeMap<&'static str, i64> = BTreeMap::new();
        let all = size_shared
            .iter()
            .flat_map(|s| s.sizes())
            .chain(size_states.iter().flat_map(|s| s.cache.sizes()))
            .chain(size_dc_states.iter().flat_map(|s| s.cache.sizes()))
            .chain(size_bp_states.iter().flat_map(|s| s.cache.sizes()))
            .chain(size_rst_states.iter().flat_map(|s| s.cache.sizes()));
        for (cache, n) in all {
            *sizes.entry(cache).or_default() += i64::try_from(n).unwrap_or(i64::MAX);
        }
        sizes
            .into_iter()
            .map(|(cache, n)| (metrics::CacheLabels { cache }, n))
            .collect()
    }));
    let sync_readiness = readiness.clone();
    tokio::spawn(async move {
        // Polled rather than awaited: a store's readiness future wakes only its
        // latest waiter (the controller's).
        // The WardService, DataConnector and BackupPolicy stores are the shared ones.
        while !(shared_caches.iter().all(|s| s.is_ready())
            && states.iter().all(|s| s.cache.is_ready())
            && dc_states.iter().all(|s| s.cache.is_ready())
            && bp_states.iter().all(|s| s.cache.is_ready())
            && rst_stores.iter().all(controller::cache::is_ready)
            && rst_states.iter().all(|s| s.cache.is_ready()))
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        sync_readiness.set_synced(true);
        info!("caches synced");
    });
    // Every cache runs from here on, a standby's too: on taking the Lease,
    // the controllers start from caches already complete and current.
    tokio::spawn(drives.run());
    tokio::spawn(heap::trim_when_quiet());

    // Leader election: wait for the lease (standing by) or for a signal.
    let mut lease = None;
    if settings.leader_election {
        let (ns, name) = (settings.lease_namespace(), settings.lease_name.clone());
        let lease_err = |source| RunError::Lease {
            namespace: ns.clone(),
            name: name.clone(),
            source,
        };
        let id = identity();
        let mut election = leader::start(
            client.clone(),
            &ns,
            &name,
            &id,
            settings.lease_duration_seconds,
        )
        .await
        .map_err(lease_err)?;
        info!(lease = %format!("{ns}/{name}"), identity = %id, "standing by for the leader Lease");
        loop {
            if *election.leading.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = election.leading.changed() => {
                    if changed.is_err() {
                        return Err(RunError::LostLease);
                    }
                }
                _ = &mut term => {
                    info!("signal received while standing by; exiting");
                    let _ = stop_tx.send(true);
                    let _ = election.release(SHUTDOWN_GRACE).await;
                    return Ok(());
                }
            }
        }
        info!(lease = %format!("{ns}/{name}"), "leading");
        metrics.set_leader(true);
        lease = Some(election);
    } else {
        metrics.set_leader(true);
    }

    let mut controllers = Box::pin(join_all(runs));

    // Run until a signal, the lease is lost, or the controllers stop.
    let mut outcome = Ok(());
    match lease.as_mut() {
        Some(election) => {
            let leading = &mut election.leading;
            tokio::select! {
                _ = &mut term => info!("signal received; shutting down"),
                _ = &mut controllers => warn!("controllers stopped"),
                _ = async { while leading.changed().await.is_ok() && *leading.borrow() {} } => {
                    metrics.set_leader(false);
                    outcome = Err(RunError::LostLease);
                }
            }
        }
        None => {
            tokio::select! {
                _ = &mut term => info!("signal received; shutting down"),
                _ = &mut controllers => warn!("controllers stopped"),
            }
        }
    }

    // Graceful shutdown: stop the controllers, then release the lease so a
    // standby takes over at once.
    let _ = stop_tx.send(true);
    readiness.set_synced(false);
    if tokio::time::timeout(SHUTDOWN_GRACE / 2, &mut controllers)
        .await
        .is_err()
    {
        warn!("reconciles still running at shutdown; leaving them");
    }
    if let Some(election) = lease {
        match election.release(SHUTDOWN_GRACE / 2).await {
            Ok(()) => info!("released the leader Lease"),
            Err(e) => warn!(error = %e, "releasing the leader Lease failed"),
        }
        metrics.set_leader(false);
    }
    info!("wardops stopped");
    outcome
}
