//! The order in which a controller takes what it is asked to reconcile.
//!
//! kube-runtime's controller queues each request for an object; once as many
//! reconciles run as it may run at once, it moves the requests that are due
//! into a hash set, and each time a reconcile ends it takes the first one in
//! the set's order whose object is not running. Under a burst that set holds
//! hundreds of objects, it is refilled faster than it drains, and a request
//! placed late in the hash order waits until the set is empty. On the bench
//! (1,000 WardServices applied at once, 2 cores), the Ready of 24 wards whose
//! pods were available in the first seconds was written 7 to 97 s later, at
//! the burst's end, and a spec edit made during a burst could wait as long.
//!
//! So every request of a controller (its own kind's changes, its children's
//! and those of the objects it watches) goes through one queue here first:
//! in the order asked, each object once while it waits, handed to the
//! controller only as its reconciles end ([`Pace`]), so that the controller's
//! own set stays a few objects long.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, Stream, StreamExt};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::cache::{NoTriggerBackoff, Pace};

/// With no reconcile ended for this long, the next request goes anyway. A
/// request handed on can end in no reconcile (its object deleted before its
/// turn, or joined to one the controller had queued already), and its turn
/// is then never given back.
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
    /// order ([`Requests::in_order`], paced by `order`), `concurrency`
    /// reconciles at a time. Give `order` a turn as each reconcile ends
    /// ([`Pace::on_reconcile`]).
    pub fn controller(self, store: Store<K>, concurrency: u16, order: Pace) -> Controller<K>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    {
        Controller::for_stream(futures::stream::pending(), store)
            .trigger_backoff(NoTriggerBackoff)
            .with_config(controller::Config::default().concurrency(concurrency))
            .reconcile_on(self.in_order(order))
    }

    /// The queue: every request in the order asked, each object once while
    /// it waits, the next one handed on when `pace` gives a turn (a
    /// reconcile ended) or after [`AT_LEAST_EVERY`] without one. For
    /// `Controller::reconcile_on`.
    pub fn in_order(self, pace: Pace) -> InOrder<K> {
        InOrder {
            requests: self.streams,
            asked_all: false,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            pace,
            turn: None,
            at_least: Box::pin(tokio::time::sleep(AT_LEAST_EVERY)),
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
    queue: VecDeque<ObjectRef<K>>,
    queued: HashSet<ObjectRef<K>>,
    pace: Pace,
    /// The wait for a turn of `pace`, while a request waits.
    turn: Option<BoxFuture<'static, ()>>,
    at_least: Pin<Box<tokio::time::Sleep>>,
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
                        this.queue.push_back(r);
                    }
                }
                Poll::Ready(None) => this.asked_all = true,
                Poll::Pending => break,
            }
        }
        if this.queue.is_empty() {
            this.turn = None;
            return if this.asked_all {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        if this.turn.is_none() {
            this.turn = Some(this.pace.turn().boxed());
            this.at_least
                .as_mut()
                .reset(tokio::time::Instant::now() + AT_LEAST_EVERY);
        }
        let turn = this
            .turn
            .as_mut()
            .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if !turn && this.at_least.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.turn = None;
        let next = this.queue.pop_front();
        if let Some(next) = &next {
            this.queued.remove(next);
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

    fn names(refs: &[ObjectRef<ConfigMap>]) -> Vec<&str> {
        refs.iter().map(|r| r.name.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_in_the_order_asked_each_once_and_as_reconciles_end() {
        let asked = ["a", "b", "a", "c", "b", "d"].map(|n| Ok(cm(n)));
        let pace = Pace::new(2);
        let mut queue =
            Requests::of(futures::stream::iter(asked).chain(futures::stream::pending()))
                .in_order(pace.clone());

        // Two ahead, then one for each reconcile ended.
        let mut out = vec![queue.next().await.unwrap(), queue.next().await.unwrap()];
        assert_eq!(names(&out), ["a", "b"]);
        let third = tokio::time::timeout(Duration::from_millis(900), queue.next()).await;
        assert!(third.is_err(), "no turn before a reconcile ends");
        pace.done();
        out.push(queue.next().await.unwrap());
        pace.done();
        out.push(queue.next().await.unwrap());
        assert_eq!(
            names(&out),
            ["a", "b", "c", "d"],
            "each object once, in order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_never_given_back_stops_nothing() {
        let asked = ["a", "b"].map(|n| Ok(cm(n)));
        let mut queue =
            Requests::of(futures::stream::iter(asked).chain(futures::stream::pending()))
                .in_order(Pace::new(1));
        assert_eq!(queue.next().await.unwrap().name, "a");
        // No reconcile ends (the request was lost): the next one goes after a second.
        let start = tokio::time::Instant::now();
        assert_eq!(queue.next().await.unwrap().name, "b");
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
        let mut queue = Requests::of(none)
            .owns(futures::stream::iter([Ok(child)]))
            .in_order(Pace::new(4));
        assert_eq!(queue.next().await.unwrap().name, "parent");
        assert!(queue.next().await.is_none(), "every trigger ended");
    }
}
