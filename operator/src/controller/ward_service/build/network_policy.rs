//! The NetworkPolicy that isolates a ward service's pods.
//!
//! In: the service port, from the ward's own pods (same namespace, same
//! `wardops.io/ward`) and, with an Ingress, from the ingress controller.
//! Out: DNS, the service's own connector gateways and, for `public` and
//! `internal` services only, `spec.egressCIDRs`.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, has_ingress, network_policy_name};
use crate::controller::labels;

/// Label every namespace carries with its own name (set by the API server).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The NetworkPolicy.
pub fn network_policy(ctx: &BuildContext) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ctx.owned_metadata(network_policy_name(ctx.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(ctx.selector_labels())),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(ingress_rules(ctx)),
            egress: Some(egress_rules(ctx)),
        }),
    }
}

fn ingress_rules(ctx: &BuildContext) -> Vec<NetworkPolicyIngressRule> {
    let service_port = vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(ctx.spec.port)),
        protocol: Some("TCP".to_string()),
        end_port: None,
    }];
    // A podSelector without a namespaceSelector matches only this namespace.
    let same_ward = NetworkPolicyPeer {
        pod_selector: Some(match_labels(BTreeMap::from([(
            labels::WARD_LABEL.to_string(),
            ctx.spec.ward.code.clone(),
        )]))),
        ..NetworkPolicyPeer::default()
    };
    let mut rules = vec![NetworkPolicyIngressRule {
        from: Some(vec![same_ward]),
        ports: Some(service_port.clone()),
    }];
    if has_ingress(ctx.spec) {
        rules.push(NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(match_labels(BTreeMap::from([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    ctx.settings.ingress_namespace.clone(),
                )]))),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(service_port),
        });
    }
    rules
}

fn egress_rules(ctx: &BuildContext) -> Vec<NetworkPolicyEgressRule> {
    // DNS on port 53 to any address: works whether the cluster resolver is a
    // pod, a node-local cache or a host address.
    let dns = NetworkPolicyEgressRule {
        to: None,
        ports: Some(
            ["UDP", "TCP"]
                .map(|protocol| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(protocol.to_string()),
                    end_port: None,
                })
                .to_vec(),
        ),
    };
    let connectors = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(match_labels(BTreeMap::from([
                (
                    labels::CONNECTOR_FOR_LABEL.to_string(),
                    ctx.name.to_string(),
                ),
                (
                    "app.kubernetes.io/component".to_string(),
                    labels::COMPONENT_CONNECTOR.to_string(),
                ),
            ]))),
            ..NetworkPolicyPeer::default()
        }]),
        ports: None,
    };
    let mut rules = vec![dns, connectors];
    // Classified services reach the outside only through their connectors.
    if !ctx.classification().is_classified() && !ctx.spec.egress_cidrs.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(
                ctx.spec
                    .egress_cidrs
                    .iter()
                    .map(|cidr| NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: cidr.clone(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            ports: None,
        });
    }
    rules
}

fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};
    use super::*;
    use crate::api::WardService;

    fn spec_of(ws: &WardService) -> NetworkPolicySpec {
        build(ws).network_policy.spec.unwrap()
    }

    fn has_ip_block(spec: &NetworkPolicySpec) -> bool {
        spec.egress
            .iter()
            .flatten()
            .flat_map(|r| r.to.iter().flatten())
            .any(|peer| peer.ip_block.is_some())
    }

    #[test]
    fn selects_the_pods_both_directions() {
        let np = build(&ward()).network_policy;
        assert_eq!(np.metadata.name.as_deref(), Some("one-stop"));
        let spec = np.spec.unwrap();
        assert_eq!(
            spec.pod_selector.unwrap().match_labels,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_string(), "Egress".to_string()])
        );
    }

    #[test]
    fn ingress_only_on_the_port_from_the_same_ward() {
        let spec = spec_of(&ward_with(json!({ "port": 9000 })));
        let rules = spec.ingress.unwrap();
        assert_eq!(rules.len(), 1);
        let from = rules[0].from.as_ref().unwrap();
        assert_eq!(from.len(), 1);
        assert!(from[0].namespace_selector.is_none());
        assert_eq!(
            from[0].pod_selector.as_ref().unwrap().match_labels,
            Some(BTreeMap::from([(
                "wardops.io/ward".to_string(),
                "31101".to_string()
            )]))
        );
        let ports = rules[0].ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, Some(IntOrString::Int(9000)));
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    }

    #[test]
    fn ingress_controller_allowed_only_with_an_ingress() {
        let ws = ward_with(json!({ "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" } }));
        let rules = spec_of(&ws).ingress.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[1].from.as_ref().unwrap()[0]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels,
            Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                "ingress-nginx".to_string()
            )]))
        );
        assert_eq!(
            rules[1].ports.as_ref().unwrap()[0].port,
            Some(IntOrString::Int(8080))
        );
    }

    #[test]
    fn egress_to_dns_and_own_connectors() {
        let egress = spec_of(&ward()).egress.unwrap();
        assert_eq!(egress.len(), 2);
        assert!(egress[0].to.is_none());
        let dns: Vec<(Option<IntOrString>, Option<String>)> = egress[0]
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| (p.port, p.protocol))
            .collect();
        assert_eq!(
            dns,
            vec![
                (Some(IntOrString::Int(53)), Some("UDP".to_string())),
                (Some(IntOrString::Int(53)), Some("TCP".to_string())),
            ]
        );
        let to = egress[1].to.as_ref().unwrap();
        assert_eq!(to.len(), 1);
        assert!(to[0].namespace_selector.is_none());
        assert_eq!(
            to[0].pod_selector.as_ref().unwrap().match_labels,
            Some(BTreeMap::from([
                (
                    "app.kubernetes.io/component".to_string(),
                    "connector-gateway".to_string()
                ),
                (
                    "wardops.io/connector-for".to_string(),
                    "one-stop".to_string()
                ),
            ]))
        );
        assert!(egress[1].ports.is_none());
    }

    #[test]
    fn egress_cidrs_for_ordinary_services() {
        let ws = ward_with(json!({ "egressCIDRs": ["10.20.0.0/16", "192.0.2.10/32"] }));
        let egress = spec_of(&ws).egress.unwrap();
        assert_eq!(egress.len(), 3);
        let cidrs: Vec<String> = egress[2]
            .to
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| p.ip_block.unwrap().cidr)
            .collect();
        assert_eq!(cidrs, vec!["10.20.0.0/16", "192.0.2.10/32"]);
    }

    #[test]
    fn classified_gets_only_dns_and_connectors() {
        // Even if the CRD rule were bypassed, classified egress has no ipBlock
        // and the ingress controller is not let in.
        let ws = ward_with(json!({
            "classification": "secret",
            "egressCIDRs": ["0.0.0.0/0"],
            "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" },
        }));
        let spec = spec_of(&ws);
        assert!(!has_ip_block(&spec));
        assert_eq!(spec.egress.as_ref().unwrap().len(), 2);
        assert_eq!(spec.ingress.as_ref().unwrap().len(), 1);
        let ws = ward_with(json!({ "classification": "confidential" }));
        assert!(!has_ip_block(&spec_of(&ws)));
    }
}
