//! One folder per controller: dereference → validate → build → apply → status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::core::PartialObjectMeta;

use crate::runtime::metrics::Metrics;
use crate::runtime::settings::WorkloadSettings;

pub mod apply;
pub mod backup_policy;
pub mod cache;
pub mod conditions;
pub mod data_connector;
pub mod events;
pub mod labels;
pub mod requests;
pub mod restore;
pub mod results;
pub mod schedule;
pub mod versions;
pub mod ward_service;

/// A field of metadata that the API server sets on every object is missing:
/// the object was not read from the API server.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("the object has no {0}; only objects read from the API server can be reconciled")]
pub struct MissingMetadata(pub &'static str);

/// Name, namespace and uid of a namespaced object read from the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// `metadata.uid`.
    pub uid: &'a str,
}

/// The one check of the metadata every reconcile and build needs.
pub fn identity(meta: &ObjectMeta) -> Result<Identity<'_>, MissingMetadata> {
    fn present<'m>(
        value: &'m Option<String>,
        field: &'static str,
    ) -> Result<&'m str, MissingMetadata> {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or(MissingMetadata(field))
    }
    Ok(Identity {
        name: present(&meta.name, "metadata.name")?,
        namespace: present(&meta.namespace, "metadata.namespace")?,
        uid: present(&meta.uid, "metadata.uid")?,
    })
}

/// The caches more than one controller reads, each kept by one watch and
/// holding one copy of each object: the three kinds of wardops, Secrets
/// and Namespaces by metadata only (no secret value is ever received).
pub struct SharedCaches {
    /// Every WardService in the watched namespace (or all).
    pub ward_services: cache::Shared<crate::api::WardService>,
    /// Every DataConnector in the watched namespace (or all).
    pub connectors: cache::Shared<crate::api::DataConnector>,
    /// Every BackupPolicy in the watched namespace (or all).
    pub backup_policies: cache::Shared<crate::api::BackupPolicy>,
    /// Every Secret's resourceVersion, for the references'
    /// [`crate::secrets::SecretIndex`].
    pub secrets: cache::Versions<Secret>,
    /// The watched namespace (or every one), for its classification labels.
    pub namespaces: cache::Shared<PartialObjectMeta<Namespace>>,
}

impl SharedCaches {
    /// The shared caches of `namespace` (or of all), kept current by `drives`.
    pub fn new(client: &Client, namespace: Option<&str>, drives: &mut cache::Drives) -> Self {
        let all = kube::runtime::watcher::Config::default;
        let ward_services = drives.shared(cache::api_for(client, namespace), all(), cache::slim);
        let connectors = drives.shared(cache::api_for(client, namespace), all(), cache::slim);
        let backup_policies = drives.shared(cache::api_for(client, namespace), all(), cache::slim);
        // A Secret's resourceVersion only: its labels and annotations may
        // carry its values (kubectl's last-applied).
        let secrets = drives.versions(cache::api_for(client, namespace), all());
        let ns_config = match namespace {
            Some(ns) => all().fields(&format!("metadata.name={ns}")),
            None => all(),
        };
        let namespaces = drives.shared(kube::Api::all(client.clone()), ns_config, cache::metadata);
        SharedCaches {
            ward_services,
            connectors,
            backup_policies,
            secrets,
            namespaces,
        }
    }

    /// Sizes by cached kind, for the `wardops_cache_objects` gauge.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("WardService", self.ward_services.store().len()),
            ("DataConnector", self.connectors.store().len()),
            ("BackupPolicy", self.backup_policies.store().len()),
            ("Secret", self.secrets.len()),
            ("Namespace", self.namespaces.store().len()),
        ]
    }

    /// True once every cache holds its first complete listing.
    pub fn is_ready(&self) -> bool {
        cache::is_ready(&self.ward_services.store())
            && cache::is_ready(&self.connectors.store())
            && cache::is_ready(&self.backup_policies.store())
            && self.secrets.is_ready()
            && cache::is_ready(&self.namespaces.store())
    }
}

/// Name under which wardops reports Events (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "wardops";

/// What every reconcile shares.
pub struct Context {
    /// API client (user agent `wardops/<version>`).
    pub client: Client,
    /// Settings of the objects wardops builds.
    pub settings: WorkloadSettings,
    /// Publishes Kubernetes Events as `wardops`.
    pub recorder: events::Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Safety-net resync of an unchanged resource.
    pub resync: Duration,
    /// Consecutive failures per object, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context whose Events name `instance` (the pod name) as reporting instance.
    pub fn new(
        client: Client,
        settings: WorkloadSettings,
        metrics: Arc<Metrics>,
        resync: Duration,
        instance: Option<String>,
    ) -> Arc<Self> {
        Arc::new(Context {
            recorder: events::Recorder::new(client.clone(), REPORTING_CONTROLLER, instance),
            client,
            settings,
            metrics,
            resync,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Records another failure of `key`: the backoff (1 s doubling up to 5
    /// minutes) and whether it is the first of a streak.
    pub fn next_backoff(&self, key: &str) -> (Duration, bool) {
        let n = self
            .failures
            .lock()
            .map(|mut f| {
                let n = f.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1);
        (backoff(n), n == 1)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset_backoff(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

/// Publishes an Event about `object` (`kind` and `name` for the log); a
/// failure is logged, never fatal. The note is cut at 1000 characters.
pub async fn publish(
    ctx: &Context,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    normal: bool,
    reason: &str,
    message: &str,
) {
    use events::{EventType, Report};
    let note: String = message.chars().take(1000).collect();
    let report = Report {
        type_: if normal {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason,
        action: "Reconcile",
        note: &note,
    };
    if let Err(e) = ctx.recorder.publish(&report, object).await {
        tracing::warn!(
            kind = object.kind.as_deref().unwrap_or_default(),
            name = object.name.as_deref().unwrap_or_default(),
            error = %e,
            "cannot publish Event"
        );
    }
}

/// 1 s, 2 s, 4 s, ... capped at 300 s.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(9);
    Duration::from_secs((1u64 << exp).min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(50), Duration::from_secs(300));
    }
}
