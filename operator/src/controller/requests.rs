//! The order in which a controller takes what it is asked to reconcile.
//!
//! kube-runtime's controller queues each request for an object; once as many
//! reconciles run as it may run at once, it moves the requests that are due
//! into a hash set, and each time a reconcile ends it takes the first one in
//! the set's order whose object is not running. Under a burst that set holds
//! hundreds of objects, it is refilled faster than it drains, and a request
//! placed late in the hash order waits until the set is empty. With 1,000
//! WardServices applied at once (2 cores), the Ready of 24 wards whose
//! pods were available in the first seconds was written 7 to 97 s later, at
//! the burst's end, and a spec edit made during a burst could wait as long.
//!
//! So every request of a controller (its own kind's changes, its children's
//! and those of the objects it watches) goes through a queue here first: in
//! the order asked, each object once while it waits, handed to the
//! controller only while fewer than twice its concurrency of the objects
//! handed on have not ended their reconcile, so that the controller's own set
//! stays a few objects long. The requests for objects it has reconciled
//! before (their children's changes, a spec edit) go ahead of those for
//! objects it has not (a burst of new ones, or all of them once a new leader
//! starts): a ward's Ready is written as soon as its pods are available,
//! not after every ward created after it had its first reconcile.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::cache::{NoTriggerBackoff, Pace};

/// With no room for this long, the next request goes anyway: a reconcile
/// that runs longer than a second (its API calls slow) holds no one else
/// back longer than that.
const AT_LEAST_EVERY: Duration = Duration::from_secs(1);

/// What a controller of `K` is asked to reconcile, from each of its
/// triggers; [`Requests::in_order`] makes the queue.
pub struct Requests<K: Resource<DynamicType = ()>> {
    streams: SelectAll<BoxStream<'static, ObjectRef<K>>>,
}

impl<K> Requests<K>
where
    K: Resource<DynamicType = ()> + 'static,
{
    /// The controller's own kind: each object the stream gives is asked for.
    pub fn of(objects: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static) -> Self {
        let mut streams = SelectAll::new();
        streams.push(
            objects
                .filter_map(|o| futures::future::ready(o.ok().map(|o| ObjectRef::from_obj(&o))))
                .boxed(),
        );
        Requests { streams }
    }

    /// Children: each change asks for its owners of kind `K`.
    pub fn owns<C>(
        self,
        children: impl Stream<Item = Result<C, watcher::Error>> + Send + 'static,
    ) -> Self
    where
        C: Resource + Send + 'static,
    {
        self.watches(children, |child: C| owners::<K, C>(&child))
    }

    /// Related objects: each change asks for the objects `map` names.
    pub fn watches<C, I>(
        mut self,
        related: impl Stream<Item = Result<C, watcher::Error>> + Send + 'static,
        map: impl Fn(C) -> I + Send + 'static,
    ) -> Self
    where
        C: Send + 'static,
        I: IntoIterator<Item = ObjectRef<K>>,
        I::IntoIter: Send + 'static,
    {
        self.streams.push(
            related
                .filter_map(|c| futures::future::ready(c.ok()))
                .flat_map(move |c| futures::stream::iter(map(c)))
                .boxed(),
        );
        self
    }

    /// A controller of the objects in `store` that takes these requests in
    /// order ([`Requests::in_order`]), `concurrency` reconciles at a time,
    /// and what tells the queue that they end: pass its
    /// [`Ends::on_reconcile`] to the run's `for_each`.
    pub fn controller(self, store: Store<K>, concurrency: u16) -> (Controller<K>, Ends<K>)
    where
        K: Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    {
        let (queue, ends) = self.in_order(super::cache::ahead_of(concurrency));
        let controller = Controller::for_stream(futures::stream::pending(), store)
            .trigger_backoff(NoTriggerBackoff)
            .with_config(controller::Config::default().concurrency(concurrency))
            .reconcile_on(queue);
        (controller, ends)
    }

    /// The queue: every request in the order asked, each object once while
    /// it waits, the next one handed on while fewer than `room` of the
    /// objects handed on have not ended their reconcile ([`Ends`]), or after
    /// [`AT_LEAST_EVERY`] without room. For `Controller::reconcile_on`.
    pub fn in_order(self, room: usize) -> (InOrder<K>, Ends<K>) {
        let ends = Ends(
            Arc::new(Handed {
                objects: Mutex::default(),
                waker: AtomicWaker::new(),
                room: room.max(1),
            }),
            std::marker::PhantomData,
        );
        let queue = InOrder {
            requests: self.streams,
            asked_all: false,
            again: VecDeque::new(),
            first: VecDeque::new(),
            queued: HashSet::new(),
            handed: ends.clone(),
            waiting: false,
            at_least: Box::pin(tokio::time::sleep(AT_LEAST_EVERY)),
        };
        (queue, ends)
    }
}

/// An object's name and namespace: a request's key, whatever kind names it.
type Key = (Option<String>, String);

fn key_of<T: Resource>(r: &ObjectRef<T>) -> Key {
    (r.namespace.clone(), r.name.clone())
}

/// What a queue handed on.
struct Handed {
    objects: Mutex<HandedObjects>,
    waker: AtomicWaker,
    /// How many may be open at once.
    room: usize,
}

#[derive(Default)]
struct HandedObjects {
    /// Handed on, their reconcile not ended.
    open: HashSet<Key>,
    /// Handed on at least once and not found gone since: their requests go
    /// first. A name and namespace per object reconciled, about 100 bytes.
    known: HashSet<Key>,
}

/// One item of `Controller::run`'s output: a reconcile ended.
pub type Reconciled<K, E1, E2> = Result<(ObjectRef<K>, Action), controller::Error<E1, E2>>;

/// Tells a queue ([`Requests::in_order`]) which reconciles ended.
pub struct Ends<K>(Arc<Handed>, std::marker::PhantomData<fn() -> K>);

impl<K> Clone for Ends<K> {
    fn clone(&self) -> Self {
        Ends(self.0.clone(), std::marker::PhantomData)
    }
}

impl<K> Ends<K>
where
    K: Resource<DynamicType = ()> + 'static,
{
    /// The reconcile of `obj` ended, or its object was `gone` (not found):
    /// it leaves the count, and the queue may hand on the next.
    pub fn ended<T: Resource>(&self, obj: &ObjectRef<T>, gone: bool) {
        if let Ok(mut handed) = self.0.objects.lock() {
            let key = key_of(obj);
            if gone {
                handed.known.remove(&key);
            }
            handed.open.remove(&key);
        }
        self.0.waker.wake();
    }

    /// For `Controller::run`'s output (one item per reconcile ended): each
    /// end goes to the queue, and gives `replay` (the controller's replay of
    /// its cache, [`super::cache::Shared::subscribe`]) its turn.
    pub fn on_reconcile<E1, E2>(
        self,
        replay: Pace,
    ) -> impl FnMut(Reconciled<K, E1, E2>) -> futures::future::Ready<()> {
        move |end| {
            match &end {
                Ok((obj, _)) => self.ended(obj, false),
                Err(controller::Error::ReconcilerFailed(_, obj)) => self.ended(obj, false),
                Err(controller::Error::ObjectNotFound(obj)) => self.ended(obj, true),
                Err(_) => {}
            }
            replay.done();
            futures::future::ready(())
        }
    }
}

/// The owners of kind `K` that `child`'s owner references name.
fn owners<K, C>(child: &C) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
    C: Resource,
{
    let ns = child.meta().namespace.as_deref();
    child
        .owner_references()
        .iter()
        .filter_map(|owner| ObjectRef::from_owner_ref(ns, owner, ()))
        .collect()
}

/// The queue of [`Requests::in_order`].
pub struct InOrder<K: Resource<DynamicType = ()>> {
    requests: SelectAll<BoxStream<'static, ObjectRef<K>>>,
    asked_all: bool,
    /// Requests for objects handed on before, in the order asked.
    again: VecDeque<ObjectRef<K>>,
    /// Requests for the others, in the order asked.
    first: VecDeque<ObjectRef<K>>,
    /// Every object in either.
    queued: HashSet<ObjectRef<K>>,
    handed: Ends<K>,
    /// Whether the next request waits for room, since `at_least` was set.
    waiting: bool,
    at_least: Pin<Box<tokio::time::Sleep>>,
}

impl<K: Resource<DynamicType = ()>> InOrder<K> {
    /// Whether one more object may be handed on now.
    fn room(&self) -> bool {
        let handed = &self.handed.0;
        handed
            .objects
            .lock()
            .map(|objects| objects.open.len() < handed.room)
            .unwrap_or(true)
    }
}

impl<K> Stream for InOrder<K>
where
    K: Resource<DynamicType = ()> + 'static,
{
    type Item = ObjectRef<K>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Every request asked so far joins the queue, whether or not one goes.
        while !this.asked_all {
            match this.requests.poll_next_unpin(cx) {
                Poll::Ready(Some(r)) => {
                    if this.queued.insert(r.clone()) {
                        let known = this.handed.0.objects.lock();
                        if known.is_ok_and(|h| h.known.contains(&key_of(&r))) {
                            this.again.push_back(r);
                        } else {
                            this.first.push_back(r);
                        }
                    }
                }
                Poll::Ready(None) => this.asked_all = true,
                Poll::Pending => break,
            }
        }
        if this.again.is_empty() && this.first.is_empty() {
            return if this.asked_all {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        // Woken by an end from here on: an end between the check and the
        // registration would otherwise be missed.
        this.handed.0.waker.register(cx.waker());
        if !this.room() {
            if !this.waiting {
                this.waiting = true;
                this.at_least
                    .as_mut()
                    .reset(tokio::time::Instant::now() + AT_LEAST_EVERY);
            }
            if this.at_least.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.waiting = false;
        let next = this.again.pop_front().or_else(|| this.first.pop_front());
        if let Some(next) = &next {
            this.queued.remove(next);
            if let Ok(mut handed) = this.handed.0.objects.lock() {
                handed.open.insert(key_of(next));
                handed.known.insert(key_of(next));
            }
        }
        Poll::Ready(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn cm(name: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.to_string());
        c.metadata.namespace = Some("ns".to_string());
        c
    }

    fn cm_ref(name: &str) -> ObjectRef<ConfigMap> {
        ObjectRef::from_obj(&cm(name))
    }

    fn names(refs: &[ObjectRef<ConfigMap>]) -> Vec<&str> {
        refs.iter().map(|r| r.name.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_in_the_order_asked_each_once_and_as_reconciles_end() {
        let asked = ["a", "b", "a", "c", "b", "d"].map(|n| Ok(cm(n)));
        let (mut queue, ends) =
            Requests::of(futures::stream::iter(asked).chain(futures::stream::pending()))
                .in_order(2);

        // Two handed on, then one more for each that ends.
        let mut out = vec![queue.next().await.unwrap(), queue.next().await.unwrap()];
        assert_eq!(names(&out), ["a", "b"]);
        let third = tokio::time::timeout(Duration::from_millis(900), queue.next()).await;
        assert!(third.is_err(), "no room before a reconcile ends");
        ends.ended(&out[0], false);
        out.push(queue.next().await.unwrap());
        ends.ended(&out[2], false);
        out.push(queue.next().await.unwrap());
        assert_eq!(
            names(&out),
            ["a", "b", "c", "d"],
            "each object once, in order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_handed_on_twice_leaves_the_count_with_its_one_end() {
        // "a" asked again after it was handed on: handed on again (it may be
        // running, and must run once more), counted once.
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let (mut queue, ends) = Requests::of(rx).in_order(2);
        tx.unbounded_send(Ok(cm("a"))).unwrap();
        let a = queue.next().await.unwrap();
        tx.unbounded_send(Ok(cm("a"))).unwrap();
        tx.unbounded_send(Ok(cm("b"))).unwrap();
        tx.unbounded_send(Ok(cm("c"))).unwrap();
        assert_eq!(queue.next().await.unwrap().name, "a");
        assert_eq!(queue.next().await.unwrap().name, "b");
        ends.ended(&a, false);
        let c = tokio::time::timeout(Duration::from_millis(10), queue.next()).await;
        assert_eq!(
            c.unwrap().unwrap().name,
            "c",
            "room again after a's one end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn objects_reconciled_before_go_ahead_of_new_ones_until_found_gone() {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let (mut queue, ends) = Requests::of(rx).in_order(1);
        tx.unbounded_send(Ok(cm("old"))).unwrap();
        let old = queue.next().await.unwrap();
        for n in ["new-1", "new-2", "old"] {
            tx.unbounded_send(Ok(cm(n))).unwrap();
        }
        ends.ended(&old, false);
        assert_eq!(
            queue.next().await.unwrap().name,
            "old",
            "reconciled before: first"
        );
        ends.ended(&old, true);
        assert_eq!(queue.next().await.unwrap().name, "new-1");
        tx.unbounded_send(Ok(cm("new-3"))).unwrap();
        tx.unbounded_send(Ok(cm("old"))).unwrap();
        let first = queue.next().await.unwrap();
        ends.ended(&first, false);
        assert_eq!(
            names(&[first, queue.next().await.unwrap()]),
            ["new-2", "new-3"]
        );
        ends.ended(&cm_ref("new-3"), false);
        assert_eq!(
            queue.next().await.unwrap().name,
            "old",
            "gone: new again, in its turn"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconcile_that_does_not_end_holds_the_queue_a_second_at_most() {
        let asked = ["a", "b"].map(|n| Ok(cm(n)));
        let (mut queue, _ends) =
            Requests::of(futures::stream::iter(asked).chain(futures::stream::pending()))
                .in_order(1);
        assert_eq!(queue.next().await.unwrap().name, "a");
        let start = tokio::time::Instant::now();
        // Bounded, so that a queue that waited forever fails here.
        let b = tokio::time::timeout(10 * AT_LEAST_EVERY, queue.next()).await;
        assert_eq!(b.expect("b within the bound").unwrap().name, "b");
        assert_eq!(start.elapsed(), AT_LEAST_EVERY);
    }

    #[tokio::test]
    async fn a_child_asks_for_its_owners_of_the_kind_only() {
        let owner = |kind: &str, name: &str| OwnerReference {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
            ..Default::default()
        };
        let mut child = cm("child");
        child.metadata.owner_references =
            Some(vec![owner("ConfigMap", "parent"), owner("Secret", "other")]);
        let refs = owners::<ConfigMap, _>(&child);
        assert_eq!(names(&refs), ["parent"]);
        assert_eq!(refs[0].namespace.as_deref(), Some("ns"));

        let none = futures::stream::empty::<Result<ConfigMap, watcher::Error>>();
        let (mut queue, _ends) = Requests::of(none)
            .owns(futures::stream::iter([Ok(child)]))
            .in_order(4);
        assert_eq!(queue.next().await.unwrap().name, "parent");
        assert!(queue.next().await.is_none(), "every trigger ended");
    }
}
