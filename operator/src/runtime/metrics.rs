//! Prometheus metrics. Labels are bounded: kind, error category, ready state;
//! never the name or namespace of a user object.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-kind metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `WardService`, `DataConnector` or `BackupPolicy`.
    pub kind: &'static str,
}

/// Labels of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Kind of the resource being reconciled.
    pub kind: &'static str,
    /// Bounded error category (the error's `category()`).
    pub category: &'static str,
}

/// Labels of the resources gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// Kind of the resource.
    pub kind: &'static str,
    /// `true`, `false` or `unknown` (no Ready condition yet).
    pub ready: &'static str,
}

/// Labels of the cache size gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// The cached kind, e.g. `Deployment` or `Secret` (metadata only).
    pub cache: &'static str,
}

/// A source of cache sizes, read at scrape time.
pub type CacheCounter = Box<dyn Fn() -> Vec<(CacheLabels, i64)> + Send + Sync>;

/// A source of per-kind ready counts, read at scrape time (the controllers'
/// caches), so deleted resources disappear from the gauge by themselves.
pub type ReadyCounter = Box<dyn Fn() -> Vec<(ReadyLabels, i64)> + Send + Sync>;

/// The backup health, read at scrape time: BackupPolicies overdue, and the
/// oldest last successful backup of any target (seconds since the epoch).
pub type BackupHealth = Box<dyn Fn() -> (i64, Option<i64>) + Send + Sync>;

/// All metrics of the operator.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    durations: Family<KindLabels, Histogram>,
    resources: Family<ReadyLabels, Gauge>,
    leader: Gauge<i64, AtomicI64>,
    ready_sources: std::sync::Mutex<Vec<ReadyCounter>>,
    cache_objects: Family<CacheLabels, Gauge>,
    cache_sources: std::sync::Mutex<Vec<CacheCounter>>,
    backups_overdue: Gauge<i64, AtomicI64>,
    backup_oldest_success: Gauge<i64, AtomicI64>,
    backup_source: std::sync::Mutex<Option<BackupHealth>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wardops");
        let reconciles = Family::<KindLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let durations = Family::<KindLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 14))) as fn() -> Histogram,
        );
        let resources = Family::<ReadyLabels, Gauge>::default();
        let leader = Gauge::<i64, AtomicI64>::default();
        let backups_overdue = Gauge::<i64, AtomicI64>::default();
        let cache_objects = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_objects",
            "Objects held in the operator's watch caches, by kind (bounded memory: wardops' own children, and metadata only for Secrets and Namespaces)",
            cache_objects.clone(),
        );
        registry.register("reconciles", "Reconciles run, by kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by kind and error category",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile takes, by kind",
            durations.clone(),
        );
        registry.register(
            "resources",
            "wardops resources, by kind and Ready status",
            resources.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica is the leader",
            leader.clone(),
        );
        registry.register(
            "backup_policies_overdue",
            "BackupPolicies with a target whose last successful backup is older than its schedule allows (the first scheduled time after it, plus an hour)",
            backups_overdue.clone(),
        );
        let backup_oldest_success = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "backup_last_success_timestamp_seconds",
            "The oldest last successful backup of any BackupPolicy target (0 before the first)",
            backup_oldest_success.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            durations,
            resources,
            leader,
            ready_sources: std::sync::Mutex::new(Vec::new()),
            cache_objects,
            cache_sources: std::sync::Mutex::new(Vec::new()),
            backups_overdue,
            backup_oldest_success,
            backup_source: std::sync::Mutex::new(None),
        }
    }
}

impl Metrics {
    /// A shared instance.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records one reconcile of `kind` that took `took`, failed with `error_category` if any.
    pub fn reconciled(
        &self,
        kind: &'static str,
        took: Duration,
        error_category: Option<&'static str>,
    ) {
        super::heap::worked();
        self.reconciles.get_or_create(&KindLabels { kind }).inc();
        self.durations
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
        if let Some(category) = error_category {
            self.errors
                .get_or_create(&ErrorLabels { kind, category })
                .inc();
        }
    }

    /// Sets the leader gauge.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Adds a source of ready counts, read at every scrape.
    pub fn add_ready_source(&self, source: ReadyCounter) {
        if let Ok(mut s) = self.ready_sources.lock() {
            s.push(source);
        }
    }

    /// Adds a source of cache sizes, read at every scrape.
    pub fn add_cache_source(&self, source: CacheCounter) {
        if let Ok(mut s) = self.cache_sources.lock() {
            s.push(source);
        }
    }

    /// Sets the source of the backup gauges, read at every scrape.
    pub fn set_backup_source(&self, source: BackupHealth) {
        if let Ok(mut s) = self.backup_source.lock() {
            *s = Some(source);
        }
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        if let Ok(source) = self.backup_source.lock()
            && let Some(source) = source.as_ref()
        {
            let (overdue, oldest) = source();
            self.backups_overdue.set(overdue);
            self.backup_oldest_success.set(oldest.unwrap_or(0));
        }
        self.resources.clear();
        if let Ok(sources) = self.ready_sources.lock() {
            for source in sources.iter() {
                for (labels, n) in source() {
                    self.resources.get_or_create(&labels).inc_by(n);
                }
            }
        }
        self.cache_objects.clear();
        if let Ok(sources) = self.cache_sources.lock() {
            for source in sources.iter() {
                for (labels, n) in source() {
                    self.cache_objects.get_or_create(&labels).inc_by(n);
                }
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_bounded_labels() {
        let m = Metrics::default();
        m.reconciled("WardService", Duration::from_millis(12), None);
        m.reconciled(
            "WardService",
            Duration::from_millis(30),
            Some("ApplyFailed"),
        );
        m.set_leader(true);
        m.add_ready_source(Box::new(|| {
            vec![(
                ReadyLabels {
                    kind: "WardService",
                    ready: "true",
                },
                3,
            )]
        }));
        let text = m.encode();
        assert!(
            text.contains(r#"wardops_reconciles_total{kind="WardService"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"wardops_reconcile_errors_total{kind="WardService",category="ApplyFailed"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"wardops_resources{kind="WardService",ready="true"} 3"#),
            "{text}"
        );
        assert!(text.contains("wardops_leader 1"), "{text}");
        assert!(
            text.contains("wardops_reconcile_duration_seconds_bucket"),
            "{text}"
        );
        // A second scrape does not double the gauge.
        assert!(
            m.encode()
                .contains(r#"wardops_resources{kind="WardService",ready="true"} 3"#)
        );
    }
}
