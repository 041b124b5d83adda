//! The Service `<name>-connector` the ward calls.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::PORT_NAME;
use super::{BuildContext, gateway_name};
use crate::controller::labels::CONNECTOR_PORT;

/// The Service: port `http` (8080) to the gateway's `http` port.
pub fn service(ctx: &BuildContext) -> Service {
    Service {
        metadata: ctx.owned_metadata(gateway_name(ctx.name)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(ctx.selector_labels()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_string()),
                port: CONNECTOR_PORT,
                target_port: Some(IntOrString::String(PORT_NAME.to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, connector};
    use crate::controller::labels;

    #[test]
    fn the_connector_url_resolves_to_this_service() {
        let svc = build(&connector()).service;
        assert_eq!(svc.metadata.name.as_deref(), Some("dan-cu-connector"));
        let spec = svc.spec.unwrap();
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.port, 8080);
        assert!(
            labels::connector_url("dan-cu", "phuong-hong-bang")
                .starts_with("http://dan-cu-connector.phuong-hong-bang.svc:8080")
        );
        assert_eq!(
            spec.selector,
            Some(labels::selector_labels(
                labels::COMPONENT_CONNECTOR,
                "dan-cu"
            ))
        );
    }
}
