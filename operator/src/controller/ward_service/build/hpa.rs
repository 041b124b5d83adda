//! The HorizontalPodAutoscaler that scales the Deployment on CPU.

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};

use super::{BuildContext, deployment_name, hpa_name};

/// The HorizontalPodAutoscaler, only when `spec.autoscaling` is set.
pub fn hpa(ctx: &BuildContext) -> Option<HorizontalPodAutoscaler> {
    let autoscaling = ctx.spec.autoscaling.as_ref()?;
    Some(HorizontalPodAutoscaler {
        metadata: ctx.owned_metadata(hpa_name(ctx.name)),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some(Deployment::API_VERSION.to_string()),
                kind: Deployment::KIND.to_string(),
                name: deployment_name(ctx.name),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_string(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_string(),
                    target: MetricTarget {
                        type_: "Utilization".to_string(),
                        average_utilization: Some(autoscaling.target_cpu_utilization_percentage),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};

    #[test]
    fn only_with_autoscaling() {
        assert!(build(&ward()).hpa.is_none());
        assert!(build(&ward_with(json!({ "replicas": 5 }))).hpa.is_none());
    }

    #[test]
    fn scales_the_deployment_on_cpu() {
        let ws = ward_with(json!({
            "autoscaling": { "minReplicas": 2, "maxReplicas": 8, "targetCPUUtilizationPercentage": 60 },
        }));
        let hpa = build(&ws).hpa.unwrap();
        assert_eq!(hpa.metadata.name.as_deref(), Some("one-stop"));
        let spec = hpa.spec.unwrap();
        assert_eq!(
            spec.scale_target_ref.api_version.as_deref(),
            Some("apps/v1")
        );
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(spec.scale_target_ref.name, "one-stop");
        assert_eq!(spec.min_replicas, Some(2));
        assert_eq!(spec.max_replicas, 8);
        let metric = &spec.metrics.unwrap()[0];
        assert_eq!(metric.type_, "Resource");
        let resource = metric.resource.as_ref().unwrap();
        assert_eq!(resource.name, "cpu");
        assert_eq!(resource.target.type_, "Utilization");
        assert_eq!(resource.target.average_utilization, Some(60));
    }
}
