//! A watch cache that keeps of each object only its resourceVersion, by
//! namespace and name: for a kind read only for whether an object exists and
//! when it changed, such as every Secret of the cluster (the references'
//! [`crate::secrets::SecretIndex`]).
//!
//! kube-runtime's store holds each object whole, in its kind's type, with a
//! key that copies its name, namespace and resourceVersion: a Secret's
//! identity alone (an `ObjectMeta` of some 360 bytes, mostly empty, and five
//! strings) took about 940 bytes of the operator's memory, so the benchmark's
//! 2,500 unrelated Secrets cost 2.3 MiB. Here, an object is two short strings
//! in one map, about 130 bytes.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};

use super::cache::{self, Subscribers};

/// Every object of kind `K` the watch sees, as its resourceVersion by
/// namespace and name; never its content. Made by
/// [`cache::Drives::versions`], whose run keeps it current.
pub struct Versions<K> {
    held: Arc<RwLock<Held>>,
    ready: Arc<AtomicBool>,
    subscribers: Subscribers<PartialObjectMeta<K>>,
}

impl<K> Clone for Versions<K> {
    fn clone(&self) -> Self {
        Versions {
            held: self.held.clone(),
            ready: self.ready.clone(),
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K> Versions<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    /// A cache of `api` (filtered by `config`), and the future that keeps it
    /// current until `shutdown` completes, handing every changed object (its
    /// name, namespace and resourceVersion only) to each subscriber.
    pub(super) fn new(
        api: Api<PartialObjectMeta<K>>,
        config: watcher::Config,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let versions = Versions {
            held: Arc::default(),
            ready: Arc::default(),
            subscribers: Arc::default(),
        };
        let (held, ready) = (versions.held.clone(), versions.ready.clone());
        let mut listing: Option<HashMap<Box<str>, Box<str>>> = None;
        let changes = watcher(api, cache::watch_config(config))
            .backoff(cache::WatchBackoff::default())
            .flat_map(move |event| {
                let changed: Vec<Result<PartialObjectMeta<K>, watcher::Error>> = match event {
                    Ok(event) => {
                        let changed = held
                            .write()
                            .map(|mut held| held.apply(&mut listing, event))
                            .unwrap_or_default();
                        if listing.is_none() {
                            ready.store(true, Ordering::Release);
                        }
                        changed
                            .into_iter()
                            .map(|(namespace, name, version)| Ok(stamp(namespace, name, version)))
                            .collect()
                    }
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(changed)
            });
        let drive = cache::hand_on(changes, shutdown, versions.subscribers.clone(), |_| ());
        (versions, drive)
    }

    /// Every object the watch changes (its name, namespace and
    /// resourceVersion; a deleted one without a version), from the stream's
    /// first poll on: for a controller's triggers.
    pub fn changes(
        &self,
    ) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static + use<K>
    {
        let subscribers = self.subscribers.clone();
        futures::stream::once(async move { cache::join(&subscribers) })
            .flatten()
            .map(Ok)
    }
}

impl<K> Versions<K> {
    /// The resourceVersion of object `name` in `namespace` ("" for a
    /// cluster-scoped kind), if it exists.
    pub fn get(&self, namespace: &str, name: &str) -> Option<String> {
        let held = self.held.read().ok()?;
        held.by_id
            .get(key(namespace, name).as_str())
            .map(|v| v.to_string())
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.held.read().map(|h| h.by_id.len()).unwrap_or_default()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once it holds a complete first listing.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A complete cache of `objects` (namespace, name, resourceVersion),
    /// with no watch: for tests of its readers.
    #[cfg(test)]
    pub fn holding(objects: &[(&str, &str, &str)]) -> Self {
        let held = Held {
            by_id: objects
                .iter()
                .map(|(ns, name, v)| (key(ns, name).into(), (*v).into()))
                .collect(),
        };
        Versions {
            held: Arc::new(RwLock::new(held)),
            ready: Arc::new(AtomicBool::new(true)),
            subscribers: Arc::default(),
        }
    }
}

/// The objects held: resourceVersion by `namespace/name` (neither holds a
/// `/`; a cluster-scoped object's namespace is empty).
#[derive(Debug, Default)]
struct Held {
    by_id: HashMap<Box<str>, Box<str>>,
}

/// An object's name, namespace and resourceVersion: what is handed on.
type Changed = (String, String, Option<String>);

impl Held {
    /// Applies one watch event and says which objects it changed. A listing
    /// (`listing`, from its `Init` to its `InitDone`) replaces what is held
    /// when it is complete, as kube-runtime's store does; it changed only
    /// the objects that are new, of another version, or gone, so a relisting
    /// after an API server restart triggers nothing for the unchanged ones.
    fn apply(
        &mut self,
        listing: &mut Option<HashMap<Box<str>, Box<str>>>,
        event: watcher::Event<PartialObjectMeta<impl Resource>>,
    ) -> Vec<Changed> {
        match event {
            watcher::Event::Init => {
                *listing = Some(HashMap::with_capacity(self.by_id.len()));
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                if let (Some(listing), Some((id, version))) =
                    (listing.as_mut(), entry(&obj.metadata))
                {
                    listing.insert(id, version);
                }
                Vec::new()
            }
            watcher::Event::InitDone => {
                let listed = listing.take().unwrap_or_default();
                let mut changed: Vec<Changed> = listed
                    .iter()
                    .filter(|(id, v)| self.by_id.get(*id) != Some(*v))
                    .map(|(id, v)| split(id, Some(v)))
                    .collect();
                changed.extend(
                    self.by_id
                        .keys()
                        .filter(|id| !listed.contains_key(*id))
                        .map(|id| split(id, None)),
                );
                self.by_id = listed;
                self.by_id.shrink_to_fit();
                changed
            }
            watcher::Event::Apply(obj) => match entry(&obj.metadata) {
                Some((id, version)) => {
                    let changed = split(&id, Some(&version));
                    self.by_id.insert(id, version);
                    vec![changed]
                }
                None => Vec::new(),
            },
            watcher::Event::Delete(obj) => match entry(&obj.metadata) {
                Some((id, _)) => {
                    self.by_id.remove(&id);
                    vec![split(&id, None)]
                }
                None => Vec::new(),
            },
        }
    }
}

/// The key of an object.
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// An object's key and resourceVersion, if it has a name.
fn entry(meta: &ObjectMeta) -> Option<(Box<str>, Box<str>)> {
    let name = meta.name.as_deref()?;
    let id = key(meta.namespace.as_deref().unwrap_or_default(), name);
    let version = meta.resource_version.as_deref().unwrap_or_default();
    Some((id.into(), version.into()))
}

/// A key back into namespace and name, with a version.
fn split(id: &str, version: Option<&str>) -> Changed {
    let (namespace, name) = id.split_once('/').unwrap_or(("", id));
    (
        namespace.to_string(),
        name.to_string(),
        version.map(str::to_string),
    )
}

/// The object handed on for a change: its name, namespace and version only.
fn stamp<K>(namespace: String, name: String, version: Option<String>) -> PartialObjectMeta<K> {
    PartialObjectMeta {
        types: None,
        metadata: ObjectMeta {
            name: Some(name),
            namespace: (!namespace.is_empty()).then_some(namespace),
            resource_version: version,
            ..ObjectMeta::default()
        },
        _phantom: PhantomData,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;

    fn secret(namespace: &str, name: &str, version: &str) -> PartialObjectMeta<Secret> {
        stamp(
            namespace.to_string(),
            name.to_string(),
            Some(version.to_string()),
        )
    }

    fn names(mut changed: Vec<Changed>) -> Vec<String> {
        changed.sort();
        changed
            .into_iter()
            .map(|(ns, name, v)| format!("{ns}/{name}@{}", v.as_deref().unwrap_or("gone")))
            .collect()
    }

    /// A listing, then changes, then a relisting that changed two objects
    /// and deleted one: each is handed on once, the unchanged never.
    #[test]
    fn a_listing_replaces_what_is_held_and_hands_on_only_what_changed() {
        type Event = watcher::Event<PartialObjectMeta<Secret>>;
        let (mut held, mut listing) = (Held::default(), None);
        assert!(held.apply(&mut listing, Event::Init).is_empty());
        for (name, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            let seen = held.apply(&mut listing, Event::InitApply(secret("ward-1", name, v)));
            assert!(
                seen.is_empty(),
                "handed on only when the listing is complete"
            );
        }
        assert!(
            held.by_id.is_empty(),
            "held only when the listing is complete"
        );
        assert_eq!(
            names(held.apply(&mut listing, Event::InitDone)),
            ["ward-1/a@1", "ward-1/b@2", "ward-1/c@3"]
        );
        assert!(listing.is_none());

        let changed = held.apply(&mut listing, Event::Apply(secret("ward-1", "a", "4")));
        assert_eq!(names(changed), ["ward-1/a@4"]);
        let changed = held.apply(&mut listing, Event::Delete(secret("ward-1", "b", "2")));
        assert_eq!(names(changed), ["ward-1/b@gone"]);
        let versions = Versions::<Secret> {
            held: Arc::new(RwLock::new(held)),
            ready: Arc::default(),
            subscribers: Arc::default(),
        };
        assert_eq!(versions.get("ward-1", "a").as_deref(), Some("4"));
        assert_eq!(versions.get("ward-1", "b"), None);
        assert_eq!(versions.get("ward-2", "a"), None);
        let mut held = Arc::try_unwrap(versions.held)
            .unwrap()
            .into_inner()
            .unwrap();

        // The relisting after an API server restart: `a` unchanged, `c`
        // changed, `b` back, `d` new, and nothing else.
        held.apply(&mut listing, Event::Init);
        for (name, v) in [("a", "4"), ("b", "5"), ("c", "6"), ("d", "7")] {
            held.apply(&mut listing, Event::InitApply(secret("ward-1", name, v)));
        }
        assert_eq!(
            held.by_id.get("ward-1/c").map(|v| &**v),
            Some("3"),
            "read as before until the relisting is complete"
        );
        assert_eq!(
            names(held.apply(&mut listing, Event::InitDone)),
            ["ward-1/b@5", "ward-1/c@6", "ward-1/d@7"]
        );
        // A relisting without `d` deletes it.
        held.apply(&mut listing, Event::Init);
        for (name, v) in [("a", "4"), ("b", "5"), ("c", "6")] {
            held.apply(&mut listing, Event::InitApply(secret("ward-1", name, v)));
        }
        assert_eq!(
            names(held.apply(&mut listing, Event::InitDone)),
            ["ward-1/d@gone"]
        );
        assert_eq!(held.by_id.len(), 3);
    }

    #[test]
    fn a_stamp_keeps_the_namespace_name_and_version_only() {
        let s = secret("ward-1", "db", "9");
        assert_eq!(s.metadata.name.as_deref(), Some("db"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("ward-1"));
        assert_eq!(s.metadata.resource_version.as_deref(), Some("9"));
        assert_eq!(
            serde_json::to_value(&s.metadata).unwrap(),
            serde_json::json!({"name": "db", "namespace": "ward-1", "resourceVersion": "9"})
        );
        let cluster: PartialObjectMeta<Secret> = stamp(String::new(), "x".into(), None);
        assert_eq!(cluster.metadata.namespace, None);
        assert_eq!(
            split(&key("", "x"), None),
            (String::new(), "x".into(), None)
        );
    }
}
