//! The Ingress that exposes a `public` or `internal` ward service outside the cluster.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::{BuildContext, deployment::PORT_NAME, has_ingress, ingress_name, service_name};

/// The Ingress, only when `spec.ingress` is set and the service is not
/// classified: classified services are reachable only inside the cluster.
pub fn ingress(ctx: &BuildContext) -> Option<Ingress> {
    if !has_ingress(ctx.spec) {
        return None;
    }
    let spec = ctx.spec.ingress.as_ref()?;
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: service_name(ctx.name),
            port: Some(ServiceBackendPort {
                name: Some(PORT_NAME.to_string()),
                number: None,
            }),
        }),
        resource: None,
    };
    Some(Ingress {
        metadata: ctx.owned_metadata(ingress_name(ctx.name)),
        spec: Some(IngressSpec {
            ingress_class_name: spec.ingress_class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(spec.path.clone()),
                        path_type: "Prefix".to_string(),
                        backend,
                    }],
                }),
            }]),
            tls: spec.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(secret.clone()),
                }]
            }),
            default_backend: None,
        }),
        ..Ingress::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};

    const HOST: &str = "motcua.hongbang.haiphong.gov.vn";

    #[test]
    fn only_with_ingress_and_not_classified() {
        assert!(build(&ward()).ingress.is_none());
        for class in ["public", "internal"] {
            let ws = ward_with(json!({ "classification": class, "ingress": { "host": HOST } }));
            assert!(build(&ws).ingress.is_some(), "{class}");
        }
        for class in ["confidential", "secret"] {
            let ws = ward_with(json!({ "classification": class, "ingress": { "host": HOST } }));
            assert!(build(&ws).ingress.is_none(), "{class}");
        }
    }

    #[test]
    fn host_path_and_backend() {
        let ws = ward_with(json!({ "ingress": { "host": HOST, "path": "/api" } }));
        let ing = build(&ws).ingress.unwrap();
        assert_eq!(ing.metadata.name.as_deref(), Some("one-stop"));
        let spec = ing.spec.unwrap();
        assert!(spec.tls.is_none());
        assert!(spec.ingress_class_name.is_none());
        let rules = spec.rules.unwrap();
        assert_eq!(rules[0].host.as_deref(), Some(HOST));
        let path = &rules[0].http.as_ref().unwrap().paths[0];
        assert_eq!(path.path.as_deref(), Some("/api"));
        assert_eq!(path.path_type, "Prefix");
        let svc = path.backend.service.as_ref().unwrap();
        assert_eq!(svc.name, "one-stop");
        assert_eq!(svc.port.as_ref().unwrap().name.as_deref(), Some("http"));
    }

    #[test]
    fn tls_and_class_when_set() {
        let ws = ward_with(json!({ "ingress": {
            "host": HOST, "tlsSecretName": "motcua-tls", "ingressClassName": "nginx",
        } }));
        let spec = build(&ws).ingress.unwrap().spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let tls = spec.tls.unwrap();
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0].secret_name.as_deref(), Some("motcua-tls"));
        assert_eq!(tls[0].hosts, Some(vec![HOST.to_string()]));
        let default_path = build(&ward_with(json!({ "ingress": { "host": HOST } })))
            .ingress
            .unwrap()
            .spec
            .unwrap()
            .rules
            .unwrap()[0]
            .http
            .clone()
            .unwrap()
            .paths[0]
            .path
            .clone();
        assert_eq!(default_path.as_deref(), Some("/"));
    }
}
