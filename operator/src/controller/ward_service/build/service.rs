//! The ClusterIP Service in front of a ward service's pods.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, deployment::PORT_NAME, service_name};

/// The Service: port `http` (= `spec.port`) to the pods' `http` port.
pub fn service(ctx: &BuildContext) -> Service {
    Service {
        metadata: ctx.owned_metadata(service_name(ctx.name)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(ctx.selector_labels()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_string()),
                port: ctx.spec.port,
                target_port: Some(IntOrString::String(PORT_NAME.to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// In-cluster URL of a ward service, e.g. `http://one-stop.phuong-hong-bang.svc:8080`.
pub fn endpoint_url(ws_name: &str, namespace: &str, port: i32) -> String {
    format!("http://{}.{namespace}.svc:{port}", service_name(ws_name))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward_with};
    use super::*;
    use crate::controller::labels;

    #[test]
    fn cluster_ip_on_the_named_port() {
        let svc = build(&ward_with(json!({ "port": 9000 }))).service;
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(
            spec.selector,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
        let ports = spec.ports.unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].name.as_deref(), Some("http"));
        assert_eq!(ports[0].port, 9000);
        assert_eq!(
            ports[0].target_port,
            Some(IntOrString::String("http".into()))
        );
    }

    #[test]
    fn endpoint_is_the_service_dns_name() {
        assert_eq!(
            endpoint_url("one-stop", "phuong-hong-bang", 8080),
            "http://one-stop.phuong-hong-bang.svc:8080"
        );
    }
}
