//! BackupPolicy controller: dereference → validate → build → apply → status.
//!
//! One CronJob per target WardService (by `spec.target.wardServiceRef` or
//! `selector`, followed as wards come and go) runs `wardops backup` and then
//! `wardops forget`; one Job per target and new `wardops.io/backup-now`
//! value; the backup pods' termination messages become each target's
//! status. Without `spec.encryption` wardops generates the key Secret, owned
//! by nothing, once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::backup_policy::{BackupPolicyStatus, BackupTargetStatus};
use crate::api::common::condition::{DEGRADED, READY};
use crate::api::{BackupPolicy, WardService};
use crate::backup::settings::{ACCESS_KEY_FILE, SECRET_KEY_FILE};
use crate::controller::apply::{self, ApplyError};
use crate::controller::conditions::{self, DesiredCondition};
use crate::controller::ward_service::build::network_policy::selector_matches;
use crate::controller::{Context, SharedCaches, cache, labels, requests::Requests};
use crate::runtime::metrics::ReadyLabels;
use crate::secrets::{SecretIndex, SecretUse};

pub mod build;
pub mod error;
pub mod status;

pub use error::Error;
use status::reason;

/// Kind label of this controller's metrics.
pub const KIND: &str = "BackupPolicy";

/// Most BackupPolicies reconciled at once.
pub const MAX_CONCURRENT_RECONCILES: u16 = 4;

/// How long a reconcile waits for the watch caches' first listing.
const CACHE_WAIT: Duration = Duration::from_millis(500);

/// What the BackupPolicy reconcile reads: the shared context and the caches.
pub struct State {
    /// Client, settings, Events, metrics, backoff.
    pub ctx: Arc<Context>,
    /// Everything a steady-state reconcile reads, kept current by watches.
    pub cache: Caches,
}

/// The watch caches of one BackupPolicy controller.
pub struct Caches {
    secrets: SecretIndex,
    claims: Store<PartialObjectMeta<PersistentVolumeClaim>>,
    ward_services: Store<WardService>,
    cron_jobs: Store<cache::CachedChild<CronJob>>,
    jobs: Store<Job>,
    pods: Store<Pod>,
}

impl Caches {
    /// Sizes by cached kind, for the `wardops_cache_objects` gauge.
    /// (The shared caches are counted once, by [`SharedCaches::sizes`].)
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("PersistentVolumeClaim", self.claims.len()),
            ("CronJob", self.cron_jobs.len()),
            ("Job", self.jobs.len()),
            ("Pod", self.pods.len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        self.secrets.versions().is_ready()
            && cache::is_ready(&self.claims)
            && cache::is_ready(&self.ward_services)
            && cache::is_ready(&self.cron_jobs)
            && cache::is_ready(&self.jobs)
            && cache::is_ready(&self.pods)
    }

    /// The backup pods of one target of policy `policy` in `ns`.
    fn pods_of(&self, ns: &str, policy: &str, ward: &str) -> Vec<Arc<Pod>> {
        self.pods
            .state()
            .into_iter()
            .filter(|p| {
                let l = p.labels();
                p.namespace().as_deref() == Some(ns)
                    && l.get(labels::INSTANCE_LABEL).map(String::as_str) == Some(policy)
                    && l.get(labels::WARD_SERVICE_LABEL).map(String::as_str) == Some(ward)
            })
            .collect()
    }
}

/// Reconciles one BackupPolicy, recording metrics.
pub async fn reconcile(bp: Arc<BackupPolicy>, state: Arc<State>) -> Result<Action, Error> {
    let ctx = &state.ctx;
    if !state.cache.is_ready() {
        return Ok(Action::requeue(CACHE_WAIT));
    }
    let start = Instant::now();
    let result = reconcile_inner(&bp, &state).await;
    ctx.metrics.reconciled(
        KIND,
        start.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    if result.is_ok() {
        ctx.reset_backoff(&backoff_key(&bp));
    }
    result
}

fn backoff_key(bp: &BackupPolicy) -> String {
    format!(
        "bp/{}/{}",
        bp.namespace().unwrap_or_default(),
        bp.name_any()
    )
}

/// Requeues a failed reconcile with per-object backoff; the first failure of
/// a streak is also an Event, with the error's category as reason.
pub fn error_policy(bp: Arc<BackupPolicy>, err: &Error, state: Arc<State>) -> Action {
    let ctx = state.ctx.clone();
    let (wait, first) = ctx.next_backoff(&backoff_key(&bp));
    warn!(
        kind = KIND,
        namespace = %bp.namespace().unwrap_or_default(),
        name = %bp.name_any(),
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
        tokio::spawn(async move { publish(&ctx, &bp, false, category, &message).await });
    }
    Action::requeue(wait)
}

/// One target WardService and whether it is backed up.
struct Target {
    ward: Arc<WardService>,
    /// `None`: backed up; else why not (reason, message).
    skipped: Option<(&'static str, String)>,
}

async fn reconcile_inner(bp: &BackupPolicy, state: &State) -> Result<Action, Error> {
    let (ctx, cache) = (state.ctx.as_ref(), &state.cache);
    let id = crate::controller::identity(&bp.metadata)?;
    let (ns, name, uid) = (id.namespace.to_string(), id.name.to_string(), id.uid);
    if bp.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = &bp.spec;
    let old = bp.status.clone().unwrap_or_default();
    let blocked = |reason: &'static str, message: String| {
        crate::controller::ward_service::status::blocked_conditions(reason, message)
    };

    // The schedule, as the CronJob controller will read it.
    if !crate::controller::schedule::is_zone(&spec.time_zone) {
        let msg = format!(
            "spec.timeZone `{}` is not in the IANA time zone database (e.g. Asia/Ho_Chi_Minh)",
            spec.time_zone
        );
        update_status(bp, ctx, &blocked(reason::INVALID_TIME_ZONE, msg), old).await?;
        return Ok(Action::await_change());
    }

    // The targets, from the cache.
    let targets = targets(bp, cache, &ns);
    if targets.is_empty() {
        let msg = match (&spec.target.ward_service_ref, &spec.target.selector) {
            (Some(r), _) => format!(
                "WardService `{}` not found in namespace `{ns}` (spec.target.wardServiceRef); \
                 backups start when it exists",
                r.name
            ),
            _ => format!(
                "no WardService in namespace `{ns}` matches spec.target.selector; backups start \
                 when one does"
            ),
        };
        let mut st = old.clone();
        st.targets.clear();
        update_status(bp, ctx, &blocked(reason::NO_TARGETS, msg), st).await?;
        return Ok(Action::await_change());
    }

    // The key and the S3 credentials.
    let (key_secret, key_name) = match &spec.encryption {
        Some(e) => (e.key_secret_ref.name.clone(), e.key_secret_ref.key.clone()),
        None => {
            let secret = build::generated_key_name(&name);
            ensure_generated_key(bp, ctx, cache, &ns, &secret).await?;
            (secret, build::KEY_FILE.to_string())
        }
    };
    let check = cache
        .secrets
        .check(&ctx.client, &ns, &secret_uses(bp))
        .await
        .map_err(|source| Error::SecretLookup {
            namespace: ns.clone(),
            source,
        })?;
    if !check.missing.is_empty() {
        update_status(
            bp,
            ctx,
            &blocked(reason::SECRET_MISSING, check.message()),
            old,
        )
        .await?;
        return Ok(Action::await_change());
    }

    // A PVC destination must exist (its pods would wait for it, unscheduled).
    if let Some(pvc) = &spec.destination.pvc
        && cache::get(&cache.claims, &ns, &pvc.claim_name).is_none()
    {
        let msg = format!(
            "PersistentVolumeClaim `{}` not found in namespace `{ns}`              (spec.destination.pvc.claimName); create it, backups start when it exists",
            pvc.claim_name
        );
        update_status(bp, ctx, &blocked(reason::DESTINATION_MISSING, msg), old).await?;
        return Ok(Action::await_change());
    }

    // Build and apply one CronJob per target; remove those of former targets.
    let owner = apply::Owner { uid, name: &name };
    let mut live_cron_jobs = Vec::new();
    let mut wanted = Vec::new();
    for t in targets.iter().filter(|t| t.skipped.is_none()) {
        let input = build::TargetInput {
            policy: bp,
            ward: &t.ward,
            settings: &ctx.settings,
            key: (&key_secret, &key_name),
        };
        let cj = build::cron_job(&input)?;
        wanted.push(cj.name_any());
        let live = apply::apply_cached(&ctx.client, &ns, owner, &cache.cron_jobs, cj)
            .await
            .map_err(Error::Apply)?;
        live_cron_jobs.push((t.ward.name_any(), live));
    }
    for cj in cache.cron_jobs.state() {
        let mine = cj.namespace().as_deref() == Some(ns.as_str())
            && apply::controlled_by(cj.as_ref(), uid);
        if mine && !wanted.contains(&cj.name_any()) {
            apply::delete_owned(&ctx.client, &ns, Some(cj), uid)
                .await
                .map_err(Error::Apply)?;
        }
    }

    // backup-now: one Job per target and value.
    let last_backup_now =
        backup_now(bp, ctx, cache, &targets, (&key_secret, &key_name), &old).await?;

    // Status from the CronJobs and the backup pods.
    let mut st = old.clone();
    st.last_backup_now = last_backup_now;
    st.targets = targets
        .iter()
        .map(|t| {
            let ward = t.ward.name_any();
            let before = old
                .targets
                .iter()
                .find(|o| o.ward_service == ward)
                .cloned()
                .unwrap_or_default();
            let mut now = match &t.skipped {
                Some((r, m)) => BackupTargetStatus {
                    reason: Some((*r).to_string()),
                    message: Some(m.clone()),
                    ..before.clone()
                },
                None => {
                    let pods = cache.pods_of(&ns, &name, &ward);
                    let mut s = status::observe_target(pods.iter().map(Arc::as_ref), &before);
                    if matches!(s.reason.as_deref(), Some(r) if r != reason::BACKUP_FAILED) {
                        s.reason = None;
                        s.message = None;
                    }
                    if let Some((_, cj)) = live_cron_jobs.iter().find(|(w, _)| *w == ward) {
                        s.cron_job = cj.name_any();
                        let scheduled = cj
                            .status
                            .as_ref()
                            .and_then(|c| c.last_schedule_time.clone());
                        if scheduled.is_some() {
                            s.last_schedule_time = scheduled;
                        }
                    }
                    s
                }
            };
            now.ward_service = ward;
            now
        })
        .collect();
    let active: Vec<&BackupTargetStatus> = st
        .targets
        .iter()
        .filter(|t| !matches!(t.reason.as_deref(), Some(r) if r != reason::BACKUP_FAILED))
        .collect();
    st.last_schedule_time = st
        .targets
        .iter()
        .filter_map(|t| t.last_schedule_time.clone())
        .max_by_key(|t| t.0);
    st.last_failed_time = st
        .targets
        .iter()
        .filter_map(|t| t.last_failed_time.clone())
        .max_by_key(|t| t.0);
    st.last_successful_time = if active.iter().all(|t| t.last_successful_time.is_some()) {
        active
            .iter()
            .filter_map(|t| t.last_successful_time.clone())
            .min_by_key(|t| t.0)
    } else {
        None
    };
    let now = Timestamp::now();
    let next = (!spec.suspend)
        .then(|| status::next_run(spec, now))
        .flatten();
    st.next_schedule_time = next.map(Time);

    // Events for failures seen for the first time.
    for t in &st.targets {
        let before = old
            .targets
            .iter()
            .find(|o| o.ward_service == t.ward_service);
        if t.last_failed_time.is_some()
            && before.and_then(|b| b.last_failed_time.as_ref()) != t.last_failed_time.as_ref()
        {
            let message = format!(
                "backup of WardService {} failed: {}",
                t.ward_service,
                t.message.as_deref().unwrap_or("see its Job")
            );
            publish(ctx, bp, false, reason::BACKUP_FAILED, &message).await;
        }
    }

    let conditions = running_conditions(bp, &targets, &st);
    update_status(bp, ctx, &conditions, st).await?;
    // Wake at the next schedule to move nextScheduleTime on.
    let wait = next
        .map(|n| {
            Duration::from_secs(u64::try_from(n.as_second() - now.as_second()).unwrap_or(0) + 1)
        })
        .unwrap_or(ctx.resync)
        .min(ctx.resync);
    Ok(Action::requeue(wait))
}

/// The WardServices the policy names, each with why it is skipped, if it is.
fn targets(bp: &BackupPolicy, cache: &Caches, ns: &str) -> Vec<Target> {
    let spec = &bp.spec;
    let wards: Vec<Arc<WardService>> = match (&spec.target.ward_service_ref, &spec.target.selector)
    {
        (Some(r), _) => cache::get(&cache.ward_services, ns, &r.name)
            .into_iter()
            .collect(),
        (None, Some(sel)) => {
            let mut w: Vec<Arc<WardService>> = cache
                .ward_services
                .state()
                .into_iter()
                .filter(|w| {
                    w.namespace().as_deref() == Some(ns) && selector_matches(sel, w.labels())
                })
                .collect();
            w.sort_by_key(|w| w.name_any());
            w
        }
        (None, None) => Vec::new(),
    };
    wards
        .into_iter()
        .map(|ward| {
            let level = ward.spec.classification;
            let skipped = if level > spec.classification {
                Some((
                    reason::CLASSIFICATION_MISMATCH,
                    format!(
                        "WardService {} is {level}, above spec.classification {}: its data may not \
                         go into this policy's backups (raise spec.classification, with \
                         spec.encryption, or back it up with a policy of its level)",
                        ward.name_any(),
                        spec.classification
                    ),
                ))
            } else if ward.spec.storage.is_none() {
                Some((
                    reason::NO_STORAGE,
                    format!(
                        "WardService {} has no spec.storage: there is no data volume to back up",
                        ward.name_any()
                    ),
                ))
            } else {
                None
            };
            Target { ward, skipped }
        })
        .collect()
}

/// Every Secret the policy references, with the keys its jobs read.
fn secret_uses(bp: &BackupPolicy) -> Vec<SecretUse> {
    let mut uses = Vec::new();
    if let Some(e) = &bp.spec.encryption {
        uses.push(SecretUse {
            field: "spec.encryption.keySecretRef".to_string(),
            secret: e.key_secret_ref.name.clone(),
            key: Some(e.key_secret_ref.key.clone()),
        });
    }
    if let Some(s3) = &bp.spec.destination.s3 {
        for key in [ACCESS_KEY_FILE, SECRET_KEY_FILE] {
            uses.push(SecretUse {
                field: "spec.destination.s3.credentialsSecretRef".to_string(),
                secret: s3.credentials_secret_ref.name.clone(),
                key: Some(key.to_string()),
            });
        }
    }
    uses
}

/// Creates the generated key Secret unless it exists (the metadata cache
/// says so). Created once, never updated: a changed key would make every
/// existing backup unreadable.
async fn ensure_generated_key(
    bp: &BackupPolicy,
    ctx: &Context,
    cache: &Caches,
    ns: &str,
    secret: &str,
) -> Result<(), Error> {
    if cache.secrets.versions().get(ns, secret).is_some() {
        return Ok(());
    }
    let key_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::KeyGeneration {
        name: secret.to_string(),
        source,
    };
    let key = build::random_key().map_err(|e| key_error(Box::new(e)))?;
    let obj = build::generated_key_secret(bp, key)?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {
            let message = format!(
                "generated the encryption key Secret {secret} (spec.encryption is not set); it is \
                 kept when this policy is deleted: keep a copy outside the cluster"
            );
            publish(ctx, bp, true, "KeyGenerated", &message).await;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(key_error(Box::new(e))),
    }
}

/// Starts one backup Job per target for a new `wardops.io/backup-now`
/// value; returns the value acted on. Jobs are named after the value, so a
/// repeated request starts nothing.
async fn backup_now(
    bp: &BackupPolicy,
    ctx: &Context,
    cache: &Caches,
    targets: &[Target],
    key: (&str, &str),
    old: &BackupPolicyStatus,
) -> Result<Option<String>, Error> {
    let requested = bp
        .annotations()
        .get(labels::BACKUP_NOW_ANNOTATION)
        .filter(|v| !v.is_empty());
    let Some(value) = requested else {
        return Ok(old.last_backup_now.clone());
    };
    if old.last_backup_now.as_deref() == Some(value.as_str()) {
        return Ok(Some(value.clone()));
    }
    let ns = bp.namespace().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let only = bp
        .annotations()
        .get(labels::BACKUP_NOW_TARGET_ANNOTATION)
        .filter(|v| !v.is_empty());
    let mut started = Vec::new();
    let chosen = |t: &&Target| {
        t.skipped.is_none() && only.is_none_or(|w| t.ward.metadata.name.as_ref() == Some(w))
    };
    for t in targets.iter().filter(chosen) {
        let input = build::TargetInput {
            policy: bp,
            ward: &t.ward,
            settings: &ctx.settings,
            key,
        };
        let job = build::backup_now_job(&input, value)?;
        let job_name = job.name_any();
        if cache::get(&cache.jobs, &ns, &job_name).is_some() {
            continue;
        }
        match api.create(&PostParams::default(), &job).await {
            Ok(_) => started.push(job_name),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(source) => {
                return Err(Error::Apply(ApplyError::Api {
                    kind: "Job".to_string(),
                    name: job_name,
                    source,
                }));
            }
        }
    }
    if !started.is_empty() {
        let message = format!(
            "Jobs {} started: a backup now, for {}={value}",
            started.join(", "),
            labels::BACKUP_NOW_ANNOTATION
        );
        publish(ctx, bp, true, reason::BACKUP_STARTED, &message).await;
    }
    Ok(Some(value.clone()))
}

/// Ready and Degraded of a policy whose targets are resolved.
fn running_conditions(
    bp: &BackupPolicy,
    targets: &[Target],
    st: &BackupPolicyStatus,
) -> Vec<DesiredCondition> {
    let running = targets.iter().filter(|t| t.skipped.is_none()).count();
    let spec = &bp.spec;
    let ready = if running == 0 {
        let (r, m) = targets
            .iter()
            .find_map(|t| t.skipped.clone())
            .unwrap_or((reason::NO_TARGETS, "no target".to_string()));
        DesiredCondition::new(READY, false, r, format!("no target can be backed up: {m}"))
    } else if spec.suspend {
        DesiredCondition::new(
            READY,
            true,
            reason::SUSPENDED,
            format!("{running} target(s); spec.suspend: no backup starts on schedule"),
        )
    } else {
        let key = match &spec.encryption {
            Some(_) => String::new(),
            None => format!(
                "; encrypted with the generated key Secret {} (keep a copy outside the cluster)",
                build::generated_key_name(&bp.name_any())
            ),
        };
        DesiredCondition::new(
            READY,
            true,
            reason::SCHEDULED,
            format!(
                "{running} target(s) backed up on `{}` ({}){key}",
                spec.schedule, spec.time_zone
            ),
        )
    };
    let troubled: Vec<String> = st
        .targets
        .iter()
        .filter_map(|t| {
            t.reason
                .as_ref()
                .map(|r| format!("{} ({r})", t.ward_service))
        })
        .collect();
    let degraded = if troubled.is_empty() {
        DesiredCondition::new(
            DEGRADED,
            false,
            reason::ALL_TARGETS_HEALTHY,
            "no target is skipped and no last backup failed",
        )
    } else {
        DesiredCondition::new(
            DEGRADED,
            true,
            reason::TARGETS_DEGRADED,
            format!("{}; see status.targets", troubled.join(", ")),
        )
    };
    vec![ready, degraded]
}

/// Writes `new` (with merged conditions) if it changed, and publishes an
/// Event when Ready's status or reason changed.
async fn update_status(
    bp: &BackupPolicy,
    ctx: &Context,
    desired: &[DesiredCondition],
    mut new: BackupPolicyStatus,
) -> Result<(), Error> {
    let old = bp.status.clone().unwrap_or_default();
    new.observed_generation = bp.metadata.generation;
    new.conditions = conditions::merge(
        &old.conditions,
        desired,
        bp.metadata.generation,
        Timestamp::now(),
    );
    if new == old {
        return Ok(());
    }
    apply::patch_status(&ctx.client, bp, &new)
        .await
        .map_err(Error::Status)?;
    if let Some(ready) = conditions::ready_to_publish(&old.conditions, &new.conditions) {
        info!(
            kind = KIND,
            namespace = %bp.namespace().unwrap_or_default(),
            name = %bp.name_any(),
            ready = %ready.status,
            reason = %ready.reason,
            "Ready changed"
        );
        publish(
            ctx,
            bp,
            ready.status == "True",
            &ready.reason,
            &ready.message,
        )
        .await;
    }
    Ok(())
}

/// Publishes an Event on the BackupPolicy; failures are logged, never fatal.
async fn publish(ctx: &Context, bp: &BackupPolicy, ok: bool, reason: &str, message: &str) {
    crate::controller::publish(ctx, &bp.object_ref(&()), ok, reason, message).await;
}

/// Ready counts of the BackupPolicies in `store`, for the resources gauge.
pub fn ready_counts(store: &Store<BackupPolicy>) -> Vec<(ReadyLabels, i64)> {
    let state = store.state();
    conditions::ready_counts(
        KIND,
        state
            .iter()
            .map(|o| o.status.as_ref().map(|s| s.conditions.as_slice())),
    )
}

/// Overdue policies in `store` at `now` (`grace` seconds after a missed
/// schedule), and the oldest last successful backup of any target (seconds
/// since the epoch), for the backup gauges.
pub fn backup_health(
    store: &Store<BackupPolicy>,
    now: Timestamp,
    grace: i64,
) -> (i64, Option<i64>) {
    let mut overdue = 0;
    let mut oldest: Option<i64> = None;
    for bp in store.state() {
        let Some(st) = &bp.status else { continue };
        let since = bp.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let backed_up = st.targets.iter().filter(|t| !status::target_skipped(t));
        let mut late = false;
        for t in backed_up {
            late |= status::target_overdue(&bp.spec, t, since, now, grace);
            if let Some(s) = &t.last_successful_time {
                oldest = Some(oldest.map_or(s.0.as_second(), |o| o.min(s.0.as_second())));
            }
        }
        overdue += i64::from(late);
    }
    (overdue, oldest)
}

/// The BackupPolicy controller for one namespace (or all): its caches and
/// the future that runs it until `shutdown` completes.
pub fn controller<S>(
    ctx: Arc<Context>,
    shared: Arc<SharedCaches>,
    namespace: Option<&str>,
    drives: &mut cache::Drives,
    shutdown: S,
) -> (
    Store<BackupPolicy>,
    Arc<State>,
    impl std::future::Future<Output = ()> + use<S>,
)
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let client = ctx.client.clone();
    let children =
        || watcher::Config::default().labels(&labels::child_selector(labels::COMPONENT_BACKUP));
    let bp_store = shared.backup_policies.store();
    let pace = cache::Pace::for_concurrency(MAX_CONCURRENT_RECONCILES);
    let policies = shared.backup_policies.subscribe(pace.clone());
    let (cron_jobs, cron_job_events) = drives.children(
        cache::api_for::<cache::CachedChild<CronJob>>(&client, namespace),
        children(),
    );
    let (jobs, job_events) = drives.cached(
        cache::api_for::<Job>(&client, namespace),
        children(),
        cache::slim,
    );
    let (pods, pod_events) = drives.cached(
        cache::api_for::<Pod>(&client, namespace),
        children(),
        cache::pod_result,
    );
    // What a policy reads of a WardService is its metadata and spec.
    let (secret_events, ws_events) = (
        shared.secrets.changes(),
        shared.ward_services.spec_changes(),
    );
    // Claims by metadata only: a PVC destination's existence.
    let (claims, claim_events) = drives.cached(
        cache::api_for::<PartialObjectMeta<PersistentVolumeClaim>>(&client, namespace),
        watcher::Config::default(),
        cache::identity,
    );
    let state = Arc::new(State {
        ctx: ctx.clone(),
        cache: Caches {
            secrets: SecretIndex::new(shared.secrets.clone()),
            claims,
            ward_services: shared.ward_services.store(),
            cron_jobs,
            jobs,
            pods,
        },
    });
    let (secret_store, ws_store, claim_store) =
        (bp_store.clone(), bp_store.clone(), bp_store.clone());
    // Every request through our queue (`controller::requests`): in the order
    // asked, those for objects reconciled before first.
    let (controller, ends) = Requests::of(policies)
        .owns(cron_job_events)
        .watches(job_events, |j: Job| cache::owner_by_instance(&j))
        .watches(pod_events, |p: Pod| cache::owner_by_instance(&p))
        .watches(secret_events, move |s: PartialObjectMeta<Secret>| {
            let name = s.name_any();
            cache::refs_where(&secret_store, &s.namespace().unwrap_or_default(), |bp| {
                secret_uses(bp).iter().any(|u| u.secret == name)
                    || (bp.spec.encryption.is_none()
                        && build::generated_key_name(&bp.name_any()) == name)
            })
        })
        .watches(
            claim_events,
            move |c: PartialObjectMeta<PersistentVolumeClaim>| {
                let name = c.name_any();
                cache::refs_where(&claim_store, &c.namespace().unwrap_or_default(), |bp| {
                    bp.spec
                        .destination
                        .pvc
                        .as_ref()
                        .is_some_and(|p| p.claim_name == name)
                })
            },
        )
        // A WardService that appears, changes or goes: the policies that
        // name it or select it (before or after) follow.
        .watches(ws_events, move |ws: WardService| {
            cache::refs_where(&ws_store, &ws.namespace().unwrap_or_default(), |_| true)
        })
        .controller(bp_store.clone(), MAX_CONCURRENT_RECONCILES);
    let fut = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state.clone())
        .for_each(ends.on_reconcile(pace));
    (bp_store, state, fut)
}
