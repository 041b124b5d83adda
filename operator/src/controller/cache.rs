//! Watch caches that reconciles read instead of the API server.
//!
//! Memory stays bounded: children are watched by label (only wardops' own
//! objects), Secrets and Namespaces by metadata only, and every cached object
//! is slimmed of what no reconcile reads (managed fields, kubectl's
//! last-applied annotation, and for Secrets every label and annotation, since
//! kubectl's last-applied annotation of a Secret holds its values).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Lookup, ObjectRef, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

pub use super::versions::Versions;

/// kubectl's copy of the last applied manifest: never read by wardops.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile reads from a cached object.
pub fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// A child kind whose cached copy can drop its content once it carries the
/// fingerprint of what wardops applied ([`CachedChild`]), and whose answer to an
/// apply drops it too (`apply::trimmed`).
pub trait Lean {
    /// Drops the content no reconcile reads from the cache (reconciles read
    /// a child's metadata, and a Deployment's replicas and status).
    fn lean(&mut self);
}

/// A [`Lean`] kind a [`CachedChild`] holds as a record of its own: its
/// metadata and what it [`Record::Kept`].
pub trait Record: Lean + Resource<DynamicType = ()> + Clone + Sized {
    /// What a lean copy holds beside its metadata: all a reconcile reads of
    /// it (a Deployment's replicas and status, a CronJob's status; of most
    /// kinds, nothing). A [`CachedChild`] holds it in place of the kind's own
    /// type, whose every field is inline, read or not (a Deployment's is
    /// 2.5 KB).
    type Kept: Clone + Debug + Send + Sync + 'static;

    /// A lean copy's metadata and what it kept.
    fn split(self) -> (ObjectMeta, Self::Kept);

    /// The lean copy [`Record::split`] took apart.
    fn join(metadata: ObjectMeta, kept: Self::Kept) -> Self;
}

impl Lean for k8s_openapi::api::apps::v1::Deployment {
    fn lean(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            *spec = k8s_openapi::api::apps::v1::DeploymentSpec {
                replicas: spec.replicas,
                ..Default::default()
            };
        }
        // A condition is read by its type and reason only.
        for c in self
            .status
            .iter_mut()
            .flat_map(|s| s.conditions.iter_mut().flatten())
        {
            c.message = None;
            c.last_transition_time = None;
            c.last_update_time = None;
        }
    }
}

impl Record for k8s_openapi::api::apps::v1::Deployment {
    /// Whether it had a spec, with its replicas; its status.
    type Kept = (
        Option<Option<i32>>,
        Option<k8s_openapi::api::apps::v1::DeploymentStatus>,
    );

    fn split(self) -> (ObjectMeta, Self::Kept) {
        let replicas = self.spec.map(|s| s.replicas);
        (self.metadata, (replicas, self.status))
    }

    fn join(metadata: ObjectMeta, (replicas, status): Self::Kept) -> Self {
        let spec = replicas.map(|replicas| k8s_openapi::api::apps::v1::DeploymentSpec {
            replicas,
            ..Default::default()
        });
        Self {
            metadata,
            spec,
            status,
        }
    }
}

impl Lean for k8s_openapi::api::batch::v1::CronJob {
    /// Its Job template goes; its status (the last schedule time) stays.
    fn lean(&mut self) {
        self.spec = None;
    }
}

impl Record for k8s_openapi::api::batch::v1::CronJob {
    type Kept = Option<k8s_openapi::api::batch::v1::CronJobStatus>;

    fn split(self) -> (ObjectMeta, Self::Kept) {
        (self.metadata, self.status)
    }

    fn join(metadata: ObjectMeta, status: Self::Kept) -> Self {
        Self {
            metadata,
            spec: None,
            status,
        }
    }
}

impl Lean for k8s_openapi::api::core::v1::PersistentVolumeClaim {
    /// A claim keeps its content: its volume name and phase are read, and
    /// its cache keeps its labels and annotations too ([`slim`], not a
    /// [`CachedChild`]).
    fn lean(&mut self) {}
}

/// Kinds whose lean copy is their metadata alone: the `data` of a
/// ConfigMap, the secrets of a ServiceAccount, the `spec` (and `status`)
/// of the rest are never read from the cache.
macro_rules! lean_to_metadata {
    ($($kind:ty: $($field:ident),+;)*) => {$(
        impl Lean for $kind {
            fn lean(&mut self) {
                $(self.$field = None;)+
            }
        }

        impl Record for $kind {
            type Kept = ();

            fn split(self) -> (ObjectMeta, ()) {
                (self.metadata, ())
            }

            fn join(metadata: ObjectMeta, (): ()) -> Self {
                Self {
                    metadata,
                    ..Default::default()
                }
            }
        }
    )*};
}

lean_to_metadata! {
    k8s_openapi::api::core::v1::ConfigMap: data, binary_data;
    k8s_openapi::api::core::v1::ServiceAccount: image_pull_secrets, secrets;
    k8s_openapi::api::networking::v1::NetworkPolicy: spec;
    k8s_openapi::api::core::v1::Service: spec, status;
    k8s_openapi::api::networking::v1::Ingress: spec, status;
    k8s_openapi::api::policy::v1::PodDisruptionBudget: spec, status;
    k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler: spec, status;
}

/// A cached child of kind `K`: once wardops applied it, its metadata (down
/// to what [`apply`] reads), the digest and fingerprint of
/// what it holds of wardops' fields, and what [`Record::Kept`] of the rest;
/// else the whole object, for the hand-edit check to read. Read from the
/// API server (a watch of `Api<CachedChild<K>>` is a watch of `K`), it is trimmed
/// as it is read (`trim_child`), and [`Live::live`] gives back the lean
/// `K` the reconciles read.
///
/// Held as `K` itself, a lean child kept every field of its type (a
/// Deployment's 2.5 KB, a CronJob's 3 KB) and a map node for its two
/// annotations (about 0.5 KB): at 1,000 wards the caches took 22.3 MiB so,
/// and 14.7 MiB as records (README, Performance).
///
/// [`apply`]: super::apply
#[derive(Clone, Debug)]
pub struct CachedChild<K: Record>(Held<K>);

/// Most children are lean: that variant is the large one, inline.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Held<K: Record> {
    Lean {
        metadata: ObjectMeta,
        digest: Option<String>,
        fingerprint: String,
        kept: K::Kept,
    },
    Whole(Box<K>),
}

impl<K: Record + serde::Serialize> From<K> for CachedChild<K> {
    fn from(mut obj: K) -> Self {
        if !trim_child(&mut obj) {
            return CachedChild(Held::Whole(Box::new(obj)));
        }
        let mut annotations = obj.meta_mut().annotations.take().unwrap_or_default();
        let digest = annotations.remove(super::apply::APPLIED_DIGEST_ANNOTATION);
        let fingerprint = annotations
            .remove(super::apply::LIVE_FINGERPRINT_ANNOTATION)
            .unwrap_or_default();
        let (metadata, kept) = obj.split();
        CachedChild(Held::Lean {
            metadata,
            digest,
            fingerprint,
            kept,
        })
    }
}

impl<K: Record> CachedChild<K> {
    /// Forgets, once the watch has read it, what no reconcile reads of a
    /// cached child: its resourceVersion (the watch reads it of each event,
    /// before the cache holds it) and its uid. Two strings in the child and
    /// their copies in the cache's key for it, about 160 bytes a child.
    fn forget_versions(&mut self) {
        let meta = self.meta_mut();
        meta.resource_version = None;
        meta.uid = None;
    }

    /// The child as the reconciles read it: lean (its annotations the
    /// digest and the fingerprint), or whole.
    pub fn to_lean(&self) -> K {
        match &self.0 {
            Held::Whole(obj) => obj.as_ref().clone(),
            Held::Lean {
                metadata,
                digest,
                fingerprint,
                kept,
            } => {
                let mut obj = K::join(metadata.clone(), kept.clone());
                let annotations = obj.annotations_mut();
                if let Some(digest) = digest {
                    annotations.insert(
                        super::apply::APPLIED_DIGEST_ANNOTATION.to_string(),
                        digest.clone(),
                    );
                }
                annotations.insert(
                    super::apply::LIVE_FINGERPRINT_ANNOTATION.to_string(),
                    fingerprint.clone(),
                );
                obj
            }
        }
    }
}

impl<K: Record> Resource for CachedChild<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> std::borrow::Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> std::borrow::Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> std::borrow::Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> std::borrow::Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Held::Lean { metadata, .. } => metadata,
            Held::Whole(obj) => obj.meta(),
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            Held::Lean { metadata, .. } => metadata,
            Held::Whole(obj) => obj.meta_mut(),
        }
    }
}

impl<'de, K: Record + serde::Serialize + DeserializeOwned> serde::Deserialize<'de>
    for CachedChild<K>
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        K::deserialize(d).map(CachedChild::from)
    }
}

/// A cache a reconcile reads its live children from.
pub trait Live<K> {
    /// The cached copy of `namespace`/`name`, as the reconciles read it.
    fn live(&self, namespace: &str, name: &str) -> Option<Arc<K>>;
}

impl<K> Live<K> for Store<K>
where
    K: Lookup<DynamicType = ()> + Clone + 'static,
{
    fn live(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        get(self, namespace, name)
    }
}

impl<K: Record> Live<K> for Store<CachedChild<K>> {
    fn live(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        get(self, namespace, name).map(|c| Arc::new(c.to_lean()))
    }
}

/// Trims a child read from the API server: when wardops applied it, its
/// content gives way to the fingerprint of what it holds of wardops' fields
/// (an in-memory annotation, [`apply::LIVE_FINGERPRINT_ANNOTATION`]), which
/// is all the hand-edit check needs, and its metadata to what [`apply`]
/// reads of it ([`lean_meta`]); then [`slim`]. A child wardops applied
/// nothing to keeps its content (the check then reads it whole). Returns
/// whether it was fingerprinted.
///
/// [`apply`]: super::apply
/// [`apply::LIVE_FINGERPRINT_ANNOTATION`]: super::apply::LIVE_FINGERPRINT_ANNOTATION
fn trim_child<K: Resource + serde::Serialize + Lean>(obj: &mut K) -> bool {
    let fingerprint = serde_json::to_value(&*obj)
        .ok()
        .and_then(|live| super::apply::live_fingerprint(&live));
    let fingerprinted = fingerprint.is_some();
    if let Some(fingerprint) = fingerprint {
        obj.lean();
        lean_meta(obj.meta_mut());
        obj.annotations_mut().insert(
            super::apply::LIVE_FINGERPRINT_ANNOTATION.to_string(),
            fingerprint,
        );
    }
    slim(obj);
    fingerprinted
}

/// The metadata of a fingerprinted child, down to what [`apply`] reads: its
/// identity, owner references and the digest annotation. Its labels go
/// when a controller owns it, since [`apply::may_manage`] then reads the
/// owner's uid only (their values are in the fingerprint); an uncontrolled
/// child keeps them, for the same check.
///
/// [`apply`]: super::apply
/// [`apply::may_manage`]: super::apply::may_manage
fn lean_meta(meta: &mut ObjectMeta) {
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| k == super::apply::APPLIED_DIGEST_ANNOTATION);
    }
    if super::apply::controller_of(meta).is_some() {
        meta.labels = None;
    }
}

/// Keeps of a Job's pod what a status reads: its identity, labels and
/// container states (the backup, restore and sync Jobs' pods).
pub fn pod_result(pod: &mut k8s_openapi::api::core::v1::Pod) {
    slim(pod);
    pod.spec = None;
}

/// Keeps of a metadata-only object what a metadata cache reads: all of its
/// metadata but what [`slim`] drops, without the copy of its kind and API
/// version (the cache's type says both; two strings more for each of a
/// city's Namespaces, claims and pods).
pub fn metadata<K: Resource>(obj: &mut PartialObjectMeta<K>) {
    slim(obj);
    obj.types = None;
}

/// Keeps only the identity of a metadata-only object (name, namespace,
/// resourceVersion, deletion): for a cache read only for whether an object
/// exists and whether it is being deleted, such as a BackupPolicy's claims.
/// (Every Secret of the cluster is held as its resourceVersion alone:
/// [`Versions`].)
pub fn identity<K: Resource>(obj: &mut PartialObjectMeta<K>) {
    metadata(obj);
    let meta = &mut obj.metadata;
    meta.annotations = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.uid = None;
}

/// How a watch waits after an error: 250 ms doubling to [`WATCH_BACKOFF_MAX`],
/// each wait stretched at random by up to half (so that the operator's watches
/// do not retry in step), back to 250 ms after any success.
///
/// kube-runtime's default (client-go's: 0.8 s doubling to 30 s, doubled again
/// by jitter) climbs to a minute during a short API server restart, since
/// every refused connection counts: the caches then stay stale for a minute
/// after the server is back, and every WardService waits with them. A watch
/// is one request; retrying it every few seconds costs the server little.
#[derive(Debug, Default)]
pub struct WatchBackoff {
    failures: u32,
}

/// The longest wait of [`WatchBackoff`] before its jitter.
pub const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(4);

impl WatchBackoff {
    /// The wait after `failures` errors in a row, before jitter.
    fn base(failures: u32) -> Duration {
        let ms = 250u64 << failures.saturating_sub(1).min(16);
        Duration::from_millis(ms).min(WATCH_BACKOFF_MAX)
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        use std::hash::{BuildHasher, RandomState};
        self.failures = self.failures.saturating_add(1);
        let base = Self::base(self.failures);
        // A fresh RandomState is seeded at random: a cheap jitter source.
        let r = RandomState::new().hash_one(self.failures) % 1000;
        Some(base + base.mul_f64(r as f64 / 2000.0))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The controllers' trigger backoff: none, since each watch already backs
/// off on its own ([`WatchBackoff`]). kube-runtime's default pauses the
/// triggers of every watch, for up to a minute, whenever any one of them
/// fails: one failing watch would delay every reconcile.
#[derive(Debug, Default)]
pub struct NoTriggerBackoff;

impl Iterator for NoTriggerBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoTriggerBackoff {
    fn reset(&mut self) {}
}

/// True once `store` holds a complete first listing.
pub fn is_ready<K>(store: &Store<K>) -> bool
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
}

/// A cache of `api` (filtered by `config`), each object passed through
/// `trim` (an `Api<PartialObjectMeta<K>>` lists and watches metadata only), and the stream of changed objects that keeps it current (the
/// [`Shared`] cache's run polls it, and hands on what it yields).
fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let store = reader.clone();
    let stream = watcher(api, watch_config(config))
        .backoff(WatchBackoff::default())
        .modify(trim)
        .reflect(writer)
        .scan(Vec::new(), move |listed, event| {
            futures::future::ready(Some(futures::stream::iter(changed(&store, listed, event))))
        })
        .flatten();
    (reader, stream)
}

/// `config`, with streaming lists where the API server serves them.
pub(super) fn watch_config(config: watcher::Config) -> watcher::Config {
    if STREAMING_LISTS.load(Ordering::Relaxed) {
        config.streaming_lists()
    } else {
        config
    }
}

/// The objects a watch event changed, each handed on only once the cache
/// holds it. An object of a (re)listing goes into the cache when the listing
/// is complete, so it is handed on then: a reconcile it triggered earlier would
/// read the cache from before the listing, and with nothing to trigger another
/// one, a WardService could report `RollingOut` over an available Deployment
/// (the fault suite's API server restart caught it: a restart ends every watch
/// and each cache lists again). `listed` collects a listing's objects, and
/// each is copied out of the cache only as it is handed on: copied all at
/// once, a listing of a city held a second copy of its cache.
fn changed<K>(
    store: &Store<K>,
    listed: &mut Vec<ObjectRef<K>>,
    event: Result<watcher::Event<K>, watcher::Error>,
) -> Box<dyn Iterator<Item = Result<K, watcher::Error>> + Send>
where
    K: Resource<DynamicType = ()> + Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    match event {
        Ok(watcher::Event::Apply(obj) | watcher::Event::Delete(obj)) => {
            Box::new(std::iter::once(Ok(obj)))
        }
        Ok(watcher::Event::Init) => {
            listed.clear();
            Box::new(std::iter::empty())
        }
        Ok(watcher::Event::InitApply(obj)) => {
            listed.push(ObjectRef::from_obj(&obj));
            Box::new(std::iter::empty())
        }
        Ok(watcher::Event::InitDone) => {
            let store = store.clone();
            Box::new(
                std::mem::take(listed)
                    .into_iter()
                    .filter_map(move |r| store.get(&r))
                    .map(|obj| Ok(obj.as_ref().clone())),
            )
        }
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

/// Changed objects a subscriber of a [`Shared`] cache may fall behind by before
/// the watch waits for it (controllers take their triggers at once, so this
/// only bounds a burst such as a first listing).
const SHARED_BACKLOG: usize = 256;

/// The watches of every cache, run from the operator's start until it stops,
/// leader or not. A standby's caches list and follow the cluster while it
/// waits for the Lease, so that on taking over its controllers start from
/// complete caches instead of listing everything first (controller-runtime
/// runs its informers the same way). Only the controllers wait for the Lease.
pub struct Drives {
    stop: tokio::sync::watch::Receiver<bool>,
    drives: Vec<futures::future::BoxFuture<'static, ()>>,
}

impl Drives {
    /// No watch yet; each one made here stops once `stop` is true.
    pub fn new(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Drives {
            stop,
            drives: Vec::new(),
        }
    }

    /// A future that completes at the stop: what a controller made beside
    /// these caches shuts down on.
    pub fn stopping(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + Sync + 'static + use<> {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }

    /// A [`Shared`] cache of `api` (filtered by `config`, each object passed
    /// through `trim`), kept current once [`Drives::run`] runs.
    pub fn shared<K>(&mut self, api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> Shared<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let (shared, drive) = Shared::new(api, config, trim, self.stopping());
        self.drives.push(drive.boxed());
        shared
    }

    /// A [`Versions`] cache of `api` (filtered by `config`): each object's
    /// resourceVersion only, kept current once [`Drives::run`] runs.
    pub fn versions<K>(
        &mut self,
        api: Api<PartialObjectMeta<K>>,
        config: watcher::Config,
    ) -> Versions<K>
    where
        K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    {
        let (versions, drive) = Versions::new(api, config, self.stopping());
        self.drives.push(drive.boxed());
        versions
    }

    /// A cache of a controller's children (or other related kind) and the
    /// stream of its changes, for the controller's triggers
    /// ([`Shared::changes`]: the controller's own kind replays what is held).
    pub fn cached<K>(
        &mut self,
        api: Api<K>,
        config: watcher::Config,
        trim: fn(&mut K),
    ) -> (
        Store<K>,
        impl Stream<Item = Result<K, watcher::Error>> + Send + 'static + use<K>,
    )
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let shared = self.shared(api, config, trim);
        (shared.store(), shared.changes())
    }

    /// A cache of a controller's children of kind `K`, each held as a
    /// [`CachedChild`], and the stream of their changes.
    pub fn children<K>(
        &mut self,
        api: Api<CachedChild<K>>,
        config: watcher::Config,
    ) -> (
        Store<CachedChild<K>>,
        impl Stream<Item = Result<CachedChild<K>, watcher::Error>> + Send + 'static + use<K>,
    )
    where
        K: Record + serde::Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        // Trimmed as it is read (`CachedChild`'s `Deserialize`), its
        // versions once the watch has read them.
        self.cached(api, config, CachedChild::forget_versions)
    }

    /// Runs every watch made here until the stop.
    pub fn run(self) -> impl std::future::Future<Output = ()> + Send + 'static {
        futures::future::join_all(self.drives).map(|_| ())
    }
}

/// One watch cache read by several controllers: one watch and one copy of
/// each object, however many controllers react to its changes (each through
/// its own [`Shared::subscribe`] or [`Shared::changes`] stream). Made by
/// [`Drives::shared`], whose run keeps it current.
pub struct Shared<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    subscribers: Subscribers<K>,
    /// The last [`RECENT`] objects handed on, oldest first, by
    /// [`identity_hash`].
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<u64>>>,
}

/// How many of the last changed objects a [`Shared`] cache remembers, so
/// that a controller starting over it replays them first.
const RECENT: usize = SHARED_BACKLOG;

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A cache of `api` (filtered by `config`, each object passed through
    /// `trim`), and the future that keeps it current until `shutdown`
    /// completes, handing every changed object to each subscriber.
    fn new(
        api: Api<K>,
        config: watcher::Config,
        trim: fn(&mut K),
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (store, changes) = cached(api, config, trim);
        let subscribers: Subscribers<K> = Arc::default();
        let recent: Arc<std::sync::Mutex<std::collections::VecDeque<u64>>> = Arc::default();
        let changed = recent.clone();
        let drive = hand_on(changes, shutdown, subscribers.clone(), move |obj| {
            if let Ok(mut changed) = changed.lock() {
                if changed.len() == RECENT {
                    changed.pop_front();
                }
                changed.push_back(identity_hash(obj));
            }
        });
        (
            Shared {
                store,
                subscribers,
                recent,
            },
            drive,
        )
    }

    /// The cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// For a controller of this kind: every object the cache holds when the
    /// stream is first polled (the controller starts: a standby taking over
    /// finds its cache full), then every object the watch changes, deleted
    /// ones included. Each object is handed on once the cache holds it, so
    /// none falls between the two. A change goes ahead of the held objects
    /// not yet handed on, and those go only as `pace` allows: the controller's
    /// queue takes its whole trigger stream at once, so a change made while a
    /// new leader reconciles a country's worth of held objects would
    /// otherwise wait behind all of them. The held objects go the most
    /// recently changed first ([`recent_first`]): a change made while no
    /// controller ran (during a handover, between the old leader's exit and
    /// the new one's start) is held, and would otherwise wait its turn among
    /// them.
    pub fn subscribe(
        &self,
        pace: Pace,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static + use<K> {
        self.join(Some(pace))
    }

    /// For a controller that reacts to this kind's changes (its triggers map
    /// each to objects of its own kind, which [`Shared::subscribe`] replays):
    /// every object the watch changes from the stream's first poll on.
    pub fn changes(
        &self,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static + use<K> {
        self.join(None)
    }

    /// For a controller that reads only an object's metadata and spec (its
    /// uid, generation, labels and annotations): [`Shared::changes`] without
    /// the changes of its status alone, which every rollout makes several of.
    /// A BackupPolicy with a namespace's hundred wards as targets otherwise
    /// reconciled on each of their status writes. An object gone from the
    /// cache (deleted) always passes.
    pub fn spec_changes(
        &self,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static + use<K> {
        let store = self.store.clone();
        let mut seen = std::collections::HashMap::<u64, u64>::new();
        self.changes().filter(move |change| {
            let pass = match change {
                Ok(obj) => {
                    let cached = store.get(&ObjectRef::from_obj(obj)).is_some();
                    spec_changed(&mut seen, obj, cached)
                }
                Err(_) => true,
            };
            futures::future::ready(pass)
        })
    }

    /// A subscriber stream that joins when first polled, so that a controller
    /// not running yet (a standby's) holds back no watch; with `replay`, the
    /// objects held then come too, paced, after any change ready.
    fn join(
        &self,
        replay: Option<Pace>,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static + use<K> {
        let (store, subscribers) = (self.store.clone(), self.subscribers.clone());
        let recent = self.recent.clone();
        futures::stream::once(async move {
            // Joined before the cache is read: a change the read misses comes by `rx`.
            let rx = join(&subscribers);
            // Shared handles, each object copied only as the controller takes it.
            let held = if replay.is_some() {
                let mut held = store.state();
                if let Ok(recent) = recent.lock() {
                    recent_first(&mut held, &recent);
                }
                held
            } else {
                Vec::new()
            };
            live_first(rx, held.into_iter().map(|obj| obj.as_ref().clone()), replay)
        })
        .flatten()
        .map(Ok)
    }
}

/// The subscribers of a cache's changes: a channel to each controller's
/// triggers.
pub(super) type Subscribers<T> = Arc<std::sync::Mutex<Vec<futures::channel::mpsc::Sender<T>>>>;

/// Runs a cache's stream of changes until `shutdown` completes: hands each
/// changed object to every subscriber in turn (once `seen` has noted it),
/// waiting for any that is [`SHARED_BACKLOG`] behind, and logs the watch's
/// errors (it retries on its own backoff; an error names no object).
pub(super) async fn hand_on<T>(
    changes: impl Stream<Item = Result<T, watcher::Error>>,
    shutdown: impl std::future::Future<Output = ()>,
    subscribers: Subscribers<T>,
    mut seen: impl FnMut(&T),
) where
    T: Resource<DynamicType = ()> + Clone,
{
    use futures::SinkExt;
    let mut changes = std::pin::pin!(changes);
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    loop {
        let change = futures::select_biased! {
            () = shutdown => return,
            change = changes.next().fuse() => change,
        };
        match change {
            Some(Ok(obj)) => {
                crate::runtime::heap::worked();
                seen(&obj);
                let to = subscribers.lock().map(|s| s.clone()).unwrap_or_default();
                for mut tx in to {
                    // A subscriber that stopped (its controller ended) is skipped.
                    let _ = tx.send(obj.clone()).await;
                }
            }
            Some(Err(e)) => tracing::warn!(
                kind = %T::kind(&()),
                error = %crate::error_chain(&e),
                "watch failed; retrying"
            ),
            None => return,
        }
    }
}

/// A new subscriber: every change handed on from now.
pub(super) fn join<T>(subscribers: &Subscribers<T>) -> futures::channel::mpsc::Receiver<T> {
    let (tx, rx) = futures::channel::mpsc::channel(SHARED_BACKLOG);
    if let Ok(mut s) = subscribers.lock() {
        s.push(tx);
    }
    rx
}

/// Whether `obj`'s change passes a reader of metadata and spec: it is new,
/// gone from the cache (`cached` false), or its [`spec_hash`] differs from
/// the last one `seen` of it.
fn spec_changed<K: Resource>(
    seen: &mut std::collections::HashMap<u64, u64>,
    obj: &K,
    cached: bool,
) -> bool {
    let key = identity_hash(obj);
    if !cached {
        seen.remove(&key);
        return true;
    }
    let spec = spec_hash(obj);
    seen.insert(key, spec) != Some(spec)
}

/// Orders `held` objects the most recently changed first, by `recent`
/// (identity hashes, oldest first); the others keep their order, after them.
/// Each held object's identity is hashed once (a new leader's first
/// reconciles wait for this, over a country's worth of objects).
fn recent_first<K: Resource>(held: &mut [Arc<K>], recent: &std::collections::VecDeque<u64>) {
    if recent.is_empty() {
        return;
    }
    let mut rank = std::collections::HashMap::with_capacity(recent.len());
    for (i, hash) in recent.iter().rev().enumerate() {
        rank.entry(*hash).or_insert(i);
    }
    held.sort_by_cached_key(|obj| {
        rank.get(&identity_hash(obj.as_ref()))
            .copied()
            .unwrap_or(usize::MAX)
    });
}

/// A hash of an object's namespace and name.
fn identity_hash<K: Resource>(obj: &K) -> u64 {
    use std::hash::BuildHasher;
    let meta = obj.meta();
    FIXED_HASH.hash_one((&meta.namespace, &meta.name))
}

/// A hash of what a spec reader reads of an object: uid, generation, labels,
/// annotations and whether it is being deleted.
fn spec_hash<K: Resource>(obj: &K) -> u64 {
    use std::hash::BuildHasher;
    let meta = obj.meta();
    FIXED_HASH.hash_one((
        &meta.uid,
        meta.generation,
        &meta.labels,
        &meta.annotations,
        meta.deletion_timestamp.is_some(),
    ))
}

/// One hasher for the process: the hashes are compared, never kept beyond it.
static FIXED_HASH: std::sync::LazyLock<std::hash::RandomState> =
    std::sync::LazyLock::new(std::hash::RandomState::new);

/// The `live` changes, each as soon as it comes, and the `held` objects in
/// between, each when `pace` allows.
fn live_first<T: Send + 'static>(
    live: impl Stream<Item = T> + Send + 'static,
    held: impl Iterator<Item = T> + Send + 'static,
    pace: Option<Pace>,
) -> impl Stream<Item = T> + Send + 'static {
    use futures::stream::{PollNext, select_with_strategy};
    let held = futures::stream::iter(held).then(move |obj| {
        let pace = pace.clone();
        async move {
            if let Some(pace) = pace {
                pace.take().await;
            }
            obj
        }
    });
    select_with_strategy(live, held, |_: &mut ()| PollNext::Left)
}

/// How many objects may wait in front of a controller running up to
/// `concurrency` reconciles at once: twice that, so that none waits for the
/// next (its replay's [`Pace`], its queue's room, [`super::requests`]).
pub fn ahead_of(concurrency: u16) -> usize {
    2 * usize::from(concurrency)
}

/// How far a controller's replay of its cache ([`Shared::subscribe`]) runs
/// ahead of its reconciles: `ahead` objects at first, then one more for each
/// reconcile ended ([`Pace::done`]), whatever it was for; turns not taken at
/// once are kept, `ahead` at most.
#[derive(Clone, Debug)]
pub struct Pace {
    permits: Arc<tokio::sync::Semaphore>,
    ahead: usize,
}

impl Pace {
    /// The pace of a controller running up to `concurrency` reconciles at
    /// once: [`ahead_of`] it, so that none waits for the replay.
    pub fn for_concurrency(concurrency: u16) -> Self {
        Self::new(ahead_of(concurrency))
    }

    /// A pace `ahead` objects in front of the reconciles (at least one).
    pub fn new(ahead: usize) -> Self {
        let ahead = ahead.max(1);
        Pace {
            permits: Arc::new(tokio::sync::Semaphore::new(ahead)),
            ahead,
        }
    }

    /// One reconcile ended (whichever object it was for): one more held
    /// object may go.
    pub fn done(&self) {
        if self.permits.available_permits() < self.ahead {
            self.permits.add_permits(1);
        }
    }

    /// Waits until one more held object may go, and takes its turn.
    async fn take(&self) {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
    }
}

/// Whether the caches list by streaming (see [`detect_streaming_lists`]).
static STREAMING_LISTS: AtomicBool = AtomicBool::new(false);

/// Chooses how every cache made afterwards lists: by a streaming list when the
/// API server serves one, else by list and watch. A streaming list sends the
/// first listing (and any after a lost watch) as watch events, one object at a
/// time, instead of list responses held whole in memory, every cache at once
/// when the operator starts. Kubernetes 1.34 and later serve it; 1.33 turned
/// its feature gate off by default (refused with 422), and a cluster may turn
/// it off. One watch of the namespace `probe` (which the operator may always
/// watch), ended at once, tells. Returns the choice.
pub async fn detect_streaming_lists(client: &kube::Client, probe: &str) -> bool {
    use kube::api::WatchParams;
    let api = Api::<PartialObjectMeta<k8s_openapi::api::core::v1::Namespace>>::all(client.clone());
    let params = WatchParams::streaming_lists()
        .fields(&format!("metadata.name={probe}"))
        .timeout(1);
    let supported = match api.watch_metadata(&params, "0").await {
        Ok(events) => {
            let first = std::pin::pin!(events).next().await;
            matches!(first, Some(Ok(e)) if !matches!(e, kube::api::WatchEvent::Error(_)))
        }
        Err(_) => false,
    };
    STREAMING_LISTS.store(supported, Ordering::Relaxed);
    supported
}

/// The API of a namespaced kind in `namespace`, or in every namespace.
pub fn api_for<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The objects of `store` in namespace `ns` that `pick` selects: what a
/// watch of a related kind maps its events to.
pub fn refs_where<K>(store: &Store<K>, ns: &str, pick: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Lookup<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns) && pick(o))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The owner `P` of a child that names it in its `app.kubernetes.io/instance`
/// label (the Jobs and pods a CronJob makes carry no owner reference to it).
pub fn owner_by_instance<P, K>(child: &K) -> Option<ObjectRef<P>>
where
    P: Resource<DynamicType = ()> + Lookup<DynamicType = ()>,
    K: Resource,
{
    let ns = child.meta().namespace.as_deref()?;
    Some(ObjectRef::new(instance_of(child)?).within(ns))
}

/// `app.kubernetes.io/instance` of a child: its owner's name.
pub fn instance_of<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta()
        .labels
        .as_ref()?
        .get(super::labels::INSTANCE_LABEL)
        .map(String::as_str)
}

/// A copy of the cached object `name` in `namespace`, if the cache has it.
pub fn get<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Lookup<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn held_objects_go_the_most_recently_changed_first() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let cm = |name: &str| {
            Arc::new(ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("ns".into()),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            })
        };
        let mut held: Vec<_> = ["a", "b", "c", "d", "e"].map(cm).into();
        let recent: std::collections::VecDeque<u64> = ["b", "d", "b", "x"]
            .map(|n| identity_hash(cm(n).as_ref()))
            .into();
        recent_first(&mut held, &recent);
        let names: Vec<_> = held.iter().map(|o| o.name_any()).collect();
        // x is gone; b changed last, then d; the rest in their order.
        assert_eq!(names, ["b", "d", "a", "c", "e"]);
        recent_first(&mut held, &std::collections::VecDeque::new());
        let names: Vec<_> = held.iter().map(|o| o.name_any()).collect();
        assert_eq!(names, ["b", "d", "a", "c", "e"], "nothing recent: as held");
    }

    #[tokio::test]
    async fn a_replay_goes_at_its_pace_and_a_change_passes_it() {
        use futures::SinkExt;
        let (mut tx, rx) = futures::channel::mpsc::channel::<u32>(8);
        let pace = Pace::new(2);
        let mut s = std::pin::pin!(live_first(rx, 100..200, Some(pace.clone())));
        fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
            s.next().now_or_never().flatten()
        }
        assert_eq!(next(&mut s), Some(100));
        assert_eq!(next(&mut s), Some(101));
        assert_eq!(
            next(&mut s),
            None,
            "two ahead, then it waits for a reconcile"
        );
        tx.send(7).await.unwrap();
        assert_eq!(next(&mut s), Some(7), "a change does not wait");
        pace.done();
        assert_eq!(next(&mut s), Some(102));
        assert_eq!(next(&mut s), None);
        // Reconciles of changes count too: the one waiting goes, and two
        // turns are kept, not five.
        for _ in 0..5 {
            pace.done();
        }
        assert_eq!(next(&mut s), Some(103));
        assert_eq!(next(&mut s), Some(104));
        assert_eq!(next(&mut s), Some(105));
        assert_eq!(next(&mut s), None);
    }

    #[test]
    fn a_listing_is_handed_on_from_the_cache_once_complete() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let cm = |name: &str| ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("p1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut listed = Vec::new();
        let mut step = |event: watcher::Event<ConfigMap>| {
            writer.apply_watcher_event(&event);
            changed(&store, &mut listed, Ok(event))
                .map(|c| c.map(|o| o.name_any()).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert!(step(watcher::Event::Init).is_empty());
        assert!(step(watcher::Event::InitApply(cm("a"))).is_empty());
        assert!(step(watcher::Event::InitApply(cm("b"))).is_empty());
        assert_eq!(step(watcher::Event::InitDone), ["a", "b"]);
        assert_eq!(step(watcher::Event::Apply(cm("c"))), ["c"]);
        assert!(step(watcher::Event::Init).is_empty());
        assert!(step(watcher::Event::InitApply(cm("c"))).is_empty());
        assert_eq!(
            step(watcher::Event::InitDone),
            ["c"],
            "a relisting hands on what it listed, not what an earlier one did"
        );
    }

    #[test]
    fn a_spec_reader_sees_spec_metadata_and_deletion_not_status() {
        use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
        let mut seen = std::collections::HashMap::new();
        let mut d = Deployment::default();
        d.metadata.name = Some("d".into());
        d.metadata.namespace = Some("n".into());
        d.metadata.generation = Some(1);
        assert!(spec_changed(&mut seen, &d, true), "a new object passes");
        assert!(
            !spec_changed(&mut seen, &d, true),
            "the same again does not"
        );
        d.status = Some(DeploymentStatus {
            ready_replicas: Some(1),
            ..Default::default()
        });
        assert!(
            !spec_changed(&mut seen, &d, true),
            "a status change does not"
        );
        d.metadata.labels = Some([("wardops.io/backup".into(), "nightly".into())].into());
        assert!(spec_changed(&mut seen, &d, true), "a label passes");
        d.metadata.generation = Some(2);
        assert!(spec_changed(&mut seen, &d, true), "a spec change passes");
        let mut other = d.clone();
        other.metadata.name = Some("e".into());
        assert!(
            spec_changed(&mut seen, &other, true),
            "another object is new"
        );
        assert!(spec_changed(&mut seen, &d, false), "a deletion passes");
        assert!(spec_changed(&mut seen, &d, true), "made again, it is new");
    }

    #[test]
    fn watch_backoff_doubles_to_its_cap_with_bounded_jitter_and_resets() {
        let mut b = WatchBackoff::default();
        let waits: Vec<Duration> = b.by_ref().take(8).collect();
        let bases = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000];
        for (w, base) in waits.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(*w >= base && *w <= base.mul_f64(1.5), "{w:?} for {base:?}");
        }
        assert!(b.next().unwrap() <= WATCH_BACKOFF_MAX.mul_f64(1.5));
        b.reset();
        assert!(b.next().unwrap() <= Duration::from_millis(375));
    }

    #[test]
    fn a_cached_child_keeps_its_fingerprint_metadata_and_status_not_its_content() {
        use k8s_openapi::api::apps::v1::Deployment;
        let applied = serde_json::json!({
            "metadata": {"name": "d", "namespace": "n", "labels": {"app": "d"},
                "managedFields": [{"manager": super::super::labels::FIELD_MANAGER, "operation": "Apply",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "registry/app:1"}]}}},
            "status": {"availableReplicas": 2}
        });
        let mut d: Deployment = serde_json::from_value(applied.clone()).unwrap();
        let live = serde_json::to_value(&d).unwrap();
        trim_child(&mut d);
        let kept = d.annotations()[super::super::apply::LIVE_FINGERPRINT_ANNOTATION].clone();
        assert_eq!(Some(kept), super::super::apply::live_fingerprint(&live));
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(2));
        assert!(spec.template.spec.is_none(), "the pod template is dropped");
        assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(2));
        assert!(d.metadata.managed_fields.is_none());
        assert_eq!(d.labels()["app"], "d");

        // Applied by someone else: kept whole, for the full check.
        let mut theirs: Deployment = serde_json::from_value(applied).unwrap();
        theirs.metadata.managed_fields.as_mut().unwrap()[0].manager = Some("kubectl".into());
        trim_child(&mut theirs);
        assert!(theirs.spec.unwrap().template.spec.is_some());
        assert!(theirs.metadata.annotations.is_none());
    }

    #[test]
    fn a_lean_child_reads_as_it_did_whole() {
        use super::super::apply::{APPLIED_DIGEST_ANNOTATION, Owner, may_manage};
        use super::super::labels::{MANAGED_BY, MANAGED_BY_LABEL, WARD_SERVICE_LABEL};
        use super::super::ward_service::status::deployment_state;
        use k8s_openapi::api::apps::v1::Deployment;
        let deployment = |owner_refs: serde_json::Value| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "d", "namespace": "n", "generation": 3,
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY, WARD_SERVICE_LABEL: "w", "app": "d"},
                    "annotations": {APPLIED_DIGEST_ANNOTATION: "ab", "deployment.kubernetes.io/revision": "4"},
                    "ownerReferences": owner_refs,
                    "managedFields": [{"manager": super::super::labels::FIELD_MANAGER, "operation": "Apply",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]},
                "spec": {"replicas": 2, "selector": {}, "template": {}},
                "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
                    "availableReplicas": 1, "readyReplicas": 1,
                    "conditions": [{"type": "Progressing", "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet \"d-5d8\" has timed out progressing.",
                        "lastUpdateTime": "2026-11-29T00:00:00Z",
                        "lastTransitionTime": "2026-11-29T00:00:00Z"}]}
            }))
            .unwrap()
        };
        let controller = serde_json::json!([{"apiVersion": "wardops.io/v1alpha1",
            "kind": "WardService", "name": "w", "uid": "u1", "controller": true}]);
        let owners = [
            Owner {
                uid: "u1",
                name: "w",
            },
            Owner {
                uid: "u2",
                name: "w",
            },
            Owner {
                uid: "u2",
                name: "x",
            },
        ];
        for refs in [controller, serde_json::json!([])] {
            let whole = deployment(refs);
            let mut lean = whole.clone();
            trim_child(&mut lean);
            for owner in owners {
                assert_eq!(
                    may_manage(lean.meta(), owner),
                    may_manage(whole.meta(), owner),
                    "{owner:?}"
                );
            }
            assert_eq!(deployment_state(&lean), deployment_state(&whole));
            assert!(deployment_state(&lean).deadline_exceeded);
            let kept: Vec<&String> = lean.annotations().keys().collect();
            assert_eq!(
                kept,
                [
                    APPLIED_DIGEST_ANNOTATION,
                    super::super::apply::LIVE_FINGERPRINT_ANNOTATION
                ]
            );
            let condition = &lean.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
            assert!(condition.message.is_none() && condition.last_update_time.is_none());
        }
        // Controlled, its labels are not read; uncontrolled, they are kept.
        let mut controlled = deployment(serde_json::json!([{"apiVersion": "wardops.io/v1alpha1",
            "kind": "WardService", "name": "w", "uid": "u1", "controller": true}]));
        trim_child(&mut controlled);
        assert!(controlled.metadata.labels.is_none());
        let mut uncontrolled = deployment(serde_json::json!([]));
        trim_child(&mut uncontrolled);
        assert_eq!(uncontrolled.labels()[WARD_SERVICE_LABEL], "w");
    }

    /// A child read as a [`CachedChild`] (as its watch reads it) gives back
    /// the lean copy trimmed in place, field for field; one wardops applied
    /// nothing to, the whole object; and it takes a fraction of the room.
    #[test]
    fn a_cached_child_gives_back_its_lean_copy() {
        use super::super::apply::APPLIED_DIGEST_ANNOTATION;
        use super::super::labels::FIELD_MANAGER;
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::batch::v1::CronJob;
        use k8s_openapi::api::core::v1::{ConfigMap, Service};
        fn round_trip<K>(json: serde_json::Value, fingerprinted: bool)
        where
            K: Record + serde::Serialize + DeserializeOwned + PartialEq + Debug,
        {
            let held: CachedChild<K> = serde_json::from_value(json.clone()).unwrap();
            let mut lean: K = serde_json::from_value(json).unwrap();
            assert_eq!(trim_child(&mut lean), fingerprinted);
            assert_eq!(held.to_lean(), lean, "{}", K::kind(&()));
            assert_eq!(held.meta().name, lean.meta().name);
            assert_eq!(matches!(held.0, Held::Lean { .. }), fingerprinted);
            // Once the watch has read them, neither the child nor the
            // cache's key for it keeps its versions.
            let mut held = held;
            held.forget_versions();
            let key = ObjectRef::from_obj(&held);
            assert_eq!((key.extra.resource_version, key.extra.uid), (None, None));
            lean.meta_mut().resource_version = None;
            lean.meta_mut().uid = None;
            assert_eq!(held.to_lean(), lean, "{}", K::kind(&()));
        }
        let object = |manager: &str, rest: serde_json::Value| {
            let mut o = serde_json::json!({
                "metadata": {"name": "c", "namespace": "n", "resourceVersion": "5", "uid": "u",
                    "labels": {"app": "c"},
                    "annotations": {APPLIED_DIGEST_ANNOTATION: "ab", "other": "x"},
                    "ownerReferences": [{"apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
                        "name": "w", "uid": "u1", "controller": true}],
                    "managedFields": [{"manager": manager, "operation": "Apply",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]},
            });
            o.as_object_mut()
                .unwrap()
                .extend(rest.as_object().unwrap().clone());
            o
        };
        for manager in [FIELD_MANAGER, "kubectl"] {
            let ours = manager == FIELD_MANAGER;
            round_trip::<Deployment>(
                object(
                    manager,
                    serde_json::json!({
                    "spec": {"replicas": 3, "selector": {}, "template": {"spec": {"containers": []}}},
                    "status": {"availableReplicas": 2, "conditions": [{"type": "Available",
                        "status": "True", "reason": "MinimumReplicasAvailable", "message": "m"}]}}),
                ),
                ours,
            );
            round_trip::<CronJob>(
                object(
                    manager,
                    serde_json::json!({
                    "spec": {"schedule": "0 1 * * *", "jobTemplate": {}},
                    "status": {"lastScheduleTime": "2026-11-29T01:00:00Z"}}),
                ),
                ours,
            );
            round_trip::<ConfigMap>(
                object(manager, serde_json::json!({"data": {"k": "v"}})),
                ours,
            );
            round_trip::<Service>(
                object(
                    manager,
                    serde_json::json!({
                    "spec": {"ports": [{"port": 80}]}, "status": {}}),
                ),
                ours,
            );
        }
        let size = std::mem::size_of::<CachedChild<Deployment>>();
        assert!(size * 4 < std::mem::size_of::<Deployment>(), "{size}");
        let size = std::mem::size_of::<CachedChild<CronJob>>();
        assert!(size * 4 < std::mem::size_of::<CronJob>(), "{size}");
    }

    #[test]
    fn an_identity_keeps_name_version_and_deletion_only() {
        use k8s_openapi::api::core::v1::PersistentVolumeClaim;
        let mut c: PartialObjectMeta<PersistentVolumeClaim> = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c", "namespace": "n", "resourceVersion": "9", "uid": "c-uid",
                "deletionTimestamp": "2026-11-29T00:00:00Z",
                "labels": {"a": "b"}, "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
                "finalizers": ["kubernetes.io/pvc-protection"],
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}]}
        }))
        .unwrap();
        identity(&mut c);
        let m = &c.metadata;
        assert_eq!(
            (m.name.as_deref(), m.namespace.as_deref()),
            (Some("c"), Some("n"))
        );
        assert_eq!(m.resource_version.as_deref(), Some("9"));
        assert!(m.deletion_timestamp.is_some());
        assert!(m.labels.is_none() && m.annotations.is_none());
        assert!(m.uid.is_none() && c.types.is_none());
        assert!(m.finalizers.is_none() && m.owner_references.is_none());
    }

    #[test]
    fn slim_keeps_other_annotations() {
        let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
        cm.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{}".to_string()),
                ("wardops.io/applied-digest".to_string(), "ab".to_string()),
            ]
            .into(),
        );
        slim(&mut cm);
        let a = cm.metadata.annotations.unwrap();
        assert_eq!(a.len(), 1);
        assert!(a.contains_key("wardops.io/applied-digest"));
    }
}
