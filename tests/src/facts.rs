//! Facts about the operator read from its code, not scraped from its source
//! text: the environment variables `wardops run` reads, the metric series it
//! exports, the names of its CRDs.

use std::collections::BTreeSet;

use clap::{Args, Command};
use std::time::Duration;

use wardops::runtime::metrics::{CacheLabels, Metrics, ReadyLabels};
use wardops::runtime::settings::{RunSettings, WorkloadSettings};

/// Environment variables of `wardops run`'s settings, from its clap arguments.
pub fn operator_env_vars() -> BTreeSet<String> {
    [
        RunSettings::augment_args(Command::new("run")),
        WorkloadSettings::augment_args(Command::new("workload")),
    ]
    .iter()
    .flat_map(|cmd| cmd.get_arguments())
    .filter_map(|arg| arg.get_env())
    .map(|env| env.to_string_lossy().into_owned())
    .collect()
}

/// Series names the operator exports (a histogram's `_bucket`, `_sum` and
/// `_count`, a counter's `_total`): the samples of a fresh registry after one
/// call of every recording method (a family without samples is not encoded).
pub fn exported_metrics() -> BTreeSet<String> {
    let metrics = Metrics::new();
    metrics.reconciled("WardService", Duration::from_millis(1), Some("Example"));
    metrics.set_leader(true);
    metrics.add_ready_source(Box::new(|| {
        vec![(
            ReadyLabels {
                kind: "WardService",
                ready: "true",
            },
            1,
        )]
    }));
    metrics.add_cache_source(Box::new(|| {
        vec![(
            CacheLabels {
                cache: "Deployment",
            },
            1,
        )]
    }));
    metrics
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// `plural.group` of every CRD, e.g. `wardservices.wardops.io`.
pub fn crd_names() -> Vec<String> {
    wardops::api::crds()
        .into_iter()
        .map(|crd| format!("{}.{}", crd.spec.names.plural, crd.spec.group))
        .collect()
}

/// Plural resource name of every CRD, e.g. `wardservices`.
pub fn crd_plurals() -> Vec<String> {
    wardops::api::crds()
        .into_iter()
        .map(|crd| crd.spec.names.plural)
        .collect()
}
