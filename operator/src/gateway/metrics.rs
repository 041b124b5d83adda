//! The gateway's Prometheus metrics. The `dataset` label takes only the
//! configured datasets, `_denied` (not in the allow-list) and `_invalid`
//! (a malformed path): a ward cannot grow the label set.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `dataset` label of a request not in the allow-list.
pub const DENIED: &str = "_denied";
/// The `dataset` label of a request whose path is refused.
pub const INVALID: &str = "_invalid";

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A configured dataset, `_denied` or `_invalid`.
    pub dataset: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub code: &'static str,
}

/// Labels of the duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatasetLabels {
    /// A configured dataset, `_denied` or `_invalid`.
    pub dataset: String,
}

/// Labels of outcome counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success` or `failure`.
    pub result: &'static str,
}

/// All metrics of the gateway.
pub struct GatewayMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DatasetLabels, Histogram>,
    credential_reloads: Family<ResultLabels, Counter>,
    token_fetches: Family<ResultLabels, Counter>,
    snapshot_age: Gauge,
}

fn class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn result(ok: bool) -> ResultLabels {
    ResultLabels {
        result: if ok { "success" } else { "failure" },
    }
}

impl GatewayMetrics {
    /// Registers every metric under the `wardops_gateway_` prefix.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("wardops_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DatasetLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 17))) as fn() -> Histogram,
        );
        let credential_reloads = Family::<ResultLabels, Counter>::default();
        let token_fetches = Family::<ResultLabels, Counter>::default();
        let snapshot_age = Gauge::default();
        registry.register(
            "requests",
            "Requests from the ward, by dataset and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a ward's request to the response headers, by dataset",
            durations.clone(),
        );
        registry.register(
            "credential_loads",
            "Loads of the source credentials from their files (at start and after a change)",
            credential_reloads.clone(),
        );
        registry.register(
            "oauth2_token_fetches",
            "OAuth2 client-credentials token requests",
            token_fetches.clone(),
        );
        registry.register(
            "snapshot_age_seconds",
            "Sync mode: age of the snapshot served, at the last request (-1: none)",
            snapshot_age.clone(),
        );
        Arc::new(GatewayMetrics {
            registry,
            requests,
            durations,
            credential_reloads,
            token_fetches,
            snapshot_age,
        })
    }

    /// Records one request.
    pub fn request(&self, dataset: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                dataset: dataset.to_string(),
                code: class(status),
            })
            .inc();
        self.durations
            .get_or_create(&DatasetLabels {
                dataset: dataset.to_string(),
            })
            .observe(seconds);
    }

    /// Records a credentials load.
    pub fn credential_reload(&self, ok: bool) {
        self.credential_reloads.get_or_create(&result(ok)).inc();
    }

    /// Records a token request.
    pub fn token_fetch(&self, ok: bool) {
        self.token_fetches.get_or_create(&result(ok)).inc();
    }

    /// Sets the age of the served snapshot.
    pub fn set_snapshot_age(&self, seconds: i64) {
        self.snapshot_age.set(seconds);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_dataset_and_class() {
        let m = GatewayMetrics::new();
        m.request("citizens", 200, 0.01);
        m.request(DENIED, 403, 0.0001);
        let text = m.encode();
        assert!(
            text.contains(r#"wardops_gateway_requests_total{dataset="citizens",code="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wardops_gateway_requests_total{dataset="_denied",code="4xx"} 1"#),
            "{text}"
        );
        assert!(text.contains("wardops_gateway_request_duration_seconds_bucket"));
    }
}
