//! The PodDisruptionBudget that keeps all but one pod up during node drains.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, min_replicas, pdb_name};

/// The PodDisruptionBudget, only when more than one pod always runs: with a
/// single pod, `maxUnavailable: 1` protects nothing, and `0` would block drains.
pub fn pdb(ctx: &BuildContext) -> Option<PodDisruptionBudget> {
    (min_replicas(ctx.spec) > 1).then(|| PodDisruptionBudget {
        metadata: ctx.owned_metadata(pdb_name(ctx.name)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(ctx.selector_labels()),
                match_expressions: None,
            }),
            // Pods that are not ready protect nothing: let a drain evict them.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_string()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};
    use super::*;
    use crate::controller::labels;

    #[test]
    fn only_when_more_than_one_pod() {
        assert!(build(&ward()).pdb.is_none());
        assert!(build(&ward_with(json!({ "replicas": 0 }))).pdb.is_none());
        assert!(build(&ward_with(json!({ "replicas": 2 }))).pdb.is_some());
        let autoscaled_from_one = ward_with(json!({
            "replicas": 3,
            "autoscaling": { "minReplicas": 1, "maxReplicas": 5 },
        }));
        assert!(build(&autoscaled_from_one).pdb.is_none());
        let autoscaled_from_two = ward_with(json!({
            "autoscaling": { "minReplicas": 2, "maxReplicas": 5 },
        }));
        assert!(build(&autoscaled_from_two).pdb.is_some());
    }

    #[test]
    fn one_pod_at_a_time() {
        let pdb = build(&ward_with(json!({ "replicas": 3 }))).pdb.unwrap();
        assert_eq!(pdb.metadata.name.as_deref(), Some("one-stop"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert!(spec.min_available.is_none());
        assert_eq!(
            spec.selector.unwrap().match_labels,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
    }
}
