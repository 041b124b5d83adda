//! Kubernetes Events as wardops reports them (`events.k8s.io/v1`).
//!
//! The same behaviour as kube-runtime's `Recorder`: an Event is created the
//! first time a reason is reported about an object, and a repeat of it
//! within [`SERIES_WINDOW`] (same type, action and reason about the same
//! object) patches that Event's `series` (count, last seen) instead of
//! creating another, as client-go's event recorder does. What is remembered
//! of an Event sent is what a repeat needs: its name, count and time, about
//! 100 bytes. kube-runtime's recorder keeps the whole Event it sent for
//! those 6 minutes (about 3 KiB each: 3.2 MiB of the operator's heap while
//! the 1,000-ward city converged).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

/// How long a sent Event takes the repeats of its reason (kube-runtime's
/// and client-go's 6 minutes).
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// `Normal` or `Warning`: kube-runtime's type (it hashes as a key part).
pub use kube::runtime::events::EventType;

/// The `type` an Event of `t` carries.
fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// What one Event says.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// Normal or Warning.
    pub type_: EventType,
    /// CamelCase reason, e.g. `SecretMissing`.
    pub reason: &'a str,
    /// What wardops did, e.g. `Reconcile`.
    pub action: &'a str,
    /// The message for humans (never a secret value).
    pub note: &'a str,
}

/// What a repeat needs of an Event sent: its name and how often and when
/// its reason was last reported.
#[derive(Debug)]
struct Sent {
    name: Box<str>,
    count: i32,
    last: Timestamp,
}

/// Publishes Events as `controller` (`reportingController`) from `instance`.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    /// Events sent within the window, by a hash of what makes a repeat.
    sent: Mutex<HashMap<u64, Sent>>,
    hasher: RandomState,
}

impl Recorder {
    /// A recorder reporting as `controller`, from `instance` (the pod's
    /// name; the controller's name without one).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Recorder {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            sent: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    /// Reports `report` about `regarding`: creates an Event, or counts a
    /// repeat on the one sent within the window. An Event deleted since
    /// (its namespace recreated, say) is created anew.
    pub async fn publish(
        &self,
        report: &Report<'_>,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = self.key(report, regarding);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api = Api::<Event>::namespaced(self.client.clone(), namespace);
        if let Some((name, count)) = self.repeat(key, now) {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let patch = serde_json::json!({ "series": series });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, name, count, now);
                    return Ok(());
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.event(report, regarding, now);
        let name: Box<str> = event.metadata.name.as_deref().unwrap_or_default().into();
        api.create(&PostParams::default(), &event).await?;
        self.remember(key, name, 1, now);
        Ok(())
    }

    /// How many Events sent within the window are remembered.
    pub fn remembered(&self) -> usize {
        self.sent.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// What makes a repeat: kube-runtime's key (type, action, reason and
    /// the object; the reporter is this recorder's own), hashed.
    fn key(&self, report: &Report<'_>, regarding: &ObjectReference) -> u64 {
        let mut h = self.hasher.build_hasher();
        (report.type_, report.action, report.reason).hash(&mut h);
        (
            &regarding.api_version,
            &regarding.kind,
            &regarding.namespace,
            &regarding.name,
            &regarding.uid,
        )
            .hash(&mut h);
        h.finish()
    }

    /// Forgets Events older than the window; the name and next count of
    /// the one `key` repeats, if it is within.
    fn repeat(&self, key: u64, now: Timestamp) -> Option<(String, i32)> {
        let mut sent = self.sent.lock().ok()?;
        sent.retain(|_, s| s.last + SERIES_WINDOW > now);
        sent.get(&key)
            .map(|s| (s.name.to_string(), s.count.saturating_add(1)))
    }

    fn remember(&self, key: u64, name: impl Into<Box<str>>, count: i32, now: Timestamp) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(
                key,
                Sent {
                    name: name.into(),
                    count,
                    last: now,
                },
            );
        }
    }

    /// A new Event, named as kube-runtime names it (the object's name and
    /// the time in nanoseconds, in hexadecimal).
    fn event(&self, report: &Report<'_>, regarding: &ObjectReference, now: Timestamp) -> Event {
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(report.action.to_string()),
            reason: Some(report.reason.to_string()),
            note: Some(report.note.to_string()),
            type_: Some(type_name(report.type_).to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Recorder::new(Client::try_from(config).unwrap(), "wardops", None)
    }

    fn object(name: &str, uid: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("wardops.io/v1alpha1".into()),
            kind: Some("WardService".into()),
            namespace: Some("ward-1".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            ..ObjectReference::default()
        }
    }

    const MISSING: Report<'static> = Report {
        type_: EventType::Warning,
        reason: "SecretMissing",
        action: "Reconcile",
        note: "Secret `db` has no key `password`",
    };

    #[tokio::test]
    async fn a_repeat_within_the_window_counts_on_the_event_sent() {
        let r = recorder();
        let now = Timestamp::now();
        let key = r.key(&MISSING, &object("one-stop", "u1"));
        assert_eq!(r.repeat(key, now), None);
        r.remember(key, "one-stop.1", 1, now);
        assert_eq!(
            r.repeat(key, now + SignedDuration::from_mins(5)),
            Some(("one-stop.1".to_string(), 2))
        );
        // Past the window it is forgotten: the next report is a new Event.
        assert_eq!(r.repeat(key, now + SERIES_WINDOW), None);
        assert_eq!(r.remembered(), 0);
    }

    #[tokio::test]
    async fn another_reason_type_or_object_is_not_a_repeat() {
        let r = recorder();
        let key = r.key(&MISSING, &object("one-stop", "u1"));
        let others = [
            r.key(
                &Report {
                    reason: "Available",
                    ..MISSING
                },
                &object("one-stop", "u1"),
            ),
            r.key(
                &Report {
                    type_: EventType::Normal,
                    ..MISSING
                },
                &object("one-stop", "u1"),
            ),
            r.key(&MISSING, &object("portal", "u1")),
            // The same name, another object (deleted and created again).
            r.key(&MISSING, &object("one-stop", "u2")),
        ];
        assert!(others.iter().all(|k| *k != key));
        // The note is not part of it (as in kube-runtime and client-go).
        let reworded = Report {
            note: "Secret `db` is missing",
            ..MISSING
        };
        assert_eq!(r.key(&reworded, &object("one-stop", "u1")), key);
    }

    #[tokio::test]
    async fn a_new_event_names_its_object_and_reporter() {
        let r = recorder();
        let now = Timestamp::now();
        let e = r.event(&MISSING, &object("one-stop", "u1"), now);
        let name = e.metadata.name.as_deref().unwrap();
        assert_eq!(name, format!("one-stop.{:x}", now.as_nanosecond()));
        assert_eq!(e.metadata.namespace.as_deref(), Some("ward-1"));
        assert_eq!(e.reason.as_deref(), Some("SecretMissing"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reporting_controller.as_deref(), Some("wardops"));
        assert_eq!(e.reporting_instance.as_deref(), Some("wardops"));
        assert_eq!(e.series, None);
        assert_eq!(
            e.regarding.as_ref().and_then(|o| o.uid.as_deref()),
            Some("u1")
        );
    }
}
